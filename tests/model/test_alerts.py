"""The alert engine on replayed series: thresholds, duration, hysteresis, globs, missing values."""

from __future__ import annotations

import math

import pytest

from perfdeck.model.alerts import AlertEngine, AlertEvent, AlertLog, AlertRule, EventKind, validate_rule
from perfdeck.model.series import SeriesSpec, Snapshot

T0 = 1_700_000_000.0  # wall clock of the first replayed tick


def replay(engine: AlertEngine, series: dict[str, list[float | None]], step: float = 1.0,
           specs: dict[str, SeriesSpec] | None = None) -> list[tuple[int, AlertEvent]]:
    """Feed one tick per index; return (tick index, event) for every event."""
    length = max(len(v) for v in series.values())
    out = []
    for i in range(length):
        values = {sid: vals[i] for sid, vals in series.items() if i < len(vals)}
        snapshot = Snapshot(timestamp=T0 + i * step, monotonic=100.0 + i * step, values=values,
                            specs=specs or {})
        out.extend((i, e) for e in engine.feed_snapshot(snapshot))
    return out


def kinds(events: list[tuple[int, AlertEvent]]) -> list[tuple[int, str]]:
    return [(i, e.kind.value) for i, e in events]


CPU_RULE = AlertRule("CPU busy", "cpu.util.total", 90.0, "above", duration=30.0, rearm=80.0)


def test_cpu_above_90_for_30_s_fires_only_after_30_s() -> None:
    # 29 s above (ticks 0..29 span 29 s) is not enough; tick 30 completes 30 s.
    values = [95.0] * 31 + [85.0] * 5 + [79.0]
    events = replay(AlertEngine([CPU_RULE]), {"cpu.util.total": values})
    assert kinds(events) == [(30, "fired"), (36, "cleared")]
    fired = events[0][1]
    assert fired.since == T0 and fired.timestamp == T0 + 30
    assert fired.value == 95.0


def test_duration_restarts_when_the_condition_breaks() -> None:
    values = [95.0] * 20 + [50.0] + [95.0] * 30
    events = replay(AlertEngine([CPU_RULE]), {"cpu.util.total": values})
    assert kinds(events) == []  # the 30 s after the dip end at tick 50, just short of 51
    events = replay(AlertEngine([CPU_RULE]), {"cpu.util.total": [*values, 95.0]})
    assert kinds(events) == [(51, "fired")]


def test_hysteresis_does_not_flap_between_rearm_and_threshold() -> None:
    rule = AlertRule("CPU", "cpu.util.total", 90.0, duration=0.0, rearm=80.0)
    values = [91, 89, 91, 85, 92, 81, 79, 91, 88, 79.9]
    events = replay(AlertEngine([rule]), {"cpu.util.total": [float(v) for v in values]})
    assert kinds(events) == [(0, "fired"), (6, "cleared"), (7, "fired"), (9, "cleared")]


def test_without_rearm_it_clears_as_soon_as_below_threshold() -> None:
    rule = AlertRule("CPU", "cpu.util.total", 90.0)
    events = replay(AlertEngine([rule]), {"cpu.util.total": [91.0, 90.0, 89.0, 91.0]})
    # 90.0 is not above 90 but not below the re-arm level (90) either: still firing.
    assert kinds(events) == [(0, "fired"), (2, "cleared"), (3, "fired")]


def test_memory_available_below_10_percent() -> None:
    rule = AlertRule("Low memory", "mem.available_pct", 10.0, "below", duration=2.0, rearm=15.0)
    values = [30.0, 12.0, 9.0, 8.0, 7.5, 12.0, 14.9, 15.1]
    events = replay(AlertEngine([rule]), {"mem.available_pct": values})
    assert kinds(events) == [(4, "fired"), (7, "cleared")]


def test_glob_rule_fires_per_matching_series_and_names_it() -> None:
    rule = AlertRule("Hot", "sensors.temp.*", 85.0, rearm=80.0)
    specs = {"sensors.temp.coretemp_core0": SeriesSpec("sensors.temp.coretemp_core0", "Core 0", "°C")}
    series = {
        "sensors.temp.coretemp_core0": [70.0, 86.0, 88.0, 79.0],
        "sensors.temp.nvme_composite": [60.0, 60.0, 90.0, 90.0],
        "sensors.fan.thinkpad_fan1": [9000.0] * 4,  # not a temperature: never matches
    }
    events = replay(AlertEngine([rule]), series, specs=specs)
    assert [(i, e.kind.value, e.series_id) for i, e in events] == [
        (1, "fired", "sensors.temp.coretemp_core0"),
        (2, "fired", "sensors.temp.nvme_composite"),
        (3, "cleared", "sensors.temp.coretemp_core0"),
    ]
    assert events[0][1].unit == "°C" and "Core 0" in events[0][1].summary
    assert "86 °C" in events[0][1].body


def test_llc_miss_and_disk_busy_rules() -> None:
    llc = AlertRule("LLC", "perf.llc_miss_pct.total", 20.0, duration=0.0, rearm=15.0)
    disk = AlertRule("Disk", "disk.busy.*", 95.0, duration=60.0, rearm=80.0)
    series = {
        "perf.llc_miss_pct.total": [10.0, 25.0, 18.0, 14.0] + [10.0] * 60,
        "disk.busy.sda": [99.0] * 61 + [50.0] * 3,
        "disk.busy.nvme0n1": [99.0] * 59 + [10.0] * 5,  # 58 s above: never fires
    }
    events = replay(AlertEngine([llc, disk]), series)
    assert [(i, e.kind.value, e.series_id) for i, e in events] == [
        (1, "fired", "perf.llc_miss_pct.total"),
        (3, "cleared", "perf.llc_miss_pct.total"),
        (60, "fired", "disk.busy.sda"),
        (61, "cleared", "disk.busy.sda"),
    ]


def test_missing_values_neither_fire_nor_clear_nor_restart_the_duration() -> None:
    rule = AlertRule("CPU", "cpu.util.total", 90.0, duration=3.0, rearm=80.0)
    # A gap (None, NaN, absent) in the middle of a breach: the duration still counts from tick 0.
    events = replay(AlertEngine([rule]), {"cpu.util.total": [95.0, None, math.nan, 95.0, None, None, 50.0]})
    assert kinds(events) == [(3, "fired"), (6, "cleared")]
    # Only missing values: nothing ever happens.
    assert replay(AlertEngine([rule]), {"cpu.util.total": [None] * 50}) == []
    # A firing alert is not cleared by missing values.
    engine = AlertEngine([AlertRule("CPU", "cpu.util.total", 90.0)])
    events = replay(engine, {"cpu.util.total": [95.0, None, None, None]})
    assert kinds(events) == [(0, "fired")]
    assert [a.series_id for a in engine.active()] == ["cpu.util.total"]


def test_disabled_rules_are_ignored_and_set_rules_clears_removed_ones() -> None:
    engine = AlertEngine([AlertRule("CPU", "cpu.util.total", 90.0, enabled=False)])
    assert replay(engine, {"cpu.util.total": [99.0, 99.0]}) == []

    rule = AlertRule("CPU", "cpu.util.total", 90.0)
    other = AlertRule("Mem", "mem.used_pct", 95.0)
    engine = AlertEngine([rule, other])
    replay(engine, {"cpu.util.total": [99.0], "mem.used_pct": [99.0]})
    assert len(engine.active()) == 2
    events = engine.set_rules([other], timestamp=T0 + 5)
    assert [(e.kind, e.series_id, e.value) for e in events] == [(EventKind.CLEARED, "cpu.util.total", None)]
    assert "rule removed" in events[0].body
    assert [a.series_id for a in engine.active()] == ["mem.used_pct"]  # unchanged rule kept its state


def test_validate_rule_messages() -> None:
    assert validate_rule(CPU_RULE) == []
    assert validate_rule(AlertRule("x", "sensors.temp.*", 85.0)) == []
    problems = validate_rule(AlertRule("", "CPU TOTAL", math.inf, "sideways", duration=-1, rearm=95.0))
    text = " | ".join(problems)
    for expected in ("no name", "not a series id", "direction", "threshold", "duration"):
        assert expected in text
    assert validate_rule(AlertRule("x", "cpu.util.total", 90.0, rearm=95.0)) == [
        "alert rule 'x': re-arm level 95 must be at or below the threshold 90 for an 'above' rule"]
    assert "at or above" in validate_rule(AlertRule("x", "mem.available_pct", 10.0, "below", rearm=5.0))[0]


def test_alert_log_pairs_fired_and_cleared_and_tracks_peak() -> None:
    rule = AlertRule("CPU", "cpu.util.total", 90.0, rearm=80.0)
    engine = AlertEngine([rule])
    log = AlertLog()
    values = [95.0, 97.0, 92.0, 70.0]
    for i, v in enumerate(values):
        events = engine.feed(100.0 + i, T0 + i, {"cpu.util.total": v})
        log.record(events)
        log.observe_value("cpu.util.total", "CPU", v)
    assert len(log.entries) == 1
    entry = log.entries[0]
    assert (entry.fired_at, entry.cleared_at, entry.peak) == (T0, T0 + 3, 97.0)
    assert log.open_entries() == []


def test_alert_log_is_capped() -> None:
    log = AlertLog(max_entries=3)
    rule = AlertRule("CPU", "cpu.util.total", 90.0)
    engine = AlertEngine([rule])
    for i in range(10):
        log.record(engine.feed(i, T0 + i, {"cpu.util.total": 95.0 if i % 2 == 0 else 10.0}))
    assert len(log.entries) == 3
    assert [e.fired_at for e in log.entries] == [T0 + 4, T0 + 6, T0 + 8]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_values_are_missing(bad: float) -> None:
    engine = AlertEngine([AlertRule("CPU", "cpu.util.total", 90.0)])
    assert engine.feed(0.0, T0, {"cpu.util.total": bad}) == []
