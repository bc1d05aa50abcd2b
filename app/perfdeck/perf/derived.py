"""Derived metrics from scaled counter deltas: pure arithmetic, no I/O.

Inputs are ``{event name: scaled delta or None}`` for one interval, as produced by
``perfdeck.perf.counters.scale_delta`` (None = not counted / not available). A metric is None
whenever one of its inputs is None or its denominator is 0: a missing input never becomes 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from perfdeck.perf.counters import Count, merge_contexts

Values = Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class Metric:
    """One derived metric: ``value = numerator / denominator × factor`` over named events."""

    name: str  # the series-id metric part, e.g. "ipc" in perf.ipc.total
    label: str
    unit: str
    numerator: str
    denominator: str  # an event name, or "@seconds" for a per-second rate
    factor: float = 1.0
    value_range: tuple[float, float] | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.numerator,) if self.denominator == SECONDS else (self.numerator, self.denominator)

    @property
    def is_rate(self) -> bool:
        return self.denominator == SECONDS


SECONDS = "@seconds"
_PCT = (0.0, 100.0)

METRICS: tuple[Metric, ...] = (
    Metric("ipc", "Instructions per cycle", "IPC", "instructions", "cycles"),
    # System-wide the denominator is wall time per CPU, so halted (idle) time counts as 0 cycles;
    # per process it is task-clock, which includes kernel time even when cycles exclude it. Hence
    # the label: it is not the clock frequency. ``active_ghz`` is (see compute()).
    Metric("ghz", "Unhalted cycles per second of time counted (not the clock frequency: see active GHz)",
           "GHz", "cycles", "task-clock"),
    Metric("active_ghz", "Active clock frequency (cycles / reference cycles x reference clock)", "GHz",
           "cycles", "ref-cycles"),
    Metric("l1d_miss_pct", "L1 data cache load miss ratio", "%", "L1-dcache-load-misses",
           "L1-dcache-loads", 100.0, _PCT),
    Metric("llc_miss_pct", "Last-level cache load miss ratio", "%", "LLC-load-misses", "LLC-loads",
           100.0, _PCT),
    Metric("l1d_mpki", "L1 data cache misses per 1000 instructions", "MPKI", "L1-dcache-load-misses",
           "instructions", 1000.0),
    Metric("llc_mpki", "Last-level cache misses per 1000 instructions", "MPKI", "LLC-load-misses",
           "instructions", 1000.0),
    Metric("branch_miss_pct", "Branch mispredictions", "%", "branch-misses", "branches", 100.0, _PCT),
    Metric("dtlb_mpki", "Data TLB misses per 1000 instructions", "MPKI", "dTLB-load-misses",
           "instructions", 1000.0),
    Metric("itlb_mpki", "Instruction TLB misses per 1000 instructions", "MPKI", "iTLB-load-misses",
           "instructions", 1000.0),
    Metric("stall_frontend_pct", "Front-end stalled cycles", "%", "stalled-cycles-frontend", "cycles",
           100.0, _PCT),
    Metric("stall_backend_pct", "Back-end stalled cycles", "%", "stalled-cycles-backend", "cycles",
           100.0, _PCT),
    Metric("ctx_switches", "Context switches", "/s", "context-switches", SECONDS),
    Metric("migrations", "CPU migrations", "/s", "cpu-migrations", SECONDS),
    Metric("page_faults", "Page faults", "/s", "page-faults", SECONDS),
    Metric("minor_faults", "Minor page faults", "/s", "minor-faults", SECONDS),
    Metric("major_faults", "Major page faults", "/s", "major-faults", SECONDS),
)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
_INPUTS: dict[str, tuple[str, ...]] = {m.name: m.inputs for m in METRICS}
# "ghz" divides cycles by time on CPU in seconds, not ns: task-clock counts ns.
_NS_PER_S = 1e9


def _ratio(num: float | None, den: float | None, factor: float) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return num / den * factor


def compute(metric: Metric, values: Values, elapsed_s: float | None, cpu_seconds: float | None = None,
            ref_ghz: float | None = None) -> float | None:
    """One metric over one interval.

    ``elapsed_s`` is the wall interval (for per-second rates). ``cpu_seconds`` is the CPU time
    the cycles were spread over, used by ``ghz`` when there is no task-clock (system-wide: the
    interval × the number of CPUs summed). ``ref_ghz`` is the rate of ref-cycles (Intel: the
    TSC, i.e. the base clock), needed by ``active_ghz``: both counters stop while the core is
    halted and both obey the same exclude bits, so their ratio is the clock while running.
    """
    if metric.name == "active_ghz":
        ratio = _ratio(values.get("cycles"), values.get("ref-cycles"), 1.0)
        return None if ratio is None or ref_ghz is None else ratio * ref_ghz
    if metric.is_rate:
        if elapsed_s is None or elapsed_s <= 0:
            return None
        num = values.get(metric.numerator)
        return None if num is None else num / elapsed_s
    if metric.name == "ghz":
        cycles = values.get("cycles")
        task_ns = values.get("task-clock")
        seconds = task_ns / _NS_PER_S if task_ns is not None else cpu_seconds
        if cycles is None or seconds is None or seconds <= 0:
            return None
        return cycles / seconds / 1e9
    return _ratio(values.get(metric.numerator), values.get(metric.denominator), metric.factor)


def derive(values: Values, elapsed_s: float | None, cpu_seconds: float | None = None,
           metrics: Iterable[Metric] = METRICS, ref_ghz: float | None = None) -> dict[str, float | None]:
    """Every metric for one interval: {metric name: value or None}."""
    return {m.name: compute(m, values, elapsed_s, cpu_seconds, ref_ghz) for m in metrics}


def scaled(counts: Mapping[str, Count | None]) -> dict[str, float | None]:
    """Plain event keys of a selection (``GroupPlan.select``), each scaled once."""
    return {key: (c.scaled() if c is not None else None) for key, c in counts.items() if ":" not in key}


def derive_counts(counts: Mapping[str, Count | None], elapsed_s: float | None,
                  cpu_seconds: float | None = None, metrics: Iterable[Metric] = METRICS,
                  ref_ghz: float | None = None) -> dict[str, float | None]:
    """Every metric from raw counts: each ratio from the group that holds both of its sides.

    ``counts`` is a selection (``GroupPlan.select``, possibly merged over threads or CPUs with
    ``merge_selections``): ``<metric>:<event>`` keys are preferred for ratios, so numerator and
    denominator share their time slices; plain ``<event>`` keys serve rates and the rest.
    """
    out: dict[str, float | None] = {}
    for metric in metrics:
        inputs = _INPUTS.get(metric.name) or metric.inputs
        if not any(name in counts for name in inputs):
            out[metric.name] = None  # nothing counted for it (a VM without a PMU): skip the work
            continue
        # compute() reads only the metric's inputs, so a two-entry mapping is enough.
        values: dict[str, float | None] = {}
        for name in inputs:
            key = _PAIR_KEYS.get((metric.name, name)) or _pair_key(metric.name, name)
            count = counts[key] if key in counts else counts.get(name)
            values[name] = count.scaled() if count is not None else None
        out[metric.name] = compute(metric, values, elapsed_s, cpu_seconds, ref_ghz)
    return out


_PAIR_KEYS: dict[tuple[str, str], str] = {}


def _pair_key(metric: str, event: str) -> str:
    key = _PAIR_KEYS[(metric, event)] = f"{metric}:{event}"
    return key


_RATE, _RATIO, _OTHER = "rate", "ratio", "other"


def _scaled_plan(metric: Metric) -> tuple[str, tuple[tuple[str, str], ...]]:
    """How ``compute`` treats ``metric`` (a rate; a plain ``_ratio`` of its two inputs; ghz and
    active_ghz, which have their own arithmetic), and its inputs with their pair keys."""
    if metric.is_rate:
        kind = _RATE
    elif metric.name in ("ghz", "active_ghz"):
        kind = _OTHER
    else:
        kind = _RATIO
    return kind, tuple((e, f"{metric.name}:{e}") for e in metric.inputs)


# Per metric, laid out once for derive_scaled.
_SCALED_PLAN: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {m.name: _scaled_plan(m) for m in METRICS}


def scale_selection(counts: Mapping[str, Count | None]) -> dict[str, float | None]:
    """Every key of a selection (plain and ``<metric>:<event>``) scaled once: ``Count.scaled``."""
    return {key: (c.scaled() if c is not None else None) for key, c in counts.items()}


def derive_scaled(scaled_counts: Mapping[str, float | None], elapsed_s: float | None,
                  cpu_seconds: float | None = None, metrics: Iterable[Metric] = METRICS,
                  ref_ghz: float | None = None) -> dict[str, float | None]:
    """``derive_counts`` over a selection already scaled by ``scale_selection``: the same values.

    The system-wide collector scales each count once for both the raw totals and the metrics,
    and a per-second rate (the only metrics a machine without a PMU has) is one division here
    instead of a call of ``compute`` with a fresh two-entry dict.
    """
    out: dict[str, float | None] = {}
    rate_ok = elapsed_s is not None and elapsed_s > 0
    for metric in metrics:
        name = metric.name
        kind, inputs = _SCALED_PLAN[name] if name in _SCALED_PLAN else _scaled_plan(metric)
        if kind is _RATE:
            numerator = inputs[0][0]
            if rate_ok and numerator in scaled_counts and (num := scaled_counts[numerator]) is not None:
                out[name] = num / elapsed_s  # type: ignore[operator]
            else:
                out[name] = None
            continue
        if kind is _RATIO:
            # compute()'s own arithmetic for these (``_ratio``), without its dict and dispatch;
            # each side from the group shared with the other side when there is one.
            (num_event, num_key), (den_event, den_key) = inputs
            if num_event not in scaled_counts and den_event not in scaled_counts:
                out[name] = None  # nothing counted for it (no PMU), as derive_counts
                continue
            num = scaled_counts[num_key] if num_key in scaled_counts else scaled_counts.get(num_event)
            den = scaled_counts[den_key] if den_key in scaled_counts else scaled_counts.get(den_event)
            out[name] = _ratio(num, den, metric.factor)
            continue
        values: dict[str, float | None] = {}
        present = False  # as derive_counts: judged on the plain event keys
        for event, key in inputs:
            if event in scaled_counts:
                present = True
            if key in scaled_counts:
                values[event] = scaled_counts[key]
            else:
                values[event] = scaled_counts.get(event)
        # Nothing counted for it (no PMU): None without the arithmetic, as derive_counts.
        out[name] = compute(metric, values, elapsed_s, cpu_seconds, ref_ghz) if present else None
    return out


def merge_selections(parts: Sequence[Mapping[str, Count | None]]) -> dict[str, Count | None]:
    """Selections of several contexts (threads, CPUs) merged key by key as ``merge_contexts`` does.

    A key that some context lacks is None: a total over part of the contexts would be an
    undercount shown as a real value. The sums are ``merge_contexts``' own, written out here
    because this runs for every event on every tick.
    """
    out: dict[str, Count | None] = {}
    for part in parts:
        for key in part:
            if key in out:
                continue
            value = 0.0
            enabled = running = 0
            for other in parts:
                if key not in other or (count := other[key]) is None:
                    out[key] = None
                    break
                value += count.value
                enabled += count.enabled
                running += count.running
            else:
                out[key] = Count(value, enabled, running)
    return out


def merge_selections_reference(parts: Sequence[Mapping[str, Count | None]]) -> dict[str, Count | None]:
    """The straightforward form of ``merge_selections`` (kept for the tests that compare the two)."""
    keys = dict.fromkeys(k for part in parts for k in part)
    return {key: merge_contexts(part.get(key) for part in parts) for key in keys}


def counted_ratio(counts: Mapping[str, Count | None], names: Iterable[str]) -> float | None:
    """The smallest running/enabled among ``names`` (plain keys): how much of the time was counted."""
    smallest: float | None = None
    for name in names:
        if name in counts and (count := counts[name]) is not None:
            ratio = count.ratio  # a property: read once
            if ratio is not None and (smallest is None or ratio < smallest):
                smallest = ratio
    return smallest


def sum_values(per_cpu: Iterable[Values]) -> dict[str, float | None]:
    """Add per-CPU (or per-thread) deltas event by event.

    An event that is None on any contributor is None in the total, since a partial sum would be
    an undercount shown as a real value.
    """
    total: dict[str, float | None] = {}
    for values in per_cpu:
        for name, value in values.items():
            if name in total and total[name] is None:
                continue
            if value is None:
                total[name] = None
            else:
                total[name] = (total.get(name) or 0.0) + value
    return total


def missing_inputs(metric: Metric, available: Iterable[str]) -> tuple[str, ...]:
    """Which of the metric's input events are not among ``available``."""
    have = set(available)
    # ghz falls back to elapsed CPU time when task-clock is missing, so only cycles is required.
    required = ("cycles",) if metric.name == "ghz" else metric.inputs
    return tuple(e for e in required if e not in have)

