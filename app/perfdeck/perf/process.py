"""Per-process counting: every thread of one process, the tiptop-like view.

``pid`` in perf_event_open means a THREAD: an fd on a PID counts its main thread only, and
``inherit=1`` adds only threads and children created after the open (reference §4.4). So
``ProcessCounters`` opens one set of groups per TID listed in ``/proc/PID/task``, all with
``inherit=1`` so later threads and children count through the thread that created them. Threads
that exit keep their final counts (their fds stay open until ``close``).

Unprivileged at perf_event_paranoid 2 this works for the user's own processes with
``exclude_kernel=1`` (user-space counts only); ``context-switches`` is then always 0 in the
kernel, so it is reported as unavailable instead of shown as 0.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from perfdeck.perf import derived
from perfdeck.perf.abi import PerfOpenError, errno_message
from perfdeck.perf.counters import (
    Count,
    CounterBudget,
    CounterGroup,
    DeltaTracker,
    EventSpec,
    GroupPlan,
    GroupSample,
    counter_budget,
    plan_groups,
)
from perfdeck.perf.events import CATALOGUE, CatalogEvent, CorePmu, core_pmus, pmu_label, specs_for_thread

# Kernel-accounted software events that read 0 under exclude_kernel=1 (reference §4.5): both are
# counted by __perf_sw_event_sched() from the scheduler with kernel-mode registers, so an event
# that excludes the kernel drops every one of them.
KERNEL_ONLY_EVENTS = ("context-switches", "cpu-migrations")
_EXCLUDE_KERNEL_REASONS = {
    "context-switches": "context switches are accounted in kernel mode, which perf_event_paranoid 2 "
                        "hides from unprivileged users (the count would always be 0)",
    "cpu-migrations": "CPU migrations are accounted in kernel mode (by the scheduler), which "
                      "perf_event_paranoid 2 hides from unprivileged users (the count would always be 0)",
}
_EXCLUDE_KERNEL_REASON = _EXCLUDE_KERNEL_REASONS["context-switches"]  # kept for older importers


# How often ``open`` starts again when threads appear while it opens counters (see ``open``).
OPEN_ATTEMPTS = 3


def list_tids(pid: int, root: Path = Path("/")) -> list[int]:
    """Thread ids of ``pid`` from /proc/PID/task (empty when the process is gone)."""
    try:
        return sorted(int(n) for n in os.listdir(root / f"proc/{pid}/task") if n.isdigit())
    except OSError:
        return []


def thread_start_ticks(pid: int, tid: int, root: Path = Path("/")) -> int | None:
    """Field 22 of /proc/PID/task/TID/stat: start time in clock ticks since boot."""
    try:
        text = (root / f"proc/{pid}/task/{tid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The comm field may contain spaces and parentheses: split after the LAST ')'.
    rest = text[text.rfind(")") + 2:].split()
    try:
        return int(rest[19])  # fields 3.. start at rest[0]; field 22 is rest[19]
    except (IndexError, ValueError):
        return None


def boot_ticks_now() -> int:
    """Now, in the same clock ticks since boot as /proc/.../stat's starttime."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One interval of a process's counters, summed over all its threads.

    ``deltas`` are this interval's scaled event counts, ``totals`` the scaled counts since
    ``open`` (the intervals' scaled counts added up); ``metrics`` are ``perfdeck.perf.derived``
    metrics over the interval (None where an input is missing or was not counted).
    ``counted_ratio`` is the smallest running/enabled of the hardware events (None without
    hardware events), i.e. how much of the time was counted.
    """

    pid: int
    alive: bool
    threads: int
    elapsed_s: float | None
    deltas: dict[str, float | None]
    totals: dict[str, float | None]
    metrics: dict[str, float | None]
    counted_ratio: float | None
    unavailable: dict[str, str] = field(default_factory=dict)


class ProcessCounters:
    """Counts every thread of process ``pid`` (and threads/children created later).

    ``exclude_kernel=None`` chooses: kernel + user when the kernel allows it (root, CAP_PERFMON,
    paranoid <= 1), else user space only. ``events`` defaults to the whole catalogue; events the
    CPU lacks are left out and listed in ``errors`` with the reason.
    """

    def __init__(self, pid: int, *, events: Sequence[CatalogEvent] = CATALOGUE,
                 exclude_kernel: bool | None = None, root: Path = Path("/"),
                 pmus: Sequence[CorePmu] | None = None, per_group: int | None = None) -> None:
        self.pid = pid
        self.root = root
        self._catalogue = tuple(events)
        self._requested_exclude_kernel = exclude_kernel
        self.exclude_kernel = bool(exclude_kernel)
        self._pmus = pmus
        self._per_group = per_group
        self.inherit = True
        self.groups: dict[int, list[CounterGroup]] = {}  # tid -> groups
        self.errors: dict[str, PerfOpenError] = {}
        self.notes: list[str] = []
        self._specs: list[list[EventSpec]] = []
        self._plan: GroupPlan | None = None
        self._budget: CounterBudget | None = None
        self._plan_index: dict[int, list[int]] = {}  # tid -> plan group index of each open group
        self.partial: dict[str, str] = {}  # event -> why it is counted on some core types only
        self._attempted: list[CounterGroup] = []
        self._tracker = DeltaTracker()
        self._baseline: dict[tuple[int, int], GroupSample] = {}
        self._since_open: dict[str, float] = {}
        self._open_ticks = 0
        self._last_wall: float | None = None

    # --- opening ------------------------------------------------------------------------------
    def _group_specs(self) -> list[list[EventSpec]]:
        pmus = list(self._pmus) if self._pmus is not None else core_pmus(self.root)
        events = [e for e in self._catalogue
                  if not (self.exclude_kernel and e.name in KERNEL_ONLY_EVENTS)]
        specs = specs_for_thread(pmus, events)
        budget = counter_budget(self.root)
        if self._per_group:
            budget = CounterBudget(self._per_group, budget.vendor, budget.reason, budget.fixed)
        self._budget = budget
        self._plan = plan_groups(specs, budget)
        return [list(g) for g in self._plan.groups]

    def _open_thread(self, tid: int) -> list[CounterGroup] | None:
        """Open every group on one thread; None when the thread is already gone."""
        opened: list[CounterGroup] = []
        indexes: list[int] = []
        self._attempted = []
        for index, specs in enumerate(self._specs):
            if not specs:
                continue
            group = CounterGroup(specs, pid=tid, cpu=-1, exclude_kernel=self.exclude_kernel,
                                 inherit=self.inherit)
            errors = group.open()
            self._attempted.append(group)
            if any(e.errno == errno.ESRCH for e in errors.values()):
                for g in opened:
                    g.close()
                group.close()
                return None
            for name, err in errors.items():
                self.errors.setdefault(name, err)
            if group.is_open:
                group.enable()
                opened.append(group)
                indexes.append(index)
        self._plan_index[tid] = indexes
        return opened

    def _choose_privilege(self, tid: int) -> None:
        """Find the widest scope the kernel allows on this thread: kernel+user, else user only.

        Also falls back to inherit=0 on kernels that refuse inherit with PERF_FORMAT_GROUP.
        """
        probe_event = [EventSpec("task-clock", 1, 1)]
        choices = [(False, True), (True, True), (False, False), (True, False)]
        if self._requested_exclude_kernel is not None:
            choices = [c for c in choices if c[0] == self._requested_exclude_kernel]
        last: PerfOpenError | None = None
        for exclude_kernel, inherit in choices:
            group = CounterGroup(probe_event, pid=tid, cpu=-1, exclude_kernel=exclude_kernel, inherit=inherit)
            errors = group.open()
            group.close()
            if not errors:
                self.exclude_kernel, self.inherit = exclude_kernel, inherit
                if exclude_kernel:
                    self.notes.append("counting user space only (exclude_kernel=1): the kernel refuses "
                                      "kernel-mode counting to this user (perf_event_paranoid >= 2 "
                                      "without CAP_PERFMON)")
                if not inherit:
                    self.notes.append("this kernel refuses inherit with grouped reads: threads created "
                                      "after opening are added at the next read instead")
                return
            last = errors["task-clock"]
            if last.errno == errno.ESRCH:
                break
        raise last if last is not None else PerfOpenError(errno.ESRCH, f"process {self.pid} has no threads")

    def open(self) -> None:
        """Open counters on every current thread. Raises PerfOpenError if none can be counted."""
        self.close()
        self.errors = {}
        self.notes = []
        self.partial = {}
        self._open_ticks = boot_ticks_now()
        tids = list_tids(self.pid, self.root)
        if not tids:
            raise PerfOpenError(errno.ESRCH, errno_message(errno.ESRCH, f"process {self.pid}"))
        for tid in tids:
            try:
                self._choose_privilege(tid)
                break
            except PerfOpenError as exc:
                if exc.errno != errno.ESRCH:
                    raise
        else:
            raise PerfOpenError(errno.ESRCH, errno_message(errno.ESRCH, f"process {self.pid}"))
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            self._specs = self._group_specs()
            self.partial = {}
            self._open_listed(tids)
            # Close the listing race: a thread created after the listing by a thread whose fds
            # were not open yet is neither inherited nor listed. If the listing changed while
            # opening, start again from the new listing (counts start at 0 at open anyway).
            after = list_tids(self.pid, self.root)
            appeared = sorted(set(after) - set(tids))
            if not appeared:
                break
            if attempt == OPEN_ATTEMPTS:
                self.notes.append(
                    f"threads {', '.join(map(str, appeared))} started while counters were being opened "
                    f"({OPEN_ATTEMPTS} attempts): any of them created by a thread whose counters were not "
                    "open yet is not counted")
                break
            self._close_groups()
            self._open_ticks = boot_ticks_now()
            tids = after
        if not self.groups:
            raise PerfOpenError(errno.ESRCH, errno_message(errno.ESRCH, f"process {self.pid}"))
        # Counts start at 0 when a group opens, so the first read() already yields an interval.
        self._last_wall = time.monotonic()

    def _open_listed(self, tids: list[int]) -> None:
        for tid in tids:
            groups = self._open_thread(tid)
            if groups:
                self.groups[tid] = groups
                if len(self.groups) == 1:
                    self._drop_unsupported()

    def _close_groups(self) -> None:
        for groups in self.groups.values():
            for group in groups:
                group.close()
        self.groups = {}
        self._plan_index = {}

    def _drop_unsupported(self) -> None:
        """After the first thread, stop trying events this CPU lacks (ENOENT/EOPNOTSUPP).

        They would fail identically on every other thread; skipping them saves one failing
        syscall per event per thread on big processes (and on VMs without a PMU).
        """
        if not self.errors:
            return
        # ``_attempted`` holds the first thread's groups, failed ones included, in spec order.
        unsupported: set[tuple[str, str]] = set()  # (pmu key, event)
        for group in self._attempted:
            for name, err in group.errors.items():
                if err.errno in (errno.ENOENT, errno.EOPNOTSUPP):
                    unsupported |= {(s.pmu_key, s.name) for s in group.requested if s.name == name}
        self._attempted = []
        if not unsupported:
            return
        specs = [s for group in self._specs for s in group if (s.pmu_key, s.name) not in unsupported]
        specs = list({(s.pmu_key, s.name): s for s in specs}.values())
        # An event that a hybrid part counts on one core type only would be extrapolated from the
        # other type's time: it is reported unavailable rather than shown partial (finding 3).
        counted = {name for _, name in {(s.pmu_key, s.name) for s in specs}}
        for pmu_key, name in sorted(unsupported):
            if name in counted:
                self.partial[name] = (f"not counted on {pmu_label(pmu_key)}: {pmu_key} has no {name} "
                                      "event (ENOENT), so a per-process total would be partial")
        specs = [s for s in specs if s.name not in self.partial]
        assert self._budget is not None
        self._plan = plan_groups(specs, self._budget)
        # Close the first thread's groups and reopen it with the new plan (indexes changed).
        for tid, groups in list(self.groups.items()):
            for group in groups:
                group.close()
            self._specs = [list(g) for g in self._plan.groups]
            reopened = self._open_thread(tid)
            if reopened:
                self.groups[tid] = reopened
            else:
                del self.groups[tid]

    def _rescan(self, tids: list[int]) -> None:
        """Open threads that exist now but have no fds and were not covered by inheritance.

        With inherit=1 a thread created after its creator's fd was opened is already counted
        there; opening it again would count it twice. Only threads that started before ``open``
        began (missed by the listing) are added. Without inherit every new thread is added.
        """
        for tid in tids:
            if tid in self.groups:
                continue
            if self.inherit:
                start = thread_start_ticks(self.pid, tid, self.root)
                if start is None or start >= self._open_ticks:
                    continue
            groups = self._open_thread(tid)
            if groups:
                self.groups[tid] = groups

    # --- reading ------------------------------------------------------------------------------
    def _sample_thread(self, tid: int, groups: list[CounterGroup]) -> list[tuple[int, GroupSample]]:
        """Read each group of one thread; a group seen for the first time gets a zero baseline
        (its counters started at 0 when it was opened). Returns (plan group index, sample)."""
        samples: list[tuple[int, GroupSample]] = []
        for index, group in zip(self._plan_index.get(tid, []), groups, strict=False):
            try:
                sample = group.read()
            except PerfOpenError:
                continue
            key = (tid, index)
            if key not in self._baseline:
                zero = GroupSample(0, 0, dict.fromkeys(sample.values, 0), self._last_wall or sample.wall)
                self._baseline[key] = zero
                self._tracker.update(key, zero)
            samples.append((index, sample))
        return samples

    @property
    def opened_events(self) -> set[str]:
        return {e.name for groups in self.groups.values() for g in groups for e in g.events}

    @property
    def hardware_events(self) -> set[str]:
        return {e.name for groups in self.groups.values() for g in groups for e in g.events
                if not e.is_software}

    def unavailable_events(self) -> dict[str, str]:
        """Event name -> why it is not counted (never opened on any thread)."""
        opened = self.opened_events
        reasons = {name: str(err) for name, err in self.errors.items() if name not in opened}
        reasons.update(self.partial)
        if self.exclude_kernel:
            for name in KERNEL_ONLY_EVENTS:
                if any(e.name == name for e in self._catalogue):
                    reasons[name] = _EXCLUDE_KERNEL_REASONS[name]
        return reasons

    def read(self) -> ProcessSample:
        """This interval's counts over every thread: raw counts merged, then scaled once.

        Per thread, the per-PMU copies of an event are one event (``merge_copies``); across
        threads counts, enabled and running times add up (``merge_contexts``) before scaling, so
        a thread whose group did not get a counter dilutes the scaling instead of blanking the
        process, and ratios come from the group that holds both of their sides.
        """
        tids = list_tids(self.pid, self.root)
        alive = bool(tids)
        if alive:
            self._rescan(tids)
        now = time.monotonic()
        elapsed = None if self._last_wall is None else now - self._last_wall
        self._last_wall = now
        assert self._plan is not None or not self.groups
        interval: list[dict[str, Count | None]] = []
        for tid, groups in self.groups.items():
            this_interval: dict[int, dict[str, Count | None]] = {}
            for index, sample in self._sample_thread(tid, groups):
                delta = self._tracker.update((tid, index), sample)
                if delta is not None:
                    this_interval[index] = delta.counts
            if self._plan is not None and this_interval:
                interval.append(self._plan.select(this_interval))
        deltas_counts = derived.merge_selections(interval)
        deltas = derived.scaled(deltas_counts)
        # Totals since open: each interval's scaled count added up (an uncounted interval adds 0).
        for name, value in deltas.items():
            if value is not None:
                self._since_open[name] = self._since_open.get(name, 0.0) + value
        metrics = derived.derive_counts(deltas_counts, elapsed)
        ratio = derived.counted_ratio(deltas_counts, self.hardware_events)
        return ProcessSample(self.pid, alive, len(self.groups), elapsed, deltas,
                             {n: self._since_open.get(n) for n in deltas}, metrics, ratio,
                             self.unavailable_events())

    def _sum_threads(self, parts: list[dict[str, float | None]]) -> dict[str, float | None]:
        """Deprecated: scaled per-thread values added up. ``read`` merges raw counts instead."""
        return derived.sum_values(parts)

    def close(self) -> None:
        for groups in self.groups.values():
            for group in groups:
                group.close()
        self.groups = {}
        self._plan_index = {}
        self._tracker.clear()
        self._baseline = {}
        self._since_open = {}
        self._last_wall = None

    def __enter__(self) -> ProcessCounters:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
