"""The sampling thread: snapshots cross threads, interval clamp, pause, failures, shutdown."""

from __future__ import annotations

import threading

import pytest
from gui_fakes import CountingCollector, RaisingCollector

from perfdeck.gui.sampler import Sampler, clamp_interval
from perfdeck.model.engine import SamplingEngine

pytestmark = pytest.mark.gui


@pytest.fixture
def sampler_factory(qtbot):
    created: list[Sampler] = []

    def make(*collectors, interval: float = 0.1) -> Sampler:
        sampler = Sampler(list(collectors), interval)
        created.append(sampler)
        return sampler

    yield make
    for sampler in created:  # never leave a thread running, even when a test fails
        sampler.stop()
        assert not sampler.thread.isRunning()


def test_snapshots_are_read_on_the_sampler_thread_and_delivered_to_the_gui_thread(qtbot, sampler_factory):
    collector = CountingCollector()
    sampler = sampler_factory(collector)
    received_on: list[int] = []
    snapshots = []
    sampler.snapshot.connect(lambda s: (received_on.append(threading.get_ident()), snapshots.append(s)))
    sampler.start()
    qtbot.waitUntil(lambda: len(snapshots) >= 3, timeout=5000)
    main = threading.get_ident()
    assert set(received_on) == {main}
    assert collector.read_threads and main not in collector.read_threads
    values = [s.value("fake.value") for s in snapshots[:3]]
    assert values == sorted(values) and values[0] == 1.0
    with pytest.raises(TypeError):  # snapshots are immutable
        snapshots[0].values["fake.value"] = 5.0  # type: ignore[index]


@pytest.mark.parametrize(("given", "expected", "says"), [
    (1.0, 1.0, ""), (0.1, 0.1, ""), (10, 10.0, ""),
    (0.01, 0.1, "below the minimum"), (0, 0.1, "below the minimum"), (-3, 0.1, "below the minimum"),
    (60, 10.0, "above the maximum"), ("fast", 1.0, "not a number"), (float("nan"), 1.0, "not a number"),
])
def test_interval_is_clamped_with_a_message(given, expected, says):
    value, message = clamp_interval(given)
    assert value == expected
    assert (says in message) if says else message == ""


def test_sampler_applies_the_clamp(qtbot, sampler_factory):
    sampler = sampler_factory(CountingCollector(), interval=0.001)
    assert sampler.interval == 0.1 and "below the minimum" in sampler.interval_message
    with qtbot.waitSignal(sampler.interval_changed) as signal:
        message = sampler.set_interval(99)
    assert signal.args == [10.0] and sampler.interval == 10.0 and "above the maximum" in message


def test_pause_stops_sampling_and_resume_restarts_it(qtbot, sampler_factory):
    collector = CountingCollector()
    sampler = sampler_factory(collector, interval=0.1)
    snapshots = []
    sampler.snapshot.connect(snapshots.append)
    sampler.start()
    qtbot.waitUntil(lambda: len(snapshots) >= 2, timeout=5000)
    sampler.pause()
    assert sampler.paused
    qtbot.wait(300)  # let a tick that was already queued arrive
    count = len(snapshots)
    reads = collector.reads
    qtbot.wait(600)  # six intervals: any sampling would show
    assert len(snapshots) == count and collector.reads == reads
    sampler.resume()
    qtbot.waitUntil(lambda: len(snapshots) > count, timeout=5000)
    assert not sampler.paused


def test_a_raising_collector_is_reported_once_and_the_others_go_on(qtbot, sampler_factory):
    good, bad = CountingCollector(), RaisingCollector()
    sampler = sampler_factory(good, bad)
    failures, snapshots = [], []
    sampler.failure.connect(lambda family, message: failures.append((family, message)))
    sampler.snapshot.connect(snapshots.append)
    sampler.start()
    qtbot.waitUntil(lambda: len(snapshots) >= 5, timeout=5000)
    assert failures == [("broken", "RuntimeError: sensor bus on fire")]
    assert bad.attempts >= 5  # retried every tick, reported once
    assert all(s.value("fake.value") is not None for s in snapshots)


def test_stop_closes_collectors_on_the_sampler_thread_and_ends_it(qtbot, sampler_factory):
    collector = CountingCollector()
    sampler = sampler_factory(collector)
    sampler.start()
    qtbot.waitUntil(lambda: collector.reads >= 1, timeout=5000)
    assert sampler.thread.isRunning()
    assert sampler.stop()
    assert not sampler.thread.isRunning()
    assert collector.closed and collector.close_thread in collector.read_threads
    assert sampler.stop()  # twice is fine


def test_stop_before_start_is_clean(sampler_factory):
    collector = CountingCollector()
    sampler = sampler_factory(collector)
    assert sampler.stop()
    assert collector.reads == 0 and not sampler.thread.isRunning()
    with pytest.raises(RuntimeError, match="cannot be restarted"):
        sampler.start()


def test_sampler_accepts_an_engine(qtbot, sampler_factory):
    engine = SamplingEngine([CountingCollector()])
    sampler = Sampler(engine, 0.5)
    try:
        assert sampler.engine is engine
    finally:
        sampler.stop()


def test_family_slowdown_and_configured_interval(qtbot, sampler_factory):
    collector = CountingCollector()
    collector.min_interval = 2.0
    sampler = sampler_factory(collector, interval=0.1)
    sampler.start()
    qtbot.waitUntil(lambda: collector.reads >= 1, timeout=5000)
    sampler.set_family_slowdown("fake", 10.0)
    qtbot.waitUntil(lambda: collector.min_interval == 10.0, timeout=2000)
    sampler.set_family_interval("fake", 30.0)  # the setting is larger than the slowdown: it wins
    qtbot.waitUntil(lambda: collector.min_interval == 30.0, timeout=2000)
    sampler.set_family_interval("fake", 1.0)
    qtbot.waitUntil(lambda: collector.min_interval == 10.0, timeout=2000)
    sampler.set_family_slowdown("fake", None)  # tab shown again: the configured interval
    qtbot.waitUntil(lambda: collector.min_interval == 1.0, timeout=2000)


def test_process_table_not_shown_means_counts_without_the_walk(qtbot, sampler_factory):
    from perfdeck.collectors.processes import ProcessCollector

    collector = ProcessCollector()  # the real /proc: PID 2 is kthreadd on this machine
    sampler = sampler_factory(collector, interval=0.1)
    tables: list[bool] = []
    sampler.snapshot.connect(lambda snapshot: tables.append("processes" in snapshot.tables))
    sampler.start()
    qtbot.waitUntil(lambda: len(tables) >= 1, timeout=5000)
    assert tables[0] and collector.table_wanted
    sampler.set_family_slowdown("proc", 10.0)  # the Processes tab is hidden
    qtbot.waitUntil(lambda: not collector.table_wanted, timeout=2000)
    if collector.counts_cheaply:
        assert collector.min_interval == 2.0  # cheap counts keep their cadence
    else:
        assert collector.min_interval == 10.0  # a container: the walk goes on, slowed down
    sampler.set_family_slowdown("proc", None)  # shown again
    qtbot.waitUntil(lambda: collector.table_wanted and collector.min_interval == 2.0, timeout=2000)
