"""A live strip chart that scrolls its pixels instead of redrawing them.

A plot that gains one sample a second changes by one sample a second: everything already drawn
only moves left. ``TimePlot`` (pyqtgraph) rebuilds and repaints every curve, its bounds, its scene
and its axes for that, in Python and in Qt, about 3 000 Python calls a frame for the Overview.
``StripChart`` keeps the drawn data in a pixmap. On a new sample it scrolls the pixmap by the whole
pixels that time moved (``QPixmap.scroll``, a memory move) and draws only the new segment into the
strip that came free; the axes are a second pixmap, redrawn only when the range, size or colours
change, and the legend is a few ``drawText`` calls. A frame is then one paint of this widget and
tens of Python calls.

Samples sit on whole pixel columns counted from a fixed origin (``round(time * px_per_second)``),
so a scrolled frame draws the same pixels as a full redraw of the same data. Anything that moves
the drawing otherwise (the time span, the y range, the size, the colours, the series, a jump back
in time as when a recording's navigator moves) redraws everything from the data, as on the first
frame. With more samples than pixel columns (1 h on a narrow plot) the full redraw keeps each
column's maximum (``reduce_points``), and scrolled frames draw every sample over its column.

Same look, words and behaviour as ``TimePlot``: title line with each series' current value, filled
or stacked areas, a y range that follows the data (``follow_y_range``) and names a spike it leaves
off the top, "seconds ago" or clock-time axis, hover readout with every series. It implements the
part of ``TimePlot``'s interface the views use (``set_series``, ``update_from``, ``set_arrays``,
``set_title``, ``keep_only``, ``set_window``, ``set_fixed_y``, ``y_range``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QRegion,
    QResizeEvent,
    QStaticText,
)
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from perfdeck.gui import plots
from perfdeck.gui.plots import (
    _ADAPTIVE_FLOOR,
    PlotLook,
    SeriesReadout,
    _tick_spacing,
    axis_label,
    axis_width,
    display_value,
    follow_y_range,
    format_ago,
    grown_span,
    mix,
    palette_colors,
    readout_html,
    reduce_points,
    series_color,
    unit_tick_step,
)
from perfdeck.model.history import History

_RIGHT_MARGIN = 10  # px right of the data area: room for the last time label's right half
_TICK = 4  # px, tick marks outside the data area
_Y_PADDING = 0.02  # the y range shows 2 % beyond its ends, as the pyqtgraph plots do
_TOP_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop
_RIGHT_CENTRED = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_GAP = "   "
_BLIT_LINES = 64  # see paintEvent: Qt parallelises fills and blits of more than 95 lines
_SHORT_SEGMENT = 16  # points: a scrolled frame draws this few per series with plain floats


def _title_font(base: QFont, bold: bool) -> QFont:
    font = QFont(base)
    font.setPointSizeF(9.0)
    font.setBold(bold)
    return font


def finite_runs(y: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges of ``y`` without NaN: each is drawn as one line, NaN is a gap."""
    finite = np.isfinite(y)
    if finite.all():
        return [(0, len(y))] if len(y) else []
    edges = np.flatnonzero(np.diff(np.concatenate(([False], finite, [False])).astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def polyline(xs: np.ndarray, ys: np.ndarray) -> QPainterPath:
    """A path through the points, built in C++ from the arrays (pyqtgraph's ``arrayToQPath``)."""
    return plots.pg.arrayToQPath(xs, ys, connect="all")


def _draw_run(painter: QPainter, path: QPainterPath, first_x: float, last_x: float, baseline: float,
              pen: QPen, fill: QBrush | None) -> None:
    """One unbroken run of a series: its area down to ``baseline`` (filled styles), then its line."""
    if fill is not None:
        area = QPainterPath(path)
        area.lineTo(last_x, baseline)
        area.lineTo(first_x, baseline)
        area.closeSubpath()
        painter.fillPath(area, fill)
    painter.strokePath(path, pen)


class StripChart(QWidget, SeriesReadout):
    """A live plot of a few series against "seconds ago" that scrolls instead of redrawing.

    ``style``: "line", "area" (a single series filled down to 0) or "stacked" (filled bands that
    add up, in declared order from the bottom), as ``TimePlot``.
    """

    def __init__(self, title: str = "", unit: str = "", y_range: tuple[float, float] | None = None,
                 parent: QWidget | None = None, legend: bool = True, style: str = "line") -> None:
        super().__init__(parent)
        self.unit = unit
        self.fixed_y = y_range
        self.clock_axis = plots.clock_axis_default  # recordings: clock time instead of "seconds ago"
        self._title = title
        self._legend = legend
        self._look = PlotLook(style)
        self._labels: dict[str, str] = {}
        self._colors: dict[str, str] = {}
        self._window = 300.0
        self._shown_span = 300.0
        self._ymin = y_range[0] if y_range else 0.0
        self._ymax = y_range[1] if y_range else _ADAPTIVE_FLOOR.get(unit, 1.0)
        self._low_streak = 0
        self._off_scale_peak: float | None = None
        # What was last drawn: x relative to _last_time (seconds), the values (for the legend and
        # the readout) and the arrays as drawn (running sums for stacked plots).
        self._last_x: np.ndarray = np.empty(0)
        self._last_ys: dict[str, np.ndarray] = {}
        self._last_time: float | None = None
        self._last_times: np.ndarray = np.empty(0)
        self._last_drawn: list[np.ndarray] = []
        self._data: QPixmap | None = None  # the data area, in device pixels
        self._chrome: QPixmap | None = None  # background, axes and their labels
        self._chrome_origin: float | None = None  # the latest time the clock labels were drawn for
        self._drawn_key: tuple | None = None  # what the data pixmap was drawn for (see _layout_key)
        self._right_column = 0  # pixel column (from the fixed origin) of the data's right edge
        self._cursor_x: float | None = None  # hover: the pointer's x in widget pixels
        self._readout = QLabel(self)
        self._readout.setTextFormat(Qt.TextFormat.RichText)
        self._readout.setAutoFillBackground(True)
        self._readout.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._readout.setMargin(4)
        self._readout.hide()
        self.frames = {"full": 0, "scrolled": 0}  # how each data frame was drawn (for tests, benchmarks)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # every pixel is ours: no erase
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(120)
        self._boxes: tuple[QRect, QRect] | None = None  # (legend, data area), until the next resize
        self._text_widths: dict[str, int] = {}  # legend texts measured in the title font
        self._static_texts: dict[str, QStaticText] = {}  # legend texts laid out once
        self._legend_shown: list[tuple[float, str, str]] = []  # the title line as drawn
        self._update_style()

    # --- series -----------------------------------------------------------------------------------
    def set_series(self, ids_and_labels: Iterable[tuple[str, str]]) -> None:
        """Declare the curves (id, label) in drawing order; existing ones are kept."""
        for series_id, label in ids_and_labels:
            self._ensure_series(series_id, label)

    def _ensure_series(self, series_id: str, label: str) -> None:
        if series_id not in self._labels:
            self._colors[series_id] = series_color(series_id, taken=set(self._colors.values()))
            self._labels[series_id] = label
            self._invalidate()

    @property
    def series_ids(self) -> list[str]:
        return list(self._labels)

    def set_title(self, title: str) -> None:
        if title != self._title:
            self._title = title
            self._legend_shown = self._legend_runs()
            self.update(self._legend_rect())

    def keep_only(self, ids: Iterable[str]) -> None:
        """Stop drawing the series not in ``ids``."""
        wanted = set(ids)
        for series_id in [sid for sid in self._labels if sid not in wanted]:
            del self._labels[series_id]
            self._colors.pop(series_id, None)
            self._last_ys.pop(series_id, None)
            self._invalidate()

    def set_window(self, seconds: float) -> None:
        if seconds != self._window:
            self._window = seconds
            self._shown_span = seconds
            self._invalidate()

    def set_fixed_y(self, y_range: tuple[float, float] | None) -> None:
        self.fixed_y = y_range
        if y_range is not None:
            self._ymin, self._ymax = y_range
        self._invalidate()

    def y_range(self) -> tuple[float, float]:
        return self._ymin, self._ymax

    def x_range(self) -> tuple[float, float]:
        """The shown x range in seconds relative to the latest sample (it grows with young data)."""
        return -self._shown_span, 0.0

    def backgroundBrush(self) -> QBrush:  # the name QGraphicsView (TimePlot) has
        return QBrush(self._background)

    def drawn_data(self, series_id: str) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """The last drawn window of one series: (seconds relative to the latest sample, values)."""
        y = self._last_ys.get(series_id)
        return (None, None) if y is None else (self._last_x, y)

    # --- data -------------------------------------------------------------------------------------
    def update_from(self, history: History, ids: Sequence[str] | None = None,
                    window_seconds: float | None = None) -> None:
        """Draw the last ``window_seconds`` of ``ids`` (default: the declared series) from ``history``."""
        if window_seconds is not None:
            self.set_window(window_seconds)
        ids = list(self._labels) if ids is None else list(ids)
        for series_id in ids:
            if series_id not in self._labels:
                spec = history.specs.get(series_id)
                self._ensure_series(series_id, spec.label if spec else series_id)
        times, values = history.window(ids, self._window)
        self.set_arrays(times, values)

    def set_arrays(self, times: np.ndarray, values: dict[str, np.ndarray],
                   labels: dict[str, str] | None = None, window_seconds: float | None = None) -> None:
        """Draw arrays (``times`` in epoch seconds, one array per series key, in declared order)."""
        if window_seconds is not None:
            self.set_window(window_seconds)
        if not len(times):
            return
        for key in values:
            if key not in self._labels:
                self._ensure_series(key, (labels or {}).get(key, key))
        ids = list(self._labels)
        missing = None  # one all-NaN array for every declared series without values this frame
        ys = []
        for sid in ids:
            y = values.get(sid)
            if y is None:
                if missing is None:
                    missing = np.full(len(times), np.nan)
                y = missing
            ys.append(y)
        latest = float(times[-1])
        previous_time = self._last_time
        self._last_times = times
        self._last_x = times - latest
        self._last_ys = dict(zip(ids, ys, strict=True))
        self._last_time = latest
        self._last_drawn = self._look.drawn_arrays(ys)  # stacked plots draw running sums
        if self.fixed_y is None:
            top, self._low_streak, peak = follow_y_range(self._last_drawn, self.unit, self._ymax,
                                                         self._low_streak)
            self._ymax = top
            self._off_scale_peak = peak if peak is not None and peak > top else None
        self._shown_span = grown_span(latest - float(times[0]), self._window)
        self._draw_data(previous_time)
        legend = self._legend_runs()
        legend_changed = legend != self._legend_shown
        self._legend_shown = legend
        if self._chrome is None:
            self.update()  # the axes changed too
        else:
            if legend_changed:  # the values often stay the same ("0 B/s"): then only the data moves
                self.update(self._legend_rect())
            self.update(self._data_rect())

    # --- geometry ---------------------------------------------------------------------------------
    def _update_style(self) -> None:
        """Fonts, colours, pens and fills: kept until the palette or the font changes."""
        self._title_bold = _title_font(self.font(), bold=True)
        self._title_width: tuple[str, int] | None = None  # (title, its width in the bold font)
        self._title_plain = _title_font(self.font(), bold=False)
        self._title_metrics = QFontMetrics(self._title_plain)
        self._axis_metrics = QFontMetrics(self.font())
        self._left = axis_width(self.unit)
        self._background, self._foreground = palette_colors(self)
        # Horizontal grid lines at the labelled values, faint: they run along x, so a scroll keeps
        # them and only the strip that comes free needs them drawn again.
        self._grid_pen = QPen(mix(self._foreground, self._background, 0.12), 0)
        self._boxes = None
        self._text_widths = {}
        self._static_texts = {}
        self._grid_key: tuple | None = None  # (height, shown y range) the grid rows are for
        self._grid_rows: list[int] = []
        self._legend_key: tuple | None = None  # what _legend_tail was laid out for (a new font: none)
        self._legend_tail: list[tuple[float, str, str]] = []
        self._style_series()

    def _shown_y(self) -> tuple[float, float]:
        """The y range drawn: the data range and 2 % beyond its ends."""
        pad = _Y_PADDING * (self._ymax - self._ymin)
        return self._ymin - pad, self._ymax + pad

    def _y_ticks(self, size: float) -> list[float]:
        """The labelled y values (4-5, as UnitAxis) for a data area ``size`` px high."""
        low, high = self._shown_y()
        step = unit_tick_step(self.unit, high - low, size)
        ticks: list[float] = []
        if step:
            value = math.ceil(low / step) * step
            while value <= high + 1e-9 * step:
                ticks.append(value)
                value += step
        return ticks

    def _style_series(self) -> None:
        filled = self._look.style == "stacked" or (self._look.style == "area" and len(self._colors) == 1)
        share = 0.75 if self._look.style == "stacked" else 0.3
        self._pens = [QPen(QColor(color), 0) for color in self._colors.values()]
        self._fills = [QBrush(mix(QColor(color), self._background, share)) if filled else None
                       for color in self._colors.values()]

    def _text_width(self, text: str) -> int:
        width = self._text_widths.get(text)
        if width is None:
            if len(self._text_widths) > 512:  # values change: keep the memo small
                self._text_widths.clear()
            width = self._text_widths[text] = self._title_metrics.horizontalAdvance(text)
        return width

    def _legend_rect(self) -> QRect:
        if self._boxes is None:
            self._boxes = self._layout_boxes()
        return self._boxes[0]

    def _data_rect(self) -> QRect:
        if self._boxes is None:
            self._boxes = self._layout_boxes()
        return self._boxes[1]

    def _layout_boxes(self) -> tuple[QRect, QRect]:
        legend = QRect(0, 0, self.width(), self._title_metrics.height() + 6)
        top = legend.bottom() + 1 + self._axis_metrics.height() // 2
        bottom = self.height() - (self._axis_metrics.height() + _TICK + 4)
        data = QRect(self._left, top, max(1, self.width() - self._left - _RIGHT_MARGIN), max(1, bottom - top))
        return legend, data

    def sizeHint(self) -> QSize:
        return QSize(400, 250)

    # --- drawing the data -------------------------------------------------------------------------
    def _invalidate(self) -> None:
        """Everything is redrawn from the data on the next frame (and now, if there is data)."""
        self._drawn_key = None
        self._style_series()
        self._legend_shown = self._legend_runs()
        self._chrome = None
        if self._last_time is not None and self._data is not None:
            self._draw_data(None)
            self.update()

    def _layout_key(self, width: int, height: int) -> tuple:
        """What the drawn pixels depend on besides time: when it changes, a scroll is not enough."""
        background = self._background.rgb()
        return (width, height, self._shown_span, self._ymin, self._ymax, tuple(self._labels),
                tuple(self._colors.values()), background, self.clock_axis)

    def _draw_data(self, previous_time: float | None) -> None:
        ratio = self.devicePixelRatioF()
        rect = self._data_rect()
        width, height = max(1, round(rect.width() * ratio)), max(1, round(rect.height() * ratio))
        key = self._layout_key(width, height)
        px_per_second = width / self._shown_span
        right_column = round(self._last_time * px_per_second)
        shift = right_column - self._right_column
        times = self._last_times
        start = None
        if (key == self._drawn_key and self._data is not None and previous_time is not None
                and 0 <= shift < width and not self.clock_axis):
            start = int(np.searchsorted(times, previous_time))
            if start >= len(times) or times[start] != previous_time:
                start = None  # the old right edge is not in this window: not a continuation
        if key != self._drawn_key:
            self._chrome = None  # a new span, range, size or palette: the axes change with it
        if self._data is None or self._data.width() != width or self._data.height() != height:
            self._data = QPixmap(width, height)
            start = None
        self._drawn_key = key
        self._right_column = right_column
        background = self._background
        if start is not None and shift:
            self._data.scroll(-shift, 0, self._data.rect())  # before painting: a moved pixmap, not a copy
        painter = QPainter(self._data)
        try:
            if start is None:
                painter.fillRect(0, 0, width, height, background)
                self._paint_grid(painter, 0, width, height)
                self.frames["full"] += 1
                first = 0
            else:
                if shift:
                    painter.fillRect(width - shift, 0, shift, height, background)
                    self._paint_grid(painter, width - shift, width, height)
                self.frames["scrolled"] += 1
                first = start  # from the old right edge: the segment that joins it to the new data
            self._paint_series(painter, first, width, height, px_per_second, background, reduce=start is None)
        finally:
            painter.end()

    def _paint_grid(self, painter: QPainter, left: int, right: int, height: int) -> None:
        """The grid lines between columns ``left`` and ``right`` of the data pixmap."""
        low, high = self._shown_y()
        key = (height, low, high)
        if key != self._grid_key:  # the same rows frame after frame, until the y range changes
            scale = (height - 1) / (high - low) if high > low else 0.0
            ratio = self.devicePixelRatioF()
            self._grid_rows = [round((height - 1) - (value - low) * scale)
                               for value in self._y_ticks(height / ratio)]
            self._grid_key = key
        painter.setPen(self._grid_pen)
        for row in self._grid_rows:
            painter.drawLine(left, row, right - 1, row)

    def _paint_series(self, painter: QPainter, first: int, width: int, height: int,
                      px_per_second: float, background: QColor, reduce: bool) -> None:
        times = self._last_times[first:]
        drawn = [y[first:] for y in self._last_drawn]
        if reduce and len(times) > width:
            times, drawn = reduce_points(times, drawn, limit=max(100, width))
        columns = np.rint(times * px_per_second) - self._right_column + (width - 1)
        low, high = self._shown_y()
        scale = (height - 1) / (high - low) if high > low else 0.0
        baseline = (height - 1) - (0.0 - low) * scale
        order = range(len(drawn) - 1, -1, -1) if self._look.style == "stacked" else range(len(drawn))
        if len(times) <= _SHORT_SEGMENT and drawn:
            # A scrolled frame draws a few points per series: plain floats and a path built point
            # by point cost a fraction of the numpy and arrayToQPath calls per series, cold.
            all_rows = ((height - 1) - (np.vstack(drawn) - low) * scale).tolist()
            column_list = columns.tolist()
            for index in order:
                self._paint_short(painter, column_list, all_rows[index], index, baseline)
            return
        for index in order:  # stacked: the top band first, each lower band over it
            rows = (height - 1) - (drawn[index] - low) * scale
            pen, fill = self._pens[index], self._fills[index]
            for a, b in finite_runs(rows):
                if b - a < 2:
                    continue  # a lone sample between gaps draws nothing, as a line would
                _draw_run(painter, polyline(columns[a:b], rows[a:b]), columns[a], columns[b - 1],
                          baseline, pen, fill)

    def _paint_short(self, painter: QPainter, columns: list[float], rows: list[float], index: int,
                     baseline: float) -> None:
        """One series of a short segment: the same lines and fills as the array path draws."""
        pen, fill = self._pens[index], self._fills[index]
        start = None
        for i in range(len(rows) + 1):
            if i < len(rows) and math.isfinite(rows[i]):
                if start is None:
                    start = i
                continue
            if start is not None and i - start >= 2:  # a lone sample between gaps draws nothing
                path = QPainterPath(QPointF(columns[start], rows[start]))
                for j in range(start + 1, i):
                    path.lineTo(columns[j], rows[j])
                _draw_run(painter, path, columns[start], columns[i - 1], baseline, pen, fill)
            start = None

    # --- painting ---------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        if self._chrome is None or self._chrome.size() != self.size() * self.devicePixelRatioF():
            self._chrome = self._render_chrome()
        elif self.clock_axis and self._chrome_origin != self._last_time:
            self._chrome = self._render_chrome()  # clock labels move with the shown range
        painter = QPainter(self)
        try:
            rect = self._data_rect()
            ours = QRegion(self._legend_rect()).united(QRegion(rect))
            if not event.region().subtracted(ours).isEmpty():
                painter.drawPixmap(0, 0, self._chrome)  # only what the legend and data do not cover
            if self._data is not None and self._last_time is not None:
                if self._data.size() == rect.size():
                    # A plain copy, in bands: Qt's raster engine hands a blit of more than ~95
                    # lines to its thread pool (a wake-up of helper threads per frame, measured
                    # 6 per chart), which costs more than copying the lines on this thread.
                    left, top, width = rect.left(), rect.top(), rect.width()
                    for band in range(0, rect.height(), _BLIT_LINES):
                        lines = min(_BLIT_LINES, rect.height() - band)
                        painter.drawPixmap(left, top + band, self._data, 0, band, width, lines)
                else:  # a high-DPI screen: device pixels into the logical rectangle
                    painter.drawPixmap(QRectF(rect), self._data, QRectF(self._data.rect()))
            if event.region().intersects(self._legend_rect()):  # a new sample alone: the data only
                self._paint_legend(painter)
            if self._off_scale_peak is not None:
                painter.setPen(self._foreground)
                painter.setFont(self._title_plain)
                text = f"↑ peak {display_value(self._off_scale_peak, self.unit)} off scale"
                painter.drawText(rect.adjusted(4, 2, -4, 0), _TOP_RIGHT, text)
            if self._cursor_x is not None:
                painter.setPen(QPen(QColor("#888888"), 0))
                painter.drawLine(QPointF(self._cursor_x, rect.top()), QPointF(self._cursor_x, rect.bottom()))
        finally:
            painter.end()

    def _render_chrome(self) -> QPixmap:
        """Background, axis lines, ticks and labels: redrawn only when they change."""
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        background, foreground = self._background, self._foreground
        pixmap.fill(background)
        rect = self._data_rect()
        painter = QPainter(pixmap)
        try:
            painter.setPen(QPen(foreground, 0))
            painter.setFont(self.font())
            metrics = self._axis_metrics
            painter.drawLine(rect.left() - 1, rect.top(), rect.left() - 1, rect.bottom() + 1)
            painter.drawLine(rect.left() - 1, rect.bottom() + 1, rect.right(), rect.bottom() + 1)
            # Left axis: 4-5 labelled ticks with units, as UnitAxis.
            low, high = self._shown_y()
            for value in self._y_ticks(rect.height()):
                y = rect.bottom() - (value - low) / (high - low) * (rect.height() - 1)
                painter.drawLine(QPointF(rect.left() - 1 - _TICK, y), QPointF(rect.left() - 1, y))
                label = axis_label(value, self.unit)
                box = QRectF(0, y - metrics.height() / 2, rect.left() - _TICK - 4, metrics.height())
                painter.drawText(box, _RIGHT_CENTRED, label)
            # Bottom axis: "seconds ago" (or clock time) at whole multiples of the major spacing.
            span = self._shown_span
            major, minor = _tick_spacing(span)
            per_second = rect.width() / span
            origin = self._last_time if self.clock_axis else None
            self._chrome_origin = self._last_time
            count = int(span / minor)
            for step_index in range(count + 1):
                ago = step_index * minor
                x = rect.right() - ago * per_second
                is_major = step_index % round(major / minor) == 0
                tick = _TICK if is_major else 2
                painter.drawLine(QPointF(x, rect.bottom() + 1), QPointF(x, rect.bottom() + 1 + tick))
                if is_major and ago < span:
                    if origin is not None:
                        fmt = "%H:%M:%S" if major < 60 else "%H:%M"
                        label = time.strftime(fmt, time.localtime(origin - ago))
                    else:
                        label = format_ago(-ago)
                    width = metrics.horizontalAdvance(label)
                    label_y = rect.bottom() + 2 + _TICK + metrics.ascent()
                    painter.drawText(QPointF(x - width / 2, label_y), label)
        finally:
            painter.end()
        return pixmap

    def _legend_runs(self) -> list[tuple[float, str, str]]:
        """The title line as (x, colour name or "" for the text colour, text) runs: the title, then
        "■ label value" per series, as many as fit, then "+N more"."""
        runs: list[tuple[float, str, str]] = []
        x = float(self._left)
        if self._title:
            runs.append((x, "title", self._title))
            if self._title_width is None or self._title_width[0] != self._title:  # measured once
                bold = QFontMetrics(self._title_bold)
                self._title_width = (self._title, bold.horizontalAdvance(self._title))
            x += self._title_width[1] + self._text_width(_GAP)
        if not self._legend:
            return runs
        entries = []
        for sid, label in self._labels.items():
            y = self._last_ys.get(sid)
            value = PlotLook.legend_value(y, self.unit) if y is not None else None
            entries.append((self._colors[sid], f"■ {label}", "" if value is None else f" {value}"))
        # The values often read the same frame after frame ("0 B/s"): then so does the line.
        key = (x, self._legend_rect().right(), entries)
        if key == self._legend_key:
            return [*runs, *self._legend_tail]
        head = len(runs)
        gap = self._text_width(_GAP)
        widths = [self._text_width(mark + value) + gap for _c, mark, value in entries]
        room = self._legend_rect().right() - 8
        more_width = self._text_width("+99 more")
        fits_all = x + sum(widths) <= room
        for index, (color, mark, value) in enumerate(entries):
            limit = room - (0 if fits_all or index == len(entries) - 1 else more_width)
            if x + widths[index] > limit:
                runs.append((x, "", f"+{len(entries) - index} more"))
                break
            runs.append((x, color, mark))
            runs.append((x + self._text_width(mark), "", value))
            x += widths[index]
        self._legend_key, self._legend_tail = key, runs[head:]
        return runs

    def _static_text(self, text: str) -> QStaticText:
        """Laid-out text, kept: drawing a ``QStaticText`` skips the shaping ``drawText`` redoes."""
        static = self._static_texts.get(text)
        if static is None:
            if len(self._static_texts) > 256:  # values change: keep the cache small
                self._static_texts.clear()
            static = self._static_texts[text] = QStaticText(text)
            static.setTextFormat(Qt.TextFormat.PlainText)
        return static

    def _paint_legend(self, painter: QPainter) -> None:
        rect = self._legend_rect()
        painter.fillRect(rect, self._background)
        top = rect.top() + 3
        for x, color, text in self._legend_shown:
            if color == "title":
                painter.setFont(self._title_bold)
                painter.setPen(self._foreground)
                painter.drawText(QPointF(x, top + self._title_metrics.ascent()), text)
                painter.setFont(self._title_plain)
                continue
            painter.setPen(QColor(color) if color else self._foreground)
            painter.drawStaticText(QPointF(x, top), self._static_text(text))

    # --- events -----------------------------------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._boxes = None
        self._invalidate()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self._update_style()
            self._invalidate()
        super().changeEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        rect = self._data_rect()
        position = event.position()
        if not rect.contains(position.toPoint()) or not len(self._last_x):
            self._hide_readout()
            return
        seconds = (position.x() - rect.right()) / rect.width() * self._shown_span
        background, foreground = self._background, self._foreground
        header, rows = self.readout_rows(seconds)
        self._readout.setText(readout_html(header, rows, self._colors, self._labels, foreground))
        self._readout.setStyleSheet(f"QLabel {{ background: {background.name()}; border: 1px solid "
                                    f"{foreground.name()}; }}")
        self._readout.adjustSize()
        # Beside the pointer, on the side with room, so it never hides what is pointed at.
        size = self._readout.size()
        x = position.x() + 12 if position.x() < rect.center().x() else position.x() - 12 - size.width()
        y = position.y() + 12 if position.y() < rect.center().y() else position.y() - 12 - size.height()
        self._readout.move(QPoint(round(x), round(y)))
        self._readout.show()
        old = self._cursor_x
        self._cursor_x = position.x()
        for at in (old, self._cursor_x):
            if at is not None:
                self.update(QRect(round(at) - 1, rect.top(), 3, rect.height() + 1))

    def leaveEvent(self, event: QEvent) -> None:
        self._hide_readout()
        super().leaveEvent(event)

    def _hide_readout(self) -> None:
        self._readout.hide()
        if self._cursor_x is not None:
            rect = self._data_rect()
            self.update(QRect(round(self._cursor_x) - 1, rect.top(), 3, rect.height() + 1))
            self._cursor_x = None
