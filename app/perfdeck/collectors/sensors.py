"""Temperatures, fan speeds and battery charge, from ``psutil.sensors_*``.

When the machine exposes none of them (virtual machines, most containers), ``open()`` raises
``CollectorUnavailableError`` with the exact reason, built from what /sys actually holds. The
sampling engine then lists the whole ``sensors`` family in ``Snapshot.unavailable["sensors"]`` on
every tick, which is what the GUI shows in place of the Sensors plots. A family that has some
sensors but loses them later (a driver unloaded) simply stops producing those series.

Ids are ``sensors.temp.<chip>_<label>``, ``sensors.fan.<chip>_<label>`` and
``sensors.battery.percent``. psutil merges chips of the same name (two ``coretemp`` sockets) into
one list, so repeated labels get ``_2``, ``_3``... in the order the kernel lists them.

The family is read at most once a second (``min_interval``), whatever the sampling interval; the
engine repeats the last reading in between. ``psutil.sensors_temperatures`` globs and reads every
hwmon input file (dozens on a laptop), and the drivers refresh their values about once a second
anyway (coretemp caches a reading for a second, other chips poll every 1-2 s), so reading faster
would only re-read the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import psutil

from perfdeck.collectors._common import InstanceIds, is_virtual_machine, read_text
from perfdeck.model.collector import Collector
from perfdeck.model.series import CollectorUnavailableError, Reading, SeriesSpec, Unavailable

_PERCENT = (0.0, 100.0)


def _read_all() -> tuple[dict[str, list[Any]], dict[str, list[Any]], Any]:
    temps = psutil.sensors_temperatures() if hasattr(psutil, "sensors_temperatures") else {}
    fans = psutil.sensors_fans() if hasattr(psutil, "sensors_fans") else {}
    battery = psutil.sensors_battery() if hasattr(psutil, "sensors_battery") else None
    return temps or {}, fans or {}, battery


def explain_missing_sensors(root: Path) -> Unavailable:
    """Why no sensor is visible, from what ``root/sys/class`` holds, and what could fix it."""
    details: list[str] = []
    hwmon = root / "sys/class/hwmon"
    if not hwmon.is_dir():
        details.append("/sys/class/hwmon does not exist")
    elif not any(hwmon.iterdir()):
        details.append("/sys/class/hwmon lists no sensor chip")
    else:
        details.append("the chips in /sys/class/hwmon report no temperature or fan input")
    thermal = root / "sys/class/thermal"
    zones = list(thermal.glob("thermal_zone*")) if thermal.is_dir() else []
    details.append("/sys/class/thermal has no thermal zone" if not zones
                   else "the thermal zones in /sys/class/thermal give no readable temperature")
    supplies = root / "sys/class/power_supply"
    batteries = ([p for p in supplies.iterdir() if read_text(p / "type") == "Battery"]
                 if supplies.is_dir() else [])
    details.append("/sys/class/power_supply has no battery" if not batteries
                   else "the battery reports no charge level")
    reason = "no temperature, fan or battery sensors are exposed by this machine: " + "; ".join(details)
    if is_virtual_machine(root):
        return Unavailable(reason + " (usual in a virtual machine: the hypervisor exposes no sensors)")
    return Unavailable(reason, "load the driver for your sensor chip: install lm-sensors and run "
                               "`sudo sensors-detect`, then restart PerfDeck")


class SensorCollector(Collector):
    """Hardware temperatures (°C), fan speeds (RPM) and battery charge (%)."""

    family = "sensors"
    title = "Sensors"
    min_interval = 1.0  # hwmon drivers refresh about once a second: see the module docstring

    def __init__(self, root: Path | str = Path("/")) -> None:
        self.root = Path(root)
        self._ids = {"temp": InstanceIds(), "fan": InstanceIds()}
        self._specs: Mapping[str, SeriesSpec] = MappingProxyType({})

    def open(self) -> None:
        temps, fans, battery = _read_all()
        if not any(temps.values()) and not any(fans.values()) and battery is None:
            raise CollectorUnavailableError(explain_missing_sensors(self.root))

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def read(self, now: float) -> Reading:
        temps, fans, battery = _read_all()
        values: dict[str, float | None] = {}
        specs: dict[str, SeriesSpec] = {}
        for kind, chips, unit in (("temp", temps, "°C"), ("fan", fans, "RPM")):
            for chip, entries in sorted(chips.items()):
                seen: dict[str, int] = {}
                for position, entry in enumerate(entries, start=1):
                    label = entry.label or f"{kind}{position}"
                    seen[label] = seen.get(label, 0) + 1
                    raw = f"{chip}_{label}" if seen[label] == 1 else f"{chip}_{label}_{seen[label]}"
                    series_id = f"sensors.{kind}.{self._ids[kind](raw)}"
                    sensor = label if seen[label] == 1 else f"{label}_{seen[label]}"
                    specs[series_id] = SeriesSpec(series_id, f"{chip} {label}", unit,
                                                  group=f"sensors.{kind}", metric=f"sensors.{kind}",
                                                  labels=(("chip", chip), ("sensor", sensor)))
                    values[series_id] = float(entry.current)
        if battery is not None and battery.percent is not None:
            specs["sensors.battery.percent"] = SeriesSpec(
                "sensors.battery.percent",
                "Battery charge", "%", group="sensors.battery", value_range=_PERCENT)
            values["sensors.battery.percent"] = float(battery.percent)
        if specs != self._specs:
            # Published anew only when they change: the engine keeps its merged specs while
            # every family hands back the same mapping.
            self._specs = MappingProxyType(specs)
        return Reading(values=values)
