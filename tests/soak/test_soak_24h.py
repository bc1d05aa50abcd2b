"""An accelerated 24-hour soak: 86,400 one-second ticks of the sampling engine, the history, the
alert engine and log, and the CSV recorder, with fake collectors, as fast as they run.

Memory (tracemalloc: Python allocations, numpy's arrays included) and open file descriptors
(``/proc/self/fd``) must be flat once the history ring is full: what a day of running allocates
has to be freed again. Assertions are on counted work (rows, events, parts), never on seconds.
"""

from __future__ import annotations

import gc
import math
import os
import tracemalloc
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from perfdeck.model.alerts import AlertEngine, AlertLog, AlertRule, EventKind
from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import History
from perfdeck.model.recorder import CsvRecorder
from perfdeck.model.recording_file import load_recording
from perfdeck.model.series import CounterSpec, Kind, Reading, SeriesSpec, Unavailable

TICKS = 86_400  # 24 h at 1 Hz
HISTORY_SECONDS = 3600  # the default history: 1 h
WARM_UP = 2 * HISTORY_SECONDS  # after this the ring has wrapped and every series has appeared
CPUS = 16
T0 = 1_800_000_000.0


class FakeCpu(Collector):
    """Per-CPU utilisation and a machine total that rises above 90 % for 120 s every 600 s."""

    family = "cpu"
    title = "CPU"

    def __init__(self) -> None:
        self._specs = {"cpu.util.total": SeriesSpec("cpu.util.total", "CPU total", "%", group="cpu.util")}
        for cpu in range(CPUS):
            sid = f"cpu.util.core{cpu}"
            self._specs[sid] = SeriesSpec(sid, f"CPU {cpu}", "%", group="cpu.util.core",
                                          metric="cpu.util.core", labels=(("cpu", str(cpu)),))
        self._counter = {"cpu.seconds.total": CounterSpec("cpu.seconds.total", "cpu.seconds", "s",
                                                          "CPU time")}
        self.seconds = 0.0

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return self._counter

    def read(self, now: float) -> Reading:
        tick = int(now)
        total = 95.0 if tick % 600 < 120 else 20.0 + (tick % 7)
        values: dict[str, float | None] = {"cpu.util.total": total}
        for cpu in range(CPUS):
            values[f"cpu.util.core{cpu}"] = (tick * (cpu + 1)) % 100 * 1.0
        self.seconds += total / 100 * CPUS
        return Reading(values=values, totals={"cpu.seconds.total": self.seconds})


class FakeNetwork(Collector):
    """eth0 always; a USB NIC plugged in for an hour every 6 hours (3 different ones over the day,
    so the recorder continues in new parts), and a rate that has no value on its first tick."""

    family = "net"
    title = "Network"

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def _interfaces(self, tick: int) -> list[str]:
        names = ["eth0"]
        if tick % 21_600 < 3600 and tick >= 21_600:
            names.append(f"usb{tick // 21_600}")
        return names

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._current_specs

    _current_specs: Mapping[str, SeriesSpec] = {}

    def read(self, now: float) -> Reading:
        tick = int(now)
        values: dict[str, float | None] = {}
        specs = {}
        for name in self._interfaces(tick):
            sid = f"net.rx.{name}"
            specs[sid] = SeriesSpec(sid, f"{name} rx", "B/s", Kind.RATE, group="net.rx",
                                    metric="net.rx", labels=(("interface", name),))
            values[sid] = None if sid not in self._seen else float(tick % 1000) * 1024
            self._seen.add(sid)
        self._current_specs = specs
        return Reading(values=values)


class FakeSensors(Collector):
    """A temperature that cannot be read every 13th tick (None, never 0), and one series that is
    unavailable with a reason throughout."""

    family = "sensors"
    title = "Sensors"
    _specs: ClassVar[dict[str, SeriesSpec]] = {
        "sensors.temp.cpu_package": SeriesSpec("sensors.temp.cpu_package", "Package", "°C")}

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def read(self, now: float) -> Reading:
        tick = int(now)
        value = None if tick % 13 == 0 else 40.0 + math.sin(tick / 300) * 10
        return Reading(values={"sensors.temp.cpu_package": value},
                       unavailable={"sensors.fan": Unavailable("no fan sensors here", "")})


class FakeProcesses(Collector):
    """A slow family (read every 2 s) with a table of 300 processes that is rebuilt on every read."""

    family = "proc"
    title = "Processes"
    min_interval = 2.0
    _specs: ClassVar[dict[str, SeriesSpec]] = {
        "proc.count": SeriesSpec("proc.count", "Processes", "", group="proc.count")}

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def read(self, now: float) -> Reading:
        tick = int(now)
        table = [{"pid": 1000 + i, "name": f"proc{(i + tick) % 50}", "cpu": float(i % 7)} for i in range(300)]
        return Reading(values={"proc.count": 300.0}, tables={"processes": table})


class FlakyCollector(Collector):
    """Raises on every 1000th tick: the engine isolates it and reports the failure once."""

    family = "flaky"
    title = "Flaky"
    _specs: ClassVar[dict[str, SeriesSpec]] = {"flaky.value": SeriesSpec("flaky.value", "Flaky", "")}

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def read(self, now: float) -> Reading:
        if int(now) % 1000 == 999:
            raise RuntimeError("transient read error")
        return Reading(values={"flaky.value": 1.0})


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
def test_a_day_of_ticks_keeps_memory_and_descriptors_flat(tmp_path: Path) -> None:
    clock = [0.0]  # the recorder's flush clock follows the simulated time
    engine = SamplingEngine([FakeCpu(), FakeNetwork(), FakeSensors(), FakeProcesses(), FlakyCollector()])
    history = History(HISTORY_SECONDS)
    rules = [AlertRule("CPU busy", "cpu.util.total", 90.0, "above", duration=30.0, rearm=80.0),
             AlertRule("Hot", "sensors.temp.*", 49.0, "above", duration=5.0, rearm=45.0)]
    alerts = AlertEngine(rules)
    alert_log = AlertLog(max_entries=1000)
    recorder = CsvRecorder(tmp_path / "day.csv", clock=lambda: clock[0], fsync_interval=None)
    recorder.open()
    fired: dict[str, int] = {}
    failures = 0
    baseline: tracemalloc.Snapshot | None = None
    fds_after_warm_up = rss_after_warm_up = 0
    tracemalloc.start()
    try:
        for tick in range(TICKS):
            clock[0] = float(tick)
            snapshot = engine.sample(now=float(tick), timestamp=T0 + tick)
            history.append_snapshot(snapshot)
            events = alerts.feed_snapshot(snapshot)
            alert_log.record(events)
            for event in events:
                if event.kind is EventKind.FIRED:
                    fired[event.rule.name] = fired.get(event.rule.name, 0) + 1
            failures += len(snapshot.failures)
            recorder.append(snapshot)
            if tick == WARM_UP:
                gc.collect()
                baseline = tracemalloc.take_snapshot()
                fds_after_warm_up = open_fds()
                rss_after_warm_up = rss_bytes()
        recorder.flush()
        gc.collect()
        final = tracemalloc.take_snapshot()
        fds_at_end = open_fds()
        rss_at_end = rss_bytes()
    finally:
        tracemalloc.stop()
        engine.close()
        recorder.close()

    assert baseline is not None
    growth = sum(stat.size_diff for stat in final.compare_to(baseline, "filename"))
    top = [str(stat) for stat in final.compare_to(baseline, "lineno")[:5]]
    # 78,400 ticks after the warm-up: even 20 bytes kept per tick would be 1.5 MB.
    assert growth < 256 * 1024, f"Python memory grew {growth:,} bytes over 22 h of ticks: {top}"
    assert fds_at_end == fds_after_warm_up
    assert rss_at_end - rss_after_warm_up < 32 * 1024 * 1024  # allocator noise only
    # The work was really done, and counted.
    assert len(history) == HISTORY_SECONDS
    assert recorder.rows_written == TICKS
    assert [p.name for p in recorder.paths] == ["day.csv", "day.part2.csv", "day.part3.csv", "day.part4.csv"]
    assert fired["CPU busy"] == TICKS // 600  # 120 s at 95 % every 600 s, held 30 s: fires each time
    assert fired["Hot"] > 10  # the temperature's sine crosses 49 °C every ~31 min
    assert failures == 1  # the flaky collector's failure is reported once, not 86 times
    assert len(alert_log.entries) <= 1000
    recording = load_recording(tmp_path / "day.csv")
    assert len(recording) == TICKS
    assert recording.elapsed[-1] == TICKS - 1
    # The USB NIC plugged in at 6 h: empty before it appeared, never 0 where it had no value.
    usb = recording.values["net.rx.usb1"]
    assert math.isnan(usb[0]) and math.isnan(usb[21_600]) and usb[21_601] >= 0
