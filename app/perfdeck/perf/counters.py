"""Generic counter groups on top of the ABI: open, enable, read, scale, size, budget, hotplug.

Used by the core-counter collector (``perfdeck.collectors.perfcounters``) and by the uncore /
DRAM-bandwidth code. Everything here counts; nothing samples.

Vocabulary:
- an ``EventSpec`` is what to count (type + config words), independent of where;
- a ``CounterGroup`` is a set of events opened together on one (pid, cpu), read with ONE read();
- a ``CounterSet`` is several groups on every online CPU (system-wide mode);
- ``scale_delta`` turns two cumulative samples into multiplexing-corrected deltas.
"""

from __future__ import annotations

import errno
import functools
import os
import resource
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from perfdeck.collectors._common import KeptFile
from perfdeck.perf import abi
from perfdeck.perf.abi import PerfEventAttr, PerfOpenError

U64 = 1 << 64

# Types whose events run on the core PMU's general-purpose counters and can therefore multiplex.
_CORE_PMU_TYPES = (abi.PERF_TYPE_HARDWARE, abi.PERF_TYPE_HW_CACHE, abi.PERF_TYPE_RAW)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event to count. ``pmu`` is the PMU name for display and for grouping ("" = generic)."""

    name: str
    type: int
    config: int
    config1: int = 0
    config2: int = 0
    pmu: str = ""

    @property
    def is_software(self) -> bool:
        return self.type == abi.PERF_TYPE_SOFTWARE

    @property
    def pmu_key(self) -> str:
        """Which hardware PMU schedules this event: events with different keys never share a group."""
        if self.pmu:
            return self.pmu
        if self.type in _CORE_PMU_TYPES:
            # Hybrid extended type lives in config[63:32]; 0 means "the default core PMU".
            ext = self.config >> abi.PERF_PMU_TYPE_SHIFT if self.type != abi.PERF_TYPE_RAW else 0
            return f"cpu#{ext}" if ext else "cpu"
        return f"type{self.type}"


@dataclass(frozen=True, slots=True)
class GroupSample:
    """One read of a group: raw cumulative values by event name, shared times (ns), when (monotonic s)."""

    time_enabled: int
    time_running: int
    values: dict[str, int]
    wall: float


@dataclass(frozen=True, slots=True)
class Count:
    """The raw change of one event over an interval, before any scaling.

    ``value`` is Δcount, ``enabled``/``running`` are Δtime_enabled/Δtime_running in ns. Counts are
    combined raw and scaled once (``scaled``), never scaled and then added: see ``merge_copies``
    and ``merge_contexts``.
    """

    value: float
    enabled: int
    running: int

    def scaled(self) -> float | None:
        """value·enabled/running as perf does; None when enabled time was never counted.

        enabled == 0 means the context (a thread) never ran: the count is a true 0, not "unknown".
        """
        if self.enabled <= 0:
            return float(self.value)
        if self.running <= 0:
            return None
        if self.running >= self.enabled:
            return float(self.value)
        return self.value * self.enabled / self.running

    @property
    def ratio(self) -> float | None:
        """running/enabled (1.0 = counted all the time), None when nothing was enabled."""
        return min(1.0, self.running / self.enabled) if self.enabled > 0 else None


def merge_copies(copies: Iterable[Count | None]) -> Count | None:
    """One thread's per-PMU copies of an event (hybrid ``cpu_core`` + ``cpu_atom``) as ONE event.

    A task runs on one core type at a time, and its copy on the other type is inactive while its
    time_enabled keeps growing (tools/perf/Documentation/intel-hybrid.txt), so running/enabled of
    a copy is the share of time on that core type, not multiplexing. The copies' counts and
    running times add up; their enabled times are the same interval, so the largest is kept.
    Scaling each copy and adding the results would overstate the count. None when no copy.
    """
    present = [c for c in copies if c is not None]
    if not present:
        return None
    enabled = max(c.enabled for c in present)
    running = min(enabled, sum(c.running for c in present))
    return Count(sum(c.value for c in present), enabled, running)


def merge_contexts(parts: Iterable[Count | None]) -> Count | None:
    """The same event in different contexts (threads of a process, CPUs of the machine).

    Counts, enabled and running times all add up and the sum is scaled once, as ``perf stat``
    aggregates. A thread whose group never got a counter (enabled > 0, running == 0: flexible
    groups rotate only while the thread runs) then dilutes the scaling instead of blanking the
    whole process. None when any part is missing (a partial sum would be an undercount).
    """
    value = 0.0
    enabled = running = 0
    seen = False
    for part in parts:
        if part is None:
            return None
        seen = True
        value += part.value
        enabled += part.enabled
        running += part.running
    return Count(value, enabled, running) if seen else None


@dataclass(frozen=True, slots=True)
class ScaledDelta:
    """Multiplexing-corrected change between two samples of one group.

    ``values[name]`` is Δvalue·Δenabled/Δrunning, or None when the event was not counted at all
    in the interval (Δrunning == 0), the counter went backwards (group re-opened) or is new.
    ``ratio`` = Δrunning/Δenabled (1.0 = counted all the time), None when Δenabled == 0.
    """

    values: dict[str, float | None]
    raw: dict[str, int | None]
    enabled_ns: int
    running_ns: int
    ratio: float | None
    elapsed_s: float
    # The unscaled changes, for combining with other groups/threads/copies before scaling.
    counts: dict[str, Count | None] = field(default_factory=dict)


def _u64_delta(prev: int, cur: int) -> int | None:
    """cur - prev modulo 2^64; None when it looks like a reset (a "delta" above 2^63)."""
    delta = (cur - prev) % U64
    return None if delta >= (1 << 63) else delta


def scale_delta(prev: GroupSample, cur: GroupSample) -> ScaledDelta:
    """Scale the deltas between two samples of the same group as ``perf stat -I`` does.

    est = Δvalue · Δtime_enabled / Δtime_running. Never turns "not counted" into 0.
    """
    d_enabled = _u64_delta(prev.time_enabled, cur.time_enabled) or 0
    d_running = _u64_delta(prev.time_running, cur.time_running) or 0
    ratio = (d_running / d_enabled) if d_enabled > 0 else None
    values: dict[str, float | None] = {}
    raw: dict[str, int | None] = {}
    counts: dict[str, Count | None] = {}
    for name, value in cur.values.items():
        before = prev.values.get(name)
        delta = None if before is None else _u64_delta(before, value)
        raw[name] = delta
        counts[name] = None if delta is None else Count(delta, d_enabled, d_running)
        if delta is None or d_running == 0:
            values[name] = None
        elif d_running >= d_enabled:
            values[name] = float(delta)
        else:
            values[name] = delta * d_enabled / d_running
    return ScaledDelta(values, raw, d_enabled, d_running, ratio, cur.wall - prev.wall, counts)


_RESET = 1 << 63


def count_deltas(prev: GroupSample, cur: GroupSample) -> tuple[dict[str, Count | None], int]:
    """The raw ``Count`` of every event between two samples, and Δtime_enabled (ns).

    Exactly ``scale_delta(prev, cur).counts`` and ``.enabled_ns``, without the scaled values, raw
    deltas and ratio that the system-wide collector never reads: it runs for every group on every
    CPU on every tick, so ``_u64_delta`` is written out here (same arithmetic).
    """
    d_enabled = (cur.time_enabled - prev.time_enabled) % U64
    if d_enabled >= _RESET:
        d_enabled = 0
    d_running = (cur.time_running - prev.time_running) % U64
    if d_running >= _RESET:
        d_running = 0
    before_values = prev.values
    counts: dict[str, Count | None] = {}
    for name, value in cur.values.items():
        if name in before_values:
            delta = (value - before_values[name]) % U64
            counts[name] = None if delta >= _RESET else Count(delta, d_enabled, d_running)
        else:
            counts[name] = None
    return counts, d_enabled


# --- groups -----------------------------------------------------------------------------------

Opener = Callable[[PerfEventAttr, int, int, int], int]


def _default_opener(attr: PerfEventAttr, pid: int, cpu: int, group_fd: int) -> int:
    return abi.perf_event_open(attr, pid, cpu, group_fd)


class CounterGroup:
    """Events opened as one kernel group on (pid, cpu) and read with a single read().

    The first event that opens becomes the (disabled) leader; the others join it enabled, so one
    ENABLE ioctl on the leader starts them together. An event that fails to open is recorded in
    ``errors`` (name -> PerfOpenError) and left out; the rest of the group still opens.

    ``exclude_kernel`` gives user-space-only counts (what paranoid 2 allows unprivileged users).
    Uncore and msr PMUs refuse every exclude bit, so leave them False there. ``inherit`` makes
    threads and children created after the open count too (per-process mode).
    """

    def __init__(self, events: Sequence[EventSpec], pid: int = -1, cpu: int = -1, *,
                 exclude_kernel: bool = False, exclude_hv: bool = False, inherit: bool = False,
                 opener: Opener | None = None, reader: Callable[[int, int], abi.GroupRead] | None = None
                 ) -> None:
        names = [e.name for e in events]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate event names in a group: {names}")
        self.requested: tuple[EventSpec, ...] = tuple(events)
        self.pid = pid
        self.cpu = cpu
        self.exclude_kernel = exclude_kernel
        self.exclude_hv = exclude_hv
        self.inherit = inherit
        self._open = opener or _default_opener
        self._read = reader or abi.read_group
        self.events: list[EventSpec] = []  # the ones actually open, in group order
        self.errors: dict[str, PerfOpenError] = {}
        self._fds: list[int] = []
        self._ids: dict[int, str] = {}

    @property
    def leader_fd(self) -> int | None:
        return self._fds[0] if self._fds else None

    @property
    def is_open(self) -> bool:
        return bool(self._fds)

    @property
    def fds(self) -> tuple[int, ...]:
        return tuple(self._fds)

    def _attr(self, spec: EventSpec, leader: bool) -> PerfEventAttr:
        return abi.make_attr(spec.type, spec.config, spec.config1, spec.config2,
                             read_format=abi.GROUP_READ_FORMAT, disabled=leader, inherit=self.inherit,
                             exclude_kernel=self.exclude_kernel, exclude_hv=self.exclude_hv)

    def open(self) -> dict[str, PerfOpenError]:
        """Open every event it can; return (and keep in ``errors``) the ones that failed and why.

        ESRCH (the thread is gone) aborts the whole group, since no other event can succeed.
        """
        self.close()
        self.errors = {}
        for spec in self.requested:
            leader = not self._fds
            try:
                fd = self._open(self._attr(spec, leader), self.pid, self.cpu,
                                -1 if leader else self._fds[0])
            except PerfOpenError as exc:
                self.errors[spec.name] = exc
                if exc.errno == errno.ESRCH:
                    break
                continue
            try:
                event_id = abi.event_id(fd)
            except PerfOpenError as exc:
                abi.close_fd(fd)
                self.errors[spec.name] = exc
                continue
            self._fds.append(fd)
            self._ids[event_id] = spec.name
            self.events.append(spec)
        return dict(self.errors)

    def enable(self) -> None:
        if self._fds:
            abi.enable(self._fds[0], group=True)

    def disable(self) -> None:
        if self._fds:
            abi.disable(self._fds[0], group=True)

    def read(self) -> GroupSample:
        """Raw cumulative values of every open event, with one read() on the leader."""
        if not self._fds:
            raise PerfOpenError(errno.EBADF, "counter group is not open")
        result = self._read(self._fds[0], len(self._fds))
        values = {self._ids[i]: v for i, v in result.values.items() if i in self._ids}
        return GroupSample(result.time_enabled, result.time_running, values, time.monotonic())

    def close(self) -> None:
        """Close every fd (members first, then the leader). Safe to call twice."""
        for fd in reversed(self._fds):
            abi.close_fd(fd)
        self._fds = []
        self._ids = {}
        self.events = []

    def __enter__(self) -> CounterGroup:
        self.open()
        self.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- group sizing -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CounterBudget:
    """How many general-purpose counters one group may use on the core PMU, and why.

    ``fixed`` names the events that run on a fixed-function counter instead (Intel: instructions
    on fixed counter 0, cycles on 1, ref-cycles on 2) and so cost nothing from ``per_group``.
    """

    per_group: int
    vendor: str
    reason: str
    fixed: frozenset[str] = frozenset()

    def cost(self, names: Iterable[str]) -> int:
        """General-purpose counters a group of these (distinct) hardware events needs."""
        return sum(1 for name in set(names) if name not in self.fixed)


def _read_text(path: Path) -> str | None:
    try:
        # errors="replace": a corrupt /proc/cpuinfo in a doctor --root snapshot is bad input to
        # judge, not a crash (found by the property tests).
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def cpu_vendor(root: Path = Path("/")) -> str:
    """``vendor_id`` from /proc/cpuinfo (GenuineIntel, AuthenticAMD, ...), or "" if unknown."""
    text = _read_text(root / "proc/cpuinfo") or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("vendor_id", "CPU implementer"):
            return value.strip()
    return ""


def nmi_watchdog_enabled(root: Path = Path("/")) -> bool:
    """True when the hard-lockup watchdog holds one hardware counter on every CPU."""
    return (_read_text(root / "proc/sys/kernel/nmi_watchdog") or "0").strip() == "1"


def smt_active(root: Path = Path("/")) -> bool | None:
    text = _read_text(root / "sys/devices/system/cpu/smt/active")
    return None if text is None else text.strip() == "1"


# Intel's architectural fixed counters (arch/x86/events/intel/core.c FIXED_EVENT_CONSTRAINT):
# 0 = INST_RETIRED.ANY (instructions), 1 = CPU_CLK_UNHALTED.CORE (cycles), 2 = REF_TSC (ref-cycles).
INTEL_FIXED_EVENTS = ("instructions", "cycles", "ref-cycles")


def counter_budget(root: Path = Path("/")) -> CounterBudget:
    """General-purpose counters available to one group per logical CPU, and the fixed ones.

    Table (reference §3): Intel 8 per core, shared as 4 per thread with Hyper-Threading on (a
    safe floor: Ice Lake and later keep 8 per thread), plus fixed counters for instructions,
    cycles and ref-cycles; AMD Zen 6, no fixed counters used by perf; others 4 as a cautious
    default. The NMI watchdog pins a cycles event on every CPU: on Intel the scheduler puts it on
    fixed counter 1 (fixed counters are tried first), so our cycles needs a general-purpose
    counter instead; elsewhere it takes one general-purpose counter.
    """
    vendor = cpu_vendor(root)
    smt = smt_active(root)
    watchdog = nmi_watchdog_enabled(root)
    fixed: frozenset[str] = frozenset()
    if vendor == "GenuineIntel":
        count, why = (4, "Intel, Hyper-Threading on: 4 per thread") if smt else (8, "Intel, no SMT: 8")
        fixed = frozenset(e for e in INTEL_FIXED_EVENTS if not (watchdog and e == "cycles"))
        why += " + fixed counters for " + ", ".join(e for e in INTEL_FIXED_EVENTS if e in fixed)
        if watchdog:
            why += " (the NMI watchdog holds fixed counter 1, so cycles takes a general-purpose one)"
    elif vendor in ("AuthenticAMD", "HygonGenuine"):
        count, why = 6, "AMD: 6 general-purpose counters"
        if watchdog:
            count -= 1
            why += ", minus 1 held by the NMI watchdog"
    else:
        count, why = 4, f"unknown CPU vendor {vendor or '?'}: assuming 4"
        if watchdog:
            count -= 1
            why += ", minus 1 held by the NMI watchdog"
    return CounterBudget(max(count, 1), vendor, why, fixed)


def split_into_groups(events: Iterable[EventSpec], per_group: int) -> list[list[EventSpec]]:
    """Split events into kernel groups in catalogue order, ``per_group`` per chunk (legacy helper).

    Kept for callers that only need schedulable groups; ``plan_groups`` is what the collectors use,
    because it keeps the two sides of every ratio in one group and knows the fixed counters.
    """
    software: list[EventSpec] = []
    by_pmu: dict[str, list[EventSpec]] = {}
    for spec in events:
        if spec.is_software:
            software.append(spec)
        else:
            by_pmu.setdefault(spec.pmu_key, []).append(spec)
    groups: list[list[EventSpec]] = [software] if software else []
    for specs in by_pmu.values():
        for start in range(0, len(specs), per_group):
            groups.append(specs[start:start + per_group])
    return groups


SOFTWARE_KEY = "software"


@dataclass(frozen=True)
class GroupPlan:
    """Kernel groups to open on one context, and which group answers which question.

    ``home[(pmu_key, event)]`` is the group whose count of ``event`` is THE count (rates, raw
    totals). ``pairs[(pmu_key, metric)]`` is the group holding both sides of a ratio metric, so
    numerator and denominator are counted over exactly the same time slices: an event may sit in
    several groups (instructions next to each MPKI numerator) for that reason.
    """

    groups: tuple[tuple[EventSpec, ...], ...]
    home: dict[tuple[str, str], int]
    pairs: dict[tuple[str, str], tuple[int, tuple[str, ...]]]

    @property
    def pmu_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(key for key, _ in self.home))

    def select(self, group_counts: Mapping[int, Mapping[str, Count | None]]) -> dict[str, Count | None]:
        """One context's counts by selection key, copies on several PMUs merged (``merge_copies``).

        Keys: ``<event>`` (its home count) and ``<metric>:<event>`` (the count from the group
        shared with the other side of that ratio). Groups missing from ``group_counts`` (not
        open on this context, e.g. the other hybrid PMU's CPUs) contribute nothing.
        """
        singles, multiples = self._selection
        out: dict[str, Count | None] = {}
        for index, wanted in singles:
            if index in group_counts:
                counts = group_counts[index]
                for key, name in wanted:
                    if name in counts:
                        out[key] = counts[name]
        for key, sources in multiples:
            parts = [group_counts[i][name] for i, name in sources
                     if i in group_counts and name in group_counts[i]]
            if parts:
                out[key] = parts[0] if len(parts) == 1 else merge_copies(parts)
        return out

    @functools.cached_property
    def _selection(self) -> tuple[tuple[tuple[int, tuple[tuple[str, str], ...]], ...],
                                  tuple[tuple[str, tuple[tuple[int, str], ...]], ...]]:
        """``select``'s work laid out once per plan: the keys with one source, grouped by group
        index (``(index, ((key, event), ...))``), and the keys with copies on several PMUs
        (hybrid: ``(key, ((index, event), ...))``), which ``merge_copies`` combines."""
        sources: dict[str, list[tuple[int, str]]] = {}
        for (_pmu, name), index in self.home.items():
            sources.setdefault(name, []).append((index, name))
        for (_pmu, metric), (index, inputs) in self.pairs.items():
            for name in inputs:
                sources.setdefault(f"{metric}:{name}", []).append((index, name))
        by_index: dict[int, list[tuple[str, str]]] = {}
        multiples: list[tuple[str, tuple[tuple[int, str], ...]]] = []
        for key, found in sources.items():
            if len(found) == 1:
                by_index.setdefault(found[0][0], []).append((key, found[0][1]))
            else:
                multiples.append((key, tuple(found)))
        return tuple((i, tuple(w)) for i, w in by_index.items()), tuple(multiples)

    def select_reference(self, group_counts: Mapping[int, Mapping[str, Count | None]]
                         ) -> dict[str, Count | None]:
        """The straightforward form of ``select`` (kept for the tests that compare the two)."""
        copies: dict[str, list[Count | None]] = {}
        for (_pmu, name), index in self.home.items():
            counts = group_counts.get(index)
            if counts is not None and name in counts:
                copies.setdefault(name, []).append(counts[name])
        for (_pmu, metric), (index, inputs) in self.pairs.items():
            counts = group_counts.get(index)
            if counts is None:
                continue
            for name in inputs:
                if name in counts:
                    copies.setdefault(f"{metric}:{name}", []).append(counts[name])
        return {key: (parts[0] if len(parts) == 1 else merge_copies(parts)) for key, parts in copies.items()}


def _place(groups: list[list[EventSpec]], mine: list[int], wanted: Sequence[EventSpec],
           budget: CounterBudget) -> int:
    """Put ``wanted`` together into the fitting group of ``mine`` that needs the fewest extra
    general-purpose counters, then the fewest additions (repeating a fixed-counter event such as
    instructions is free; repeating a general-purpose one costs a counter)."""
    best: tuple[int, int, int] | None = None  # (added cost, additions, group index)
    for index in mine:
        have = {s.name for s in groups[index]}
        cost = budget.cost(have | {s.name for s in wanted})
        if cost <= budget.per_group:
            choice = (cost - budget.cost(have), sum(1 for s in wanted if s.name not in have), index)
            if best is None or choice < best:
                best = choice
    if best is None:
        # Even alone it may not fit (a budget of 1): a ratio still needs one group; the kernel
        # then reports running == 0 and the metric says "not counted" rather than mixing slices.
        groups.append([])
        mine.append(len(groups) - 1)
        index = len(groups) - 1
    else:
        index = best[2]
    have = {s.name for s in groups[index]}
    groups[index].extend(s for s in wanted if s.name not in have)
    return index


def plan_groups(events: Iterable[EventSpec], budget: CounterBudget,
                pairs: Sequence[tuple[str, tuple[str, ...]]] | None = None) -> GroupPlan:
    """Kernel groups that keep every ratio's numerator and denominator together.

    ``pairs`` lists (metric, input events) that must be counted in one group (default: every ratio
    metric of ``perfdeck.perf.derived``). Per hardware PMU, each pair goes into the first group
    where it still fits ``budget.per_group`` general-purpose counters (fixed-counter events are
    free), else into a new group; events no ratio needs fill the remaining room. Software events
    never multiplex and share one group. Groups never mix PMUs (cpu_core with cpu_atom).
    """
    if pairs is None:
        from perfdeck.perf import derived  # pure arithmetic module; imported here to avoid a cycle

        pairs = [(m.name, m.inputs) for m in derived.METRICS if not m.is_rate and len(m.inputs) == 2]
    groups: list[list[EventSpec]] = []
    home: dict[tuple[str, str], int] = {}
    pair_groups: dict[tuple[str, str], tuple[int, tuple[str, ...]]] = {}
    software: list[EventSpec] = []
    by_pmu: dict[str, list[EventSpec]] = {}
    for spec in events:
        if spec.is_software:
            software.append(spec)
        else:
            by_pmu.setdefault(spec.pmu_key, []).append(spec)
    if software:
        groups.append(software)
        for spec in software:
            home[(SOFTWARE_KEY, spec.name)] = 0
    for pmu_key, specs in by_pmu.items():
        by_name = {s.name: s for s in specs}
        mine: list[int] = []  # indexes into ``groups`` of this PMU's groups
        for metric, inputs in pairs:
            if all(name in by_name for name in inputs):
                index = _place(groups, mine, [by_name[n] for n in inputs], budget)
                pair_groups[(pmu_key, metric)] = (index, tuple(inputs))
        for spec in specs:
            if not any(spec in groups[i] for i in mine):
                _place(groups, mine, [spec], budget)
        for spec in specs:
            home[(pmu_key, spec.name)] = next(i for i in mine if spec in groups[i])
    return GroupPlan(tuple(tuple(g) for g in groups), home, pair_groups)


# --- fd budget --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FdBudget:
    needed: int
    available: int
    soft_limit: int
    hard_limit: int
    message: str

    @property
    def ok(self) -> bool:
        return self.available >= self.needed


def _open_fd_count() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 64  # a guess used only to keep a safety margin


def ensure_fd_budget(needed: int, margin: int = 64) -> FdBudget:
    """Make room for ``needed`` more perf fds (events × CPUs), raising the soft RLIMIT_NOFILE.

    The soft limit is raised towards the hard limit (no privilege needed). If that is still not
    enough, ``ok`` is False and ``available`` says how many fds can be used; the caller then opens
    fewer events and reports ``message``.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = _open_fd_count()
    want = in_use + needed + margin
    if soft != resource.RLIM_INFINITY and want > soft:
        new_soft = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
            soft = new_soft
        except (ValueError, OSError):
            pass
    limit = soft if soft != resource.RLIM_INFINITY else want
    available = max(0, limit - in_use - margin)
    if available >= needed:
        message = f"{needed} perf fds fit in RLIMIT_NOFILE {soft} (hard {hard})"
    else:
        message = (f"{needed} counters need {needed} file descriptors but only {available} are free under "
                   f"RLIMIT_NOFILE (soft {soft}, hard {hard}); raise it with `ulimit -n {want}` "
                   f"(or LimitNOFILE= in a systemd unit), counting fewer events meanwhile")
    return FdBudget(needed, available, int(soft), int(hard), message)


# --- CPU sets and hotplug ---------------------------------------------------------------------

def parse_cpulist(text: str) -> tuple[int, ...]:
    """"0-3,8,10-11" -> (0, 1, 2, 3, 8, 10, 11). Empty text gives ()."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            cpus.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise ValueError(f"bad cpulist {text!r}") from None
    return tuple(cpus)


def online_cpus(root: Path = Path("/")) -> tuple[int, ...]:
    """CPUs listed in /sys/devices/system/cpu/online (os.cpu_count() range if the file is missing)."""
    text = _read_text(root / "sys/devices/system/cpu/online")
    if text is None:
        return tuple(range(os.cpu_count() or 1))
    return parse_cpulist(text)


class CounterSet:
    """The same list of groups opened system-wide (pid=-1) on every online CPU.

    ``cpus`` restricts the set (a hybrid core PMU's ``cpus``, an uncore PMU's ``cpumask``); the
    groups open on the CPUs that are both listed and online. ``read()`` does one read() per group
    per CPU. A CPU that goes offline makes its reads fail with ENODEV; that, or a change of
    /sys/devices/system/cpu/online, makes ``rescan_needed()`` true, and ``rescan()`` reopens on
    the CPUs online now.
    """

    def __init__(self, groups: Sequence[Sequence[EventSpec]], *, root: Path = Path("/"),
                 cpus: Sequence[int] | None = None, exclude_kernel: bool = False,
                 exclude_hv: bool = False, opener: Opener | None = None) -> None:
        self.group_specs = [list(g) for g in groups if g]
        self.root = root
        self._fixed_cpus = tuple(cpus) if cpus is not None else None
        self.exclude_kernel = exclude_kernel
        self.exclude_hv = exclude_hv
        self._opener = opener
        self.cpus: tuple[int, ...] = ()
        self.groups: dict[tuple[int, int], CounterGroup] = {}  # (group index, cpu) -> group
        self.errors: dict[tuple[int, int], dict[str, PerfOpenError]] = {}
        self._online_text: str | None = None
        # The online file, kept open for the per-tick hotplug check (one pread, no open/close).
        self._online = KeptFile(self._online_file())
        self._saw_enodev = False

    def _online_file(self) -> Path:
        return self.root / "sys/devices/system/cpu/online"

    def open(self) -> None:
        """Open every group on every CPU; failures per (group, cpu) land in ``errors``."""
        self.close()
        self._online = KeptFile(self._online_file())
        self._online_text = self._online_now()
        online = online_cpus(self.root)
        if self._fixed_cpus is not None:
            allowed = set(self._fixed_cpus)
            self.cpus = tuple(c for c in online if c in allowed)
        else:
            self.cpus = online
        self._saw_enodev = False
        for index, specs in enumerate(self.group_specs):
            for cpu in self.cpus:
                group = CounterGroup(specs, -1, cpu, exclude_kernel=self.exclude_kernel,
                                     exclude_hv=self.exclude_hv, opener=self._opener)
                errors = group.open()
                if errors:
                    self.errors[(index, cpu)] = errors
                    if any(e.errno == errno.ENODEV for e in errors.values()):
                        self._saw_enodev = True
                if group.is_open:
                    self.groups[(index, cpu)] = group

    def enable(self) -> None:
        for group in self.groups.values():
            group.enable()

    def read(self) -> dict[tuple[int, int], GroupSample]:
        """One sample per open (group index, cpu). Groups whose read fails are left out."""
        samples: dict[tuple[int, int], GroupSample] = {}
        for key, group in self.groups.items():
            try:
                samples[key] = group.read()
            except PerfOpenError as exc:
                if exc.errno == errno.ENODEV:
                    self._saw_enodev = True
        return samples

    def rescan_needed(self) -> bool:
        """True after an ENODEV or when the set of online CPUs changed since ``open``."""
        if self._saw_enodev:
            return True
        return self._online_now() != self._online_text

    def _online_now(self) -> str | None:
        """The online file's text, through the kept descriptor (fresh: sysfs shows it again)."""
        data = self._online.read()
        return data.decode("ascii", "replace") if data is not None else None

    def rescan(self) -> None:
        """Reopen on the CPUs online now (previous samples are no longer comparable)."""
        enabled = bool(self.groups)
        self.open()
        if enabled:
            self.enable()

    def fd_count(self) -> int:
        return sum(len(g.fds) for g in self.groups.values())

    def close(self) -> None:
        for group in self.groups.values():
            group.close()
        self.groups = {}
        self.errors = {}
        self._online.close()


@dataclass(slots=True)
class DeltaTracker:
    """Keeps the previous sample per key and hands out ``scale_delta`` results."""

    _last: dict[object, GroupSample] = field(default_factory=dict)

    def update(self, key: object, sample: GroupSample) -> ScaledDelta | None:
        previous = self._last.get(key)
        self._last[key] = sample
        return None if previous is None else scale_delta(previous, sample)

    def update_counts(self, key: object, sample: GroupSample) -> tuple[dict[str, Count | None], int] | None:
        """``count_deltas`` against the previous sample of ``key`` (None on first sight)."""
        last = self._last
        previous = last.get(key)
        last[key] = sample
        return None if previous is None else count_deltas(previous, sample)

    def forget(self, key: object) -> None:
        self._last.pop(key, None)

    def clear(self) -> None:
        self._last.clear()
