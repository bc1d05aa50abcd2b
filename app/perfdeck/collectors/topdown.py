"""Top-down analysis (family ``tma``): % of pipeline slots per category, per CPU and machine-wide.

The method per CPU type comes from ``perf.topdown.discover_topdown``. Each CPU gets its own
counter group (system-wide on that CPU, so it needs ``perf_event_paranoid <= 0``, CAP_PERFMON or
root), separate from the cache and IPC groups of the ``perf`` family: the Intel slots-led group
may hold nothing else, and on other CPUs TMA needs 5 or 6 counters on its own. The cost is
stated in the doctor and docs/top-down.md: one group of 5-9 events per CPU.

Series: ``tma.<category>.total`` and ``tma.<category>.cpuN`` (% of slots; metric
``tma.<category>``, label ``cpu``). Counters (``Reading.totals``): ``tma.slots.<category>.cpuN``,
the slots attributed to each category, accumulated from the multiplexing-scaled deltas.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from perfdeck.model.collector import Collector, PublishedView
from perfdeck.model.series import (
    CollectorUnavailableError,
    CounterSpec,
    Kind,
    Reading,
    SeriesSpec,
    Unavailable,
)
from perfdeck.perf.abi import PerfOpenError, errno_message
from perfdeck.perf.counters import CounterGroup, DeltaTracker, EventSpec, GroupSample
from perfdeck.perf.topdown import (
    TITLES,
    TmaDiscovery,
    TmaPlan,
    combine,
    compute,
    discover_topdown,
    slots_of,
)

TOTAL = "total"
MULTIPLEX = "multiplex_pct"
_PERCENT = (0.0, 100.0)


class GroupLike(Protocol):
    """What the collector needs of a counter group (``CounterGroup``; tests replay counts)."""

    def open(self) -> Mapping[str, PerfOpenError]: ...
    def enable(self) -> None: ...
    def read(self) -> GroupSample: ...
    def close(self) -> None: ...


GroupFactory = Callable[[Sequence[EventSpec], int], GroupLike]


def open_cpu_group(events: Sequence[EventSpec], cpu: int) -> CounterGroup:
    """All events of one plan as one group on one CPU, every process, user and kernel."""
    return CounterGroup(events, pid=-1, cpu=cpu)


def series_id(category: str, where: str) -> str:
    return f"tma.{category}.{where}"


class TopdownCollector(Collector):
    """Level 1 (and level 2 where published) top-down shares, per CPU and machine-wide."""

    family = "tma"
    title = "Top-down analysis"

    def __init__(self, root: Path = Path("/"), group_factory: GroupFactory | None = None,
                 discovery: TmaDiscovery | None = None) -> None:
        self.root = Path(root)
        self._group_factory = group_factory or open_cpu_group
        self._discovery = discovery
        self.plans: dict[int, TmaPlan] = {}
        self._groups: dict[int, GroupLike] = {}
        self._deltas = DeltaTracker()
        self._specs: dict[str, SeriesSpec] = {}
        self._counter_specs: dict[str, CounterSpec] = {}
        self._specs_view: PublishedView[SeriesSpec] = PublishedView()  # see specs()
        self._counters_view: PublishedView[CounterSpec] = PublishedView()
        self._slot_totals: dict[str, float] = {}
        self._unavailable: Unavailable | None = None
        self.notes: Mapping[str, str] = {}
        self.failed_cpus: dict[int, str] = {}

    def open(self) -> None:
        discovery = self._discovery or discover_topdown(self.root)
        self.notes = discovery.notes
        if discovery.unavailable is not None:
            self._unavailable = discovery.unavailable
            raise CollectorUnavailableError(discovery.unavailable)
        first_error: PerfOpenError | None = None
        for plan in discovery.plans:
            for cpu in plan.cpus:
                group = self._group_factory(plan.events, cpu)
                try:
                    errors = group.open()
                except PerfOpenError as exc:
                    errors = {"group": exc}
                if errors:
                    name, error = next(iter(errors.items()))
                    first_error = first_error or error
                    self.failed_cpus[cpu] = errno_message(error.errno, f"{plan.pmu}/{name} on CPU {cpu}")
                    group.close()
                    continue
                group.enable()
                self._groups[cpu] = group
                self.plans[cpu] = plan
        if not self._groups:
            assert first_error is not None
            self._unavailable = Unavailable(
                errno_message(first_error.errno, "cannot open the top-down group"),
                "see `perfdeck doctor` (system-wide counting permission, counters held by another tool)")
            raise CollectorUnavailableError(self._unavailable)
        self._build_specs()

    def _build_specs(self) -> None:
        # Fresh mappings: the engine keeps its merged specs while specs() returns the same object.
        self._specs, self._counter_specs = {}, {}
        categories_everywhere: list[str] | None = None
        for cpu, plan in sorted(self.plans.items()):
            for category in plan.categories:
                unit_label = f"{TITLES[category]} (% of slots), CPU {cpu}"
                sid = series_id(category, f"cpu{cpu}")
                self._specs[sid] = SeriesSpec(sid, unit_label, "%", Kind.RATE, group=f"tma.{category}.cpu",
                                              value_range=_PERCENT, metric=f"tma.{category}.cpu",
                                              labels=(("cpu", str(cpu)),))
                cid = f"tma.slots.{category}.cpu{cpu}"
                self._counter_specs[cid] = CounterSpec(
                    cid, f"tma.{category}_slots", "", f"Pipeline slots attributed to {TITLES[category]}",
                    (("cpu", str(cpu)),))
            here = list(plan.categories)
            categories_everywhere = here if categories_everywhere is None else [
                c for c in categories_everywhere if c in here]
        # Multiplexing, as the perf family shows it: the share of enabled time the group ran.
        for where in [TOTAL, *(f"cpu{cpu}" for cpu in sorted(self.plans))]:
            sid = f"tma.{MULTIPLEX}.{where}"
            scope = "all CPUs (lowest)" if where == TOTAL else where
            self._specs[sid] = SeriesSpec(
                sid, f"Top-down group running, % of enabled time, {scope}",
                "%", Kind.GAUGE, group=f"tma.{MULTIPLEX}", value_range=_PERCENT,
                # A total is its own metric (as in the perf family), so that summing or averaging
                # the per-CPU metric in Prometheus never counts the total a second time.
                metric=f"tma.{MULTIPLEX}.{TOTAL}" if where == TOTAL else f"tma.{MULTIPLEX}.cpu",
                labels=() if where == TOTAL else (("cpu", where[3:]),))
        for category in categories_everywhere or []:
            sid = series_id(category, TOTAL)
            self._specs[sid] = SeriesSpec(sid, f"{TITLES[category]} (% of slots, all CPUs)", "%", Kind.RATE,
                                          group="tma.total", value_range=_PERCENT,
                                          metric=f"tma.{category}.{TOTAL}")

    def close(self) -> None:
        for group in self._groups.values():
            group.close()
        self._groups = {}

    def specs(self) -> Mapping[str, SeriesSpec]:
        # A change of series publishes a new dict, never an edit: see PublishedView.
        return self._specs_view.of(self._specs)

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return self._counters_view.of(self._counter_specs)

    def unavailable(self) -> Unavailable | None:
        return self._unavailable

    def static_facts(self) -> Mapping[str, str]:
        facts = {f"TMA {name}": note for name, note in self.notes.items()}
        if self.plans:
            per_cpu = {len(plan.events) for plan in self.plans.values()}
            facts["TMA cost"] = (f"one group of {'/'.join(map(str, sorted(per_cpu)))} events per CPU "
                                 f"({len(self._groups)} CPUs), apart from the IPC and cache groups")
        return facts

    def read(self, now: float) -> Reading:
        values: dict[str, float | None] = dict.fromkeys(self._specs)
        unavailable: dict[str, Unavailable] = {}
        totals: dict[str, float] = {}
        per_cpu: dict[int, tuple[TmaPlan, Mapping[str, float | None]]] = {}
        ratios: list[float] = []
        for cpu, reason in self.failed_cpus.items():
            unavailable[f"tma.cpu{cpu}"] = Unavailable(reason)
        for cpu, group in self._groups.items():
            plan = self.plans[cpu]
            try:
                sample = group.read()
            except PerfOpenError as exc:
                self._deltas.forget(cpu)
                for category in plan.categories:
                    unavailable[series_id(category, f"cpu{cpu}")] = Unavailable(
                        errno_message(exc.errno, f"read of the top-down group on CPU {cpu}"))
                    values.pop(series_id(category, f"cpu{cpu}"), None)
                continue
            delta = self._deltas.update(cpu, sample)
            if delta is None:
                continue
            if delta.ratio is not None:
                values[f"tma.{MULTIPLEX}.cpu{cpu}"] = 100.0 * min(1.0, delta.ratio)
                ratios.append(min(1.0, delta.ratio))
            shares = compute(plan, delta.values)
            per_cpu[cpu] = (plan, delta.values)
            if shares is None:
                continue  # no slots this interval (idle or not scheduled in): no value, not 0
            slots = slots_of(plan, delta.values)
            for category, share in shares.items():
                values[series_id(category, f"cpu{cpu}")] = share
                key = f"tma.slots.{category}.cpu{cpu}"
                self._slot_totals[key] = self._slot_totals.get(key, 0.0) + share / 100.0 * slots
        for key, total in self._slot_totals.items():
            totals[key] = total
        if ratios:
            values[f"tma.{MULTIPLEX}.{TOTAL}"] = 100.0 * min(ratios)
        machine = combine(per_cpu)
        if machine is not None:
            for category, share in machine.items():
                if series_id(category, TOTAL) in values:
                    values[series_id(category, TOTAL)] = share
        return Reading(values=values, unavailable=unavailable, totals=totals)


def topdown_report(root: Path = Path("/")) -> dict[str, Any]:
    """The doctor's view (JSON-ready): the method per CPU type, or why TMA is unavailable."""
    found = discover_topdown(root)
    if found.unavailable is not None:
        return {"available": False, "reason": found.unavailable.reason, "fix": found.unavailable.fix,
                "notes": dict(found.notes)}
    plans = [{"method": p.method, "pmu": p.pmu, "cpus": len(p.cpus), "level2": p.level2, "source": p.source,
              "events": [{"name": e.name, "type": e.type, "config": hex(e.config)} for e in p.events]}
             for p in found.plans]
    summary = "; ".join(found.notes.values()) + (
        ". Needs system-wide counting (perf_event_paranoid <= 0, CAP_PERFMON or root); one group per CPU, "
        "separate from the IPC and cache groups")
    return {"available": True, "reason": summary, "plans": plans}
