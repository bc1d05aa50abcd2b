"""DRAM bandwidth collector (family ``membw``): uncore memory-controller counters or resctrl MBM.

``open()`` discovers the sources (``perfdeck.perf.bandwidth``) and opens the best one that
works here: if an uncore source cannot be opened (EACCES under perf_event_paranoid, EBUSY...)
it falls back to the next, ending with resctrl. What was chosen, how accurate it is, and why
better sources were not used go into ``Reading.tables["membw"]`` for the tab and the doctor.
"""

from __future__ import annotations

import errno
import logging
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
from perfdeck.perf.bandwidth import (
    BandwidthDiscovery,
    PerfBandwidthMath,
    PerfBandwidthSource,
    ResctrlMath,
    ResctrlSource,
    Source,
    bytes_counter_id,
    counter_specs_for,
    discover_bandwidth,
    read_resctrl,
    series_for,
)
from perfdeck.perf.counters import CounterGroup, EventSpec, GroupSample

log = logging.getLogger(__name__)

TABLE = "membw"


class GroupLike(Protocol):
    """What the collector needs from a counter group (``perfdeck.perf.counters.CounterGroup``)."""

    errors: Mapping[str, PerfOpenError]

    def open(self) -> Mapping[str, PerfOpenError]: ...
    def enable(self) -> None: ...
    def read(self) -> GroupSample: ...
    def close(self) -> None: ...


GroupFactory = Callable[[Sequence[EventSpec], int], GroupLike]


def open_uncore_group(events: Sequence[EventSpec], cpu: int) -> GroupLike:
    """Uncore (and RAPL) events: pid=-1 on the box's designated CPU, no exclude bits, counting only."""
    return CounterGroup(events, pid=-1, cpu=cpu)


class MemoryBandwidthCollector(Collector):
    """Read/write DRAM GB/s per channel, per socket and in total, from the best source present."""

    family = "membw"
    title = "Memory bandwidth"

    def __init__(self, root: Path = Path("/"), group_factory: GroupFactory | None = None,
                 discovery: BandwidthDiscovery | None = None) -> None:
        self.root = Path(root)
        self._group_factory = group_factory or open_uncore_group
        self._discovery = discovery
        self.source: Source | None = None
        self._groups: dict[str, GroupLike] = {}
        self._perf_math: PerfBandwidthMath | None = None
        self._resctrl_math: ResctrlMath | None = None
        self._specs: dict[str, SeriesSpec] = {}
        self._counter_specs: dict[str, CounterSpec] = {}
        self._specs_view: PublishedView[SeriesSpec] = PublishedView()  # see specs()
        self._counters_view: PublishedView[CounterSpec] = PublishedView()
        self._fallbacks: list[tuple[str, Unavailable]] = []
        self._unavailable: Unavailable | None = None
        self._reopen_pending = False

    # -- lifecycle --------------------------------------------------------------------------
    def open(self) -> None:
        discovery = self._discovery or discover_bandwidth(self.root)
        self._fallbacks = list(discovery.rejected)
        if discovery.privilege_reason is not None:
            for skipped in discovery.sources:
                if isinstance(skipped, PerfBandwidthSource):
                    self._fallbacks.append((skipped.kind, discovery.privilege_reason))
        for source in discovery.usable:
            failure = self._try_open(source)
            if failure is None:
                self.source = source
                self._specs = series_for(source)
                self._counter_specs = counter_specs_for(source)
                return
            log.info("bandwidth source %s unusable: %s", source.kind, failure)
            self._fallbacks.append((source.kind, failure))
        if discovery.usable:
            # Everything present failed to open: the first (best) failure is the one to fix.
            kind, why = next((k, w) for k, w in self._fallbacks if k == discovery.usable[0].kind)
            others = [f"{k}: {w.reason}" for k, w in self._fallbacks if k != kind]
            reason = f"{discovery.usable[0].label}: {why.reason}"
            if others:
                reason += "; also " + "; ".join(others)
            self._unavailable = Unavailable(reason, why.fix)
        else:
            self._unavailable = discovery.unavailable()
        raise CollectorUnavailableError(self._unavailable)

    def _try_open(self, source: Source) -> Unavailable | None:
        if isinstance(source, ResctrlSource):
            self._resctrl_math = ResctrlMath(source.domains)
            return None
        groups: dict[str, GroupLike] = {}
        for key, counters in source.groups().items():
            group = self._group_factory([c.event_spec() for c in counters], counters[0].cpu)
            try:
                errors = group.open()
            except PerfOpenError as exc:
                errors = {key: exc}
            groups[key] = group
            if errors:
                name, error = next(iter(errors.items()))
                for opened in groups.values():
                    opened.close()
                where = f"{counters[0].pmu}/{name.split(':', 1)[-1]} on CPU {counters[0].cpu}"
                fix = ""
                if error.errno in (errno.EPERM, errno.EACCES):
                    fix = "`sudo sysctl kernel.perf_event_paranoid=0` or run with CAP_PERFMON"
                return Unavailable(errno_message(error.errno, f"cannot open {where}"), fix)
        for group in groups.values():
            group.enable()
        self._groups = groups
        self._perf_math = PerfBandwidthMath(source)
        return None

    def close(self) -> None:
        for group in self._groups.values():
            group.close()
        self._groups = {}

    # -- protocol -----------------------------------------------------------------------------
    def specs(self) -> Mapping[str, SeriesSpec]:
        # A change of series publishes a new dict, never an edit: see PublishedView.
        return self._specs_view.of(self._specs)

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return self._counters_view.of(self._counter_specs)

    def unavailable(self) -> Unavailable | None:
        return self._unavailable

    def status(self, problems: Mapping[str, str] | None = None) -> dict[str, Any]:
        """What the tab and the doctor show about the source in use."""
        source = self.source
        return {
            "source": source.label if source else None,
            "kind": source.kind if source else None,
            "accuracy": source.accuracy if source else None,
            "approximate": source.approximate if source else None,
            "read_write_split": source.split if source else None,
            "notes": list(source.notes) if source else [],
            "fallbacks": [{"kind": k, "reason": w.reason, "fix": w.fix} for k, w in self._fallbacks],
            "problems": dict(problems or {}),
        }

    def _reopen(self) -> None:
        """A CPU went offline under an uncore box: discover again and reopen (new baselines)."""
        self.close()
        # Totals must not go down across the reopen: carry them over to the new arithmetic.
        old = self._perf_math if self._perf_math is not None else self._resctrl_math
        carried = dict(old.totals) if old is not None else {}
        self.source = None
        self._perf_math = self._resctrl_math = None
        self._discovery = None
        self._reopen_pending = False
        try:
            self.open()
            new = self._perf_math if self._perf_math is not None else self._resctrl_math
            if new is not None:
                new.totals.update(carried)
        except CollectorUnavailableError:
            log.info("memory bandwidth unavailable after CPU hotplug: %s", self._unavailable)

    def read(self, now: float) -> Reading:
        if self._reopen_pending:
            self._reopen()
        if self.source is None:
            return Reading(unavailable={self.family: self._unavailable or Unavailable("not opened")})
        problems: dict[str, str] = {}
        if self._perf_math is not None:
            samples: dict[str, GroupSample] = {}
            for key, group in self._groups.items():
                try:
                    samples[key] = group.read()
                except PerfOpenError as exc:
                    problems[key] = errno_message(exc.errno, "read failed")
                    if exc.errno == errno.ENODEV:
                        self._reopen_pending = True
            values = self._perf_math.update(samples)
        else:
            assert isinstance(self.source, ResctrlSource) and self._resctrl_math is not None
            values = self._resctrl_math.update(now, read_resctrl(self.source))
            problems.update(self._resctrl_math.problems)
            for key in values:
                if key.startswith("membw.group.") and key not in self._specs:
                    # A resctrl group created while running gets its own series.
                    # New mappings, not the published ones edited: the engine keeps its merged
                    # specs while a collector's specs() returns the same object.
                    name = key.removeprefix("membw.group.")
                    self._specs = {**self._specs, key: SeriesSpec(
                        key, f"resctrl group {name}", "GB/s", Kind.RATE, group="membw.group",
                        metric="membw.group", labels=(("resource", name),))}
                    cid = bytes_counter_id(key)
                    self._counter_specs = {**self._counter_specs, cid: CounterSpec(
                        cid, "membw.bytes.group", "B", f"resctrl group {name}: bytes since PerfDeck "
                        "started counting", (("resource", name),))}
        values = {k: v for k, v in values.items() if k in self._specs}
        unavailable: dict[str, Unavailable] = {}
        if not self.source.split:
            why = Unavailable(f"{self.source.title} counts reads and writes together; no read/write split")
            unavailable["membw.read"] = why
            unavailable["membw.write"] = why
        math = self._perf_math if self._perf_math is not None else self._resctrl_math
        totals = {k: float(v) for k, v in (math.totals if math is not None else {}).items()
                  if k in self._counter_specs}
        return Reading(values=values, unavailable=unavailable, tables={TABLE: self.status(problems)},
                       totals=totals)

    def static_facts(self) -> Mapping[str, str]:
        if self.source is None:
            return {}
        return {"Bandwidth source": self.source.label, "Accuracy": self.source.accuracy}
