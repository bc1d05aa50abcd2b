"""The sampling thread: runs ``model.engine.SamplingEngine`` on a QThread and emits snapshots.

``Sampler`` lives in the GUI thread and is what the window talks to. It owns a ``QThread`` and a
``_SamplerWorker`` moved onto that thread; the worker creates its ``QTimer`` in a slot that runs
after the thread has started, so the timer fires in the sampling thread and the engine (and every
collector) is only ever touched from there. Snapshots are immutable and cross to the GUI thread
through a queued signal, in batches: the window draws at most ``MAX_DELIVERIES_PER_SECOND``
frames a second, so at 0.1 s sampling waking the GUI thread for each snapshot (10 queued calls a
second) bought nothing. The worker holds snapshots until ``1 / MAX_DELIVERIES_PER_SECOND`` has
passed since its last delivery and never holds one longer than that; on the GUI side ``Sampler``
still emits ``snapshot`` once per snapshot, in order, so nobody downstream sees batches.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QCoreApplication, QEvent, QMetaObject, QObject, Qt, QThread, QTimer, Signal, Slot

from perfdeck.gui.sources import SnapshotSource, as_source
from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS
from perfdeck.model.series import Snapshot

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 1.0
# Cross-thread deliveries a second at most: the window's redraw cap (MAX_REDRAWS_PER_SECOND in
# gui/mainwindow.py, which imports this module; a test keeps the two equal). A snapshot waits at
# most 1 / this in the sampling thread.
MAX_DELIVERIES_PER_SECOND = 4.0
# QTimer's coarse timers fire up to 5 % early: a tick 0.249 s after a delivery counts as 0.25 s.
_TIMER_SLACK_SECONDS = 0.01


def clamp_interval(seconds: float) -> tuple[float, str]:
    """Clamp a sampling interval into 0.1–10 s.

    Returns the interval to use and a message for the user: empty when ``seconds`` was accepted
    as given, otherwise the sentence explaining what was used instead.
    """
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return DEFAULT_INTERVAL_SECONDS, (
            f"sampling interval {seconds!r} is not a number; using {DEFAULT_INTERVAL_SECONDS:g} s")
    if math.isnan(value):
        return DEFAULT_INTERVAL_SECONDS, (
            f"sampling interval is not a number; using {DEFAULT_INTERVAL_SECONDS:g} s")
    if value < MIN_INTERVAL_SECONDS:
        return MIN_INTERVAL_SECONDS, (
            f"sampling interval {value:g} s is below the minimum; using {MIN_INTERVAL_SECONDS:g} s "
            f"(allowed {MIN_INTERVAL_SECONDS:g}–{MAX_INTERVAL_SECONDS:g} s)")
    if value > MAX_INTERVAL_SECONDS:
        return MAX_INTERVAL_SECONDS, (
            f"sampling interval {value:g} s is above the maximum; using {MAX_INTERVAL_SECONDS:g} s "
            f"(allowed {MIN_INTERVAL_SECONDS:g}–{MAX_INTERVAL_SECONDS:g} s)")
    return value, ""


class _SamplerWorker(QObject):
    """Lives in the sampling thread: owns the timer and the engine, and batches the snapshots.

    Delivery rule, decided when snapshots arrive (``_offer``): send everything held at once when
    ``hold_seconds`` have passed since the last delivery, or when the next poll is that far away
    (1 s sampling: every snapshot at once, as before). Otherwise keep it; if the next poll would
    come after the oldest held snapshot's deadline (an irregular remote agent, a late tick), a
    single-shot timer delivers at the earliest allowed moment instead. At 0.1 s: a delivery of
    three snapshots every 0.3 s, the oldest held 0.2 s, and no timer of its own.
    """

    batch_ready = Signal(object)  # a tuple of snapshots, oldest first
    status_ready = Signal(object)  # a source's status (model.remote.RemoteStatus) when it changed

    def __init__(self, source: SnapshotSource, interval: float,
                 hold_seconds: float = 1.0 / MAX_DELIVERIES_PER_SECOND) -> None:
        super().__init__()
        self._source = source
        self._interval = interval
        self._timer: QTimer | None = None
        self._paused = False
        self._base_intervals: dict[str, float] = {}  # family -> configured min_interval
        self._slowdowns: dict[str, float] = {}  # family -> min_interval while nobody looks
        self.hold_seconds = hold_seconds
        # Held snapshots. The GUI thread may take them too (Sampler.flush), so taking them and
        # posting the batch happen under this lock: every batch taken earlier is already posted
        # when the lock is next acquired, which is what keeps the order (see Sampler.flush).
        self._lock = threading.RLock()
        self._pending: list[Snapshot] = []
        self._oldest_at = 0.0  # monotonic time the oldest held snapshot arrived
        self._last_delivery = -math.inf
        self._flush_timer: QTimer | None = None
        self.clock: Callable[[], float] = time.monotonic  # the batching decisions' clock (tests set it)

    @Slot()
    def start(self) -> None:
        # Created here, after QThread.start(), so the timer belongs to (and fires in) this thread.
        self._timer = QTimer(self)
        self._timer.setInterval(round(self._interval * 1000))
        self._timer.timeout.connect(self.tick)
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setTimerType(Qt.TimerType.PreciseTimer)  # it enforces a deadline
        self._flush_timer.timeout.connect(self.flush)
        try:
            self._source.open()
        except Exception:  # the engine isolates collectors; this guards the engine itself
            log.exception("sampling engine failed to open")
        if not self._paused:
            self.tick()  # a first sample right away, so the window has data at once
            self._timer.start()

    @Slot()
    def tick(self) -> None:
        try:
            result = self._source.poll(time.monotonic(), time.time())
        except Exception:
            log.exception("sampling tick failed")
            return
        next_delay = self._interval if result.next_delay is None else result.next_delay
        if result.snapshots:
            self._offer(result.snapshots, next_delay)
        if result.status is not None:
            self.flush()  # the snapshots before a status change (a lost connection) arrive before it
            self.status_ready.emit(result.status)
        if self._timer is not None:  # a remote source paces itself (agent interval, back-off)
            delay_ms = round(next_delay * 1000)
            if delay_ms != self._timer.interval():  # setInterval restarts the timer: only on change
                self._timer.setInterval(delay_ms)

    def _offer(self, snapshots: Sequence[Snapshot], next_delay: float) -> None:
        """Hold ``snapshots`` or deliver them now, by the rule in the class docstring."""
        now = self.clock()
        with self._lock:
            if not self._pending:
                self._oldest_at = now
            self._pending.extend(snapshots)
        hold = self.hold_seconds - _TIMER_SLACK_SECONDS
        if now - self._last_delivery >= hold or next_delay >= hold:
            self.flush()
        elif (now + next_delay > self._oldest_at + self.hold_seconds and self._flush_timer is not None
              and not self._flush_timer.isActive()):
            # The next poll comes too late for the oldest one: deliver when the cap allows.
            self._flush_timer.start(max(0, round((self._last_delivery + self.hold_seconds - now) * 1000)))

    @Slot()
    def flush(self) -> None:
        """Deliver every held snapshot now (pause, stop, a status change, the deadline timer)."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
        with self._lock:
            if not self._pending:
                return
            batch, self._pending = tuple(self._pending), []
            self.batch_ready.emit(batch)  # queued: only posts an event, so fine under the lock
        self._last_delivery = self.clock()

    def take_pending(self) -> tuple[Snapshot, ...]:
        """Hand the held snapshots to the caller instead (the GUI thread's ``Sampler.flush``)."""
        with self._lock:
            batch, self._pending = tuple(self._pending), []
        return batch

    @Slot(float)
    def set_interval(self, seconds: float) -> None:
        self._interval = seconds
        if self._timer is not None:
            self._timer.setInterval(round(seconds * 1000))
            self.flush()  # held on the old pace's promise of a next tick: 10 s away now, maybe

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        if self._timer is None:
            return
        if paused:
            self._timer.stop()
            self.flush()  # nothing sampled before the pause waits for the resume
        elif not self._timer.isActive():
            self.tick()
            self._timer.start()

    @Slot(str, float)
    def set_family_slowdown(self, family: str, seconds: float) -> None:
        """Read ``family`` at most every ``seconds`` (0: back to its configured interval)."""
        self._slowdowns[family] = seconds
        self._apply_family_interval(family)

    @Slot(str, float)
    def set_family_interval(self, family: str, seconds: float) -> None:
        """The configured ``min_interval`` of a family (e.g. the process-list interval setting)."""
        self._base_intervals[family] = seconds
        self._apply_family_interval(family)

    def _apply_family_interval(self, family: str) -> None:
        for collector in self._source.collectors:
            if collector.family == family:
                base = self._base_intervals.setdefault(family, collector.min_interval)
                slowdown = self._slowdowns.get(family, 0.0)
                # A family with a table nobody looks at (the process list) is told so; when it can
                # then answer cheaply (the counts without the walk) it keeps its own cadence.
                set_table_wanted = getattr(collector, "set_table_wanted", None)
                if set_table_wanted is not None:
                    set_table_wanted(slowdown == 0.0)
                    if getattr(collector, "counts_cheaply", False):
                        slowdown = 0.0
                collector.min_interval = max(base, slowdown)

    @Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer.deleteLater()
            self._timer = None
        self.flush()  # Sampler.stop delivers it before it returns
        if self._flush_timer is not None:
            self._flush_timer.deleteLater()
            self._flush_timer = None
        self._source.close()


class Sampler(QObject):
    """GUI-thread handle on the sampling thread.

    Signals:
        snapshot(Snapshot): every sample, delivered in the GUI thread, in order, exactly once.
            Snapshots cross threads in batches (at most ``MAX_DELIVERIES_PER_SECOND`` a second,
            none held longer than one over that); this signal is still emitted per snapshot.
        failure(str, str): a collector family raised (family, message); emitted once per family.
        interval_changed(float): the interval in seconds after ``set_interval``.
        paused_changed(bool)
        source_status(RemoteStatus): a remote source's connection state, when it changed.

    ``start()`` launches the thread, ``stop()`` stops the timer, closes every collector (in the
    sampling thread), waits for the thread to finish and then delivers every snapshot taken before
    it (nothing after); it is safe to call twice. ``flush()`` delivers the held snapshots now
    (before a recording stops, say). ``samples`` counts snapshots delivered, ``deliveries`` the
    batches that crossed threads.
    """

    snapshot = Signal(object)
    failure = Signal(str, str)
    interval_changed = Signal(float)
    paused_changed = Signal(bool)
    source_status = Signal(object)

    _request_interval = Signal(float)
    _request_paused = Signal(bool)
    _request_slowdown = Signal(str, float)
    _request_family_interval = Signal(str, float)

    def __init__(self, collectors: Sequence[Collector] | SamplingEngine | SnapshotSource,
                 interval: float = DEFAULT_INTERVAL_SECONDS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source = as_source(collectors)  # this machine's collectors, or a remote agent
        self.engine = self.source.engine
        self._interval, self.interval_message = clamp_interval(interval)
        self._paused = False
        self.samples = 0
        self.deliveries = 0
        self.thread = QThread()
        self.thread.setObjectName("perfdeck-sampler")
        self._worker = _SamplerWorker(self.source, self._interval)
        self._worker.moveToThread(self.thread)
        self.thread.started.connect(self._worker.start)
        self._worker.batch_ready.connect(self._on_batch)  # queued: worker is in another thread
        self._worker.status_ready.connect(self._on_status)
        self._request_interval.connect(self._worker.set_interval)
        self._request_paused.connect(self._worker.set_paused)
        self._request_slowdown.connect(self._worker.set_family_slowdown)
        self._request_family_interval.connect(self._worker.set_family_interval)
        self._stopped = False
        self._closed = False  # set once stop() delivered the last snapshots: nothing after

    # --- control (GUI thread) -------------------------------------------------------------------
    @property
    def interval(self) -> float:
        return self._interval

    @property
    def paused(self) -> bool:
        return self._paused

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def start(self) -> None:
        if self._stopped:
            raise RuntimeError("a stopped Sampler cannot be restarted; create a new one")
        if not self.thread.isRunning():
            self.thread.start()

    def set_interval(self, seconds: float) -> str:
        """Change the interval (clamped to 0.1–10 s). Returns a message if it was clamped."""
        self._interval, message = clamp_interval(seconds)
        self._request_interval.emit(self._interval)
        self.interval_changed.emit(self._interval)
        return message

    def pause(self) -> None:
        self._set_paused(True)

    def resume(self) -> None:
        self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        if paused == self._paused:
            return
        self._paused = paused
        self._request_paused.emit(paused)
        self.paused_changed.emit(paused)

    def set_family_interval(self, family: str, seconds: float) -> None:
        """Read ``family`` at most every ``seconds`` (its ``min_interval``), set in the sampling thread.

        Use this rather than writing ``collector.min_interval``: a tab-driven slowdown
        (``set_family_slowdown``) is kept on top of it.
        """
        self._request_family_interval.emit(family, float(seconds))

    def set_family_slowdown(self, family: str, seconds: float | None) -> None:
        """Read a costly family at most every ``seconds`` while nobody looks at it (None: undo).

        Applied in the sampling thread. The family's own ``min_interval`` is restored on undo.
        """
        self._request_slowdown.emit(family, 0.0 if seconds is None else float(seconds))

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Stop sampling, close the collectors and end the thread. Returns True if it ended."""
        if self._stopped:
            return not self.thread.isRunning()
        self._stopped = True
        interrupt = getattr(self.source, "interrupt", None)
        if interrupt is not None:
            interrupt()  # a remote source waiting on the network gives up now, not at its timeout
        ended = True
        if self.thread.isRunning():
            # Blocking: the worker delivers what it holds, stops its timer and closes the
            # collectors in its own thread before we ask the thread's event loop to quit.
            QMetaObject.invokeMethod(self._worker, "stop", Qt.ConnectionType.BlockingQueuedConnection)
            self.thread.quit()
            if not self.thread.wait(timeout_ms):
                log.error("sampling thread did not stop within %d ms", timeout_ms)
                ended = False
        else:
            self._worker.stop()
        # Every snapshot taken before stop() is delivered now, in order; none after.
        self._deliver_posted()
        self._closed = True
        return ended

    def flush(self) -> None:
        """Deliver every snapshot sampled so far now, in order (GUI thread; never waits for a tick).

        Taking the held ones first and then delivering the batches already posted is what keeps
        the order: the worker posts each batch under the lock it takes them with, so every batch
        older than ours is in the event queue by the time ours is taken.
        """
        if self._closed:
            return
        held = self._worker.take_pending()
        self._deliver_posted()
        if held:
            self._deliver(held)

    def _deliver_posted(self) -> None:
        """Run the queued batch (and status) deliveries waiting for this object, in order."""
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall.value)

    # --- delivery (GUI thread) ------------------------------------------------------------------
    @Slot(object)
    def _on_batch(self, batch: tuple[Snapshot, ...]) -> None:
        if self._closed:
            return  # stop() has delivered everything taken before it
        self.deliveries += 1
        self._deliver(batch)

    def _deliver(self, batch: Sequence[Snapshot]) -> None:
        for snapshot in batch:
            self.samples += 1
            for family, message in snapshot.failures.items():
                self.failure.emit(family, message)
            self.snapshot.emit(snapshot)

    @Slot(object)
    def _on_status(self, status: object) -> None:
        if self._closed:
            return
        interval = getattr(status, "interval", None)
        if interval:  # the pace snapshots really come at (a remote agent's); not a setting to save
            self._interval = float(interval)
        self.source_status.emit(status)
