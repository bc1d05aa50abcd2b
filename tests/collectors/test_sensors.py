"""Sensor collector: temperatures/fans/battery on doubles, the unavailable reason on fake /sys
trees, and what this machine really exposes."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from psutil_fakes import Script, sbattery, sfan, shwtemp, write

from perfdeck.collectors.sensors import SensorCollector, explain_missing_sensors
from perfdeck.model.series import CollectorUnavailableError


def _install(monkeypatch: pytest.MonkeyPatch, temps: dict, fans: dict, battery: object) -> None:
    monkeypatch.setattr(psutil, "sensors_temperatures", Script([temps]), raising=False)
    monkeypatch.setattr(psutil, "sensors_fans", Script([fans]), raising=False)
    monkeypatch.setattr(psutil, "sensors_battery", Script([battery]), raising=False)


def test_temperatures_fans_battery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(
        monkeypatch,
        temps={
            # psutil merges two coretemp chips (two sockets) into one list: labels repeat.
            "coretemp": [shwtemp("Package id 0", 48.0, 80.0, 100.0), shwtemp("Core 0", 45.0, 80.0, 100.0),
                         shwtemp("Package id 1", 51.0, 80.0, 100.0), shwtemp("Core 0", 50.0, 80.0, 100.0)],
            "nvme": [shwtemp("Composite", 38.85, 84.85, 84.85)],
            "acpitz": [shwtemp("", 27.8, None, None)],
        },
        fans={"thinkpad": [sfan("", 2400)]},
        battery=sbattery(87.5, 7200, False),
    )
    collector = SensorCollector(root=tmp_path)
    collector.open()
    reading = collector.read(0.0)
    values = reading.values
    assert values["sensors.temp.coretemp_Core_0"] == 45.0
    assert values["sensors.temp.coretemp_Core_0_2"] == 50.0  # second socket keeps its own series
    assert values["sensors.temp.coretemp_Package_id_1"] == 51.0
    assert values["sensors.temp.nvme_Composite"] == pytest.approx(38.85)
    assert values["sensors.temp.acpitz_temp1"] == pytest.approx(27.8)
    assert values["sensors.fan.thinkpad_fan1"] == 2400
    assert values["sensors.battery.percent"] == 87.5
    specs = collector.specs()
    assert set(values) == set(specs)
    assert specs["sensors.temp.nvme_Composite"].unit == "°C"
    assert specs["sensors.fan.thinkpad_fan1"].unit == "RPM"
    assert specs["sensors.battery.percent"].value_range == (0, 100)
    assert {s.id for s in specs.values() if s.group == "sensors.temp"} == {
        sid for sid in values if sid.startswith("sensors.temp.")}
    # Exporters: one metric per kind, the chip and the sensor (repeats numbered as in the ids) as labels.
    core0 = specs["sensors.temp.coretemp_Core_0_2"]
    assert (core0.metric, core0.labels) == ("sensors.temp", (("chip", "coretemp"), ("sensor", "Core 0_2")))
    assert specs["sensors.fan.thinkpad_fan1"].labels == (("chip", "thinkpad"), ("sensor", "fan1"))
    assert specs["sensors.battery.percent"].labels == ()


def test_a_missing_sensor_kind_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A desktop: temperatures, no fan readings, no battery; psutil without sensors_fans at all."""
    _install(monkeypatch, temps={"k10temp": [shwtemp("Tctl", 61.0, None, None)]}, fans={}, battery=None)
    monkeypatch.delattr(psutil, "sensors_fans")
    collector = SensorCollector(root=tmp_path)
    collector.open()
    reading = collector.read(0.0)
    assert reading.values == {"sensors.temp.k10temp_Tctl": 61.0}
    assert not reading.unavailable


def test_sensor_vanishing_drops_its_series(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "sensors_temperatures", Script([
        {"nvme": [shwtemp("Composite", 40.0, None, None)], "k10temp": [shwtemp("Tctl", 60.0, None, None)]},
        {"k10temp": [shwtemp("Tctl", 61.0, None, None)]}]))
    monkeypatch.setattr(psutil, "sensors_fans", Script([{}]))
    monkeypatch.setattr(psutil, "sensors_battery", Script([None]))
    collector = SensorCollector(root=tmp_path)
    collector.read(0.0)
    assert "sensors.temp.nvme_Composite" in collector.specs()
    reading = collector.read(1.0)
    assert "sensors.temp.nvme_Composite" not in collector.specs()
    assert reading.values == {"sensors.temp.k10temp_Tctl": 61.0}


def test_unchanged_sensors_keep_their_published_specs(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """New values, same sensors: the same specs object, so the engine keeps its merged specs."""
    monkeypatch.setattr(psutil, "sensors_temperatures", Script([
        {"nvme": [shwtemp("Composite", 40.0, None, None)], "k10temp": [shwtemp("Tctl", 60.0, None, None)]},
        {"nvme": [shwtemp("Composite", 41.0, None, None)], "k10temp": [shwtemp("Tctl", 62.0, None, None)]},
        {"k10temp": [shwtemp("Tctl", 63.0, None, None)]}]))
    monkeypatch.setattr(psutil, "sensors_fans", Script([{}]))
    monkeypatch.setattr(psutil, "sensors_battery", Script([None]))
    collector = SensorCollector(root=tmp_path)
    collector.read(0.0)
    published = collector.specs()
    assert collector.read(1.0).values["sensors.temp.k10temp_Tctl"] == 62.0
    assert collector.specs() is published
    collector.read(2.0)
    assert collector.specs() is not published and set(collector.specs()) == {"sensors.temp.k10temp_Tctl"}


def test_no_sensors_bare_metal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, temps={}, fans={}, battery=None)
    write(tmp_path / "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu tsc\n")
    (tmp_path / "sys/class/hwmon/hwmon0").mkdir(parents=True)  # a chip with no inputs (e.g. ACPI)
    write(tmp_path / "sys/class/power_supply/AC/type", "Mains")
    with pytest.raises(CollectorUnavailableError) as caught:
        SensorCollector(root=tmp_path).open()
    unavailable = caught.value.unavailable
    assert unavailable.reason.startswith("no temperature, fan or battery sensors are exposed")
    assert "report no temperature or fan input" in unavailable.reason
    assert "/sys/class/thermal has no thermal zone" in unavailable.reason
    assert "no battery" in unavailable.reason
    assert "sensors-detect" in unavailable.fix


def test_no_sensors_virtual_machine(tmp_path: Path) -> None:
    write(tmp_path / "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu tsc hypervisor\n")
    unavailable = explain_missing_sensors(tmp_path)
    assert "/sys/class/hwmon does not exist" in unavailable.reason
    assert "virtual machine" in unavailable.reason
    assert unavailable.fix == ""  # nothing a guest can do


def test_real_machine_sensors() -> None:
    temps = psutil.sensors_temperatures()
    fans = psutil.sensors_fans()
    battery = psutil.sensors_battery()
    collector = SensorCollector()
    if not any(temps.values()) and not any(fans.values()) and battery is None:
        with pytest.raises(CollectorUnavailableError) as caught:
            collector.open()
        reason = caught.value.unavailable.reason
        assert reason.startswith("no temperature, fan or battery sensors are exposed by this machine")
        if not Path("/sys/class/hwmon").exists():
            assert "/sys/class/hwmon does not exist" in reason
    else:
        collector.open()
        reading = collector.read(0.0)
        assert reading.values
        assert set(reading.values) == set(collector.specs())


def test_read_once_a_second_at_10_hz_and_held_between(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from perfdeck.model.engine import SamplingEngine

    temps = Script([{"coretemp": [shwtemp("Core 0", 45.0, 80.0, 100.0)]}] * 2  # open() + first read
                   + [{"coretemp": [shwtemp("Core 0", 47.0, 80.0, 100.0)]}])
    monkeypatch.setattr(psutil, "sensors_temperatures", temps, raising=False)
    monkeypatch.setattr(psutil, "sensors_fans", Script([{}]), raising=False)
    monkeypatch.setattr(psutil, "sensors_battery", Script([None]), raising=False)
    engine = SamplingEngine([SensorCollector(root=tmp_path)])
    seen = [engine.sample(now=10.0 + tick / 10).value("sensors.temp.coretemp_Core_0")
            for tick in range(11)]  # 10 Hz for one second
    assert seen == [45.0] * 10 + [47.0]  # the last reading repeated, never a gap
    assert temps.calls == 3  # open, t=10.0, t=11.0
