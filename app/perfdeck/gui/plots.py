"""Cheap live plots: curves created once, fixed or slowly adapting axes, gaps for missing data.

Drawing is almost all of a monitor's cost, so ``TimePlot``:
- creates each curve once and updates it with ``setData`` on the visible window slice only;
- never auto-ranges: the y range is fixed (0–100 for percentages) or adapts in coarse "nice"
  steps, growing at once when data exceeds it and shrinking only after a sustained drop;
- uses ``connect="finite"`` + ``skipFiniteCheck`` so NaN (no value) is drawn as a gap, never 0;
- reduces long windows to about ``MAX_POINTS`` points per curve (peak-preserving buckets);
- puts "now" at x = 0 and shows time as seconds/minutes ago, with the clock time in the readout.

``HeatmapPlot`` draws many series (one per CPU) as an image (series x time) with fixed levels.
"""

from __future__ import annotations

import html
import math
import os
import time
import zlib
from collections.abc import Iterable, Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPalette, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QGraphicsView, QLabel, QWidget

from perfdeck.model.history import History
from perfdeck.model.units import format_si, format_value

# PySide6 is imported above and named here, so pyqtgraph binds to it even when other Qt
# bindings are installed (it would otherwise prefer PyQt6).
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
import pyqtgraph as pg

MAX_POINTS = 1200  # per curve; more than a plot's width in pixels buys nothing
TIME_WINDOWS: tuple[tuple[str, float], ...] = (
    ("1 min", 60.0), ("5 min", 300.0), ("15 min", 900.0), ("1 h", 3600.0))

# Ten hues, neighbours far apart, each with a contrast of at least 3:1 against both white and the
# dark theme's #1e1e1e (WCAG's bar for graphics): no pale yellow, pink or grey that vanishes on one.
SERIES_COLORS = ("#3b7dd8", "#e0701a", "#2e9e4f", "#d94848", "#8c5fd0",
                 "#0f9a9a", "#c8489a", "#a0703c", "#a88f00", "#6b7f99")

pg.setConfigOptions(antialias=False, useOpenGL=False, foreground="k", background="w")


def make_cheap(view: pg.GraphicsView) -> None:
    """Qt settings that cut the cost of repainting a plot whose items change every frame.

    - no margin around update rectangles (we draw without antialiasing), so a curve update does
      not spill onto and repaint the axes;
    - no scene index: a BSP tree is re-built whenever an item's bounds change (every frame here);
    - painter state not saved around each item (every item sets its own pen).
    """
    view.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
    view.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
    view.scene().setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
    # pyqtgraph caches the background in a pixmap (CacheBackground); blitting that pixmap under
    # every repainted rectangle goes through QRasterPaintEngine::drawImage, which hands large
    # images to Qt's thread pool (a wake-up of a helper thread per paint, measured with py-spy).
    # A plain fill of the background colour is cheaper than the copy, on one thread.
    view.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
    plot_item = getattr(view, "plotItem", None)
    if plot_item is not None:
        cache_axes(plot_item)


def cache_axes(plot_item: pg.PlotItem) -> None:
    """Keep each axis as a pixmap: a curve update repaints the whole data area, whose rectangle
    overlaps the axes (inward tick marks, end labels), and replaying an axis' QPicture (text
    shaping, glyphs) for that costs more than copying its pixels. The pixmap is re-rendered when
    the axis itself changes (range, size, pen)."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot_item.getAxis(name)
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


class StripCurve(pg.PlotCurveItem):
    """A ``PlotCurveItem`` for live strip charts, configured to cost nothing between paints.

    pyqtgraph computes a curve's bounding rectangle from its data (NaN-aware min and max of both
    arrays, then a pixel padding through the device transform), in Python, and invalidates it on
    every ``setData``; Qt then asks for it several times per frame. A live plot whose x range is
    fixed ("the last 5 min") and whose y range is set by the plot never needs data bounds: this
    curve's bounds are its view box's visible rectangle, recomputed only when the view's range or
    size changes. The view box clips its children, so nothing is drawn outside it anyway.

    Each ``setData`` still schedules a repaint of that rectangle (``update()``), and the view box
    is told about new bounds only when it auto-ranges (it does not in ``TimePlot``).
    Line connection: ``connect="finite"`` (NaN is a gap) needs pyqtgraph's slower path builder;
    a slice without NaN is drawn with ``connect="all"``, which builds the same polyline directly.
    """

    def __init__(self, *args, **kwargs) -> None:
        self._view_rect: QRectF | None = None
        super().__init__(*args, **kwargs)

    def boundingRect(self) -> QRectF:
        rect = self._view_rect
        if rect is None:
            view = self.getViewBox()
            if view is None:
                return super().boundingRect()
            rect = self._view_rect = QRectF(view.viewRect())
        return rect

    def viewTransformChanged(self) -> None:
        self._view_rect = None  # first, so that the prepareGeometryChange below goes through
        super().viewTransformChanged()  # invalidates pyqtgraph's caches, calls prepareGeometryChange

    def viewRangeChanged(self) -> None:
        # Emitted at once by setRange; the transform follows only when the view next paints.
        super().viewRangeChanged()
        if self._view_rect is not None:
            self._view_rect = None
            super().prepareGeometryChange()

    def informViewBoundsChanged(self) -> None:
        view = self.getViewBox()
        if view is not None and any(view.state["autoRange"]):
            super().informViewBoundsChanged()  # only auto-ranging views care about data bounds

    def set_strip(self, x: np.ndarray, y: np.ndarray) -> None:
        """``setData(x, y)`` with the cheapest connection mode that still draws NaN as a gap.

        Leading and trailing NaN draw nothing, so they are cut off (a rate's first sample, a
        series younger than the window); NaN in between keeps ``connect="finite"``.
        """
        finite = np.isfinite(y)
        if not finite.all():
            found = np.flatnonzero(finite)
            if not len(found):
                x, y = x[:0], y[:0]
            else:
                first, last = int(found[0]), int(found[-1]) + 1
                x, y = x[first:last], y[first:last]
                if last - first != len(found):  # a gap inside the slice
                    self.setData(x, y, connect="finite")
                    return
        self.setData(x, y, connect="all")

    def prepareGeometryChange(self) -> None:
        # ``updateData`` calls this on every new slice; the bounds (the view rectangle) did not
        # change, so Qt need not re-index or re-query them. A range change goes through
        # ``viewTransformChanged``, which clears the cached rectangle first.
        if self._view_rect is None:
            super().prepareGeometryChange()


def reserve_right(plot: pg.PlotWidget, width: float) -> None:
    """Leave ``width`` px empty on the right of ``plot`` (an invisible right axis)."""
    plot.plotItem.showAxis("right")
    axis = plot.plotItem.getAxis("right")
    axis.setStyle(showValues=False, tickLength=0)
    axis.setPen(pg.mkPen(None))
    axis.setWidth(width)


def palette_colors(widget: QWidget) -> tuple[QColor, QColor]:
    """(background, foreground) for plots, taken from the widget's palette (follows dark mode)."""
    pal = widget.palette()
    return pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k (or 1, 2, 4, 8 x 1024^k for bytes) >= value."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    base = 10.0 ** exponent
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * base >= value * (1 - 1e-9):
            return step * base
    return 10.0 * base


def format_ago(seconds_ago: float) -> str:
    """0 -> 'now', -90 -> '-1:30', -30 -> '-30 s'."""
    s = abs(seconds_ago)
    if s < 0.5:
        return "now"
    if s < 60:
        return f"-{s:.0f} s"
    minutes, secs = divmod(round(s), 60)
    return f"-{minutes}:{secs:02d}"


def _tick_spacing(window: float) -> tuple[float, float]:
    """Major and minor tick spacing (seconds) giving about 5-6 labelled ticks."""
    for major in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if window / major <= 6:
            return float(major), major / 5.0
    return 3600.0, 600.0


class AgoAxis(pg.AxisItem):
    """Bottom axis in seconds relative to the latest sample (x = 0 is now).

    With ``clock_origin`` set (the epoch time of x = 0, as in a recording), ticks read clock time.
    """

    clock_origin: float | None = None

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:
        if self.clock_origin is not None:
            fmt = "%H:%M:%S" if spacing < 60 else "%H:%M"
            return [time.strftime(fmt, time.localtime(self.clock_origin + v)) for v in values]
        return [format_ago(v) for v in values]


class UnitAxis(pg.AxisItem):
    """Left axis whose labels carry the unit, formatted by ``model.units`` (KiB/MiB, kB/s...)."""

    def __init__(self, unit: str, **kwargs) -> None:
        super().__init__("left", **kwargs)
        self.unit = unit
        self.enableAutoSIPrefix(False)

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        # One level of 4-5 labelled ticks: pyqtgraph's default levels drop labels that would
        # overlap, which on a short plot can leave a single label. Bytes get binary steps
        # (1, 2, 4... KiB/MiB/GiB) so labels read "4 GiB", not "4.7 GiB".
        step = unit_tick_step(self.unit, maxVal - minVal, size)
        if step is None:
            return super().tickSpacing(minVal, maxVal, size)
        return [(step, 0.0)]

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:
        return [axis_label(v, self.unit) for v in values]


def unit_tick_step(unit: str, span: float, size: float) -> float | None:
    """The step between labelled ticks of a ``span`` shown over ``size`` px (None: no span)."""
    if not math.isfinite(span) or span <= 0:
        return None
    max_ticks = max(2, min(5, int(size // 28)))  # ~28 px per label keeps them apart
    if unit == "B":
        step = 1.0
        while span / step > max_ticks:
            step *= 2
        return step
    return nice_ceiling(span / max_ticks)


def axis_label(value: float, unit: str) -> str:
    """A short tick label with its unit: '20 MB/s', '4 GiB', '2.5 k/s', '75 %'."""
    if value == 0:
        return f"0 {unit}".rstrip()
    if unit == "B":
        magnitude, index = abs(value), 0
        while magnitude >= 1024 and index < len(_BINARY) - 1:
            magnitude /= 1024
            index += 1
        return f"{value / 1024 ** index:.3g} {_BINARY[index]}"
    if unit in _SI_UNITS or unit.endswith("/s"):  # "IOPS", "switches/s": counted things, SI prefixes
        magnitude, index = abs(value), 0
        while magnitude >= 1000 and index < len(_SI_PREFIXES) - 1:
            magnitude /= 1000
            index += 1
        prefix = _SI_PREFIXES[index]
        if prefix and not unit.startswith(("B", "/", "pkt", "W", "J", "Hz", "ops")):
            prefix += " " if prefix else ""  # a word unit reads "2.5 k switches/s", not "2.5 kswitches/s"
        return f"{value / 1000 ** index:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_SI_PREFIXES = ("", "k", "M", "G", "T", "P")
_SI_UNITS = ("B/s", "/s", "pkt/s", "W", "J", "Hz", "ops/s", "IOPS")
# The smallest y range an adapting plot shows: an idle NIC is "0 to 1 kB/s", not "0 to 1 B/s".
_ADAPTIVE_FLOOR = {"B/s": 1000.0, "B": 1024.0 ** 2, "/s": 10.0, "pkt/s": 10.0, "MHz": 100.0, "IOPS": 10.0}


def display_value(value: float | None, unit: str) -> str:
    """A value as plots show it: ``model.units.format_value``, with counted things ("IOPS") given
    SI prefixes and one decimal like the other rates ("18.0 IOPS", not "17.99 IOPS")."""
    if value is None or math.isnan(value):
        return "—"
    if unit == "IOPS":
        return format_si(value, "IOPS")
    if _is_word_rate(unit):
        return f"{format_si(value, '')} {unit}"  # "2.0 k faults/s", "5 switches/s"
    return format_value(value, unit)


def reduce_points(x: np.ndarray, ys: list[np.ndarray], limit: int = MAX_POINTS
                  ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Keep at most ~``limit`` points: bucket and take the per-bucket maximum (spikes survive).

    A bucket whose values are all NaN stays NaN, so gaps survive too.
    """
    n = len(x)
    if n <= limit:
        return x, ys
    stride = math.ceil(n / limit)
    usable = (n // stride) * stride
    start = n - usable  # drop the oldest remainder, keep "now" exact
    x_out = x[start:].reshape(-1, stride)[:, -1]
    ys_out = [np.fmax.reduce(y[start:].reshape(-1, stride), axis=1) for y in ys]
    return x_out, ys_out


# Set by a recording's tab views while they build their plots (see gui.recording_view).
clock_axis_default = False


class SeriesReadout:
    """The hover readout of a plot that keeps its last drawn window: ``_last_x`` (seconds relative
    to ``_last_time``, the epoch time of x = 0), ``_last_ys`` (series id -> values), ``_labels``
    and ``unit``."""

    _last_x: np.ndarray
    _last_ys: dict[str, np.ndarray]
    _last_time: float | None
    _labels: dict[str, str]
    unit: str

    def readout_text(self, x: float) -> str:
        """The hover text at x (seconds ago): clock time, then each series with its unit."""
        header, rows = self.readout_rows(x)
        if rows is None:
            return f"{header}\nno data at this time" if header else ""
        return "\n".join([header] + [f"{self._labels.get(sid, sid)}: {text}" for sid, text in rows])

    def readout_rows(self, x: float) -> tuple[str, list[tuple[str, str]] | None]:
        """(clock time line, [(series id, formatted value)]) at x; rows None where no sample is near."""
        if not len(self._last_x) or self._last_time is None:
            return "", None
        index = int(np.clip(np.searchsorted(self._last_x, x), 0, len(self._last_x) - 1))
        if index > 0 and abs(self._last_x[index - 1] - x) < abs(self._last_x[index] - x):
            index -= 1
        x_at = float(self._last_x[index])
        # Nearest sample too far from the pointer (before the first sample, or in a pause): say
        # so instead of showing a value from another moment.
        spacing = float(np.median(np.diff(self._last_x))) if len(self._last_x) > 1 else 1.0
        if abs(x_at - x) > max(2.0 * spacing, 0.5):
            clock = time.strftime("%H:%M:%S", time.localtime(self._last_time + x))
            return f"{clock} ({format_ago(x)})", None
        clock = time.strftime("%H:%M:%S", time.localtime(self._last_time + x_at))
        rows = []
        for series_id, y in self._last_ys.items():
            value = float(y[index])
            rows.append((series_id, display_value(None if math.isnan(value) else value, self.unit)))
        return f"{clock} ({format_ago(x_at)})", rows


class TimePlot(pg.PlotWidget, SeriesReadout):
    """A live plot of a few series against "seconds ago".

    Use ``set_series`` (or let ``update_from`` add ids as they appear) and call ``update_from``
    from a view's ``refresh``. ``y_range`` fixes the y axis (e.g. (0, 100)); None adapts slowly.
    """

    def __init__(self, title: str = "", unit: str = "", y_range: tuple[float, float] | None = None,
                 parent: QWidget | None = None, legend: bool = True, style: str = "line") -> None:
        """``style``: "line", "area" (each series filled down to 0) or "stacked" (filled bands that
        add up, in declared order from the bottom: parts of a whole such as CPU by state)."""
        self._ago_axis = AgoAxis("bottom")
        self._unit_axis = UnitAxis(unit)
        super().__init__(parent, axisItems={"bottom": self._ago_axis, "left": self._unit_axis})
        make_cheap(self)
        self.unit = unit
        self.fixed_y = y_range
        self._window = 300.0
        self._curves: dict[str, StripCurve] = {}
        self._labels: dict[str, str] = {}
        self._colors: dict[str, str] = {}
        self._title = title
        # The legend lives in the title line, outside the data area: a legend item inside it
        # would have its text re-rendered on every frame.
        self._legend = legend
        self._look = PlotLook(style)
        self.clock_axis = clock_axis_default  # recordings: clock time instead of "seconds ago"
        self._ymax = y_range[1] if y_range else _ADAPTIVE_FLOOR.get(unit, 1.0)
        self._ymin = y_range[0] if y_range else 0.0
        self._low_streak = 0
        self._last_x: np.ndarray = np.empty(0)
        self._last_ys: dict[str, np.ndarray] = {}
        self._last_time: float | None = None
        plot_item = self.plotItem
        plot_item.setMenuEnabled(False)
        plot_item.hideButtons()
        # No grid: grid lines belong to the axis items and span the plot, so every curve update
        # would repaint both axes too (measured: a third of the drawing time).
        view_box = plot_item.getViewBox()
        view_box.setMouseEnabled(x=False, y=False)
        view_box.enableAutoRange(enable=False)
        view_box.setDefaultPadding(0.0)
        self._unit_axis.setWidth(axis_width(unit))
        self.set_window(self._window)
        self.setYRange(self._ymin, self._ymax, padding=0.02)
        self.setMinimumHeight(120)
        # Hover readout: a vertical line and a text block, updated on mouse move only.
        self._cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", width=1))
        self._cursor.hide()
        self._readout = pg.TextItem(anchor=(0, 0))
        self._readout.setZValue(10)
        self._readout.hide()
        plot_item.addItem(self._cursor, ignoreBounds=True)
        plot_item.addItem(self._readout, ignoreBounds=True)
        # Says so when a spike above the robust y range is drawn off the top.
        self._off_scale = pg.TextItem(anchor=(1, 0))
        self._off_scale.setZValue(9)
        self._off_scale.hide()
        plot_item.addItem(self._off_scale, ignoreBounds=True)
        # The title line (title + legend with values) is a QLabel over the plot, not pyqtgraph's
        # title item: a new value each second then repaints that strip only, where re-setting the
        # title item re-laid out the plot and repainted its axes (measured: ~1 ms a frame).
        plot_item.setTitle("&nbsp;", size="9pt")  # reserves the row the label covers
        self._legend_label = LegendLabel(self)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._apply_palette()

    # --- series -----------------------------------------------------------------------------------
    def set_series(self, ids_and_labels: Iterable[tuple[str, str]]) -> None:
        """Declare the curves (id, label) in drawing order; existing curves are kept."""
        for series_id, label in ids_and_labels:
            self._ensure_curve(series_id, label)

    def _ensure_curve(self, series_id: str, label: str) -> StripCurve:
        curve = self._curves.get(series_id)
        if curve is None:
            color = series_color(series_id, taken=set(self._colors.values()))
            # Width-1 cosmetic pens: wider lines are several times dearer to rasterise.
            curve = StripCurve(pen=pg.mkPen(color, width=1), connect="finite",
                               skipFiniteCheck=False, name=label)
            self.plotItem.addItem(curve)
            self._curves[series_id] = curve
            self._labels[series_id] = label
            self._colors[series_id] = color
            self._restyle()
            self._update_title()
        return curve

    def _restyle(self) -> None:
        if self._curves:
            self._look.style_curves(list(self._curves.values()), list(self._colors.values()),
                                    palette_colors(self)[0])

    def _update_title(self) -> None:
        if not hasattr(self, "_colors"):
            return  # called during construction
        foreground = palette_colors(self)[1].name()
        values = {sid: self._look.legend_value(y, self.unit) for sid, y in self._last_ys.items()}
        text = legend_html(self._title, foreground, [
            (self._colors[sid], label, values.get(sid)) for sid, label in self._labels.items()
        ] if self._legend else [], _title_metrics(), self._legend_label.available_width())
        if text and text != getattr(self, "_title_html", None):
            self._title_html = text
            self._legend_label.set_html(text)
            if self._legend_label.width() <= 50:
                self._legend_label.place()

    @property
    def series_ids(self) -> list[str]:
        return list(self._curves)

    def set_title(self, title: str) -> None:
        """Change the title shown before the legend."""
        if title != self._title:
            self._title = title
            self._update_title()

    def keep_only(self, ids: Iterable[str]) -> None:
        """Remove the curves not in ``ids`` (an interface folded away, a device unplugged)."""
        wanted = set(ids)
        for series_id in [sid for sid in self._curves if sid not in wanted]:
            self.plotItem.removeItem(self._curves.pop(series_id))
            self._labels.pop(series_id, None)
            self._colors.pop(series_id, None)
            self._last_ys.pop(series_id, None)
        self._restyle()

    def set_window(self, seconds: float) -> None:
        self._window = seconds
        self._shown_span = seconds
        self.setXRange(-seconds, 0, padding=0)
        self._ago_axis.setTickSpacing(*_tick_spacing(seconds))

    def _grow_x(self, data_span: float) -> None:
        """Show the span of the data (in coarse steps) until it fills the selected window, so a
        young history is not squeezed into the right 15 % of the plot."""
        span = grown_span(data_span, self._window)
        if span != self._shown_span:
            self._shown_span = span
            self.setXRange(-span, 0, padding=0)
            self._ago_axis.setTickSpacing(*_tick_spacing(span))

    # --- data ---------------------------------------------------------------------------------------
    def update_from(self, history: History, ids: Sequence[str] | None = None,
                    window_seconds: float | None = None) -> None:
        """Redraw from ``history``: the last ``window_seconds`` of ``ids`` (default: the declared ones).

        Ids not declared yet get a curve labelled from ``history.specs``.
        """
        if window_seconds is not None and window_seconds != self._window:
            self.set_window(window_seconds)
        ids = list(self._curves) if ids is None else list(ids)
        for series_id in ids:
            if series_id not in self._curves:
                spec = history.specs.get(series_id)
                self._ensure_curve(series_id, spec.label if spec else series_id)
        times, values = history.window(ids, self._window)
        self.set_arrays(times, {i: values[i] for i in ids})

    def set_arrays(self, times: np.ndarray, values: dict[str, np.ndarray],
                   labels: dict[str, str] | None = None, window_seconds: float | None = None) -> None:
        """Draw arrays directly (``times`` in epoch seconds, one array per series key).

        For derived curves a view computes itself (e.g. the sum over disks). Keys not declared
        yet get a curve labelled from ``labels`` (default: the key).
        """
        if window_seconds is not None and window_seconds != self._window:
            self.set_window(window_seconds)
        if not len(times):
            return
        for key in values:
            if key not in self._curves:
                self._ensure_curve(key, (labels or {}).get(key, key))
        ids = list(values)
        latest = float(times[-1])
        x = times - latest
        # About one point per horizontal pixel: more only costs path building and painting.
        width_px = int(self.plotItem.getViewBox().width())
        limit = min(MAX_POINTS, max(100, width_px)) if width_px > 0 else MAX_POINTS
        x, ys = reduce_points(x, [values[i] for i in ids], limit=limit)
        self._last_x, self._last_ys, self._last_time = x, dict(zip(ids, ys, strict=True)), latest
        if self.clock_axis and self._ago_axis.clock_origin != latest:
            self._ago_axis.clock_origin = latest
            self._ago_axis.picture = None  # re-draw the tick labels for the new origin
            self._ago_axis.update()
        drawn = self._look.drawn_arrays(ys)  # stacked plots draw running sums
        self._look.skip_empty_bands(list(self._curves.values()), [self._last_ys.get(i) for i in self._curves],
                                    (self._ymax - self._ymin) * 0.005)
        for series_id, y in zip(ids, drawn, strict=True):
            self._curves[series_id].set_strip(x, y)
        if self.fixed_y is None:
            self._adapt_y(drawn)
        if len(x):
            self._grow_x(-float(x[0]))
        self._update_title()

    def _adapt_y(self, ys: list[np.ndarray]) -> None:
        """Follow the visible window (see ``follow_y_range``); a change re-ranges the view."""
        top, self._low_streak, peak = follow_y_range(ys, self.unit, self._ymax, self._low_streak)
        if top != self._ymax:
            self._ymax = top
            self.setYRange(self._ymin, self._ymax, padding=0.02)
        self._show_off_scale(peak if peak is not None and peak > self._ymax else None)

    def _show_off_scale(self, peak: float | None) -> None:
        if peak is None:
            if self._off_scale.isVisible():
                self._off_scale.hide()
            return
        text = f"↑ peak {display_value(peak, self.unit)} off scale"
        if text != getattr(self, "_off_scale_text", ""):
            self._off_scale_text = text
            self._off_scale.setText(text, color=palette_colors(self)[1])
        self._off_scale.setPos(0, self._ymax)
        self._off_scale.show()

    def reserve_right(self, width: float) -> None:
        """Leave ``width`` px empty on the right, to line the time axis up with a plot that has
        a colour bar there (the CPU tab's utilisation plot above its heatmap)."""
        reserve_right(self, width)

    def set_fixed_y(self, y_range: tuple[float, float] | None) -> None:
        """Fix the y axis to ``y_range``, or with None let it adapt slowly again."""
        self.fixed_y = y_range
        if y_range is not None:
            self._ymin, self._ymax = y_range
            self.setYRange(self._ymin, self._ymax, padding=0.02)

    def y_range(self) -> tuple[float, float]:
        return self._ymin, self._ymax

    # --- hover readout ---------------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        view_box = self.plotItem.getViewBox()
        if not view_box.sceneBoundingRect().contains(scene_pos) or not len(self._last_x):
            self._cursor.hide()
            self._readout.hide()
            return
        point = view_box.mapSceneToView(scene_pos)
        x = point.x()
        background, foreground = palette_colors(self)
        header, rows = self.readout_rows(x)
        self._readout.setHtml(readout_html(header, rows, self._colors, self._labels, foreground))
        self._readout.fill = pg.mkBrush(background)
        self._readout.border = pg.mkPen(foreground)
        self._cursor.setPos(x)
        self._cursor.show()
        # Beside the pointer, on the side with room, so it never hides what is pointed at.
        rect = view_box.sceneBoundingRect()
        right_half = scene_pos.x() > rect.center().x()
        lower_half = scene_pos.y() > rect.center().y()
        self._readout.setAnchor((1.0 if right_half else 0.0, 1.0 if lower_half else 0.0))
        self._readout.setPos(x + (-0.01 if right_half else 0.01) * self._shown_span, point.y())
        self._readout.show()

    # --- palette ---------------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        if getattr(self, "plotItem", None) is None:
            return  # a palette event during construction, before the plot exists
        recolor_axes(self)
        if getattr(self, "_look", None) is not None:
            self._restyle()  # fills are mixed with the background
            self._legend_label.set_background(palette_colors(self)[0])
        self._update_title()


def recolor_axes(plot: pg.PlotWidget) -> tuple[QColor, QColor, QPen]:
    """Give ``plot`` the palette's background and draw its axes in the foreground colour."""
    background, foreground = palette_colors(plot)
    plot.setBackground(background)
    pen = pg.mkPen(foreground)
    for name in ("left", "bottom"):
        axis = plot.plotItem.getAxis(name)
        axis.setPen(pen)
        axis.setTextPen(pen)
    return background, foreground, pen


# --- presentation (look and feel): colours, legend values, fills, robust ranges, hover ------------
# Kept apart from the drawing mechanics above: these decide what a plot looks like, never when or
# how often it is redrawn.

# Series whose meaning has a colour of its own, the same in every plot and every session.
_ROLE_COLORS = {
    "cpu.util.user": 0, "cpu.util.system": 3, "cpu.util.iowait": 1, "cpu.util.irq": 4,
    "cpu.util.softirq": 6, "cpu.util.steal": 7, "cpu.util.total": 0,
    "mem.used": 0, "mem.buffers": 4, "mem.cached": 5, "mem.shared": 6, "mem.available": 2,
    "mem.used_pct": 0, "mem.swap.used_pct": 1, "mem.swap.in": 2, "mem.swap.out": 4,
    "read": 0, "write": 1, "disk.read": 0, "disk.write": 1, "disk.read_iops": 0, "disk.write_iops": 1,
    "net.rx": 2, "net.tx": 4, "net.rx_packets": 2, "net.tx_packets": 4,
    "net.rx.total": 2, "net.tx.total": 4,
    "cpu.load.1": 0, "cpu.load.5": 1, "cpu.load.15": 4,
}


def series_color(series_id: str, taken: Iterable[str] = ()) -> str:
    """The colour of a series: its role's colour, else one picked from its id (stable across tabs and
    sessions), moved on to the next free hue when a plot already uses that one."""
    used = set(taken)
    index = _ROLE_COLORS.get(series_id)
    if index is None:
        metric = series_id.rsplit(".", 1)[0]
        index = _ROLE_COLORS.get(metric)
        if index is None:
            index = zlib.crc32(series_id.encode()) % len(SERIES_COLORS)
    for step in range(len(SERIES_COLORS)):
        color = SERIES_COLORS[(index + step) % len(SERIES_COLORS)]
        if color not in used:
            return color
    return SERIES_COLORS[index % len(SERIES_COLORS)]  # more series than hues: repeat


def mix(color: QColor, background: QColor, share: float) -> QColor:
    """``share`` of ``color`` over ``background``, as an opaque colour."""
    def channel(a: int, b: int) -> int:
        return round(a * share + b * (1.0 - share))
    return QColor(channel(color.red(), background.red()), channel(color.green(), background.green()),
                  channel(color.blue(), background.blue()))


class LegendLabel(QLabel):
    """The title line of a TimePlot, drawn over the row pyqtgraph reserves for a title."""

    def __init__(self, plot: pg.PlotWidget) -> None:
        super().__init__(plot)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        # Opaque, in the plot's background colour: a new text then repaints this label alone. A
        # transparent label made Qt repaint the plot beneath it too, twice a second per plot.
        self.setAutoFillBackground(True)
        self._plot = plot
        plot.plotItem.titleLabel.geometryChanged.connect(self.place)

    def set_background(self, color: QColor) -> None:
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, color)
        self.setPalette(palette)

    def available_width(self) -> int:
        """The width the legend text may take (before the first placement: an estimate)."""
        return self.width() - 4 if self.width() > 50 else max(150, self._plot.width() - 90)

    def set_html(self, text: str) -> None:
        self.setText(f"<span style='font-size:9pt'>{text}</span>")

    def place(self) -> None:
        """Cover the title row, from the left edge of the data area to the right edge."""
        title = self._plot.plotItem.titleLabel
        view_box = self._plot.plotItem.getViewBox()
        top_left = self._plot.mapFromScene(title.mapToScene(title.boundingRect().topLeft()))
        left = self._plot.mapFromScene(view_box.mapToScene(view_box.boundingRect().topLeft())).x()
        height = max(16, int(title.boundingRect().height()))
        # A fixed size: a new text then repaints the label only, with no layout request.
        width = max(50, self._plot.width() - left - 8)
        resized = width != self.width()
        self.setFixedSize(width, height)
        self.move(left + 4, top_left.y())
        update = getattr(self._plot, "_update_title", None)
        if resized and callable(update):
            update()  # as many entries as the new width holds


class PlotLook:
    """How a TimePlot's curves are drawn: lines, filled areas, or stacked filled bands."""

    STYLES = ("line", "area", "stacked")

    def __init__(self, style: str = "line") -> None:
        if style not in self.STYLES:
            raise ValueError(f"unknown plot style {style!r}; choose one of {', '.join(self.STYLES)}")
        self.style = style

    def style_curves(self, curves: Sequence[pg.PlotCurveItem], colors: Sequence[str],
                     background: QColor) -> None:
        """Fill the curves: stacked bands, or a single series' area (several overlapping areas
        would hide each other's lines, so a plot of several series stays lines).

        Fills are opaque colours mixed with the background rather than translucent ones:
        blending a translucent polygon is what made fills dear (measured: 2.9 against 4.5 ms a
        frame for the Overview tab), and a mixed colour looks the same.
        """
        filled = self.style == "stacked" or (self.style == "area" and len(curves) == 1)
        for index, (curve, color) in enumerate(zip(curves, colors, strict=True)):
            if not filled:
                if curve.opts.get("fillLevel") is not None:
                    curve.setFillLevel(None)
                    curve.setBrush(None)
                continue
            share = 0.75 if self.style == "stacked" else 0.3
            curve.setFillLevel(0.0)
            curve.setBrush(pg.mkBrush(mix(QColor(color), background, share)))
            if self.style == "stacked":
                curve.setZValue(-index)  # the first series is the bottom band, drawn last

    def skip_empty_bands(self, curves: Sequence[pg.PlotCurveItem], ys: Sequence[np.ndarray | None],
                         negligible: float) -> None:
        """Leave unfilled the stacked bands that add nothing visible (idle parts such as steal):
        each would repaint the whole area below it to no effect. Changed only when that changes."""
        if self.style != "stacked":
            return
        for curve, y in zip(curves, ys, strict=True):
            empty = y is None or not len(y) or not np.isfinite(y).any() or float(np.nanmax(y)) <= negligible
            filled = curve.opts.get("fillLevel") is not None
            if empty and filled:
                curve.setFillLevel(None)
            elif not empty and not filled:
                curve.setFillLevel(0.0)

    def drawn_arrays(self, ys: list[np.ndarray]) -> list[np.ndarray]:
        """What to draw: the values, or for stacked plots their running sums (a missing part counts
        as 0 in the sum; where every part is missing the band is a gap)."""
        if self.style != "stacked" or not ys:
            return ys
        stacked = np.vstack(ys, dtype=float)  # a new float64 array: zeroing it in place is safe
        missing = np.isnan(stacked)
        stacked[missing] = 0.0
        sums = stacked.cumsum(axis=0)
        sums[:, missing.all(axis=0)] = np.nan
        return list(sums)

    @staticmethod
    def legend_value(y: np.ndarray, unit: str) -> str:
        """The latest value of a curve for its legend entry ("—" when it has none)."""
        if not len(y):
            return "—"
        value = float(y[-1])
        if math.isnan(value) and len(y) > 1:
            value = float(y[-2])  # slow families are read every few ticks: the last reading
        # The title names the noun ("Page faults"): values read "9.8 k/s", short enough to fit.
        short = "/s" if _is_word_rate(unit) else unit
        return display_value(None if math.isnan(value) else value, short)


def _is_word_rate(unit: str) -> bool:
    """ "faults/s", "switches/s": a counted thing per second (not B/s, pkt/s...)."""
    return unit.endswith("/s") and unit[0].isalpha() and unit not in _SI_UNITS


def axis_width(unit: str) -> int:
    """Left axis width that holds a label such as "8.88 k faults/s" (at least the usual 62 px):
    pyqtgraph drops tick labels wider than their axis."""
    if not (_is_word_rate(unit) or unit == "IOPS"):
        return 62  # "888 MB/s", "100 %": the usual width, so plots stacked in a tab line up
    widest = QFontMetrics(QFont()).horizontalAdvance(axis_label(8_880.0, unit))
    return max(62, widest + 14)


def legend_html(title: str, foreground: str, entries: Sequence[tuple[str, str, str | None]],
                metrics: QFontMetrics, width: int) -> str:
    """The title line: the title, then "■ label value" per series in its colour, as many as fit in
    ``width`` pixels (the hover readout lists every series)."""
    parts = [f"<span style='color:{foreground}'><b>{html.escape(title)}</b></span>"] if title else []
    bold = QFont()
    bold.setPointSizeF(9.0)
    bold.setBold(True)
    gap = metrics.horizontalAdvance("\u00a0" * 3)
    used = QFontMetrics(bold).horizontalAdvance(title) if title else 0
    more = metrics.horizontalAdvance("+99 more") + gap
    costs = [gap + metrics.horizontalAdvance(f"■ {label} {value or ''}") for _c, label, value in entries]
    everything_fits = used + sum(costs) <= width
    for index, (color, label, value) in enumerate(entries):
        cost = costs[index]
        # Unless every entry fits, keep room to say how many are left out.
        room = width - (0 if everything_fits or index == len(entries) - 1 else more)
        if used + cost > room:
            parts.append(f"<span style='color:{foreground}'>+{len(entries) - index} more</span>")
            break
        used += cost
        value_html = f" <span style='color:{foreground}'>{html.escape(value)}</span>" if value else ""
        parts.append(f"<span style='color:{color}'>■ {html.escape(label)}</span>{value_html}")
    return "&nbsp;&nbsp;&nbsp;".join(parts)


def _title_metrics() -> QFontMetrics:
    """Metrics of the 9 pt title font the legend is drawn in."""
    font = QFont()
    font.setPointSizeF(9.0)
    return QFontMetrics(font)


_SHRINK_AFTER_FRAMES = 3

# Coarse steps a young history's x range grows through, so the axis does not move every second.
_SPANS = (15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0, 86400.0)


def grown_span(data_span: float, window: float) -> float:
    """The x span to show for ``data_span`` seconds of data in a ``window``-second window."""
    for span in _SPANS:
        if span >= data_span:
            return min(span, window)
    return window


_NICE_STEPS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def fine_ceiling(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k >= value: a y range with little
    wasted height (550 gets 600, not 1000)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(value))
    for step in _NICE_STEPS:
        if step * base >= value * (1 - 1e-9):
            return step * base
    return 10.0 * base


def robust_ceiling(ys: Sequence[np.ndarray], floor: float = 0.0) -> tuple[float | None, float | None]:
    """(y range top, peak) for the visible data.

    The top covers the largest value with 5 % headroom, unless that peak is a lone spike: when
    fewer than 2 % of the points lie above a third of it, the top covers the 98th percentile
    instead, and the caller says the peak is off scale. None when there is nothing finite.
    """
    finite = [y[np.isfinite(y)] for y in ys if len(y)]
    values = np.concatenate(finite) if finite else np.empty(0)
    if not len(values):
        return None, None
    peak = float(values.max())
    top = peak
    if len(values) >= 20:
        rank = int(0.98 * (len(values) - 1))  # np.partition: a tenth of np.percentile's cost
        high = float(np.partition(values, rank)[rank])
        if peak > 3.0 * max(high, floor) and np.count_nonzero(values > peak / 3.0) <= 0.02 * len(values):
            top = high
    return max(fine_ceiling(top * 1.05), floor), peak


def follow_y_range(ys: Sequence[np.ndarray], unit: str, top: float, low_streak: int
                   ) -> tuple[float, int, float | None]:
    """An adapting y range's next top: (top, low-frame streak, peak of the data or None).

    The range covers what is shown, except that a lone spike far above everything else is drawn
    off the top (the caller names it) instead of flattening the rest. It grows at once (the data
    needs the room) and shrinks once the data has stayed well below the top for a few frames: a
    range that twitches with every sample is hard to read, and each change redraws the plot.
    """
    target, peak = robust_ceiling(ys, _ADAPTIVE_FLOOR.get(unit, 0.0))
    if target is None:
        return top, low_streak, None
    if target > top:
        return target, 0, peak
    if target < top * 0.6:
        if low_streak + 1 >= _SHRINK_AFTER_FRAMES:
            return target, 0, peak
        return top, low_streak + 1, peak
    return top, 0, peak


def readout_html(header: str, rows: Sequence[tuple[str, str]] | None, colors: dict[str, str],
                 labels: dict[str, str], foreground: QColor) -> str:
    """The hover readout: time, then a colour swatch, label and value per series (all of them)."""
    fg = foreground.name()
    lines = [f"<b>{html.escape(header)}</b>"]
    if rows is None:
        lines.append("no data at this time")
    else:
        for series_id, text in rows:
            color = colors.get(series_id, fg)
            label = html.escape(labels.get(series_id, series_id))
            lines.append(f"<span style='color:{color}'>■</span> {label}: <b>{html.escape(text)}</b>")
    return f"<div style='color:{fg}'>" + "<br>".join(lines) + "</div>"



class HeatmapPlot(pg.PlotWidget):
    """Many series of one unit as an image: one row per series, one column per sample.

    Readable from 2 to hundreds of rows (per-CPU utilisation). Levels are fixed (``levels``),
    so the colour of 50 % never changes; NaN (no value) is drawn transparent.
    """

    def __init__(self, title: str = "", unit: str = "%", levels: tuple[float, float] = (0.0, 100.0),
                 parent: QWidget | None = None) -> None:
        self._ago_axis = AgoAxis("bottom")
        super().__init__(parent, axisItems={"bottom": self._ago_axis})
        make_cheap(self)
        self.unit = unit
        self.levels = levels
        self._window = 300.0
        self._rows: list[str] = []
        self.clock_axis = clock_axis_default
        self.image = pg.ImageItem(axisOrder="row-major")
        colormap = pg.colormap.get("viridis")
        self.image.setLookupTable(colormap.getLookupTable(nPts=256))
        self.image.setLevels(levels)
        self.addItem(self.image)
        # A fixed (non-interactive) colour scale on the right says what a colour means.
        self.colorbar = pg.ColorBarItem(values=levels, colorMap=colormap, interactive=False, width=12,
                                        colorMapMenu=False)
        self.colorbar.setImageItem(self.image, insert_in=self.plotItem)
        self.colorbar.axis.setWidth(44)
        self.colorbar.axis.tickStrings = lambda values, scale, spacing: [  # type: ignore[method-assign]
            axis_label(v, unit) for v in values]
        if title:
            self.plotItem.setTitle(title, size="9pt")
        self.plotItem.setMenuEnabled(False)
        self.plotItem.hideButtons()
        view_box = self.plotItem.getViewBox()
        view_box.setMouseEnabled(x=False, y=False)
        view_box.enableAutoRange(enable=False)
        view_box.invertY(True)  # core 0 at the top, as in htop
        self.getAxis("left").setWidth(62)
        self.set_window(self._window)
        self.setMinimumHeight(120)
        self._hover = pg.TextItem(anchor=(1, 0), fill=pg.mkBrush(0, 0, 0, 150), color="w")
        self._hover.setZValue(10)
        self._hover.hide()
        self.plotItem.addItem(self._hover, ignoreBounds=True)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._last_image: np.ndarray | None = None
        self._last_x: np.ndarray = np.empty(0)
        self._last_time: float | None = None
        self._apply_palette()

    def set_window(self, seconds: float) -> None:
        self._window = seconds
        self._shown_span = seconds
        self.setXRange(-seconds, 0, padding=0)
        self._ago_axis.setTickSpacing(*_tick_spacing(seconds))

    def _grow_x(self, data_span: float) -> None:
        """The same young-history x span as ``TimePlot``, so stacked plots share a time axis."""
        span = grown_span(data_span, self._window)
        if span != self._shown_span:
            self._shown_span = span
            self.setXRange(-span, 0, padding=0)
            self._ago_axis.setTickSpacing(*_tick_spacing(span))

    def set_rows(self, ids: Sequence[str], labels: Sequence[str] | None = None) -> None:
        """The series drawn top to bottom; the left axis labels about a dozen of them."""
        self._rows = list(ids)
        labels = list(labels) if labels is not None else self._rows
        n = len(self._rows)
        step = max(1, math.ceil(n / 12))
        ticks = [(i + 0.5, labels[i]) for i in range(0, n, step)]
        self.getAxis("left").setTicks([ticks, []])
        self.setYRange(0, max(n, 1), padding=0)

    @property
    def rows(self) -> list[str]:
        return list(self._rows)

    def update_from(self, history: History, window_seconds: float | None = None) -> None:
        if window_seconds is not None and window_seconds != self._window:
            self.set_window(window_seconds)
        if not self._rows:
            return
        times, values = history.window(self._rows, self._window)
        if not len(times):
            return
        latest = float(times[-1])
        x = times - latest
        x, ys = reduce_points(x, [values[r] for r in self._rows], limit=600)
        image = np.vstack(ys).astype(np.float32) if ys else np.empty((0, 0), np.float32)
        self._last_image, self._last_x, self._last_time = image, x, latest
        self.image.setImage(image, levels=self.levels, autoLevels=False)
        # Place the image so column i spans its sample time and row j spans [j, j+1).
        width = x[-1] - x[0] if len(x) > 1 else 1.0
        step = width / max(len(x) - 1, 1)
        self.image.setRect(float(x[0] - step / 2), 0.0, float(width + step), float(len(self._rows)))
        self._grow_x(-float(x[0]))
        if self.clock_axis and self._ago_axis.clock_origin != latest:
            self._ago_axis.clock_origin = latest
            self._ago_axis.picture = None
            self._ago_axis.update()

    def value_at(self, x: float, row: int) -> float | None:
        if self._last_image is None or not len(self._last_x) or not 0 <= row < self._last_image.shape[0]:
            return None
        col = int(np.clip(np.searchsorted(self._last_x, x), 0, len(self._last_x) - 1))
        value = float(self._last_image[row, col])
        return None if math.isnan(value) else value

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        view_box = self.plotItem.getViewBox()
        if not view_box.sceneBoundingRect().contains(scene_pos) or self._last_time is None:
            self._hover.hide()
            return
        point = view_box.mapSceneToView(scene_pos)
        row = math.floor(point.y())
        if not 0 <= row < len(self._rows):
            self._hover.hide()
            return
        value = self.value_at(point.x(), row)
        clock = time.strftime("%H:%M:%S", time.localtime(self._last_time + min(point.x(), 0)))
        label = self._rows[row].rsplit(".", 1)[-1]
        label = f"CPU {label[4:]}" if label.startswith("core") else label.replace("cpu", "CPU ")
        # Opaque and beside the pointer, like the curve plots' readout.
        background, foreground = palette_colors(self)
        self._hover.fill = pg.mkBrush(background)
        self._hover.border = pg.mkPen(foreground)
        self._hover.setColor(foreground)
        self._hover.setText(f"{label} at {clock}: {display_value(value, self.unit)}")
        rect = view_box.sceneBoundingRect()
        right_half = scene_pos.x() > rect.center().x()
        self._hover.setAnchor((1.0 if right_half else 0.0, 1.0 if scene_pos.y() > rect.center().y() else 0.0))
        self._hover.setPos(point.x(), point.y())
        self._hover.show()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        if getattr(self, "plotItem", None) is None:
            return  # a palette event during construction, before the plot exists
        _background, foreground, pen = recolor_axes(self)
        self.plotItem.titleLabel.setAttr("color", foreground.name())
        self.plotItem.titleLabel.setText(self.plotItem.titleLabel.text)
        if getattr(self, "colorbar", None) is not None:
            self.colorbar.axis.setPen(pen)
            self.colorbar.axis.setTextPen(pen)


class BarStrip(pg.PlotWidget):
    """Current value of many series as thin vertical bars (per-core utilisation now)."""

    def __init__(self, unit: str = "%", y_range: tuple[float, float] = (0.0, 100.0),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, axisItems={"left": UnitAxis(unit)})
        make_cheap(self)
        self.unit = unit
        self._count = 0
        self.bars = pg.BarGraphItem(x=np.empty(0), height=np.empty(0), width=0.8, y0=0,
                                    brush=pg.mkBrush(SERIES_COLORS[0]), pen=pg.mkPen(None))
        self.addItem(self.bars)
        self.plotItem.setMenuEnabled(False)
        self.plotItem.hideButtons()
        view_box = self.plotItem.getViewBox()
        view_box.setMouseEnabled(x=False, y=False)
        view_box.enableAutoRange(enable=False)
        self.setYRange(*y_range, padding=0.04)
        low, high = y_range
        # Three labels are all a short strip has room for.
        self.getAxis("left").setTicks([[(v, axis_label(v, unit)) for v in (low, (low + high) / 2, high)],
                                       []])
        self.getAxis("left").setWidth(62)
        # Room above the plot for the top tick label ("100 %"), which is centred on the edge.
        self.plotItem.layout.setContentsMargins(0, 8, 0, 0)
        self.setMinimumHeight(90)
        self._apply_palette()

    def set_values(self, values: Sequence[float | None], labels: Sequence[str] | None = None) -> None:
        heights = np.array([np.nan if v is None else v for v in values], dtype=float)
        n = len(heights)
        if n != self._count:
            self._count = n
            self.setXRange(-0.5, n - 0.5, padding=0)
            step = max(1, math.ceil(n / 16))
            labels = list(labels) if labels is not None else [str(i) for i in range(n)]
            self.getAxis("bottom").setTicks([[(i, labels[i]) for i in range(0, n, step)], []])
        # A missing value is no bar at all (height 0 would read as "idle").
        shown = np.nan_to_num(heights, nan=0.0)
        brushes = None
        if np.isnan(heights).any():
            missing = pg.mkBrush(0, 0, 0, 0)
            ok = pg.mkBrush(SERIES_COLORS[0])
            brushes = [missing if math.isnan(h) else ok for h in heights]
        self.bars.setOpts(x=np.arange(n), height=shown, width=0.8, brushes=brushes)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        if getattr(self, "plotItem", None) is None:
            return  # a palette event during construction, before the plot exists
        recolor_axes(self)
