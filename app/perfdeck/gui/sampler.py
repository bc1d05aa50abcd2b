"""The sampling thread: runs ``model.engine.SamplingEngine`` on a QThread and emits snapshots.

``Sampler`` lives in the GUI thread and is what the window talks to. It owns a ``QThread`` and a
``_SamplerWorker`` moved onto that thread; the worker creates its ``QTimer`` in a slot that runs
after the thread has started, so the timer fires in the sampling thread and the engine (and every
collector) is only ever touched from there. Snapshots are immutable and cross to the GUI thread
through a queued signal.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from PySide6.QtCore import QMetaObject, QObject, Qt, QThread, QTimer, Signal, Slot

from perfdeck.gui.sources import SnapshotSource, as_source
from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS
from perfdeck.model.series import Snapshot

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 1.0


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
    """Lives in the sampling thread: owns the timer and the engine."""

    snapshot_ready = Signal(object)
    status_ready = Signal(object)  # a source's status (model.remote.RemoteStatus) when it changed

    def __init__(self, source: SnapshotSource, interval: float) -> None:
        super().__init__()
        self._source = source
        self._interval = interval
        self._timer: QTimer | None = None
        self._paused = False
        self._base_intervals: dict[str, float] = {}  # family -> configured min_interval
        self._slowdowns: dict[str, float] = {}  # family -> min_interval while nobody looks

    @Slot()
    def start(self) -> None:
        # Created here, after QThread.start(), so the timer belongs to (and fires in) this thread.
        self._timer = QTimer(self)
        self._timer.setInterval(round(self._interval * 1000))
        self._timer.timeout.connect(self.tick)
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
        for snapshot in result.snapshots:
            self.snapshot_ready.emit(snapshot)
        if result.status is not None:
            self.status_ready.emit(result.status)
        if self._timer is not None:  # a remote source paces itself (agent interval, back-off)
            delay_ms = round((self._interval if result.next_delay is None else result.next_delay) * 1000)
            if delay_ms != self._timer.interval():  # setInterval restarts the timer: only on change
                self._timer.setInterval(delay_ms)

    @Slot(float)
    def set_interval(self, seconds: float) -> None:
        self._interval = seconds
        if self._timer is not None:
            self._timer.setInterval(round(seconds * 1000))

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        if self._timer is None:
            return
        if paused:
            self._timer.stop()
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
        self._source.close()


class Sampler(QObject):
    """GUI-thread handle on the sampling thread.

    Signals:
        snapshot(Snapshot): every sample, delivered in the GUI thread.
        failure(str, str): a collector family raised (family, message); emitted once per family.
        interval_changed(float): the interval in seconds after ``set_interval``.
        paused_changed(bool)
        source_status(RemoteStatus): a remote source's connection state, when it changed.

    ``start()`` launches the thread, ``stop()`` stops the timer, closes every collector (in the
    sampling thread) and waits for the thread to finish; it is safe to call twice.
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
        self.thread = QThread()
        self.thread.setObjectName("perfdeck-sampler")
        self._worker = _SamplerWorker(self.source, self._interval)
        self._worker.moveToThread(self.thread)
        self.thread.started.connect(self._worker.start)
        self._worker.snapshot_ready.connect(self._on_snapshot)  # queued: worker is in another thread
        self._worker.status_ready.connect(self._on_status)
        self._request_interval.connect(self._worker.set_interval)
        self._request_paused.connect(self._worker.set_paused)
        self._request_slowdown.connect(self._worker.set_family_slowdown)
        self._request_family_interval.connect(self._worker.set_family_interval)
        self._stopped = False

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
        if self.thread.isRunning():
            # Blocking: the worker stops its timer and closes the collectors in its own thread
            # before we ask the thread's event loop to quit.
            QMetaObject.invokeMethod(self._worker, "stop", Qt.ConnectionType.BlockingQueuedConnection)
            self.thread.quit()
            if not self.thread.wait(timeout_ms):
                log.error("sampling thread did not stop within %d ms", timeout_ms)
                return False
        else:
            self._worker.stop()
        return True

    # --- delivery (GUI thread) ------------------------------------------------------------------
    @Slot(object)
    def _on_snapshot(self, snapshot: Snapshot) -> None:
        if self._stopped:
            return  # a tick queued before stop(): the window may already be gone
        self.samples += 1
        for family, message in snapshot.failures.items():
            self.failure.emit(family, message)
        self.snapshot.emit(snapshot)

    @Slot(object)
    def _on_status(self, status: object) -> None:
        if self._stopped:
            return
        interval = getattr(status, "interval", None)
        if interval:  # the pace snapshots really come at (a remote agent's); not a setting to save
            self._interval = float(interval)
        self.source_status.emit(status)
