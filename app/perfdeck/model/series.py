"""What a collector says it measures: series specs, unavailability, readings and snapshots."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


class Kind(enum.Enum):
    """How a series is sampled."""

    GAUGE = "gauge"  # a level read as-is (memory used, temperature)
    RATE = "rate"  # a per-second rate derived from a cumulative counter; no value on the first read


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """One time series a collector produces.

    ``id`` is stable and dotted, ``<family>.<metric>[.<instance>]``, e.g. ``cpu.util.core3`` or
    ``net.rx.eth0``. It is the CSV column key and the settings key, so never rename one lightly.
    ``group`` names the plot the series belongs to (e.g. ``cpu.util.core``), so views can find
    every per-core series without parsing ids.
    """

    id: str
    label: str
    unit: str
    kind: Kind = Kind.GAUGE
    group: str = ""
    # Fixed axis range hint for plots, e.g. (0, 100) for a percentage. None means "adapt slowly".
    value_range: tuple[float, float] | None = None
    # What this series is one instance of, without the instance: ``cpu.util.core3`` and
    # ``cpu.util.core0`` are both metric ``cpu.util.core`` with labels (("cpu", "3"),) and
    # (("cpu", "0"),). Exporters name the exported metric after it, so they need no per-family code.
    # Empty means the id itself (a series with one instance).
    metric: str = ""
    # The instance as (label, value) pairs, label names from INSTANCE_LABELS (cpu, socket,
    # channel, device, interface, mountpoint, chip, gpu, cgroup, ...). Never a PID or a command line.
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def metric_name(self) -> str:
        """The metric this series belongs to: ``metric`` when set, else the id."""
        return self.metric or self.id


# The instance label names families use in ``SeriesSpec.labels`` and ``CounterSpec.labels``. A
# fixed vocabulary keeps exported label names consistent across families (a GPU is always "gpu").
INSTANCE_LABELS = frozenset({
    "cpu", "socket", "die", "channel", "pmu", "device", "interface", "mountpoint", "chip", "sensor",
    "mode", "direction", "domain", "gpu", "engine", "cgroup", "resource", "kind", "zone", "cpu_type",
})


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """A raw cumulative counter behind one or more of a family's rates.

    The window draws rates; an exporter wants the monotonic totals they come from, so that
    Prometheus' ``rate()`` works over any scrape interval and across restarts. A collector that
    can give them lists them in ``Collector.counter_specs()`` and reports their values in
    ``Reading.totals``, keyed by ``id``. Totals are in base units (``unit``: "s", "B", "J", or ""
    for a plain count) and never decrease while the collector runs (a counter that wrapped or
    was reset is left out of that tick, never reported lower). Multiplexed hardware counts are
    scaled by enabled/running before they are added up.

    ``metric`` names the counter without its instance (``cpu.seconds``), ``labels`` the instance
    (``(("cpu", "3"), ("mode", "user"))``), as in ``SeriesSpec``.
    """

    id: str
    metric: str
    unit: str
    help: str
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why a collector or a series cannot be read here, and what would fix it.

    ``reason`` is one human sentence ("no hardware PMU: this is a virtual machine"); ``fix`` is an
    exact action or command, or empty when nothing can be done.
    """

    reason: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.reason} (fix: {self.fix})" if self.fix else self.reason


class CollectorUnavailableError(Exception):
    """Raised by ``Collector.open`` when the whole family cannot be read on this machine."""

    def __init__(self, unavailable: Unavailable) -> None:
        super().__init__(str(unavailable))
        self.unavailable = unavailable


def _freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Reading:
    """What one ``Collector.read`` returns.

    ``values`` maps series id to a float, or to ``None`` when the series has no value this tick
    (a rate's first read, a counter that went backwards). A series that cannot be read at all is
    listed in ``unavailable`` with its reason instead; it never appears as 0.
    ``tables`` carries non-series data such as the process list, keyed by table name.
    ``totals`` maps ``CounterSpec`` ids to raw cumulative values (see ``CounterSpec``); a counter
    that could not be read this tick is left out, never reported as 0.
    """

    values: Mapping[str, float | None] = field(default_factory=dict)
    unavailable: Mapping[str, Unavailable] = field(default_factory=dict)
    tables: Mapping[str, Any] = field(default_factory=dict)
    totals: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _freeze(self.values))
        object.__setattr__(self, "unavailable", _freeze(self.unavailable))
        object.__setattr__(self, "tables", _freeze(self.tables))
        object.__setattr__(self, "totals", _freeze(self.totals))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything sampled in one tick, handed from the sampler thread to the GUI. Immutable.

    ``timestamp`` is wall-clock seconds since the epoch (for CSV and axes); ``monotonic`` is
    ``time.monotonic()`` at the same moment (for rates).
    ``specs`` lists every series known in this tick, so a new NIC shows up as a new spec.
    ``failures`` maps a collector family to the message of the exception it raised, reported once.
    ``totals`` and ``counter_specs`` carry the raw cumulative counters (see ``CounterSpec``).
    """

    timestamp: float
    monotonic: float
    values: Mapping[str, float | None]
    specs: Mapping[str, SeriesSpec]
    unavailable: Mapping[str, Unavailable] = field(default_factory=dict)
    tables: Mapping[str, Any] = field(default_factory=dict)
    failures: Mapping[str, str] = field(default_factory=dict)
    totals: Mapping[str, float] = field(default_factory=dict)
    counter_specs: Mapping[str, CounterSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("values", "unavailable", "tables", "failures", "totals"):
            object.__setattr__(self, name, _freeze(getattr(self, name)))
        # Specs are published read-only: a proxy handed over here is one over a dict its owner no
        # longer edits (the engine's kept merge, another snapshot's specs), so it is kept as it is,
        # without copying ~150 entries a tick. Anything else is copied.
        for name in ("specs", "counter_specs"):
            mapping = getattr(self, name)
            if type(mapping) is not MappingProxyType:
                object.__setattr__(self, name, _freeze(mapping))

    def value(self, series_id: str) -> float | None:
        """The value of one series, or None when it has none this tick."""
        value = self.values.get(series_id)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return value
