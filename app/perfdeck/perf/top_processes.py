"""Hardware counters for the top processes by CPU %: the Processes tab's optional IPC/miss columns.

``TopProcessCounters`` keeps one ``perfdeck.perf.process.ProcessCounters`` open for each of the
``top_n`` busiest processes (default 10) and reads them once per process-table refresh.

Costs and limits, stated:

- **fd budget**: each counted thread holds one fd per event (6 events: cycles, instructions, cache
  loads/misses, branches/branch misses; one copy per core PMU on hybrid CPUs). All tracked processes
  together stay within ``fd_budget`` fds (default 256). A process whose threads would not fit in
  what is left is not counted and gets a reason saying so; processes in the hysteresis band are
  closed first to make room for a top-N one.
- **Hysteresis**: a process enters when it is among the top ``top_n`` by CPU % and stays until it
  falls to rank ``top_n + margin`` or below (default margin 5), so processes hovering around the
  cut do not close and reopen counters on every refresh. At most ``top_n + margin`` are tracked.
- **Once per machine**: before opening anything, one probe opens ``cycles`` on the calling thread.
  If that fails (a VM without a virtual PMU: ENOENT; perf_event_paranoid 3: EACCES) the manager
  reports that single reason and never opens anything else: no per-refresh retry storm.
- Processes that vanish are closed quietly; a process that refuses counting (another user's, at
  paranoid >= 2) is remembered and not retried while it lives.
- Processes with no CPU % this refresh (idle, unknown) and kernel threads are not candidates: an
  idle process has nothing to count, and kernel threads are not countable in user space.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from perfdeck.model.series import Unavailable
from perfdeck.perf import derived
from perfdeck.perf.abi import PerfOpenError, errno_message
from perfdeck.perf.counters import ensure_fd_budget
from perfdeck.perf.events import CatalogEvent, core_pmus, specs_for_thread, try_open
from perfdeck.perf.events import event as event_by_name
from perfdeck.perf.process import list_tids

DEFAULT_TOP_N = 10
DEFAULT_MARGIN = 5
DEFAULT_FD_BUDGET = 256

# Cache miss % uses the last-level cache when the CPU maps LLC-loads, else the L1 data cache
# (AMD Zen maps no LLC-loads generic event).
_CORE_EVENTS = ("cycles", "instructions", "branches", "branch-misses")
_LLC_EVENTS = ("LLC-loads", "LLC-load-misses")
_L1D_EVENTS = ("L1-dcache-loads", "L1-dcache-load-misses")
CACHE_METRIC = {"LLC": "llc_miss_pct", "L1D": "l1d_miss_pct"}

PRIVILEGE_FIX = ("`sudo sysctl kernel.perf_event_paranoid=2` (or lower) lets every user count their own "
                 "processes; CAP_PERFMON allows counting other users' processes")
VM_FIX = ("run on bare metal, or give the VM a virtual PMU (QEMU/KVM: -cpu host,pmu=on; libvirt: "
          "<pmu state='on'/>; VMware: 'Virtualize CPU performance counters')")


class Counters(Protocol):
    """What the manager needs of ``ProcessCounters`` (test doubles implement the same)."""

    groups: Mapping[int, Sequence[Any]]

    def open(self) -> None: ...
    def read(self) -> Any: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """One process-table row as the manager sees it."""

    pid: int
    cpu_pct: float | None
    start_time: float | None = None  # tells a reused PID from the process that had it
    kernel_thread: bool = False


@dataclass(frozen=True, slots=True)
class ProcessMetrics:
    """One tracked process's metrics over the last refresh interval.

    A metric is None when it was not measured: ``reasons[metric]`` says why when an event could
    not be counted; without a reason the process simply did not run (or counting just started).
    """

    pid: int
    ipc: float | None
    cache_miss_pct: float | None
    branch_miss_pct: float | None
    cache_level: str  # "LLC" or "L1D": which cache the miss % is of
    threads: int
    fds: int
    reasons: Mapping[str, str] = field(default_factory=dict)
    note: str = ""  # e.g. "counting started; values at the next refresh"


@dataclass(frozen=True, slots=True)
class TopResult:
    """One refresh: per-pid metrics or a reason; untracked pids are absent."""

    values: dict[int, ProcessMetrics | Unavailable]
    unavailable: Unavailable | None  # machine-wide: nothing is counted at all
    fds_open: int
    fd_budget: int
    cache_level: str


@dataclass
class _Tracked:
    counters: Counters
    start_time: float | None
    fds: int
    fresh: bool = True  # opened this refresh: its first interval is not a full one


@dataclass(frozen=True, slots=True)
class HardwareProbe:
    """Outcome of the one-time probe: the events to open, or why none can be."""

    events: tuple[CatalogEvent, ...]
    cache_level: str
    fds_per_thread: int
    unavailable: Unavailable | None = None


def _opens(names: Iterable[str], pmus: Sequence[Any]) -> PerfOpenError | None:
    """None when every named event opens (on at least one core PMU), else the first error."""
    for name in names:
        errors = [try_open(spec) for spec in specs_for_thread(pmus, [event_by_name(name)])]
        if errors and all(e is not None for e in errors):
            return errors[0]
    return None


def probe_hardware(root: Path = Path("/")) -> HardwareProbe:
    """Open ``cycles`` (and the cache events) once on the calling thread, user space only.

    Every user may count their own thread at perf_event_paranoid 2, so a failure here means no
    process can be counted: ENOENT is a missing PMU (a VM), EACCES/EPERM a locked-down kernel.
    """
    pmus = core_pmus(root)
    err = _opens(("cycles",), pmus)
    if err is not None:
        return HardwareProbe((), "", 0, _machine_reason(err, root, bool(pmus)))
    cache_level, cache_events = "LLC", _LLC_EVENTS
    if _opens(_LLC_EVENTS, pmus) is not None and _opens(_L1D_EVENTS, pmus) is None:
        cache_level, cache_events = "L1D", _L1D_EVENTS
    events = tuple(event_by_name(n) for n in (*_CORE_EVENTS, *cache_events))
    # Exactly what ProcessCounters opens per thread: the planned groups (a ratio's denominator may
    # be repeated in a second group), one copy per core PMU on hybrid parts.
    from perfdeck.perf.counters import counter_budget, plan_groups

    plan = plan_groups(specs_for_thread(pmus, events), counter_budget(root))
    return HardwareProbe(events, cache_level, sum(len(g) for g in plan.groups))


def _machine_reason(err: PerfOpenError, root: Path, have_pmu: bool) -> Unavailable:
    if err.errno == errno.ENOENT and not have_pmu:
        from perfdeck.perf.system import detect_virtualization

        vm = detect_virtualization(root).vm
        if vm:
            which = "" if vm == "a hypervisor" else f" ({vm})"
            return Unavailable(f"no hardware PMU: this is a virtual machine{which} without a virtual PMU, "
                               "so perf_event_open gives ENOENT for cycles", VM_FIX)
        return Unavailable("no hardware PMU: no core PMU under /sys/bus/event_source/devices, so "
                           "perf_event_open gives ENOENT for cycles")
    if err.errno in (errno.EACCES, errno.EPERM):
        return Unavailable(errno_message(err.errno, "cycles on this user's own thread"), PRIVILEGE_FIX)
    return Unavailable(errno_message(err.errno, "cycles"))


def _default_factory(pid: int, events: Sequence[CatalogEvent]) -> Counters:
    from perfdeck.perf.process import ProcessCounters

    return ProcessCounters(pid, events=events)


def _thread_count(pid: int) -> int:
    return len(list_tids(pid))


def open_fds(counters: Counters) -> int:
    """fds a counters object holds: one per event of every open group of every thread."""
    return sum(len(group.events) for groups in counters.groups.values() for group in groups)


class TopProcessCounters:
    """Keeps counters open on the top ``top_n`` processes by CPU %, within ``fd_budget`` fds."""

    def __init__(self, top_n: int = DEFAULT_TOP_N, *, margin: int = DEFAULT_MARGIN,
                 fd_budget: int = DEFAULT_FD_BUDGET,
                 factory: Callable[[int, Sequence[CatalogEvent]], Counters] = _default_factory,
                 probe: Callable[[], HardwareProbe] = probe_hardware,
                 thread_count: Callable[[int], int] = _thread_count) -> None:
        if top_n < 1 or margin < 0 or fd_budget < 1:
            raise ValueError(f"need top_n >= 1, margin >= 0, fd_budget >= 1 "
                             f"(got {top_n}, {margin}, {fd_budget})")
        self.top_n = top_n
        self.margin = margin
        self.fd_budget = fd_budget
        # Room for the budget under RLIMIT_NOFILE now, counting what is already open (the process
        # walk and the cgroup reader keep files open too): the soft limit rises towards the hard.
        ensure_fd_budget(fd_budget)
        self._factory = factory
        self._probe_fn = probe
        self._thread_count = thread_count
        self._probe: HardwareProbe | None = None
        self._tracked: dict[int, _Tracked] = {}
        # pid -> (start time, reason): refused to open (e.g. another user's process); not retried
        # while that same process lives.
        self._refused: dict[int, tuple[float | None, Unavailable]] = {}

    # --- state ------------------------------------------------------------------------------
    @property
    def unavailable(self) -> Unavailable | None:
        """The machine-wide reason nothing is counted (None before the first update, or if fine)."""
        return self._probe.unavailable if self._probe is not None else None

    @property
    def tracked_pids(self) -> list[int]:
        return list(self._tracked)

    @property
    def fds_open(self) -> int:
        return sum(t.fds for t in self._tracked.values())

    @property
    def cache_level(self) -> str:
        return self._probe.cache_level if self._probe is not None else ""

    # --- the per-refresh step ---------------------------------------------------------------
    def update(self, candidates: Iterable[Candidate]) -> TopResult:
        """Adjust the tracked set to this refresh's CPU ranking, then read every tracked process."""
        if self._probe is None:
            self._probe = self._probe_fn()
        if self._probe.unavailable is not None:
            return self._result({})
        ranked = sorted((c for c in candidates
                         if c.cpu_pct is not None and c.cpu_pct > 0 and not c.kernel_thread),
                        key=lambda c: -float(c.cpu_pct or 0))
        rank = {c.pid: i for i, c in enumerate(ranked)}
        starts = {c.pid: c.start_time for c in ranked}
        keep_below = self.top_n + self.margin
        for pid, tracked in list(self._tracked.items()):
            reused = starts.get(pid) is not None and tracked.start_time is not None \
                and starts[pid] != tracked.start_time
            if rank.get(pid, keep_below) >= keep_below or reused:
                self._close(pid)
        # Forget refusals of processes that are gone or were replaced by a new one.
        for pid, (start, _) in list(self._refused.items()):
            if pid not in rank or (start is not None and starts[pid] not in (None, start)):
                del self._refused[pid]
        values: dict[int, ProcessMetrics | Unavailable] = {}
        for candidate in ranked[:self.top_n]:
            if candidate.pid in self._tracked:
                continue
            if candidate.pid in self._refused:
                values[candidate.pid] = self._refused[candidate.pid][1]
                continue
            skipped = self._open(candidate, rank)
            if skipped is not None:
                values[candidate.pid] = skipped
        for pid in list(self._tracked):
            measured = self._read(pid)
            if measured is not None:
                values[pid] = measured
        return self._result(values)

    def _result(self, values: dict[int, ProcessMetrics | Unavailable]) -> TopResult:
        return TopResult(values, self.unavailable, self.fds_open, self.fd_budget, self.cache_level)

    def _evict_for(self, needed: int, rank: Mapping[int, int]) -> None:
        """Close tracked processes in the hysteresis band (rank >= top_n), lowest first, until
        ``needed`` fds fit and a slot is free."""
        capacity = self.top_n + self.margin
        band = sorted((pid for pid in self._tracked if rank.get(pid, capacity) >= self.top_n),
                      key=lambda pid: -rank.get(pid, capacity))
        for pid in band:
            if self.fds_open + needed <= self.fd_budget and len(self._tracked) < capacity:
                return
            self._close(pid)

    def _open(self, candidate: Candidate, rank: Mapping[int, int]) -> Unavailable | None:
        """Open one top-N process; a reason when it is not counted, None when opened or gone."""
        assert self._probe is not None
        pid = candidate.pid
        threads = self._thread_count(pid)
        if threads == 0:
            return None  # exited since the table was read
        needed = threads * self._probe.fds_per_thread
        self._evict_for(needed, rank)
        left = self.fd_budget - self.fds_open
        if needed > left:
            return Unavailable(f"not counted: its {threads} threads need {needed} fds, more than the "
                               f"{left} left of the {self.fd_budget}-fd budget for these columns")
        counters = self._factory(pid, self._probe.events)
        try:
            counters.open()
        except PerfOpenError as exc:
            if exc.errno == errno.ESRCH:
                return None  # vanished: nothing to say
            reason = Unavailable(str(exc), PRIVILEGE_FIX if exc.errno in (errno.EACCES, errno.EPERM) else "")
            self._refused[pid] = (candidate.start_time, reason)
            return reason
        fds = open_fds(counters)
        if self.fds_open + fds > self.fd_budget:  # it gained threads between listing and opening
            counters.close()
            return Unavailable(f"not counted: its threads took {fds} fds, more than the "
                               f"{self.fd_budget - self.fds_open} left of the {self.fd_budget}-fd budget")
        self._tracked[pid] = _Tracked(counters, candidate.start_time, fds)
        return None

    def _read(self, pid: int) -> ProcessMetrics | Unavailable | None:
        """Read one tracked process; None (and closed) when it has exited."""
        assert self._probe is not None
        tracked = self._tracked[pid]
        level = self._probe.cache_level
        if tracked.fresh:
            # Opened moments ago: its first interval would be a few microseconds long.
            tracked.fresh = False
            return ProcessMetrics(pid, None, None, None, level, len(tracked.counters.groups), tracked.fds,
                                  note="counting started; values at the next refresh")
        try:
            sample = tracked.counters.read()
        except PerfOpenError as exc:
            if exc.errno == errno.ESRCH:
                self._close(pid)
                return None
            return Unavailable(f"reading counters failed: {exc}")
        if not sample.alive:
            self._close(pid)
            return None
        metrics = sample.metrics
        cache_metric = CACHE_METRIC.get(level, "llc_miss_pct")
        reasons: dict[str, str] = {}
        for key, metric in (("ipc", "ipc"), ("cache_miss_pct", cache_metric),
                            ("branch_miss_pct", "branch_miss_pct")):
            if metrics.get(metric) is None:
                for event in derived.BY_NAME[metric].inputs:
                    if event in sample.unavailable:
                        reasons[key] = f"{event}: {sample.unavailable[event]}"
                        break
        return ProcessMetrics(pid, metrics.get("ipc"), metrics.get(cache_metric),
                              metrics.get("branch_miss_pct"), level, sample.threads, tracked.fds, reasons)

    # --- closing ----------------------------------------------------------------------------
    def _close(self, pid: int) -> None:
        tracked = self._tracked.pop(pid, None)
        if tracked is not None:
            # Closing a dead process's fds must never raise into the caller.
            with contextlib.suppress(OSError):
                tracked.counters.close()

    def close(self) -> None:
        """Close every fd (the option was turned off, or shutdown). The probe result is kept."""
        for pid in list(self._tracked):
            self._close(pid)
        self._refused.clear()
