"""File > Export CSV…: choose series, a range and raw samples or averages, then write atomically.

The export itself is ``model.export.CsvExport``; this module is its dialog and its runner. The
runner calls ``CsvExport.step()`` from the event loop (a zero-delay timer), a bounded slice of
work at a time, so the window keeps drawing and sampling, the ``History`` is only read from the
GUI thread that owns it, and a ``QProgressDialog`` can cancel. A failure (unwritable folder, full
disk) is shown as a message and leaves no partial file; an existing file is only replaced once
the new one is complete.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QDateTime, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QRadioButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from perfdeck.model import registry
from perfdeck.model.export import CsvExport, ExportError, ExportRequest, ExportResult
from perfdeck.model.history import History
from perfdeck.model.names import human_name
from perfdeck.model.settings import export_directory
from perfdeck.model.units import format_bytes

log = logging.getLogger(__name__)

CSV_FILTER = "PerfDeck CSV (*.csv);;All files (*)"
STEP_BUDGET_S = 0.03  # work per event-loop turn: the window stays responsive


def family_title(name: str) -> str:
    for family in registry.FAMILIES:
        if family.name == name:
            return family.title
    return name


class ExportRunner(QObject):
    """Runs a ``CsvExport`` in event-loop slices. Signals ``finished(result)`` / ``failed(message)``."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, export: CsvExport, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.export = export
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._work)
        self.cancelled = False

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.cancelled = True
            self.export.cancel()
            self.failed.emit("Export cancelled; no file was written.")

    @Slot()
    def _work(self) -> None:
        deadline = time.monotonic() + STEP_BUDGET_S
        try:
            while time.monotonic() < deadline:
                if self.export.step():
                    self._timer.stop()
                    self.progress.emit(self.export.total_rows, self.export.total_rows)
                    self.finished.emit(self.export.result())
                    return
        except ExportError as exc:
            self._timer.stop()
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # a bug must still leave no partial file and say something
            self._timer.stop()
            self.export.cancel()
            log.exception("export failed")
            self.failed.emit(f"Export failed: {type(exc).__name__}: {exc}")
            return
        self.progress.emit(self.export.done_rows, self.export.total_rows)


class ExportDialog(QDialog):
    """The export dialog for one ``History``. ``window_seconds`` is the plots' visible window."""

    exported = Signal(object)  # ExportResult

    def __init__(self, history: History, window_seconds: float = 300.0,
                 parent: QWidget | None = None, directory: Path | None = None,
                 average_seconds: float = 0.0) -> None:
        """``directory`` and ``average_seconds`` are the export defaults from the settings
        (home and every sample when not given)."""
        super().__init__(parent)
        self.setWindowTitle("Export CSV")
        self.history = history
        self.window_seconds = window_seconds
        self.runner: ExportRunner | None = None
        self.progress_dialog: QProgressDialog | None = None
        self.last_error = ""
        self.result: ExportResult | None = None
        layout = QVBoxLayout(self)

        columns = QHBoxLayout()
        layout.addLayout(columns, 1)
        series_box = QGroupBox("Series")
        series_layout = QVBoxLayout(series_box)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Series", "Unit"])
        self.tree.setMinimumWidth(320)
        self._fill_tree()
        series_layout.addWidget(self.tree)
        buttons = QHBoxLayout()
        for text, checked in (("All", True), ("None", False)):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, c=checked: self._check_all(c))
            buttons.addWidget(button)
        buttons.addStretch(1)
        series_layout.addLayout(buttons)
        columns.addWidget(series_box, 1)

        options = QVBoxLayout()
        columns.addLayout(options)
        range_box = QGroupBox("Range")
        grid = QGridLayout(range_box)
        self.range_visible = QRadioButton(f"Visible window (last {_duration(window_seconds)})")
        first, last = self._history_bounds()
        self.range_all = QRadioButton(f"Whole history ({_clock(first)} → {_clock(last)})")
        self.range_custom = QRadioButton("Custom:")
        self.range_group = QButtonGroup(self)
        for button in (self.range_visible, self.range_all, self.range_custom):
            self.range_group.addButton(button)
        self.range_all.setChecked(True)
        self.start_edit = QDateTimeEdit(_qdatetime(first))
        self.end_edit = QDateTimeEdit(_qdatetime(last))
        for edit in (self.start_edit, self.end_edit):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
            edit.setCalendarPopup(True)
            edit.dateTimeChanged.connect(lambda _dt: self.range_custom.setChecked(True))
        grid.addWidget(self.range_visible, 0, 0, 1, 2)
        grid.addWidget(self.range_all, 1, 0, 1, 2)
        grid.addWidget(self.range_custom, 2, 0, 1, 2)
        grid.addWidget(QLabel("from"), 3, 0)
        grid.addWidget(self.start_edit, 3, 1)
        grid.addWidget(QLabel("to"), 4, 0)
        grid.addWidget(self.end_edit, 4, 1)
        options.addWidget(range_box)

        samples_box = QGroupBox("Values")
        samples = QFormLayout(samples_box)
        self.raw_button = QRadioButton("Every sample")
        self.average_button = QRadioButton("Average over")
        self.raw_button.setChecked(True)
        self.average_seconds = QDoubleSpinBox()
        self.average_seconds.setRange(0.1, 86400.0)
        self.average_seconds.setDecimals(1)
        self.average_seconds.setValue(60.0)
        self.average_seconds.setSuffix(" s")
        self.average_seconds.valueChanged.connect(lambda _v: self.average_button.setChecked(True))
        samples.addRow(self.raw_button)
        samples.addRow(self.average_button, self.average_seconds)
        if average_seconds > 0:
            self.average_seconds.setValue(average_seconds)  # also checks the average button
        options.addWidget(samples_box)

        file_box = QGroupBox("File")
        file_layout = QHBoxLayout(file_box)
        default_name = datetime.now().strftime("perfdeck-export-%Y%m%d-%H%M%S.csv")
        self.path_edit = QLineEdit(str((directory or Path.home()) / default_name))
        self._confirmed_overwrite: str | None = None  # the path the save dialog already confirmed
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        file_layout.addWidget(self.path_edit, 1)
        file_layout.addWidget(browse)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        options.addWidget(self.summary)
        options.addStretch(1)
        layout.addWidget(file_box)  # full width: paths are long

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.start_export)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.tree.itemChanged.connect(lambda *_: self._update_summary())
        self.range_group.buttonToggled.connect(lambda *_: self._update_summary())
        self.raw_button.toggled.connect(lambda *_: self._update_summary())
        self.average_seconds.valueChanged.connect(lambda *_: self._update_summary())
        self._update_summary()
        self.resize(820, 520)

    # --- series ----------------------------------------------------------------------------------
    def _fill_tree(self) -> None:
        self.tree.blockSignals(True)
        families: dict[str, QTreeWidgetItem] = {}
        for sid in self.history.series_ids():
            family = sid.split(".", 1)[0]
            parent = families.get(family)
            if parent is None:
                parent = QTreeWidgetItem([family_title(family), ""])
                parent.setData(0, Qt.ItemDataRole.UserRole, None)
                parent.setFlags(parent.flags() | Qt.ItemFlag.ItemIsAutoTristate
                                | Qt.ItemFlag.ItemIsUserCheckable)
                parent.setCheckState(0, Qt.CheckState.Checked)
                self.tree.addTopLevelItem(parent)
                families[family] = parent
            spec = self.history.specs.get(sid)
            # People pick by name; the id (the CSV column) is the secondary detail, in the tooltip.
            item = QTreeWidgetItem([human_name(sid, spec.label if spec is not None else ""),
                                    spec.unit if spec is not None else ""])
            item.setData(0, Qt.ItemDataRole.UserRole, sid)
            item.setToolTip(0, f"{sid} (the CSV column)")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked)
            parent.addChild(item)
        header = self.tree.header()  # names take the width, units their own
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.blockSignals(False)

    def _check_all(self, checked: bool) -> None:
        state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        for index in range(self.tree.topLevelItemCount()):
            self.tree.topLevelItem(index).setCheckState(0, state)

    def set_families(self, families: list[str]) -> None:
        """Check exactly the given families (``cpu``, ``mem``...)."""
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            sid = item.child(0).data(0, Qt.ItemDataRole.UserRole) if item.childCount() else ""
            family = sid.split(".", 1)[0]
            item.setCheckState(0, Qt.CheckState.Checked if family in families else Qt.CheckState.Unchecked)

    def selected_series(self) -> list[str]:
        ids = []
        for index in range(self.tree.topLevelItemCount()):
            parent = self.tree.topLevelItem(index)
            for child_index in range(parent.childCount()):
                child = parent.child(child_index)
                if child.checkState(0) == Qt.CheckState.Checked:
                    ids.append(child.data(0, Qt.ItemDataRole.UserRole))
        return ids

    # --- range -----------------------------------------------------------------------------------
    def _history_bounds(self) -> tuple[float, float]:
        times, _ = self.history.window([])
        if not len(times):
            now = time.time()
            return now, now
        return float(times[0]), float(times[-1])

    def request(self) -> ExportRequest:
        """The export the dialog describes. Raises ``ValueError`` for an empty custom range."""
        _first, last = self._history_bounds()
        start: float | None = None
        end: float | None = None
        if self.range_visible.isChecked():
            start = last - self.window_seconds
        elif self.range_custom.isChecked():
            start = self.start_edit.dateTime().toMSecsSinceEpoch() / 1000.0
            # The editor shows whole seconds: include the whole end second.
            end = self.end_edit.dateTime().toMSecsSinceEpoch() / 1000.0 + 0.999
            if start > end:
                raise ValueError("the custom range starts after it ends")
        average = self.average_seconds.value() if self.average_button.isChecked() else None
        return ExportRequest(tuple(self.selected_series()), start=start, end=end, average_seconds=average)

    def _update_summary(self) -> None:
        try:
            request = self.request()
        except ValueError as exc:
            self.summary.setText(f"⚠ {exc}")
            self.export_button.setEnabled(False)
            return
        times, _ = self.history.window([], end=request.end)
        if request.start is not None:
            times = times[times >= request.start]
        rows = len(times)
        if request.average_seconds and rows:
            rows = int((times[-1] // request.average_seconds) - (times[0] // request.average_seconds)) + 1
        columns = len(request.series_ids)
        estimate = rows * (36 + 9 * columns)
        self.summary.setText(f"{rows:,} rows × {columns} series (about {format_bytes(estimate)})")
        self.export_button.setEnabled(columns > 0 and rows > 0)

    # --- file ------------------------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", self.path_edit.text(), CSV_FILTER)
        if path:
            self.path_edit.setText(path)
            self._confirmed_overwrite = path

    # --- running ---------------------------------------------------------------------------------
    def start_export(self, confirm_overwrite: bool = True) -> None:
        """Validate and start exporting; the dialog closes when the file is in place."""
        try:
            request = self.request()
        except ValueError as exc:
            self._error(str(exc))
            return
        path = Path(self.path_edit.text().strip()).expanduser()
        if not self.path_edit.text().strip():
            self._error("Choose a file to export to.")
            return
        if (confirm_overwrite and path.exists() and not path.is_dir()
                and self._confirmed_overwrite != str(path)):
            answer = QMessageBox.question(self, "Export CSV", f"{path} exists. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        export = CsvExport(self.history, path, request)
        self.runner = ExportRunner(export, self)
        self.progress_dialog = QProgressDialog(f"Exporting to {path.name}…", "Cancel", 0,
                                               max(1, export.total_rows), self)
        self.progress_dialog.setWindowTitle("Export CSV")
        self.progress_dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress_dialog.setMinimumDuration(400)  # small exports finish before it appears
        self.progress_dialog.setAutoClose(False)
        self.progress_dialog.setAutoReset(False)
        self.progress_dialog.canceled.connect(self.runner.cancel)
        self.runner.progress.connect(lambda done, _total: self.progress_dialog and
                                     self.progress_dialog.setValue(done))
        self.runner.finished.connect(self._finished)
        self.runner.failed.connect(self._failed)
        self.export_button.setEnabled(False)
        self.runner.start()

    def _close_progress(self) -> None:
        if self.progress_dialog is not None:
            self.progress_dialog.canceled.disconnect()
            self.progress_dialog.close()
            self.progress_dialog.deleteLater()
            self.progress_dialog = None

    @Slot(object)
    def _finished(self, result: ExportResult) -> None:
        self._close_progress()
        self.result = result
        self.exported.emit(result)
        self.accept()

    @Slot(str)
    def _failed(self, message: str) -> None:
        self._close_progress()
        self.export_button.setEnabled(True)
        if self.runner is not None and self.runner.cancelled:
            self.last_error = message
            return
        self._error(message)

    def _error(self, message: str) -> None:
        self.last_error = message
        box = QMessageBox(QMessageBox.Icon.Warning, "Export CSV", message,
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("exportError")
        box.open()  # not exec(): tests and the event loop keep running


def _qdatetime(timestamp: float) -> QDateTime:
    return QDateTime.fromMSecsSinceEpoch(int(timestamp * 1000))


def _clock(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def show_export_dialog(window: QWidget) -> ExportDialog:
    """Open the export dialog for a ``MainWindow`` (its history and visible time window)."""
    history = window.history  # type: ignore[attr-defined]
    context = getattr(window, "context", None)
    seconds = getattr(context, "window_seconds", 300.0)
    directory, average = None, 0.0
    desktop = getattr(window, "desktop", None)  # the settings integration, when installed
    if desktop is not None:
        directory = export_directory(desktop.settings)
        average = desktop.settings.export_average_seconds
    dialog = ExportDialog(history, seconds, window, directory=directory, average_seconds=average)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def done(result: ExportResult) -> None:
        text = (f"Exported {result.rows:,} rows × {result.columns} series to {result.path} "
                f"({format_bytes(result.bytes)})")
        status = getattr(window, "statusBar", None)
        if callable(status):
            status().showMessage(text, 15000)

    dialog.exported.connect(done)
    window._export_dialog = dialog  # type: ignore[attr-defined] - keeps it alive, lets tests find it
    dialog.open()
    return dialog
