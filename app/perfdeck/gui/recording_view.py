"""File > Open recording…: a PerfDeck CSV as a static timeline you can pan and zoom.

Each recording opens in its own ``RecordingWindow`` (several can be open at once, side by side
with the live window, and closing one frees its memory). The live tabs are built around "the
last N minutes up to now" and redraw as samples arrive; a recording has a fixed start and end
and is explored by zooming, so it gets its own view:

* one plot per metric family and unit (CPU %, CPU MHz, Memory B, Network B/s...), all with
  the same time axis (wall-clock time, linked: panning or zooming one moves all);
* a series picker on the left (families, then series, with checkboxes); plots whose series are
  all unchecked are hidden. Plots with many series (one per core) start with the aggregate
  series only;
* hovering shows the time (and time since the start) and each visible series' value under the
  cursor; a vertical cursor line follows the mouse in every plot;
* the mouse wheel scrolls the page of plots; Ctrl+wheel zooms time (never beyond the recording's
  span, never below a few samples), dragging pans, "Show all" returns to the whole recording; the
  time axis reads clock time; long recordings are drawn peak-preserving downsampled to the plot's
  width.

Loading (``model.recording_file``) validates the file; an invalid file is refused with the line
and the problem, and a torn last line (a killed recorder) is skipped and said in the window.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence, QWheelEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.plots import UnitAxis, palette_colors, series_color
from perfdeck.gui.views.base import View, ViewContext
from perfdeck.model import registry
from perfdeck.model.csvformat import CsvFormatError
from perfdeck.model.history import History
from perfdeck.model.names import human_name
from perfdeck.model.recording_file import Recording, RecordingCancelledError, load_recording
from perfdeck.model.series import Snapshot
from perfdeck.model.units import format_value

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
import pyqtgraph as pg

log = logging.getLogger(__name__)

CSV_FILTER = "PerfDeck CSV (*.csv);;All files (*)"
MANY_SERIES = 8  # a plot with more series than this starts with its aggregates only
LEGEND_MAX = 4
_PER_INSTANCE = re.compile(r"(?:^|\.)(?:core|cpu|socket|node)\d+$")
_OPEN_WINDOWS: list[RecordingWindow] = []  # top-level windows with no parent must be kept alive
_ERROR_BOXES: list[QMessageBox] = []


def family_title(name: str) -> str:
    for family in registry.FAMILIES:
        if family.name == name:
            return family.title
    return name


def plot_groups(recording: Recording) -> dict[tuple[str, str], list[str]]:
    """Series ids grouped by (family, unit), in column order: one plot each."""
    groups: dict[tuple[str, str], list[str]] = {}
    for column in recording.columns:
        family = column.series_id.split(".", 1)[0]
        groups.setdefault((family, column.unit), []).append(column.series_id)
    return groups


def default_visible(ids: Sequence[str]) -> list[str]:
    """Which series a plot shows first: all when few, else the aggregates (not per core/CPU)."""
    if len(ids) <= MANY_SERIES:
        return list(ids)
    aggregates = [sid for sid in ids if not _PER_INSTANCE.search(sid)]
    return (aggregates or list(ids))[:MANY_SERIES]


class RecordingPlot(pg.PlotWidget):
    """One (family, unit) plot of a recording: wall-clock x axis, unit y axis, a cursor line."""

    def __init__(self, title: str, unit: str, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, axisItems={"bottom": pg.DateAxisItem(orientation="bottom"),
                                                   "left": UnitAxis(unit)})
        self.unit = unit
        self.setTitle(title)
        self.setMinimumHeight(190)
        self.showGrid(x=True, y=True, alpha=0.15)
        item = self.getPlotItem()
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        item.setMouseEnabled(x=True, y=False)  # the wheel zooms time; y follows the visible data
        item.enableAutoRange(axis="y")
        item.setAutoVisible(y=True)
        self.legend: pg.LegendItem | None = None
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", width=1))
        self.cursor.setZValue(10)
        self.cursor.hide()
        self.addItem(self.cursor, ignoreBounds=True)
        self.curves: dict[str, pg.PlotDataItem] = {}
        background, foreground = palette_colors(self)
        self.setBackground(background)
        for axis in ("left", "bottom"):
            item.getAxis(axis).setTextPen(foreground)
            item.getAxis(axis).setPen(foreground)

    def bound_to(self, start: float, end: float, interval: float | None) -> None:
        """Zoom and pan stay within the recording: at most its span, at least a few samples."""
        span = max(end - start, 1.0)
        self.getPlotItem().getViewBox().setLimits(
            xMin=start - 0.01 * span, xMax=end + 0.01 * span, maxXRange=1.02 * span,
            minXRange=min(span, max(5.0 * (interval or 1.0), 1.0)))

    def wheelEvent(self, event: QWheelEvent) -> None:
        """The wheel scrolls the page (a plot never traps it); Ctrl+wheel zooms time."""
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(event)
        else:
            event.ignore()  # goes on to the scroll area around the plots


class RangeHistory:
    """A recording's History seen up to ``end``: a view reading "the last N seconds" reads the N
    seconds before ``end``, so the live tabs draw any stretch of a recording unchanged."""

    def __init__(self, history: History) -> None:
        self._history = history
        self.end = history.latest_time()

    def window(self, series_ids: Iterable[str], seconds: float | None = None,
               end: float | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self._history.window(series_ids, seconds, end=self.end if end is None else end)

    def latest_time(self) -> float | None:
        return self.end

    def __getattr__(self, name: str) -> object:
        return getattr(self._history, name)


class TimeNavigator(pg.PlotWidget):
    """The whole recording in one strip (CPU busy, or the first series) with the shown range as a
    draggable region; emits ``range_changed(start, end)``."""

    range_changed = Signal(float, float)

    def __init__(self, recording: Recording, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self.setFixedHeight(90)
        item = self.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.hideAxis("left")
        item.setMouseEnabled(x=False, y=False)
        background, foreground = palette_colors(self)
        self.setBackground(background)
        item.getAxis("bottom").setTextPen(foreground)
        item.getAxis("bottom").setPen(foreground)
        self.times = recording.times
        self.start = float(self.times[0]) if len(self.times) else 0.0
        self.end = float(self.times[-1]) if len(self.times) else 1.0
        if self.end <= self.start:
            self.end = self.start + 1.0
        guide = next(iter(recording.values), None)
        if "cpu.util.total" in recording.values:
            guide = "cpu.util.total"
        if guide is not None and len(self.times):
            self.plot(self.times, recording.values[guide], pen=pg.mkPen(series_color(guide), width=1),
                      connect="finite")
            self.setToolTip(f"{human_name(guide)} over the whole recording: drag the shaded range, or its "
                            "edges, to choose what the tabs show")
        self.region = pg.LinearRegionItem(values=(self.start, self.end), bounds=(self.start, self.end))
        self.region.sigRegionChangeFinished.connect(self._emit)
        self.addItem(self.region)
        item.setXRange(self.start, self.end, padding=0.01)

    def current(self) -> tuple[float, float]:
        start, end = self.region.getRegion()
        return float(start), float(end)

    def set_range(self, start: float, end: float) -> None:
        self.region.setRegion((max(self.start, start), min(self.end, end)))

    def show_all(self) -> None:
        self.set_range(self.start, self.end)

    def _emit(self) -> None:
        self.range_changed.emit(*self.current())


# Live tabs that a recording can feed (a recording has no process table or hardware-counter facts).
RECORDING_TABS = (("Overview", ("cpu", "mem", "disk", "net")), ("CPU", ("cpu",)), ("Memory", ("mem",)),
                  ("Disks", ("disk",)), ("Network", ("net",)), ("Sensors", ("sensors",)))
# Above this many values the History copy for the tabs is built only when a tab is first shown.
EAGER_CELLS = 2_000_000


class RecordingTabs:
    """Builds the live window's views over a recording, one tab each, inserted before the other
    pages of ``pages``; they redraw when shown and when the navigator's range changes."""

    def __init__(self, recording: Recording, pages: QTabWidget, navigator: TimeNavigator) -> None:
        from perfdeck.gui import plots
        from perfdeck.gui.tabs import TABS

        self.recording = recording
        self.pages = pages
        self.navigator = navigator
        self.history: RangeHistory | None = None
        self.views: dict[str, View] = {}
        families = {sid.split(".", 1)[0] for sid in recording.values}
        entries = {entry.title: entry for entry in TABS}
        self._entries = [entries[title] for title, needs in RECORDING_TABS
                         if title in entries and families & set(needs)]
        for index, entry in enumerate(self._entries):
            holder = QWidget()
            QVBoxLayout(holder).setContentsMargins(0, 0, 0, 0)
            pages.insertTab(index, holder, entry.title)
        self._plots = plots
        large = len(recording) * max(1, len(recording.values)) > EAGER_CELLS
        if self._entries and not large and len(recording):
            pages.setCurrentIndex(0)

    def _ensure_history(self) -> RangeHistory:
        if self.history is None:
            self.history = RangeHistory(self.recording.to_history())
        return self.history

    def view(self, index: int) -> View | None:
        """The view of tab ``index`` (built on first use), or None for the other pages."""
        if not 0 <= index < len(self._entries) or not len(self.recording):
            return None
        entry = self._entries[index]
        view = self.views.get(entry.title)
        if view is None:
            context = ViewContext(history=self._ensure_history())  # type: ignore[arg-type]
            self._plots.clock_axis_default = True  # their time axes read clock time
            try:
                view = entry.load()(context)
            finally:
                self._plots.clock_axis_default = False
            self.pages.widget(index).layout().addWidget(view)
            self.views[entry.title] = view
        return view

    def refresh_current(self) -> None:
        view = self.view(self.pages.currentIndex())
        if view is None:
            return
        history = self._ensure_history()
        start, end = self.navigator.current()
        history.end = end
        view.context.window_seconds = max(end - start, 1.0)
        view.context.latest = self._snapshot_at(history, end)
        try:
            view.refresh(view.context.latest)
        except Exception:  # one view's bug must not break the recording window
            log.exception("drawing a recording's %s tab failed", type(view).__name__)

    def _snapshot_at(self, history: RangeHistory, end: float) -> Snapshot:
        """The values at ``end`` as a snapshot (the latest value of each series within 30 s)."""
        ids = list(history.specs)
        _times, values = history.window(ids, 30.0, end=end)
        latest: dict[str, float | None] = {}
        for sid, column in values.items():
            finite = column[np.isfinite(column)]
            latest[sid] = float(finite[-1]) if len(finite) else None
        return Snapshot(timestamp=end, monotonic=end, values=latest, specs=dict(history.specs))


class RecordingWindow(QMainWindow):
    """A loaded recording: series picker, linked plots, hover readout. See the module docstring."""

    def __init__(self, recording: Recording, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.recording = recording
        self.setWindowTitle(f"{recording.path.name} — PerfDeck recording")
        self.resize(1200, 800)
        self.plots: dict[tuple[str, str], RecordingPlot] = {}
        self.groups = plot_groups(recording)
        self._series_group = {sid: key for key, ids in self.groups.items() for sid in ids}
        self._units = {c.series_id: c.unit for c in recording.columns}
        self._colors: dict[str, str] = {}

        toolbar = self.addToolBar("Recording")
        toolbar.setObjectName("recordingToolbar")
        show_all = QAction("Show all", self)
        show_all.setShortcut(QKeySequence("Ctrl+0"))
        show_all.setToolTip("Zoom out to the whole recording")
        show_all.triggered.connect(self.show_all)
        toolbar.addAction(show_all)
        close = QAction("Close", self)
        close.setShortcut(QKeySequence.StandardKey.Close)
        close.triggered.connect(self.close)
        toolbar.addAction(close)

        splitter = QSplitter(self)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Series", "Unit"])
        splitter.addWidget(self.tree)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 4, 4, 4)
        self.info = QLabel(self._info_text())
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setWordWrap(True)
        right_layout.addWidget(self.info)
        self.warning = QLabel("\n".join(f"⚠ {w}" for w in recording.warnings))
        self.warning.setObjectName("recordingWarning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("#recordingWarning { background: #fff3cd; color: #664d03; "
                                   "border: 1px solid #ffecb5; border-radius: 4px; padding: 6px; }")
        self.warning.setVisible(bool(recording.warnings))
        right_layout.addWidget(self.warning)
        self.readout = QLabel("Hover over a plot to read values.")
        self.readout.setObjectName("recordingReadout")
        self.readout.setTextFormat(Qt.TextFormat.PlainText)
        self.readout.setWordWrap(True)
        right_layout.addWidget(self.readout)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        holder = QWidget()
        self.plot_layout = QVBoxLayout(holder)
        self.plot_layout.setContentsMargins(0, 0, 0, 0)
        scroll.setWidget(holder)
        right_layout.addWidget(scroll, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 900])
        # The live window's tabs, fed from the recording, with a time-range navigator above them;
        # "All series" keeps the picker and one plot per family and unit.
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        self.navigator = TimeNavigator(recording, central)
        central_layout.addWidget(self.navigator)
        self.pages = QTabWidget(central)
        self.pages.setDocumentMode(True)
        central_layout.addWidget(self.pages, 1)
        self.tab_views = RecordingTabs(recording, self.pages, self.navigator)
        self.pages.addTab(splitter, "All series")
        self.pages.currentChanged.connect(lambda _i: self.tab_views.refresh_current())
        self.navigator.range_changed.connect(self._on_range)
        self.setCentralWidget(central)

        self._build_plots()
        self._fill_tree()
        self.tree.itemChanged.connect(self._on_item_changed)
        self.show_all()
        if not len(recording):
            self.readout.setText("This recording holds no rows.")
        # The first page draws once the window is laid out (no signal says so: it was already current).
        QTimer.singleShot(0, self, self.tab_views.refresh_current)  # not after the window is gone

    # --- building --------------------------------------------------------------------------------
    def _info_text(self) -> str:
        rec = self.recording
        files = ", ".join(str(p) for p in rec.paths)
        if not len(rec):
            return f"{files}: no rows."
        start = datetime.fromtimestamp(float(rec.times[0])).strftime("%Y-%m-%d %H:%M:%S")
        end = datetime.fromtimestamp(float(rec.times[-1])).strftime("%Y-%m-%d %H:%M:%S")
        interval = f", every {rec.interval:g} s" if rec.interval else ""
        return (f"{files}\n{start} → {end} ({_span(rec.duration)}), {len(rec):,} rows{interval}, "
                f"{len(rec.columns)} series")

    def _build_plots(self) -> None:
        times = self.recording.times
        self.not_recorded: list[str] = []
        first_plot: RecordingPlot | None = None
        for (family, unit), ids in self.groups.items():
            title = f"{family_title(family)}" + (f" [{unit}]" if unit else "")
            plot = RecordingPlot(title, unit)
            plot.scene().sigMouseMoved.connect(lambda pos, p=plot: self._on_mouse_moved(p, pos))
            if first_plot is None:
                first_plot = plot
            else:
                plot.setXLink(first_plot)
            self.plots[(family, unit)] = plot
            self.plot_layout.addWidget(plot)
            visible = default_visible(ids)
            if len(visible) <= LEGEND_MAX:
                # A legend over many curves hides them; the picker's coloured names are the key then.
                plot.legend = plot.getPlotItem().addLegend(offset=(-10, 10), labelTextSize="8pt")
            for sid in ids:
                # The same colour as in the live window's plots (stable per series).
                self._colors[sid] = series_color(sid, [self._colors[s] for s in ids if s in self._colors])
                if sid in visible:
                    self._add_curve(plot, sid, times)
            if not any(np.isfinite(self.recording.values[sid]).any() for sid in ids):
                # Not an empty "0.5 MHz" plot: named once in the line above the plots.
                self.not_recorded.append(title)
                plot.setVisible(False)
                continue
            plot.setVisible(bool(plot.curves))
        self.plot_layout.addStretch(1)
        if self.not_recorded:
            self.info.setText(self.info.text() + "\nNo values recorded (unavailable while recording): "
                              + ", ".join(self.not_recorded))

    def _add_curve(self, plot: RecordingPlot, sid: str, times: np.ndarray) -> None:
        values = self.recording.values[sid]
        curve = plot.plot(times, values, pen=pg.mkPen(self._colors[sid], width=1), name=human_name(sid),
                          connect="finite")  # NaN (no value) is a gap, never 0
        plot.curves[sid] = curve

    def _fill_tree(self) -> None:
        self.tree.blockSignals(True)
        families: dict[str, QTreeWidgetItem] = {}
        for column in self.recording.columns:
            sid = column.series_id
            family = sid.split(".", 1)[0]
            parent = families.get(family)
            if parent is None:
                parent = QTreeWidgetItem([family_title(family), ""])
                parent.setFlags(parent.flags() | Qt.ItemFlag.ItemIsAutoTristate
                                | Qt.ItemFlag.ItemIsUserCheckable)
                self.tree.addTopLevelItem(parent)
                families[family] = parent
            item = QTreeWidgetItem([human_name(sid), column.unit])  # by name; the id (CSV column) on hover
            item.setData(0, Qt.ItemDataRole.UserRole, sid)
            item.setToolTip(0, sid)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            shown = sid in self.plots[self._series_group[sid]].curves
            item.setCheckState(0, Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked)
            item.setForeground(0, pg.mkColor(self._colors[sid]))
            parent.addChild(item)
        self.tree.expandAll()
        self.tree.resizeColumnToContents(0)
        self.tree.blockSignals(False)

    # --- interaction -----------------------------------------------------------------------------
    def visible_series(self) -> list[str]:
        return [sid for plot in self.plots.values() for sid in plot.curves]

    def set_series_visible(self, sid: str, visible: bool) -> None:
        plot = self.plots[self._series_group[sid]]
        if visible and sid not in plot.curves:
            self._add_curve(plot, sid, self.recording.times)
        elif not visible and sid in plot.curves:
            curve = plot.curves.pop(sid)
            plot.removeItem(curve)
        plot.setVisible(bool(plot.curves))

    @Slot(QTreeWidgetItem, int)
    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        sid = item.data(0, Qt.ItemDataRole.UserRole)
        if column != 0 or not sid:
            return  # a family item: Qt updates its children, which arrive here one by one
        self.set_series_visible(sid, item.checkState(0) == Qt.CheckState.Checked)

    def _on_range(self, start: float, end: float) -> None:
        """The navigator moved: the tab views show the range, and so do the series plots."""
        self.tab_views.refresh_current()
        for plot in self.plots.values():
            plot.setXRange(start, end, padding=0.0)
            break  # the others are linked

    def show_all(self) -> None:
        times = self.recording.times
        if not len(times):
            return
        self.navigator.show_all()
        start, end = float(times[0]), float(times[-1])
        if end <= start:
            end = start + 1.0
        for plot in self.plots.values():
            plot.bound_to(start, end, self.recording.interval)
        for plot in self.plots.values():
            plot.setXRange(start, end, padding=0.01)
            break  # the others are linked

    def x_range(self) -> tuple[float, float]:
        plot = next(iter(self.plots.values()))
        (left, right), _ = plot.viewRange()
        return left, right

    def _on_mouse_moved(self, plot: RecordingPlot, scene_pos: QPointF) -> None:
        if not plot.sceneBoundingRect().contains(scene_pos) or not len(self.recording):
            return
        x = plot.getPlotItem().vb.mapSceneToView(scene_pos).x()
        self.readout.setText(self.readout_text(x, plot))
        for other in self.plots.values():
            other.cursor.setPos(x)
            other.cursor.show()

    def readout_text(self, x: float, plot: RecordingPlot | None = None) -> str:
        """Time and values of the sample nearest to ``x`` (epoch seconds) for ``plot``'s series."""
        times = self.recording.times
        index = int(np.clip(np.searchsorted(times, x), 0, len(times) - 1))
        if index > 0 and abs(times[index - 1] - x) < abs(times[index] - x):
            index -= 1
        moment = datetime.fromtimestamp(float(times[index]))
        offset = float(times[index] - times[0])
        stamp = f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"
        parts = [f"{stamp} (+{_span(offset, exact=True)})"]
        ids = list(plot.curves) if plot is not None else self.visible_series()
        for sid in ids:
            value = float(self.recording.values[sid][index])
            shown = format_value(None if math.isnan(value) else value, self._units[sid])
            parts.append(f"{human_name(sid)} {shown}")
        return "  ·  ".join(parts)


def _span(seconds: float, exact: bool = False) -> str:
    if exact:
        millis = round(seconds * 1000)
        whole, frac = divmod(millis, 1000)
        return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}.{frac:03d}"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def load_with_progress(path: str | Path, parent: QWidget | None = None) -> Recording:
    """Load a recording, with a cancellable progress dialog for big files. Raises what
    ``load_recording`` raises."""
    path = Path(path)
    dialog = QProgressDialog(f"Opening {path.name}…", "Cancel", 0, 1000, parent)
    dialog.setWindowTitle("Open recording")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(500)
    dialog.setAutoClose(False)

    def progress(done: int, total: int) -> None:
        dialog.setValue(int(1000 * done / max(1, total)))
        QApplication.processEvents()  # keep the window alive while parsing in blocks

    try:
        return load_recording(path, progress=progress, cancelled=dialog.wasCanceled)
    finally:
        dialog.close()
        dialog.deleteLater()


def open_error_message(path: str | Path, exc: Exception) -> str:
    """Why ``path`` cannot be opened, without repeating the path: the loader's own words for a bad
    file (``CsvFormatError.message``), the errno's words for a file that cannot be read. A part
    file (``run.part2.csv``) at fault is named, since the user opened the base file."""
    if isinstance(exc, CsvFormatError):
        culprit, reason = exc.path, exc.message
        if exc.line:
            reason = f"line {exc.line}: {reason}"
    elif isinstance(exc, OSError):
        culprit, reason = exc.filename, exc.strerror or str(exc)
    else:  # UnicodeError: a name that cannot be encoded
        culprit, reason = None, str(exc)
    if culprit and Path(os.fsdecode(culprit)) != Path(path):
        reason = f"{culprit}: {reason}"
    return reason.rstrip(".")


def show_open_error(parent: QWidget | None, path: str | Path, message: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Warning, "Open recording", f"Cannot open {path}: {message}.",
                      QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("openRecordingError")
    # Without a parent nothing else holds the box, so Python would delete it at once.
    _ERROR_BOXES.append(box)
    box.finished.connect(lambda _result: _ERROR_BOXES.remove(box) if box in _ERROR_BOXES else None)
    box.open()
    return box


def open_recording(path: str | Path, parent: QWidget | None = None) -> RecordingWindow | None:
    """Load ``path`` and show it in a new ``RecordingWindow``; on failure show why and return None."""
    try:
        recording = load_with_progress(path, parent)
    except RecordingCancelledError:
        return None
    except (CsvFormatError, OSError, UnicodeError) as exc:
        show_open_error(parent, path, open_error_message(path, exc))
        return None
    window = RecordingWindow(recording)
    _OPEN_WINDOWS.append(window)
    window.destroyed.connect(lambda *_: _OPEN_WINDOWS.remove(window) if window in _OPEN_WINDOWS else None)
    window.show()
    return window


def open_recording_dialog(parent: QWidget | None = None) -> list[RecordingWindow]:
    """File > Open recording…: pick one or more CSV files; each opens in its own window."""
    paths, _ = QFileDialog.getOpenFileNames(parent, "Open recording", str(Path.cwd()), CSV_FILTER)
    windows = []
    for path in paths:
        window = open_recording(path, parent)
        if window is not None:
            windows.append(window)
    return windows
