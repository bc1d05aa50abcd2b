"""Hardware and software counters per cgroup: ``perf_event_open`` cgroup mode (``perf stat -G``).

The ``pid`` argument is a file descriptor of the cgroup's directory and ``flags`` has
``PERF_FLAG_PID_CGROUP``; the event is per CPU (``cpu >= 0``, never -1) and counts only while a
task of that cgroup (or a descendant) runs there. So one cgroup costs events × online CPUs file
descriptors, and it needs system-wide permission (``perf_event_paranoid <= 0``, CAP_PERFMON or
root). The kernel takes its reference to the cgroup at open, so the directory fd is closed at once.

On cgroup v1 this needs the ``perf_event`` controller's hierarchy; on v2 (or a hybrid host where
``perf_event`` is not bound to v1, as on this development VM) any v2 directory works.

``CgroupCounterPool`` keeps counters open for the busiest cgroups within a stated fd budget
(``FD_BUDGET``): with E events and C CPUs, ``FD_BUDGET // (E·C)`` cgroups get counters.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from perfdeck.model.series import Unavailable
from perfdeck.perf import abi
from perfdeck.perf.abi import PerfEventAttr, PerfOpenError, errno_message
from perfdeck.perf.counters import CounterGroup, DeltaTracker, EventSpec, GroupSample, ensure_fd_budget
from perfdeck.perf.events import CorePmu, core_pmus, specs_for_cpu
from perfdeck.perf.events import event as catalog_event
from perfdeck.perf.topdown import TmaPlan, level1_events

FD_BUDGET = 256  # perf fds for per-cgroup counters, as the process counters have theirs
HARDWARE_EVENTS = ("cycles", "instructions", "LLC-loads", "LLC-load-misses")
SOFTWARE_EVENTS = ("context-switches", "task-clock")

Opener = Callable[[PerfEventAttr, int, int, int], int]


def cgroup_opener(attr: PerfEventAttr, cgroup_fd: int, cpu: int, group_fd: int) -> int:
    """perf_event_open in cgroup mode: ``pid`` is the cgroup directory fd."""
    return abi.perf_event_open(attr, cgroup_fd, cpu, group_fd,
                               abi.PERF_FLAG_FD_CLOEXEC | abi.PERF_FLAG_PID_CGROUP)


@dataclass(frozen=True, slots=True)
class CgroupCounts:
    """Multiplexing-scaled event counts of one cgroup over one interval, summed over CPUs.

    ``values[name]`` is None when no CPU counted that event in the interval (never 0 for
    "not counted"); ``elapsed_s`` is the interval.
    """

    values: Mapping[str, float | None]
    elapsed_s: float


class CgroupCounters:
    """One group of events per online CPU for one cgroup directory."""

    def __init__(self, directory: Path, specs_per_cpu: Mapping[int, Sequence[EventSpec]],
                 opener: Opener = cgroup_opener,
                 extra_per_cpu: Mapping[int, Sequence[EventSpec]] | None = None) -> None:
        self.directory = Path(directory)
        # Group 0: IPC, cache and software events; group 1 (optional): the top-down events, which
        # need a group of their own (Intel: slots-led, nothing else allowed in it).
        self._specs: dict[tuple[int, int], Sequence[EventSpec]] = {
            (cpu, 0): s for cpu, s in specs_per_cpu.items()}
        self._specs.update({(cpu, 1): s for cpu, s in (extra_per_cpu or {}).items() if s})
        self._opener = opener
        self.groups: dict[tuple[int, int], CounterGroup] = {}
        self.errors: dict[str, PerfOpenError] = {}
        self._deltas = DeltaTracker()

    @property
    def fd_count(self) -> int:
        return sum(len(g.fds) for g in self.groups.values())

    def open(self) -> dict[str, PerfOpenError]:
        """Open every event on every CPU; return the events that failed (by name) and why."""
        self.close()
        try:
            directory_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            err = PerfOpenError(exc.errno or errno.ENOENT,
                                f"cannot open cgroup {self.directory}: {exc.strerror}")
            self.errors = {"cgroup": err}
            return dict(self.errors)
        try:
            for (cpu, index), specs in self._specs.items():
                group = CounterGroup(specs, pid=directory_fd, cpu=cpu, opener=self._opener)
                for name, error in group.open().items():
                    self.errors.setdefault(name, error)
                if group.is_open:
                    self.groups[(cpu, index)] = group
        finally:
            os.close(directory_fd)  # the kernel holds the cgroup from perf_event_open on
        for group in self.groups.values():
            group.enable()
        return dict(self.errors)

    def read(self) -> CgroupCounts | None:
        """Counts since the previous read (None on the first read)."""
        totals: dict[str, float | None] = {}
        elapsed = 0.0
        first = False
        for key, group in self.groups.items():
            try:
                sample: GroupSample = group.read()
            except PerfOpenError:
                self._deltas.forget(key)
                continue
            delta = self._deltas.update(key, sample)
            if delta is None:
                first = True
                continue
            elapsed = max(elapsed, delta.elapsed_s)
            for name, value in delta.values.items():
                if value is None:
                    totals.setdefault(name, None)
                else:
                    totals[name] = (totals.get(name) or 0.0) + value
        if first or not totals:
            return None
        return CgroupCounts(totals, elapsed)

    def close(self) -> None:
        for group in self.groups.values():
            group.close()
        self.groups = {}
        self.errors = {}
        self._deltas.clear()


def specs_for_cgroups(cpus: Sequence[int], pmus: Sequence[CorePmu] | None = None,
                      hardware: bool = True) -> dict[int, list[EventSpec]]:
    """The events to open on each CPU: hardware first (a hardware leader), then software."""
    names = (HARDWARE_EVENTS if hardware else ()) + SOFTWARE_EVENTS
    events = [catalog_event(name) for name in names]
    pmus = core_pmus() if pmus is None else pmus
    return {cpu: specs_for_cpu(cpu, pmus, events) for cpu in cpus}


def explain(errors: Mapping[str, PerfOpenError]) -> Unavailable | None:
    """One reason for a set of open errors (the first that is not "event not supported")."""
    if not errors:
        return None
    # "Event not supported" (ENOENT) is the least telling error: prefer any other.
    name, error = next(((n, e) for n, e in errors.items() if e.errno != errno.ENOENT),
                       next(iter(errors.items())))
    if error.errno in (errno.EACCES, errno.EPERM):
        return Unavailable(errno_message(error.errno, "counting per cgroup needs system-wide permission"),
                           "`sudo sysctl kernel.perf_event_paranoid=0`, or grant PerfDeck CAP_PERFMON, or run"
                           " it as root (see `perfdeck doctor`)")
    if error.errno == errno.EBADF:
        return Unavailable("this cgroup cannot be counted: the kernel refused its directory as a perf_event "
                           "cgroup (EBADF); on cgroup v1 hosts mount the perf_event controller",
                           "mount -t cgroup -o perf_event none /sys/fs/cgroup/perf_event, or use cgroup v2")
    return Unavailable(errno_message(error.errno, f"{name} per cgroup"))


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """What the pool counts and why not more: for the doctor, the tab and the docs."""

    counted: tuple[str, ...]
    per_cgroup_fds: int
    max_cgroups: int
    hardware: bool
    reason: Unavailable | None  # why hardware or every event is unavailable, if so


class CgroupCounterPool:
    """Counters for at most ``FD_BUDGET // (events × CPUs)`` cgroups: the ones asked for, in order."""

    def __init__(self, mount: Path, cpus: Sequence[int], specs_per_cpu: Mapping[int, Sequence[EventSpec]],
                 fd_budget: int = FD_BUDGET, opener: Opener = cgroup_opener,
                 tma_plans: Sequence[TmaPlan] = ()) -> None:
        self.mount = Path(mount)
        self._specs = dict(specs_per_cpu)
        self._opener = opener
        # Top-down level 1 per cgroup: the level-1 events of each CPU's plan as a second group.
        # Counts of the same name add up across CPUs (and across P- and E-cores, whose level-1
        # events are all slot counts), so one level-1 plan computes the cgroup's shares.
        self._extra: dict[int, Sequence[EventSpec]] = {
            cpu: level1_events(plan) for plan in tma_plans for cpu in plan.cpus if cpu in cpus}
        self.tma_plan: TmaPlan | None = replace(tma_plans[0], level2=False) if self._extra else None
        self.per_cgroup_fds = (sum(len(s) for s in self._specs.values())
                               + sum(len(s) for s in self._extra.values()))
        self.fd_budget = fd_budget
        self.max_cgroups = fd_budget // self.per_cgroup_fds if self.per_cgroup_fds else 0
        self.counters: dict[str, CgroupCounters] = {}
        self.failures: dict[str, Unavailable] = {}
        self.hardware_reason: Unavailable | None = None  # set by the caller when there is no PMU
        self._cpus = tuple(cpus)

    def track(self, paths: Iterable[str]) -> None:
        """Count exactly these cgroups (the first ``max_cgroups`` of them); close the others."""
        wanted = list(dict.fromkeys(paths))[:self.max_cgroups]
        for path in list(self.counters):
            if path not in wanted:
                self.counters.pop(path).close()
        new = [p for p in wanted if p not in self.counters and p not in self.failures]
        if new:
            ensure_fd_budget(len(new) * self.per_cgroup_fds)
        for path in new:
            directory = self.mount if path == "/" else self.mount / path.lstrip("/")
            counters = CgroupCounters(directory, self._specs, self._opener, self._extra)
            errors = counters.open()
            if not counters.groups:
                self.failures[path] = explain(errors) or Unavailable("no counter could be opened")
                continue
            if errors:
                self.failures[path] = explain(errors) or Unavailable("some counters could not be opened")
            self.counters[path] = counters

    def read(self) -> dict[str, CgroupCounts | None]:
        return {path: counters.read() for path, counters in self.counters.items()}

    def close(self) -> None:
        for counters in self.counters.values():
            counters.close()
        self.counters = {}
        self.failures = {}
