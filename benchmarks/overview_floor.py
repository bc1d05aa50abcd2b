#!/usr/bin/env python3
"""What one Overview frame could cost in PySide6 at best: a lower bound for a redesign.

    DISPLAY=:81 python benchmarks/overview_floor.py [--seconds 40] [--widgets one|many]

Not PerfDeck's Overview: a sketch with the same visible work and nothing else. Six tiles (caption,
value, detail), four strip charts 480x260 with 6, 2, 2 and 2 series that scroll one column a
second and draw the new segment, and no sampling (synthetic values). ``--widgets one`` paints
everything in a single widget (one paint event a frame, text drawn with QPainter); ``many`` uses a
QLabel per text and a widget per chart, as the real Overview does; ``--idle`` changes nothing (the
wake-up alone). It prints the GUI thread's CPU
per frame once a second (cold, like the real window) over ``--seconds``.

Compare with ``gui_replay.py --tab Overview`` (the real Overview, same spacing): the difference
is what Python per frame in the real one costs beyond the drawing itself. A measurement script
for docs/performance.md, not a test and not product code.
"""

from __future__ import annotations

import argparse
import random
import time

from PySide6.QtCore import QPointF, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QGridLayout, QLabel, QVBoxLayout, QWidget

CHART_SERIES = (6, 2, 2, 2)
TILES = ("CPU", "Memory", "Swap", "Disks", "Network", "Processes")
COLORS = [QColor(c) for c in ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")]


class Chart:
    """A scrolling pixmap and the last value of each series."""

    def __init__(self, series: int, width: int, height: int) -> None:
        self.pixmap = QPixmap(width, height)
        self.pixmap.fill(QColor("white"))
        self.last = [random.random() * height for _ in range(series)]
        self.pens = [QPen(COLORS[i % len(COLORS)], 0) for i in range(series)]

    def advance(self, step: int) -> None:
        width, height = self.pixmap.width(), self.pixmap.height()
        self.pixmap.scroll(-step, 0, self.pixmap.rect())
        painter = QPainter(self.pixmap)
        painter.fillRect(width - step, 0, step, height, QColor("white"))
        for index, pen in enumerate(self.pens):
            new = min(height - 1, max(0.0, self.last[index] + random.uniform(-10, 10)))
            path = QPainterPath(QPointF(width - 1 - step, self.last[index]))
            path.lineTo(width - 1, new)
            painter.setPen(pen)
            painter.drawPath(path)
            self.last[index] = new
        painter.end()


class OneWidget(QWidget):
    """Everything in one paint event."""

    def __init__(self) -> None:
        super().__init__()
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.charts = [Chart(n, 480, 260) for n in CHART_SERIES]
        self.values = {name: ("—", "") for name in TILES}
        self.big = QFont(self.font())
        self.big.setPointSizeF(self.big.pointSizeF() * 1.5)
        self.big.setBold(True)

    def tile_rect(self, index: int) -> QRect:
        return QRect(10 + index * 163, 10, 155, 70)

    def chart_rect(self, index: int) -> QRect:
        return QRect(10 + (index % 2) * 490, 100 + (index // 2) * 290, 480, 260)

    def frame(self, tick: int) -> None:
        for index, chart in enumerate(self.charts):
            chart.advance(2)
            self.update(self.chart_rect(index))
        for index, name in enumerate(TILES):
            value = (f"{random.random() * 100:.1f} %", f"load {random.random():.2f}")
            if value != self.values[name]:
                self.values[name] = value
                self.update(self.tile_rect(index))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        region = event.region()
        for index, name in enumerate(TILES):
            rect = self.tile_rect(index)
            if not region.intersects(rect):
                continue
            painter.fillRect(rect, QColor("#f0f0f0"))
            painter.setFont(self.font())
            painter.drawText(rect.adjusted(8, 4, 0, 0), Qt.AlignmentFlag.AlignTop, name)
            painter.setFont(self.big)
            painter.drawText(rect.adjusted(8, 20, 0, 0), Qt.AlignmentFlag.AlignTop, self.values[name][0])
            painter.setFont(self.font())
            painter.drawText(rect.adjusted(8, 50, 0, 0), Qt.AlignmentFlag.AlignTop, self.values[name][1])
        for index, chart in enumerate(self.charts):
            rect = self.chart_rect(index)
            if region.intersects(rect):
                painter.drawPixmap(rect.topLeft(), chart.pixmap)
        painter.end()


class ChartWidget(QWidget):
    def __init__(self, chart: Chart) -> None:
        super().__init__()
        self.chart = chart
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setFixedSize(chart.pixmap.size())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self.chart.pixmap)
        painter.end()


class ManyWidgets(QWidget):
    """A label per text and a widget per chart, as the real Overview."""

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        row = QGridLayout()
        self.labels = {}
        for index, name in enumerate(TILES):
            caption, value, detail = QLabel(name), QLabel("—"), QLabel("")
            for column, label in enumerate((caption, value, detail)):
                label.setFixedSize(150, 22)
                label.setAutoFillBackground(True)
                row.addWidget(label, column, index)
            self.labels[name] = (value, detail)
        layout.addLayout(row)
        grid = QGridLayout()
        self.charts = [Chart(n, 480, 260) for n in CHART_SERIES]
        self.chart_widgets = [ChartWidget(chart) for chart in self.charts]
        for index, widget in enumerate(self.chart_widgets):
            grid.addWidget(widget, index // 2, index % 2)
        layout.addLayout(grid)

    def frame(self, tick: int) -> None:
        for chart, widget in zip(self.charts, self.chart_widgets, strict=True):
            chart.advance(2)
            widget.update()
        for value, detail in self.labels.values():
            value.setText(f"{random.random() * 100:.1f} %")
            detail.setText(f"load {random.random():.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--widgets", choices=("one", "many"), default="one")
    parser.add_argument("--idle", action="store_true",
                        help="the timer fires but nothing changes: the cost of the wake-up alone")
    args = parser.parse_args()
    app = QApplication([])
    window = OneWidget() if args.widgets == "one" else ManyWidgets()
    window.resize(1000, 700)
    window.show()
    state = {"tick": 0, "cpu": 0.0, "frames": 0}

    def tick() -> None:
        state["tick"] += 1
        if state["tick"] == 5:  # settled: start counting
            state["cpu"] = time.thread_time()
            state["frames"] = 0
        if not args.idle:
            window.frame(state["tick"])
        state["frames"] += 1
        if state["tick"] >= 5 + args.seconds:
            used = time.thread_time() - state["cpu"]
            what = f"{args.widgets} widget(s){' idle' if args.idle else ''}"
            print(f"{what}: {1e3 * used / state['frames']:.3f} ms GUI-thread CPU per frame over "
                  f"{state['frames']} frames 1 s apart ({100 * used / args.seconds:.3f} % of a core)")
            app.quit()

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(1000)
    app.exec()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
