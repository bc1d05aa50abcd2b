"""The system tray icon: a live mini chart of one metric, a tooltip summary and a context menu.

The icon is drawn with QPainter on small pixmaps (16, 22, 24, 32, 48 px, so the tray host picks a
crisp one), at most once a second: one column per redraw, each the mean of the samples since the
previous redraw, newest on the right, in a dark rounded tile with a light outline so it reads on
light and dark panels alike. Percentages are drawn on 0–100 and coloured green / amber / red by
level; other units (IPC, GB/s) scale to their recent maximum and are drawn in blue. A missing
sample leaves a gap; a metric with no data at all shows a grey dash, never an empty bar that
would read as 0.

``TrayController`` owns the ``QSystemTrayIcon``. It is only created when
``QSystemTrayIcon.isSystemTrayAvailable()``: with no tray (offscreen, GNOME without the
AppIndicator extension) PerfDeck is a plain window app and closing the window quits.
``perfdeck.gui.desktop.install_desktop`` wires it to the window.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from perfdeck.model.names import human_name
from perfdeck.model.series import SeriesSpec, Snapshot, Unavailable
from perfdeck.model.units import format_value

ICON_SIZES = (16, 22, 24, 32, 48)
MIN_REDRAW_SECONDS = 1.0
HISTORY_COLUMNS = 48  # enough for the widest icon (48 px, 1 px columns)

TILE = QColor("#15191e")
OUTLINE = QColor(240, 240, 240, 235)
GREEN = QColor("#3ddc84")
AMBER = QColor("#ffb020")
RED = QColor("#ff4d4d")
BLUE = QColor("#5ab0ff")
GREY = QColor("#9aa0a6")


@dataclass(frozen=True, slots=True)
class IconStyle:
    """What the icon shows besides the values."""

    low: float = 0.0
    high: float = 100.0
    percent: bool = True  # colour by level (green/amber/red) instead of plain blue
    paused: bool = False
    alert: bool = False  # an alert is firing: red outline


def scale_for(spec: SeriesSpec | None, values: Sequence[float | None]) -> IconStyle:
    """The drawing range for a series: its spec's fixed range, 0–100 for %, else 0 to the recent max."""
    if spec is not None and spec.value_range is not None:
        low, high = spec.value_range
        return IconStyle(low, high, percent=spec.unit == "%")
    if spec is None or spec.unit == "%":
        return IconStyle(0.0, 100.0, percent=True)
    finite = [v for v in values if v is not None and math.isfinite(v)]
    peak = max(finite, default=0.0)
    high = _nice_ceiling(peak * 1.1) if peak > 0 else 1.0
    return IconStyle(0.0, high, percent=False)


def _nice_ceiling(value: float) -> float:
    """1, 2, 2.5, 5 x 10^n at or above ``value``, so the scale does not jitter every redraw."""
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10**exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)


def level_colour(fraction: float, style: IconStyle) -> QColor:
    if not style.percent:
        return BLUE
    if fraction >= 0.85:
        return RED
    if fraction >= 0.6:
        return AMBER
    return GREEN


def draw_tray_pixmap(size: int, values: Sequence[float | None], style: IconStyle) -> QPixmap:
    """Draw the icon at ``size`` x ``size`` px: a bar per value, newest on the right."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        radius = max(2.0, size * 0.18)
        tile = QRectF(0.5, 0.5, size - 1.0, size - 1.0)
        painter.setPen(QPen(RED if style.alert else OUTLINE, 1.0 if size < 32 else 1.5))
        painter.setBrush(TILE)
        painter.drawRoundedRect(tile, radius, radius)

        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # crisp 1 px columns
        margin = max(2, size // 8)
        inner_w = inner_h = size - 2 * margin
        column = 1 if size < 28 else 2
        count = inner_w // column
        shown = list(values)[-count:]
        bottom = margin + inner_h
        span = style.high - style.low
        drawn = 0
        # Right-align: the newest value touches the right edge, older ones scroll left.
        x = margin + inner_w - column * len(shown)
        for value in shown:
            if value is not None and math.isfinite(value) and span > 0:
                fraction = min(1.0, max(0.0, (value - style.low) / span))
                height = round(fraction * inner_h)
                if height == 0 and value > style.low:
                    height = 1  # a sliver: "small", not "nothing"
                colour = GREY if style.paused else level_colour(fraction, style)
                painter.fillRect(x, bottom - height, column, height, colour)
                drawn += 1
            x += column
        if drawn == 0:
            # No data: a grey dash across the middle, distinct from a value of 0.
            dash = max(1, size // 12)
            painter.fillRect(margin + 1, size // 2 - dash // 2, inner_w - 2, dash, GREY)
        if style.paused:
            _draw_pause(painter, size)
    finally:
        painter.end()
    return pixmap


def _draw_pause(painter: QPainter, size: int) -> None:
    """Two white bars with a dark outline, centred: sampling is paused."""
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    bar_w, bar_h = max(2.0, size * 0.16), size * 0.5
    gap = max(2.0, size * 0.12)
    left = (size - 2 * bar_w - gap) / 2
    top = (size - bar_h) / 2
    path = QPainterPath()
    path.addRect(QRectF(left, top, bar_w, bar_h))
    path.addRect(QRectF(left + bar_w + gap, top, bar_w, bar_h))
    painter.setPen(QPen(TILE, 1.0))
    painter.setBrush(QColor("#ffffff"))
    painter.drawPath(path)


def draw_tray_icon(values: Sequence[float | None], style: IconStyle) -> QIcon:
    """A QIcon holding the drawing at every tray size."""
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addPixmap(draw_tray_pixmap(size, values, style))
    return icon


# --- tooltip ---------------------------------------------------------------------------------------
def _unavailable(snapshot: Snapshot, key: str) -> Unavailable | None:
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        reason = snapshot.unavailable.get(".".join(parts[:n]))
        if reason is not None:
            return reason
    return None


def tooltip_text(snapshot: Snapshot | None, tray_metric: str = "cpu.util.total", paused: bool = False,
                 recording: bool = False, active_alerts: Sequence[str] = ()) -> str:
    """The tooltip: CPU, memory and IPC or DRAM bandwidth where they exist. A metric that cannot be
    read says "n/a"; one with no value yet this tick is left out (never shown as 0)."""
    lines = ["PerfDeck"]
    if snapshot is None:
        lines.append("starting…")
    else:
        parts: list[str] = []

        def add(series_id: str, label: str, unit: str, always: bool) -> None:
            value = snapshot.value(series_id)
            if value is not None:
                parts.append(f"{label} {format_value(value, unit)}")
            elif always and _unavailable(snapshot, series_id) is not None:
                parts.append(f"{label} n/a")

        add("cpu.util.total", "CPU", "%", True)
        add("mem.used_pct", "Memory", "%", True)
        add("perf.ipc.total", "IPC", "IPC", True)
        add("membw.total", "DRAM", "GB/s", False)
        if parts:
            lines.append(" · ".join(parts))
        shown = {"cpu.util.total", "mem.used_pct", "perf.ipc.total", "membw.total"}
        if tray_metric not in shown:
            spec = snapshot.specs.get(tray_metric)
            value = snapshot.value(tray_metric)
            label = human_name(tray_metric, spec.label if spec else "")
            if value is not None:
                lines.append(f"Icon: {label} {format_value(value, spec.unit if spec else '')}")
            else:
                reason = _unavailable(snapshot, tray_metric)
                lines.append(f"Icon: {label} n/a" + (f" ({reason.reason})" if reason else ""))
    if paused:
        lines.append("Sampling paused")
    if recording:
        lines.append("Recording")
    if active_alerts:
        lines.append(f"Alerts: {', '.join(active_alerts)}")
    return "\n".join(lines)


# --- live state ------------------------------------------------------------------------------------
class MetricTrack:
    """One value per icon redraw: the mean of the samples that arrived since the previous one."""

    def __init__(self, columns: int = HISTORY_COLUMNS) -> None:
        self.columns: deque[float | None] = deque(maxlen=columns)
        self._sum = 0.0
        self._count = 0
        self._seen = False  # any sample (even a missing one) since the last flush

    def add(self, value: float | None) -> None:
        self._seen = True
        if value is not None and math.isfinite(value):
            self._sum += value
            self._count += 1

    def flush(self) -> bool:
        """Close the current column. Returns False when no sample arrived since the last flush."""
        if not self._seen:
            return False
        self.columns.append(self._sum / self._count if self._count else None)
        self._sum, self._count, self._seen = 0.0, 0, False
        return True

    def clear(self) -> None:
        self.columns.clear()
        self._sum, self._count, self._seen = 0.0, 0, False


@dataclass
class TrayActions:
    """Callbacks for the menu.

    Recording and export may come from another component installed later, so they are looked up
    each time the menu opens: ``recording_unavailable()`` / ``export_unavailable()`` return why the
    entry is disabled ("" when it works); a callback left None disables its entry for good.
    """

    toggle_window: Callable[[], None]
    window_visible: Callable[[], bool]
    set_paused: Callable[[bool], None]
    is_paused: Callable[[], bool]
    open_settings: Callable[[], None]
    quit: Callable[[], None]
    toggle_recording: Callable[[], None] | None = None
    is_recording: Callable[[], bool] | None = None
    export_csv: Callable[[], None] | None = None
    recording_unavailable: Callable[[], str] = lambda: ""
    export_unavailable: Callable[[], str] = lambda: ""


class TrayController(QObject):
    """The tray icon, its menu and its live drawing.

    Call ``observe(snapshot)`` for every snapshot; the icon and tooltip are redrawn at most once
    per ``MIN_REDRAW_SECONDS`` and only when something changed.
    """

    redrawn = Signal()

    def __init__(self, actions: TrayActions, metric: str = "cpu.util.total",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.actions = actions
        self.metric = metric
        self.track = MetricTrack()
        self.latest: Snapshot | None = None
        self.active_alerts: list[str] = []
        self.redraws = 0
        self._last_draw = -math.inf
        self._last_key: tuple | None = None
        self._spec: SeriesSpec | None = None

        self.icon = QSystemTrayIcon(self)
        self.icon.setToolTip(tooltip_text(None))
        self.menu = QMenu()
        self._build_menu()
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        self._draw(force=True)

    # --- menu ---------------------------------------------------------------------------------
    def _build_menu(self) -> None:
        m = self.menu
        self.show_action = QAction("Show window", m)
        self.show_action.triggered.connect(self.actions.toggle_window)
        self.pause_action = QAction("Pause sampling", m)
        self.pause_action.triggered.connect(lambda: self.actions.set_paused(not self.actions.is_paused()))
        self.record_action = QAction("Start recording", m)
        self.export_action = QAction("Export CSV…", m)
        if self.actions.toggle_recording is not None:
            self.record_action.triggered.connect(self.actions.toggle_recording)
        if self.actions.export_csv is not None:
            self.export_action.triggered.connect(self.actions.export_csv)
        self.settings_action = QAction("Settings…", m)
        self.settings_action.triggered.connect(self.actions.open_settings)
        self.quit_action = QAction("Quit PerfDeck", m)
        self.quit_action.triggered.connect(self.actions.quit)
        m.setToolTipsVisible(True)
        for action in (self.show_action, self.pause_action):
            m.addAction(action)
        m.addSeparator()
        m.addAction(self.record_action)
        m.addAction(self.export_action)
        m.addSeparator()
        m.addAction(self.settings_action)
        m.addAction(self.quit_action)
        m.aboutToShow.connect(self.update_menu)
        self.update_menu()

    def update_menu(self) -> None:
        """Make the toggling entries say what they will do now."""
        self.show_action.setText("Hide window" if self.actions.window_visible() else "Show window")
        self.pause_action.setText("Resume sampling" if self.actions.is_paused() else "Pause sampling")
        a = self.actions
        for action, callback, reason_fn, missing in (
                (self.record_action, a.toggle_recording, a.recording_unavailable,
                 "recording is not available in this build"),
                (self.export_action, a.export_csv, a.export_unavailable,
                 "CSV export is not available in this build")):
            reason = missing if callback is None else reason_fn()
            action.setEnabled(not reason)
            action.setToolTip(reason)
        recording = bool(a.is_recording and self.record_action.isEnabled() and a.is_recording())
        self.record_action.setText("Stop recording" if recording else "Start recording")

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:  # left click
            self.actions.toggle_window()

    # --- data -----------------------------------------------------------------------------------
    def set_metric(self, series_id: str) -> None:
        if series_id != self.metric:
            self.metric = series_id
            self.track.clear()
            self._spec = None
            self._draw(force=True)

    def set_active_alerts(self, names: Sequence[str]) -> None:
        self.active_alerts = list(names)

    def observe(self, snapshot: Snapshot) -> None:
        self.latest = snapshot
        self.track.add(snapshot.value(self.metric))
        spec = snapshot.specs.get(self.metric)
        if spec is not None:
            self._spec = spec
        self._draw()

    def refresh_now(self) -> None:
        """Redraw at once (pause state or alerts changed), still honouring the rate cap."""
        self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < MIN_REDRAW_SECONDS:
            return
        self.track.flush()
        paused = self.actions.is_paused()
        base = scale_for(self._spec, self.track.columns)
        style = IconStyle(base.low, base.high, base.percent, paused=paused, alert=bool(self.active_alerts))
        recording = bool(self.actions.is_recording and self.record_action.isEnabled()
                         and self.actions.is_recording())
        tip = tooltip_text(self.latest, self.metric, paused, recording, self.active_alerts)
        key = (tuple(self.track.columns), style, tip)
        self._last_draw = now
        if key == self._last_key:
            return  # nothing changed: skip the repaint and the X11 round trip
        self._last_key = key
        self.icon.setIcon(draw_tray_icon(self.track.columns, style))
        self.icon.setToolTip(tip)
        self.redraws += 1
        self.redrawn.emit()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def show_message(self, title: str, text: str, ms: int = 8000) -> None:
        self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, ms)


def render_preview(values: Sequence[float | None], style: IconStyle, background: QColor,
                   sizes: Sequence[int] = (16, 22, 32), zoom: int = 1) -> QPixmap:
    """The icon at several sizes side by side on ``background`` (for docs and legibility checks).
    ``zoom`` > 1 magnifies with nearest-neighbour so single pixels stay visible."""
    pad = 8
    width = sum(s * zoom for s in sizes) + pad * (len(sizes) + 1)
    height = max(sizes) * zoom + 2 * pad
    canvas = QPixmap(width, height)
    canvas.fill(background)
    painter = QPainter(canvas)
    try:
        x = pad
        for size in sizes:
            pm = draw_tray_pixmap(size, values, style)
            if zoom > 1:
                pm = pm.scaled(size * zoom, size * zoom, Qt.AspectRatioMode.IgnoreAspectRatio,
                               Qt.TransformationMode.FastTransformation)
            painter.drawPixmap(QPointF(x, (height - size * zoom) / 2), pm)
            x += size * zoom + pad
    finally:
        painter.end()
    return canvas

