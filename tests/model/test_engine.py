"""SamplingEngine: isolation of failing collectors, min_interval, tables, unavailable families."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pytest

from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.series import CollectorUnavailableError, CounterSpec, Reading, SeriesSpec, Unavailable


class Counting(Collector):
    def __init__(self, family: str = "count", min_interval: float = 0.0) -> None:
        self.family = family
        self.min_interval = min_interval
        self.reads: list[float] = []
        self.opened = 0
        self.closed = 0

    def open(self) -> None:
        self.opened += 1

    def close(self) -> None:
        self.closed += 1

    def specs(self) -> Mapping[str, SeriesSpec]:
        return {f"{self.family}.n": SeriesSpec(f"{self.family}.n", "n", "")}

    def read(self, now: float) -> Reading:
        self.reads.append(now)
        return Reading(values={f"{self.family}.n": float(len(self.reads))},
                       tables={f"{self.family}.rows": (len(self.reads),)})


class Raising(Counting):
    def __init__(self) -> None:
        super().__init__("bad")

    def read(self, now: float) -> Reading:
        self.reads.append(now)
        raise RuntimeError("sysfs exploded")


class Unavailable_(Counting):
    def open(self) -> None:
        raise CollectorUnavailableError(Unavailable("no PMU in this VM", "run on bare metal"))


class BrokenOpen(Counting):
    def open(self) -> None:
        raise OSError("EMFILE")


def test_raising_collector_is_isolated_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    good, bad = Counting("good"), Raising()
    engine = SamplingEngine([bad, good])
    with caplog.at_level(logging.ERROR):
        first = engine.sample(now=1.0, timestamp=100.0)
        second = engine.sample(now=2.0, timestamp=101.0)
    assert first.failures == {"bad": "RuntimeError: sysfs exploded"}
    assert second.failures == {}  # reported once
    assert len(bad.reads) == 2  # but retried, in case the fault was transient
    assert first.values["good.n"] == 1 and second.values["good.n"] == 2
    assert "good.n" in second.specs and "bad.n" not in second.specs
    assert sum("bad" in r.getMessage() for r in caplog.records) == 1


def test_min_interval_respected() -> None:
    slow, fast = Counting("slow", min_interval=2.0), Counting("fast")
    engine = SamplingEngine([slow, fast])
    snapshots = [engine.sample(now=float(t), timestamp=float(t)) for t in range(7)]
    assert slow.reads == [0.0, 2.0, 4.0, 6.0]
    assert len(fast.reads) == 7
    # Not re-read, but its latest reading is held so plots stay continuous between reads.
    assert snapshots[1].values["slow.n"] == snapshots[0].values["slow.n"] == 1
    assert snapshots[2].values["slow.n"] == 2
    assert "slow.n" in snapshots[1].specs  # but still known
    assert snapshots[1].tables["slow.rows"] == (1,)  # tables persist until the next read
    assert snapshots[2].tables["slow.rows"] == (2,)


def test_min_interval_tolerates_timer_jitter() -> None:
    slow = Counting("slow", min_interval=2.0)
    engine = SamplingEngine([slow])
    for now in (0.0, 1.0, 1.999, 3.0, 3.998):
        engine.sample(now=now, timestamp=now)
    assert slow.reads == [0.0, 1.999, 3.998]  # not pushed to every third tick by a 1 ms early timer


def test_unavailable_and_broken_families() -> None:
    good = Counting("good")
    engine = SamplingEngine([Unavailable_("perf"), BrokenOpen("membw"), good])
    snapshot = engine.sample(now=0.0, timestamp=0.0)
    assert snapshot.unavailable["perf"] == Unavailable("no PMU in this VM", "run on bare metal")
    assert "failed to start" in snapshot.unavailable["membw"].reason
    assert "EMFILE" in snapshot.unavailable["membw"].reason
    assert snapshot.values == {"good.n": 1.0}
    # Every later snapshot still says why.
    assert "perf" in engine.sample(now=1.0, timestamp=1.0).unavailable


def test_open_is_idempotent_and_close_closes() -> None:
    collector = Counting()
    engine = SamplingEngine([collector])
    engine.open()
    engine.open()
    engine.sample(now=0.0, timestamp=0.0)
    assert collector.opened == 1
    assert collector.reads == [0.0]  # opened once, so read once per tick
    engine.close()
    assert collector.closed == 1


def test_snapshot_is_immutable() -> None:
    snapshot = SamplingEngine([Counting()]).sample(now=0.0, timestamp=0.0)
    with pytest.raises(TypeError):
        snapshot.values["count.n"] = 5  # type: ignore[index]


class WithTotals(Counting):
    """A family that reports a raw cumulative counter next to its rate."""

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return {"tot.bytes.eth0": CounterSpec("tot.bytes.eth0", "tot.bytes", "B", "bytes seen",
                                              (("interface", "eth0"),))}

    def read(self, now: float) -> Reading:
        super().read(now)
        total = 1000.0 * len(self.reads)
        # The second read loses its counter (a device vanished): left out, never reported as 0.
        totals = {} if len(self.reads) == 2 else {"tot.bytes.eth0": total}
        return Reading(values={"tot.n": None}, totals=totals)


def test_totals_and_counter_specs_flow_into_the_snapshot() -> None:
    engine = SamplingEngine([WithTotals("tot"), Counting("plain")])
    first = engine.sample(now=1.0)
    assert first.totals == {"tot.bytes.eth0": 1000.0}
    spec = first.counter_specs["tot.bytes.eth0"]
    assert (spec.metric, spec.unit, spec.family) == ("tot.bytes", "B", "tot")
    assert spec.labels == (("interface", "eth0"),)
    second = engine.sample(now=2.0)
    assert "tot.bytes.eth0" not in second.totals
    assert engine.sample(now=3.0).totals == {"tot.bytes.eth0": 3000.0}


def test_series_spec_metric_name_defaults_to_the_id() -> None:
    assert SeriesSpec("mem.used", "Used", "B").metric_name == "mem.used"
    core = SeriesSpec("cpu.util.core3", "CPU 3 busy", "%", metric="cpu.util.core", labels=(("cpu", "3"),))
    assert core.metric_name == "cpu.util.core"


def test_a_slow_family_that_asks_is_read_again_at_the_next_tick() -> None:
    """A read that only took baselines (no CPU % yet) asks for the next tick, not min_interval later."""

    class Baseline(Counting):
        def read(self, now: float) -> Reading:
            reading = super().read(now)
            self.read_next_tick = len(self.reads) == 1  # the first read had nothing to compare with
            return reading

    slow = Baseline("slow", min_interval=10.0)
    engine = SamplingEngine([slow])
    for t in range(13):
        engine.sample(now=float(t), timestamp=float(t))
    assert slow.reads == [0.0, 1.0, 11.0]
