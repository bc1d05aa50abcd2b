"""The ``/metrics`` exposition: a prometheus_client custom collector over the agent's newest snapshot.

It has no per-family code. Every ``SeriesSpec`` becomes a gauge sample and every ``CounterSpec``
total a counter sample, named by ``naming``; instance labels come from the specs. What could not
be read is left out (never 0) and explained by ``perfdeck_family_available``,
``perfdeck_family_unavailable_info`` and ``perfdeck_metric_unavailable_info``.

Scrapes read the snapshot the background tick made (see docs/prometheus.md for why): a scrape
costs only the formatting, and two Prometheus servers scraping the same agent see the same data.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector as PromCollector
from prometheus_client.registry import CollectorRegistry

from perfdeck.exporter.naming import PREFIX, Naming, metric_name
from perfdeck.model.series import CounterSpec, SeriesSpec, Snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FamilyStatus:
    """Whether one requested family works here and, if not, why and the fix."""

    name: str
    title: str
    available: bool
    reason: str = ""
    fix: str = ""


class SnapshotSource(Protocol):
    """What the exposition needs from the agent (``exporter.agent.Agent`` implements it)."""

    version: str
    interval: float

    def latest(self) -> tuple[int, Snapshot] | None: ...

    def family_status(self) -> Mapping[str, FamilyStatus]: ...

    def last_collection_seconds(self) -> float | None: ...

    def collections(self) -> int: ...


def _labels(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {str(name): str(value) for name, value in pairs}


@functools.lru_cache(maxsize=65536)  # specs are frozen and repeat every scrape; samples only read the dict
def _series_entry(spec: SeriesSpec) -> tuple[Naming, dict[str, str], tuple[tuple[str, str], ...]]:
    return metric_name(spec.metric_name, spec.unit), _labels(spec.labels), tuple(sorted(spec.labels))


@functools.lru_cache(maxsize=65536)
def _counter_entry(spec: CounterSpec) -> tuple[Naming, dict[str, str], tuple[tuple[str, str], ...]]:
    return metric_name(spec.metric or spec.id, spec.unit, counter=True), _labels(spec.labels), \
        tuple(sorted(spec.labels))


def snapshot_metrics(snapshot: Snapshot) -> list[Metric]:
    """Gauges for the series and counters for the totals of one snapshot, in a stable order."""
    gauges: dict[str, GaugeMetricFamily] = {}
    counters: dict[str, CounterMetricFamily] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for counter_id, total in snapshot.totals.items():
        spec = snapshot.counter_specs.get(counter_id)
        if spec is None or total is None or not math.isfinite(total):
            continue
        naming, labels, key_labels = _counter_entry(spec)
        family = counters.get(naming.name)
        if family is None:
            family = counters[naming.name] = CounterMetricFamily(
                naming.name, spec.help or f"PerfDeck counter {spec.metric}", labels=None)
        key = (naming.name, key_labels)
        if key in seen:
            continue
        seen.add(key)
        family.add_sample(naming.name + "_total", labels, total * naming.factor)
    for series_id, value in snapshot.values.items():
        if value is None or not math.isfinite(value):
            continue  # no value this tick: leave the series out, never 0
        spec = snapshot.specs.get(series_id)
        if spec is None:
            continue
        naming, labels, key_labels = _series_entry(spec)
        if naming.name in counters:
            # A counter already owns this name (OpenMetrics would see two families): the counter wins.
            continue
        family = gauges.get(naming.name)
        if family is None:
            help_text = spec.label if not spec.labels else (
                f"{spec.metric_name} ({spec.unit or 'number'} in PerfDeck), "
                f"one series per {', '.join(name for name, _ in spec.labels)}")
            family = gauges[naming.name] = GaugeMetricFamily(naming.name, help_text, labels=None)
        key = (naming.name, key_labels)
        if key in seen:
            continue  # two series mapping to one name and label set: a duplicate sample would fail the scrape
        seen.add(key)
        family.add_sample(naming.name, labels, float(value) * naming.factor)
    return [counters[name] for name in sorted(counters)] + [gauges[name] for name in sorted(gauges)]


def unavailability_metrics(snapshot: Snapshot | None, status: Mapping[str, FamilyStatus]) -> list[Metric]:
    """``perfdeck_family_available``, and info metrics with the reasons, for dashboards to show."""
    available = GaugeMetricFamily(PREFIX + "family_available",
                                  "1 when the metric family can be read on this host, 0 when it cannot "
                                  "(see perfdeck_family_unavailable_info for why)", labels=["family"])
    family_info = InfoMetricFamily(PREFIX + "family_unavailable",
                                   "Why a whole metric family cannot be read here, and the fix",
                                   labels=["family", "reason", "fix"])
    for name in sorted(status):
        fam = status[name]
        available.add_metric([name], 1.0 if fam.available else 0.0)
        if not fam.available:
            family_info.add_metric([name, fam.reason, fam.fix], {})
    metric_info = InfoMetricFamily(PREFIX + "metric_unavailable",
                                   "Why a metric (or some of its instances) has no samples here, and the "
                                   "fix; metric is the name it would be exported under",
                                   labels=["family", "metric", "reason", "fix"])
    if snapshot is not None:
        seen: set[tuple[str, str, str]] = set()
        for key, why in sorted(snapshot.unavailable.items()):
            family = key.split(".", 1)[0]
            if key == family:
                continue  # whole family: reported above
            spec = snapshot.specs.get(key)
            exported = metric_name(spec.metric_name, spec.unit).name if spec else metric_name(key, "").name
            entry = (exported, why.reason, why.fix)
            if entry in seen:
                continue
            seen.add(entry)
            metric_info.add_metric([family, exported, why.reason, why.fix], {})
    return [available, family_info, metric_info]


class SnapshotCollector(PromCollector):
    """The custom collector ``perfdeck serve`` registers: the newest snapshot plus the agent's own state."""

    def __init__(self, source: SnapshotSource) -> None:
        self.source = source

    def describe(self) -> list[Metric]:
        return []  # the metric set follows the machine; nothing to check at registration time

    def collect(self) -> Iterator[Metric]:
        latest = self.source.latest()
        snapshot = latest[1] if latest else None
        build = InfoMetricFamily(PREFIX + "build", "PerfDeck version", labels=["version"])
        build.add_metric([self.source.version], {})
        yield build
        yield GaugeMetricFamily(PREFIX + "interval_seconds", "The agent's sampling interval",
                                value=self.source.interval)
        yield CounterMetricFamily(PREFIX + "collections", "Sampling ticks completed since start",
                                  value=self.source.collections())
        duration = self.source.last_collection_seconds()
        if duration is not None:
            yield GaugeMetricFamily(PREFIX + "last_collection_duration_seconds",
                                    "How long the last sampling tick took (the agent's own cost per tick)",
                                    value=duration)
        if snapshot is not None:
            yield GaugeMetricFamily(PREFIX + "last_collection_timestamp_seconds",
                                    "When the newest exported sample was taken (Unix time)",
                                    value=snapshot.timestamp)
        yield from unavailability_metrics(snapshot, self.source.family_status())
        if snapshot is not None:
            yield from snapshot_metrics(snapshot)


def build_registry(source: SnapshotSource) -> CollectorRegistry:
    """A registry with the snapshot collector and the standard ``process_*`` metrics (own CPU, RSS)."""
    from prometheus_client import ProcessCollector  # the standard process_cpu_seconds_total etc.

    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    registry.register(SnapshotCollector(source))
    return registry
