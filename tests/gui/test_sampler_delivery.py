"""Snapshots cross from the sampling thread to the GUI thread in batches: at most a few a second,
none held longer than 1 / MAX_DELIVERIES_PER_SECOND, and every one delivered once, in order,
through pause, resume, flush and stop."""

from __future__ import annotations

import pytest
from gui_fakes import CountingCollector

from perfdeck.gui.sampler import MAX_DELIVERIES_PER_SECOND, Sampler, _SamplerWorker
from perfdeck.model.remote import PollResult
from perfdeck.model.series import Snapshot

pytestmark = pytest.mark.gui

HOLD = 1.0 / MAX_DELIVERIES_PER_SECOND


class ScriptedSource:
    """A SnapshotSource whose snapshots carry the fake clock's time; ``next_delay`` and ``status``
    are what the next poll reports (a remote agent sets its own pace)."""

    engine = None
    collectors = ()

    def __init__(self) -> None:
        self.now = 0.0
        self.next_delay: float | None = None
        self.status: object | None = None

    def open(self) -> None:
        pass

    def poll(self, now: float, timestamp: float) -> PollResult:
        snapshot = Snapshot(timestamp=self.now, monotonic=self.now, values={"t": self.now}, specs={})
        status, self.status = self.status, None
        return PollResult((snapshot,), status, self.next_delay)

    def close(self) -> None:
        pass


@pytest.fixture
def scripted(qtbot):
    """A worker driven by hand in this thread, on a fake clock: (worker, source, batches)."""
    source = ScriptedSource()
    worker = _SamplerWorker(source, 0.1)
    worker.clock = lambda: source.now
    worker.set_paused(True)  # no first tick and no running timer: the test calls tick()
    worker.start()
    worker._paused = False
    batches: list[tuple[float, ...]] = []
    worker.batch_ready.connect(lambda batch: batches.append(tuple(s.timestamp for s in batch)))
    yield worker, source, batches
    worker.stop()


def _tick_at(worker: _SamplerWorker, source: ScriptedSource, now: float) -> None:
    source.now = round(now, 6)
    worker.tick()


def test_at_a_tenth_of_a_second_three_snapshots_cross_every_0_3_s(scripted):
    worker, source, batches = scripted
    for n in range(21):  # 0.0 .. 2.0 s
        _tick_at(worker, source, n / 10)
        assert not worker._flush_timer.isActive()  # regular ticks never need the deadline timer
    assert batches == [(0.0,), (0.1, 0.2, 0.3), (0.4, 0.5, 0.6), (0.7, 0.8, 0.9), (1.0, 1.1, 1.2),
                       (1.3, 1.4, 1.5), (1.6, 1.7, 1.8)]  # 1.9 and 2.0 held, for at most 0.2 s
    worker.set_paused(True)  # pausing delivers what is held
    assert batches[-1] == (1.9, 2.0)


@pytest.mark.parametrize("interval", [HOLD, 1.0, 10.0])
def test_from_the_redraw_period_up_every_snapshot_crosses_at_once(scripted, interval):
    worker, source, batches = scripted
    source.next_delay = interval
    times = [0.0, interval * 0.96, interval * 2.01, interval * 2.98]  # a coarse timer's jitter
    for now in times:
        _tick_at(worker, source, now)
    assert batches == [(round(t, 6),) for t in times]


def test_a_poll_that_comes_late_is_covered_by_the_deadline_timer(scripted):
    """An agent whose next poll would come after the oldest held snapshot's deadline."""
    worker, source, batches = scripted
    _tick_at(worker, source, 0.0)
    source.next_delay = 0.2
    _tick_at(worker, source, 0.05)  # next poll at 0.25: within 0.05's deadline (0.30), held
    assert not worker._flush_timer.isActive()
    _tick_at(worker, source, 0.15)  # next poll at 0.35: too late for 0.05; deliver at 0.25
    assert batches == [(0.0,)]
    assert worker._flush_timer.isActive() and worker._flush_timer.interval() == 100
    source.now = 0.25
    worker._flush_timer.timeout.emit()
    assert batches == [(0.0,), (0.05, 0.15)]


def test_a_new_interval_delivers_what_was_held_for_the_old_pace(scripted):
    worker, source, batches = scripted
    _tick_at(worker, source, 0.0)
    _tick_at(worker, source, 0.1)  # held: the next tick was due 0.1 s later
    worker.set_interval(10.0)
    assert batches == [(0.0,), (0.1,)]


def test_held_snapshots_cross_before_a_status_change(scripted):
    worker, source, batches = scripted
    statuses: list[object] = []
    worker.status_ready.connect(lambda status: statuses.append((status, list(batches))))
    _tick_at(worker, source, 0.0)
    _tick_at(worker, source, 0.1)
    source.status = "connection lost"
    _tick_at(worker, source, 0.2)
    assert statuses == [("connection lost", [(0.0,), (0.1, 0.2)])]


def _values(snapshots: list[Snapshot]) -> list[float]:
    return [s.value("fake.value") for s in snapshots]


def test_real_thread_at_a_tenth_of_a_second(qtbot):
    """Real QThread, 0.1 s: at most MAX_DELIVERIES_PER_SECOND crossings a second of sampling,
    and every snapshot read is delivered once, in order, across pause, resume, flush and stop."""
    collector = CountingCollector()  # fake.value = 1, 2, 3... in the order read
    sampler = Sampler([collector], 0.1)
    snapshots: list[Snapshot] = []
    sampler.snapshot.connect(snapshots.append)
    try:
        sampler.start()
        qtbot.waitUntil(lambda: len(snapshots) >= 30, timeout=20000)
        crossings, delivered = sampler.deliveries, list(snapshots)
        # Deliveries are at least HOLD - 10 ms apart (the sampling thread's clock) and the last one
        # came at most HOLD after its newest snapshot was read: a bound that load cannot break.
        span = delivered[-1].monotonic - delivered[0].monotonic + HOLD
        assert crossings <= 1 + span / (HOLD - 0.01), (crossings, len(delivered), span)
        assert crossings < len(delivered)  # one crossing per snapshot (10 a second) before batching
        assert sampler.samples == len(snapshots)

        sampler.pause()  # what was read before the pause arrives now, not after the resume
        qtbot.waitUntil(lambda: len(snapshots) == collector.reads, timeout=5000)
        qtbot.wait(400)
        assert len(snapshots) == collector.reads

        sampler.resume()
        qtbot.waitUntil(lambda: len(snapshots) >= collector.reads > len(delivered) + 5, timeout=10000)
        read_before = collector.reads
        sampler.flush()  # everything read so far, without waiting (a tick in progress may miss it)
        assert len(snapshots) >= read_before - 1
        qtbot.wait(150)
    finally:
        assert sampler.stop()
    assert _values(snapshots) == [float(n) for n in range(1, collector.reads + 1)]  # none lost at stop
    assert sampler.samples == len(snapshots)
    count = len(snapshots)
    qtbot.wait(200)
    assert len(snapshots) == count  # nothing after stop()


def test_window_shutdown_hands_every_held_snapshot_on_before_its_listeners_stop(qtbot):
    """A recording stops on ``about_to_shut_down``: by then the history has every snapshot read
    (but one that a tick was still reading)."""
    from perfdeck.gui.app import build_window
    from perfdeck.model.engine import SamplingEngine

    collector = CountingCollector()
    window = build_window(engine=SamplingEngine([collector]), interval=0.1, tabs=())
    qtbot.addWidget(window)
    window.sampler.start()
    qtbot.waitUntil(lambda: len(window.history) >= 7, timeout=10000)
    # A moment when two snapshots are read but still held in the sampling thread:
    qtbot.waitUntil(lambda: collector.reads >= len(window.history) + 2, timeout=10000)
    seen: list[tuple[int, int]] = []
    window.about_to_shut_down.connect(lambda: seen.append((len(window.history), collector.reads)))
    reads_before = collector.reads
    window.close()
    held, read = seen[0]
    assert held >= reads_before - 1 and held >= read - 1
    _, values = window.history.window(["fake.value"])
    assert values["fake.value"].tolist() == [float(n) for n in range(1, held + 1)]


def test_the_delivery_cap_is_the_redraw_cap():
    from perfdeck.gui.mainwindow import MAX_REDRAWS_PER_SECOND

    assert MAX_DELIVERIES_PER_SECOND == MAX_REDRAWS_PER_SECOND
