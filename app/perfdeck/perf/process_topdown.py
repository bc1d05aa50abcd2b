"""TMA level 1 of one process: the top-down groups of ``perfdeck.perf.topdown`` opened per thread.

Same plans and arithmetic as the ``tma`` family, in per-process mode: one group per TMA plan (per
core PMU on hybrid parts) per TID of ``/proc/PID/task``, ``pid=TID, cpu=-1``, with the privilege
(``exclude_kernel``) and ``inherit`` that ``ProcessCounters`` found the kernel allows. The raw
counts of a plan's group are added up over threads (``merge_selections``) and scaled once for
multiplexing, then ``topdown.compute`` turns them into % of slots.

Kernel rules (tools/perf/Documentation/topdown.txt, arch/x86/events/intel/core.c): ``slots`` must
lead and the metric events may only join a slots-led, non-sampling group; the kernel saves the
metrics at every context switch, so a per-thread group counts only that thread's slots. Whether a
particular kernel accepts the group per thread with ``inherit`` cannot be checked on this VM (no
PMU): if it refuses, the kernel's errno and the rule are shown instead of a value.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from perfdeck.model.series import Unavailable
from perfdeck.perf import derived
from perfdeck.perf.abi import PerfOpenError, errno_message
from perfdeck.perf.counters import Count, CounterGroup, DeltaTracker, EventSpec, GroupSample
from perfdeck.perf.process import boot_ticks_now, list_tids, thread_start_ticks
from perfdeck.perf.topdown import (
    TmaDiscovery,
    TmaPlan,
    combine,
    compute,
    discover_topdown,
    level1_events,
    slots_of,
)

GroupFactory = Callable[[Sequence[EventSpec], int, bool, bool], CounterGroup]


def _counter_group(events: Sequence[EventSpec], tid: int, exclude_kernel: bool,
                   inherit: bool) -> CounterGroup:
    return CounterGroup(events, pid=tid, cpu=-1, exclude_kernel=exclude_kernel, inherit=inherit)


def open_failure(plan: TmaPlan, err: PerfOpenError) -> Unavailable:
    """Why a plan's per-thread group could not be opened, with the rule the kernel applies."""
    if err.errno in (errno.EACCES, errno.EPERM):
        return Unavailable(f"the kernel refused per-process top-down counting on {plan.pmu}: {err}",
                           "sudo sysctl kernel.perf_event_paranoid=2 (own processes), or run as root "
                           "or with CAP_PERFMON")
    if err.errno in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV):
        return Unavailable(f"{plan.pmu} cannot count the top-down events per thread here: {err}")
    if err.errno == errno.EINVAL and plan.method == "intel-topdown":
        return Unavailable(f"the kernel refused the slots-led topdown group on a thread (EINVAL): {err}. "
                           "Topdown metric events need a non-sampling group led by slots and kernel "
                           "support for per-task PERF_METRICS (Linux 5.10 or later)", "Linux 5.10 or later")
    return Unavailable(f"top-down group on {plan.pmu} could not be opened per thread: {err}")


@dataclass(frozen=True, slots=True)
class ProcessTma:
    """One interval of TMA level 1 for a process.

    ``shares`` maps category -> % of slots (None when the process used no slots: it did not run
    or its groups were never scheduled in). ``counted_ratio`` is how much of the threads' enabled
    time the groups ran (multiplexing), None on hybrid parts, where time on the other core type
    also lowers it.
    """

    shares: dict[str, float] | None
    slots: float | None
    counted_ratio: float | None
    unavailable: Unavailable | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class ProcessTopdown:
    """Counts TMA level 1 over every thread of ``pid``. ``unavailable`` says why it cannot."""

    def __init__(self, pid: int, *, root: Path = Path("/"), discovery: TmaDiscovery | None = None,
                 exclude_kernel: bool = False, inherit: bool = True,
                 group_factory: GroupFactory | None = None) -> None:
        self.pid = pid
        self.root = Path(root)
        self._discovery = discovery
        self.exclude_kernel = exclude_kernel
        self.inherit = inherit
        self._factory = group_factory or _counter_group
        self.plans: tuple[TmaPlan, ...] = ()
        self.unavailable: Unavailable | None = None
        self.groups: dict[tuple[int, int], CounterGroup] = {}  # (tid, plan index) -> open group
        self._tracker = DeltaTracker()
        self._open_ticks = 0

    @property
    def fd_count(self) -> int:
        return sum(len(g.fds) for g in self.groups.values())

    def open(self) -> None:
        """Open the plans' groups on every thread. Raises PerfOpenError(ESRCH) if the process is gone;
        a machine or kernel that cannot count TMA per thread sets ``unavailable`` instead."""
        self.close()
        self.unavailable = None
        discovery = self._discovery or discover_topdown(self.root)
        if discovery.unavailable is not None or not discovery.plans:
            self.unavailable = discovery.unavailable or Unavailable("no top-down method covers this CPU")
            return
        self.plans = discovery.plans
        self._open_ticks = boot_ticks_now()
        tids = list_tids(self.pid, self.root)
        for tid in tids:
            failure = self._open_thread(tid)
            if failure is not None:
                # One plan refused (e.g. only cpu_atom's): a process total from the other core type
                # alone would be partial, so the whole breakdown is unavailable.
                self.close()
                self.unavailable = failure
                return
        if not self.groups:
            raise PerfOpenError(errno.ESRCH, errno_message(errno.ESRCH, f"process {self.pid}"))

    def _open_thread(self, tid: int) -> Unavailable | None:
        opened: dict[tuple[int, int], CounterGroup] = {}
        for index, plan in enumerate(self.plans):
            events = level1_events(plan)
            group = self._factory(events, tid, self.exclude_kernel, self.inherit)
            errors = group.open()
            if any(e.errno == errno.ESRCH for e in errors.values()):
                group.close()
                for g in opened.values():
                    g.close()
                return None  # the thread exited meanwhile: nothing to count
            if errors:
                group.close()
                for g in opened.values():
                    g.close()
                return open_failure(plan, next(iter(errors.values())))
            group.enable()
            # Counts start at 0 when the group opens: a zero baseline makes the first read an interval.
            zero = GroupSample(0, 0, {e.name: 0 for e in events}, time.monotonic())
            self._tracker.update((tid, index), zero)
            opened[(tid, index)] = group
        self.groups.update(opened)
        return None

    def _rescan(self, tids: list[int]) -> None:
        """Threads without groups that inheritance did not cover (as ``ProcessCounters._rescan``)."""
        have = {tid for tid, _ in self.groups}
        for tid in tids:
            if tid in have:
                continue
            if self.inherit:
                start = thread_start_ticks(self.pid, tid, self.root)
                if start is None or start >= self._open_ticks:
                    continue
            self._open_thread(tid)

    def read(self) -> ProcessTma:
        """This interval's level-1 shares over all threads (raw counts merged, scaled once)."""
        if self.unavailable is not None:
            return ProcessTma(None, None, None, self.unavailable)
        tids = list_tids(self.pid, self.root)
        if tids:
            self._rescan(tids)
        per_plan: dict[int, list[dict[str, Count | None]]] = {}
        for (tid, index), group in self.groups.items():
            try:
                sample = group.read()
            except PerfOpenError:
                continue
            delta = self._tracker.update((tid, index), sample)
            if delta is not None:
                per_plan.setdefault(index, []).append(delta.counts)
        merged = {index: derived.merge_selections(parts) for index, parts in per_plan.items()}
        if len(self.plans) == 1:
            counts = merged.get(0, {})
            scaled = derived.scaled(counts)
            shares = compute(self.plans[0], scaled)
            leader = level1_events(self.plans[0])[0].name
            slots = slots_of(self.plans[0], scaled) if shares is not None else None
            ratio = counts[leader].ratio if counts.get(leader) is not None else None
            return ProcessTma(shares, slots, ratio)
        # Hybrid: a thread's group on the other core type is enabled but not running while the thread
        # runs here, so running/enabled is not multiplexing. Shares within a group do not depend on
        # scaling; the core types are weighed by the slots actually counted on each (unscaled).
        raw = {index: (self.plans[index], {k: (c.value if c is not None else None)
                                           for k, c in counts.items()})
               for index, counts in merged.items()}
        shares = combine(raw) if raw else None
        slots = sum(slots_of(plan, counts) for plan, counts in raw.values()) if shares is not None else None
        return ProcessTma(shares, slots, None, notes=("hybrid CPU: core types weighed by the slots counted "
                                                      "on each",))

    def close(self) -> None:
        for group in self.groups.values():
            group.close()
        self.groups = {}
        self._tracker.clear()
