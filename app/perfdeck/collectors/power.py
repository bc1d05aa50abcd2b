"""RAPL power collector (family ``power``): package, cores, DRAM and platform Watts.

Uses the perf ``power`` PMU when this process may open system-wide events, otherwise the
powercap ``energy_uj`` files; if the perf events fail to open it falls back to powercap.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from perfdeck.model.collector import Collector
from perfdeck.model.series import CollectorUnavailableError, CounterSpec, Reading, SeriesSpec, Unavailable
from perfdeck.perf.abi import PerfOpenError, errno_message
from perfdeck.perf.counters import DeltaTracker, EventSpec
from perfdeck.perf.power import (
    EnergyMath,
    PerfRaplSource,
    PowercapSource,
    PowerDiscovery,
    PowerSource,
    counter_specs_for,
    discover_power,
    energy_counter_id,
    series_for,
    unavailable_from,
)

from .membw import GroupFactory, GroupLike, open_uncore_group

log = logging.getLogger(__name__)

TABLE = "power"

class PowerCollector(Collector):
    """Watts per RAPL domain and package."""

    family = "power"
    title = "Power"

    def __init__(self, root: Path = Path("/"), group_factory: GroupFactory | None = None,
                 discovery: PowerDiscovery | None = None) -> None:
        self.root = Path(root)
        self._group_factory = group_factory or open_uncore_group
        self._discovery = discovery
        self.source: PowerSource | None = None
        self._groups: dict[int, GroupLike] = {}
        self._deltas = DeltaTracker()
        self._energy = EnergyMath()
        self._specs: dict[str, SeriesSpec] = {}
        self._counter_specs: dict[str, CounterSpec] = {}
        self._joules: dict[str, float] = {}  # perf RAPL energy per series since open
        self._fallbacks: list[tuple[str, Unavailable]] = []
        self._unavailable: Unavailable | None = None
        # Each powercap zone's energy_uj kept open and re-read with pread at 0 (sysfs calls its
        # show() again), by series id: no open/close per read.
        self._energy_fds: dict[str, int] = {}

    def open(self) -> None:
        discovery = self._discovery or discover_power(self.root)
        self._fallbacks = list(discovery.rejected)
        for source in discovery.sources:
            failure = self._try_open(source)
            if failure is None:
                self.source = source
                self._specs = series_for(source)
                self._counter_specs = counter_specs_for(source)
                return
            self._fallbacks.append((source.kind, failure))
        self._unavailable = unavailable_from(self._fallbacks)
        raise CollectorUnavailableError(self._unavailable)

    def _try_open(self, source: PowerSource) -> Unavailable | None:
        if isinstance(source, PowercapSource):
            return None
        by_cpu: dict[int, list[EventSpec]] = {}
        for event in source.events:
            by_cpu.setdefault(event.cpu, []).append(event.event_spec())
        groups: dict[int, GroupLike] = {}
        for cpu, specs in by_cpu.items():
            group = self._group_factory(specs, cpu)
            groups[cpu] = group
            try:
                errors = group.open()
            except PerfOpenError as exc:
                errors = {"power": exc}
            if errors:
                for opened in groups.values():
                    opened.close()
                name, error = next(iter(errors.items()))
                return Unavailable(errno_message(error.errno, f"cannot open power/{name} on CPU {cpu}"))
        for group in groups.values():
            group.enable()
        self._groups = groups
        return None

    def close(self) -> None:
        for group in self._groups.values():
            group.close()
        self._groups = {}
        for series_id in list(self._energy_fds):
            self._close_energy(series_id)

    def _close_energy(self, series_id: str) -> None:
        fd = self._energy_fds.pop(series_id, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _read_energy_uj(self, series_id: str, zone_path: Path) -> int:
        """``int((zone_path / "energy_uj").read_text().strip())`` through a kept descriptor."""
        fd = self._energy_fds.get(series_id)
        if fd is None:
            fd = self._energy_fds[series_id] = os.open(zone_path / "energy_uj", os.O_RDONLY | os.O_CLOEXEC)
        return int(os.pread(fd, 64, 0).decode().strip())

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return self._counter_specs

    def unavailable(self) -> Unavailable | None:
        return self._unavailable

    def status(self, problems: Mapping[str, str]) -> dict[str, Any]:
        return {"source": self.source.label if self.source else None,
                "kind": self.source.kind if self.source else None,
                "notes": list(getattr(self.source, "notes", ())),
                "fallbacks": [{"kind": k, "reason": w.reason, "fix": w.fix} for k, w in self._fallbacks],
                "problems": dict(problems)}

    def read(self, now: float) -> Reading:
        if self.source is None:
            return Reading(unavailable={self.family: self._unavailable or Unavailable("not opened")})
        values: dict[str, float | None] = {}
        unavailable: dict[str, Unavailable] = {}
        problems: dict[str, str] = {}
        if isinstance(self.source, PerfRaplSource):
            for event in self.source.events:
                values[event.series_id] = None
            for cpu, group in self._groups.items():
                try:
                    sample = group.read()
                except PerfOpenError as exc:
                    problems[f"cpu{cpu}"] = errno_message(exc.errno, "read failed")
                    self._deltas.forget(cpu)
                    continue
                delta = self._deltas.update(cpu, sample)
                if delta is None or delta.elapsed_s <= 0:
                    continue
                for event in self.source.events:
                    if event.cpu != cpu:
                        continue
                    count = delta.values.get(event.event)
                    if count is not None:
                        joules = count * event.joules_per_count
                        values[event.series_id] = joules / delta.elapsed_s
                        self._joules[event.series_id] = self._joules.get(event.series_id, 0.0) + joules
        else:
            for zone in self.source.zones:
                try:
                    energy = self._read_energy_uj(zone.series_id, zone.path)
                except PermissionError:
                    self._close_energy(zone.series_id)
                    unavailable[zone.series_id] = Unavailable(
                        f"permission denied reading {zone.path / 'energy_uj'}",
                        "run PerfDeck as root or relax the file mode (see the Power notes)")
                    self._energy.forget(zone.series_id)
                    continue
                except (OSError, ValueError) as exc:
                    self._close_energy(zone.series_id)  # opened afresh next time
                    problems[zone.path.name] = str(exc)
                    values[zone.series_id] = None
                    self._energy.forget(zone.series_id)
                    continue
                values[zone.series_id] = self._energy.update(
                    zone.series_id, energy, now, zone.max_range_uj, to_joules=1e-6)
        joules = self._joules if isinstance(self.source, PerfRaplSource) else self._energy.joules
        totals = {energy_counter_id(sid): j for sid, j in joules.items()
                  if energy_counter_id(sid) in self._counter_specs}
        return Reading(values=values, unavailable=unavailable, tables={TABLE: self.status(problems)},
                       totals=totals)

    def static_facts(self) -> Mapping[str, str]:
        return {"Power source": self.source.label} if self.source else {}
