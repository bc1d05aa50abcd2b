"""Building blocks shared by the built-in tabs: series lookup, plot panels, value tiles."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from PySide6.QtCore import QEvent, QModelIndex, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
    QHeaderView,
    QLabel,
    QLayout,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.plots import TimePlot
from perfdeck.gui.strip import StripChart
from perfdeck.gui.views.base import UnavailableLabel, fix_label_size
from perfdeck.model.history import History
from perfdeck.model.series import SeriesSpec, Unavailable

_DIGITS = re.compile(r"(\d+)")


def readonly_table(columns: Sequence[str], parent: QWidget, max_height: int = 170) -> QTableWidget:
    """A compact, read-only table with stretched columns (filesystems, interfaces)."""
    table = QTableWidget(0, len(columns), parent)
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    table.setMaximumHeight(max_height)
    return table


class UsageBarDelegate(QStyledItemDelegate):
    """Draws a cell holding a percentage (``Qt.UserRole``) as a usage bar with its text on it;
    a cell without a number draws as plain text ("—")."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        value = index.data(Qt.ItemDataRole.UserRole)
        if not isinstance(value, (int, float)):
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = round(max(0.0, min(100.0, float(value))) * 10)
        bar.text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        bar.palette = option.palette
        style = option.widget.style() if option.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)


def natural_key(text: str) -> list[object]:
    """Sort key putting core2 before core10."""
    return [int(part) if part.isdigit() else part for part in _DIGITS.split(text)]


def instances(specs: Mapping[str, SeriesSpec], prefix: str) -> list[str]:
    """Instance names of ``<prefix>.<instance>`` ids, naturally sorted (``disk.read.`` -> sda, sdb)."""
    if not prefix.endswith("."):
        prefix += "."
    found = {sid[len(prefix):] for sid in specs if sid.startswith(prefix) and "." not in sid[len(prefix):]}
    return sorted(found, key=natural_key)


def core_ids(specs: Mapping[str, SeriesSpec]) -> list[str]:
    """``cpu.util.coreN`` ids in CPU order."""
    pattern = re.compile(r"^cpu\.util\.core(\d+)$")
    cores = [(int(m.group(1)), sid) for sid in specs if (m := pattern.match(sid))]
    return [sid for _, sid in sorted(cores)]


def recent_value(history: History, series_id: str, max_age_seconds: float = 30.0) -> float | None:
    """The latest finite value of a series within ``max_age_seconds``, or None.

    Slow families (the process list) are read every few seconds, so the latest tick often has
    no value for them; a tile should show the last reading rather than flicker to "—".
    """
    return history.recent(series_id, max_age_seconds)


def has_values(history: History, series_id: str, seconds: float) -> bool:
    """Whether ``series_id`` has any value in the last ``seconds`` of ``history``."""
    _times, values = history.window([series_id], seconds)
    return bool(np.isfinite(values[series_id]).any())


def set_visible(widget: QWidget, visible: bool) -> None:
    """Show or hide ``widget`` only if that changes something (each call re-lays out the tab)."""
    if widget.isHidden() == visible:
        widget.setVisible(visible)


def nansum(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Element-wise sum where NaN counts as missing; all-missing stays NaN (a gap, not 0)."""
    if not arrays:
        return np.empty(0)
    stacked = np.vstack(arrays)
    total = np.nansum(stacked, axis=0)
    total[np.isnan(stacked).all(axis=0)] = np.nan
    return total


class PlotPanel(QWidget):
    """A ``TimePlot`` that gives way to an inline reason when its series cannot be read."""

    def __init__(self, title: str, unit: str, y_range: tuple[float, float] | None = None,
                 parent: QWidget | None = None, style: str = "line",
                 chart: type[TimePlot] | type[StripChart] = TimePlot) -> None:
        """``chart``: ``StripChart`` for a plot that only ever follows "now" (it scrolls its pixels)."""
        super().__init__(parent)
        self.title = title
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.reason_label = UnavailableLabel(self)
        self.reason_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.plot = chart(title, unit=unit, y_range=y_range, style=style)
        self._shown_reason: Unavailable | str | None = None
        layout.addWidget(self.reason_label)
        layout.addWidget(self.plot, 1)

    def show_reason(self, reason: Unavailable | str | None) -> None:
        """Show why nothing can be plotted (or, with None, the plot again). Without its plot the
        panel shrinks to the one line, so the plots that work get the room."""
        if reason == self._shown_reason and self.plot.isHidden() == (reason is not None):
            return  # asked every refresh, and nearly always the same: no call into Qt
        self._shown_reason = reason
        self.reason_label.set_unavailable(reason, self.title)
        set_visible(self.plot, reason is None)
        vertical = QSizePolicy.Policy.Preferred if reason is None else QSizePolicy.Policy.Maximum
        if self.sizePolicy().verticalPolicy() != vertical:
            self.setSizePolicy(QSizePolicy.Policy.Preferred, vertical)

    def update_from(self, history: History, ids: Iterable[str], window_seconds: float,
                    labels: Mapping[str, str] | None = None) -> None:
        ids = list(ids)
        if set(self.plot.series_ids) - set(ids):
            self.plot.keep_only(ids)  # what is no longer asked for is no longer drawn
        if labels:
            self.plot.set_series((i, labels.get(i, i)) for i in ids)
        self.plot.update_from(history, ids, window_seconds)


class ValueTile(QFrame):
    """A caption and a large current value, e.g. "CPU" / "37.5 %", with a detail line.

    The tile takes the width its layout gives it (a row of tiles never widens the window). Its
    labels get a fixed size on every resize, so a new value each second repaints only the label
    (see ``fix_label_size``); text wider than the tile is elided, with the whole text as tooltip.
    """

    def __init__(self, caption: str, parent: QWidget | None = None,
                 widest_value: str = "888.8 MiB/s", widest_detail: str = "888.8 MiB of 888.8 GiB") -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        # The labels' fixed sizes must not become the tile's minimum width.
        layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(90)
        self.caption = QLabel(caption)
        self.value = QLabel("—")
        font = QFont(self.value.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.value.setFont(font)
        self.detail = QLabel("")
        self._texts = {self.caption: caption, self.value: "—", self.detail: ""}
        self._shown_widths: dict[QLabel, int] = {}  # the width each text was last fitted to
        self._scaled_fonts: list[tuple[QFont, QFontMetrics]] | None = None  # see _value_fonts
        self._value_scale = -1  # which of them the value label has (-1: not chosen yet)
        self._widest = {self.caption: caption, self.value: widest_value, self.detail: widest_detail}
        for label in (self.caption, self.value, self.detail):
            fix_label_size(label, self._widest[label], opaque=True)
            layout.addWidget(label)
        self.setFixedHeight(layout.sizeHint().height())

    def sizeHint(self) -> QSize:
        widest = max(self.value.fontMetrics().horizontalAdvance(self._widest[self.value]),
                     self.detail.fontMetrics().horizontalAdvance(self._widest[self.detail]))
        widest = max(widest, self.caption.fontMetrics().horizontalAdvance(self._widest[self.caption]))
        return QSize(widest + 24, self.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(90, self.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        width = max(10, self.contentsRect().width() - 20)
        for label, text in self._texts.items():
            label.setFixedWidth(width)
            self._show(label, text)

    def _show(self, label: QLabel, text: str) -> None:
        width = label.width()
        if self._texts.get(label) == text and self._shown_widths.get(label) == width:
            return  # the same text at the same width: nothing to measure or repaint
        self._texts[label] = text
        self._shown_widths[label] = width
        if label is self.value:
            # A number is never cut: a narrow tile draws it smaller first (1.5x, 1.25x, 1x).
            fonts = self._value_fonts()
            for index, (_font, metrics) in enumerate(fonts):
                needed = metrics.horizontalAdvance(text)
                if needed <= width or index == len(fonts) - 1:
                    break
            if index != self._value_scale:
                self._value_scale = index
                label.setFont(fonts[index][0])
            # It fits: nothing to elide, and no second measurement.
            shown = text if needed <= width else metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)
        else:
            shown = label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, width)
        if label.text() != shown:
            label.setText(shown)
            label.setToolTip(text if shown != text else "")

    def _value_fonts(self) -> list[tuple[QFont, QFontMetrics]]:
        """The value's bold fonts at 1.5x, 1.25x and 1x the caption's, with their metrics: built
        once and kept until the font changes (three fonts and metrics a change cost more, cold,
        than drawing the number)."""
        if self._scaled_fonts is None:
            self._scaled_fonts = []
            for scale in (1.5, 1.25, 1.0):
                font = QFont(self.caption.font())
                font.setPointSizeF(font.pointSizeF() * scale)
                font.setBold(True)
                self._scaled_fonts.append((font, QFontMetrics(font)))
        return self._scaled_fonts

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:
            self._scaled_fonts = None
            self._value_scale = -1
            self._shown_widths.clear()  # measure again in the new font
        super().changeEvent(event)

    def set_value(self, value: str, detail: str = "") -> None:
        self._show(self.value, value)
        self._show(self.detail, detail)
