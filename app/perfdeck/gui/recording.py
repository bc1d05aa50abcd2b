"""Continuous recording from the window, and the File menu / status bar / tray wiring for CSV.

``install_recording(window)`` adds, with no change to the window's own code beyond one call:

* File > Open recording… (Ctrl+O), File > Export CSV… (Ctrl+E), File > Start/Stop recording
  (Ctrl+R);
* a permanent status-bar button that shows the recording state (file, duration, size) and
  starts or stops it when clicked;
* ``window.recording``: the ``RecordingController``, which the tray uses (``toggle()``,
  ``is_recording``, ``export_csv()``, signal ``state_changed(bool, str)``);
* a clean stop when the window shuts down (``about_to_shut_down``; ``gui.app`` turns SIGINT and
  SIGTERM into a clean quit, which goes through it).

The controller writes with ``model.recorder.CsvRecorder``, the same writer as ``perfdeck record``,
from the GUI thread (where snapshots arrive); a 1 s timer flushes rows even while no snapshot
arrives, so no row waits more than 5 s in memory.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QFileDialog, QToolButton, QWidget

from perfdeck.model.recorder import CsvRecorder, DiskFullError, RecordingError
from perfdeck.model.series import Snapshot
from perfdeck.model.units import format_bytes

log = logging.getLogger(__name__)

CSV_FILTER = "PerfDeck CSV (*.csv);;All files (*)"


def default_recording_name() -> str:
    return datetime.now().strftime("perfdeck-%Y%m%d-%H%M%S.csv")


class RecordingController(QObject):
    """Start/stop a recording of every snapshot the sampler delivers.

    Signals:
        state_changed(bool recording, str message): after start, stop and failure. ``message``
            is a sentence for the user ("Recording to /x/run.csv", "Recording stopped: disk
            full ...").
        progress(int rows, int bytes): after each row while recording.
    """

    state_changed = Signal(bool, str)
    progress = Signal(int, int)

    def __init__(self, window: QWidget | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent if parent is not None else window)
        self.window = window
        self._recorder: CsvRecorder | None = None
        self._started_at = 0.0
        self.last_message = ""
        self.last_error = ""
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(1000)
        self._flush_timer.timeout.connect(self._flush_if_due)

    # --- state -----------------------------------------------------------------------------------
    @property
    def is_recording(self) -> bool:
        return self._recorder is not None

    @property
    def path(self) -> Path | None:
        """The file rows go to now (the latest part), or None when not recording."""
        return self._recorder.path if self._recorder is not None else None

    @property
    def rows(self) -> int:
        return self._recorder.rows if self._recorder is not None else 0

    @property
    def bytes_written(self) -> int:
        return self._recorder.bytes_written if self._recorder is not None else 0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started_at if self._recorder is not None else 0.0

    # --- control ---------------------------------------------------------------------------------
    def start(self, path: str | Path) -> bool:
        """Record to ``path`` (overwritten: the save dialog has asked). False, with the reason in
        ``state_changed``, when the file cannot be created."""
        if self._recorder is not None:
            self.stop()
        recorder = CsvRecorder(path, overwrite=True)
        try:
            recorder.open()
        except RecordingError as exc:
            self._announce(False, f"Cannot record: {exc}", error=True)
            return False
        except (OSError, ValueError) as exc:  # e.g. a name the filesystem refuses; never a traceback
            recorder.close()
            self._announce(False, f"Cannot record to {path}: {_reason(exc)}", error=True)
            return False
        self._recorder = recorder
        self._started_at = time.monotonic()
        self._flush_timer.start()
        self._announce(True, f"Recording to {recorder.path}")
        return True

    def stop(self) -> None:
        """Finish the file (buffered rows written, fsynced, closed). Safe when not recording."""
        recorder = self._recorder
        if recorder is None:
            return
        self._recorder = None
        self._flush_timer.stop()
        try:
            recorder.close()
        except RecordingError as exc:
            self._announce(False, f"Recording stopped: {exc}", error=True)
            return
        except OSError as exc:
            self._announce(False, f"Recording stopped: {recorder.path}: {_reason(exc)}", error=True)
            return
        files = ", ".join(p.name for p in recorder.paths)
        self._announce(False, f"Recorded {recorder.rows_written} rows to {files} "
                              f"({format_bytes(recorder.bytes_written)})")

    def toggle(self) -> None:
        """Stop if recording; otherwise ask for a file and start (the tray and Ctrl+R use this)."""
        if self.is_recording:
            self.stop()
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Record to CSV file",
                                              str(Path.home() / default_recording_name()), CSV_FILTER)
        if path:
            self.start(path)

    def export_csv(self) -> None:
        """Open the export dialog (the tray's Export CSV… uses this)."""
        from perfdeck.gui.export_dialog import show_export_dialog

        show_export_dialog(self.window)

    # --- data ------------------------------------------------------------------------------------
    @Slot(object)
    def on_snapshot(self, snapshot: Snapshot) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        try:
            recorder.append(snapshot)
        except RecordingError as exc:
            self._fail(recorder, exc)
            return
        except OSError as exc:
            self._fail(recorder, RecordingError(f"{recorder.path}: {_reason(exc)}", exc.errno))
            return
        self.progress.emit(recorder.rows, recorder.bytes_written)

    @Slot()
    def _flush_if_due(self) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        try:
            recorder.flush_if_due()
        except RecordingError as exc:
            self._fail(recorder, exc)
        except OSError as exc:
            self._fail(recorder, RecordingError(f"{recorder.path}: {_reason(exc)}", exc.errno))

    def _fail(self, recorder: CsvRecorder, exc: RecordingError) -> None:
        self._recorder = None
        self._flush_timer.stop()
        try:
            recorder.close()  # closes the descriptor; the file was already cut back to whole rows
        except (RecordingError, OSError) as close_exc:
            log.warning("closing the failed recording: %s", close_exc)
        log.error("recording stopped: %s", exc)
        self._announce(False, f"Recording stopped: {exc}", error=True)
        summary = "PerfDeck recording stopped" + (": disk full" if isinstance(exc, DiskFullError) else "")
        self._notify(summary, str(exc))

    def _announce(self, recording: bool, message: str, error: bool = False) -> None:
        self.last_message = message
        if error:
            self.last_error = message
        self.state_changed.emit(recording, message)

    def _notify(self, summary: str, body: str) -> None:
        """A desktop notification through the tray/notification integration, when there is one."""
        if self.window is None:
            return
        for child in self.window.findChildren(QObject):
            notifier = getattr(child, "notifier", None)
            if notifier is not None and callable(getattr(notifier, "notify", None)):
                try:
                    notifier.notify(("perfdeck-recording", "stopped"), summary, body)
                except Exception:  # a notification must never break the recording path
                    log.exception("could not send the notification")
                return


def _reason(exc: BaseException) -> str:
    """The errno's words ("File name too long"), not a repr."""
    return getattr(exc, "strerror", None) or str(exc)
def _record_icon(recording: bool) -> QIcon:
    """A red dot (start recording) or a red square (stop), drawn so no icon theme is needed."""
    pixmap = QPixmap(14, 14)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#d62728"))
    if recording:
        painter.drawRect(2, 2, 10, 10)
    else:
        painter.drawEllipse(1, 1, 12, 12)
    painter.end()
    return QIcon(pixmap)


class RecordingIndicator(QToolButton):
    """Status-bar button with a record icon: "Record" (a red dot) when idle; while recording, a
    stop square and "REC 0:01:23 run.csv 12 KiB". It looks like a button, not a radio button."""

    def __init__(self, controller: RecordingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setAutoRaise(False)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._icons = {False: _record_icon(False), True: _record_icon(True)}
        self.clicked.connect(controller.toggle)
        controller.state_changed.connect(self._on_state)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.update_text)
        self.update_text()

    @Slot(bool, str)
    def _on_state(self, recording: bool, _message: str) -> None:
        if recording:
            self._timer.start()
        else:
            self._timer.stop()
        self.update_text()

    @Slot()
    def update_text(self) -> None:
        controller = self.controller
        if controller.is_recording and controller.path is not None:
            seconds = int(controller.elapsed)
            clock = f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
            self.setText(f"REC {clock}  {controller.path.name}  {format_bytes(controller.bytes_written)}")
            self.setIcon(self._icons[True])
            self.setStyleSheet("QToolButton { color: #d62728; font-weight: bold; }")
            self.setToolTip(f"Recording to {controller.path} ({controller.rows} rows). Click to stop.")
        else:
            self.setText("Record")
            self.setIcon(self._icons[False])
            self.setStyleSheet("")
            tip = "Not recording. Click to record every sample to a CSV file."
            if controller.last_error:
                tip += f"\nLast recording: {controller.last_error}"
            self.setToolTip(tip)


def install_recording(window: QWidget) -> RecordingController:
    """Add recording, export and opening recordings to a ``MainWindow``. See the module docstring."""

    def open_recording_dialog() -> None:
        # The viewer (and its CSV reader) is imported when first used: about 1.3 MiB less at start.
        from perfdeck.gui.recording_view import open_recording_dialog

        open_recording_dialog(window)

    controller = RecordingController(window)
    window.recording = controller  # type: ignore[attr-defined] - the tray looks it up here
    window.sampler.snapshot.connect(controller.on_snapshot)  # type: ignore[attr-defined]

    open_action = QAction("&Open recording…", window)
    open_action.setShortcut(QKeySequence.StandardKey.Open)
    open_action.setToolTip("Open a PerfDeck CSV recording as a timeline you can pan and zoom")
    open_action.triggered.connect(open_recording_dialog)
    export_action = QAction("&Export CSV…", window)
    export_action.setShortcut(QKeySequence("Ctrl+E"))
    export_action.triggered.connect(controller.export_csv)
    record_action = QAction("Start &recording…", window)
    record_action.setShortcut(QKeySequence("Ctrl+R"))
    record_action.triggered.connect(controller.toggle)
    for action in (open_action, export_action, record_action):
        window.add_file_action(action)  # type: ignore[attr-defined]
    window.file_menu.insertSeparator(window.quit_action)  # type: ignore[attr-defined]

    indicator = RecordingIndicator(controller, window)
    window.add_status_widget(indicator)  # type: ignore[attr-defined]

    def on_state(recording: bool, message: str) -> None:
        record_action.setText("Stop &recording" if recording else "Start &recording…")
        window.statusBar().showMessage(message, 0 if "stopped" in message.lower() else 10000)  # type: ignore[attr-defined]

    controller.state_changed.connect(on_state)
    window.about_to_shut_down.connect(controller.stop)  # type: ignore[attr-defined]
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(controller.stop)
    controller.open_action = open_action  # type: ignore[attr-defined] - for tests
    controller.export_action = export_action  # type: ignore[attr-defined]
    controller.record_action = record_action  # type: ignore[attr-defined]
    controller.indicator = indicator  # type: ignore[attr-defined]
    return controller


def open_recordings(window: QWidget, paths: list[str]) -> None:
    """Open each file given with ``perfdeck --open`` in its own recording window."""
    if not paths:
        return  # the usual start: the recording viewer's modules stay unloaded until one is opened
    from perfdeck.gui.recording_view import open_recording

    for path in paths:
        open_recording(path, window)
