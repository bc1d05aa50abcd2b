"""Top-down: where the pipeline's slots went, as a stacked 100 % area over time, and per CPU.

Its own tab (next to CPU performance) so that the perf views stay untouched. Level 1 is stacked
for the whole machine; level 2 (Sapphire Rapids and later, P-cores of hybrid parts) gets a second
stack; the heatmap shows one chosen category for every CPU.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from perfdeck.gui.plots import SERIES_COLORS, HeatmapPlot, TimePlot
from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.gui.views.common import natural_key, set_visible
from perfdeck.model.series import Snapshot
from perfdeck.perf.topdown import LEVEL1, LEVEL2, MEANINGS, SMT_CONTENTION, TITLES

EXPLANATION = ("Top-down analysis splits the CPU's pipeline slots (the places where an instruction could "
               "have been issued) into where they went. Start with the largest category that is not "
               "Retiring.")


class StackedShares(TimePlot):
    """Categories stacked bottom to top, each area filled, on a fixed 0-100 % axis.

    The curves are the running sums (retiring, retiring + bad speculation, ...); the fills go
    between consecutive sums. Gaps (no value) stay gaps: nothing is stacked on a missing share.
    """

    def __init__(self, title: str, categories: tuple[str, ...]) -> None:
        # The legend goes in a wrapping label (legend_html): eight names do not fit in a title line.
        super().__init__(title, unit="%", y_range=(0.0, 100.0), legend=False)
        self.categories = categories
        self.set_series((c, TITLES[c]) for c in categories)
        self._base = pg.PlotCurveItem(pen=pg.mkPen(None))
        self.plotItem.addItem(self._base)
        self._fills: list[pg.FillBetweenItem] = []
        below = self._base
        for index, category in enumerate(categories):
            color = QColor(SERIES_COLORS[index % len(SERIES_COLORS)])
            color.setAlpha(150)
            fill = pg.FillBetweenItem(below, self._curves[category], brush=pg.mkBrush(color))
            self.plotItem.addItem(fill)
            self._fills.append(fill)
            below = self._curves[category]

    def set_shares(self, times: np.ndarray, shares: dict[str, np.ndarray], window_seconds: float) -> None:
        if not len(times):
            return
        running = np.zeros(len(times))
        stacked: dict[str, np.ndarray] = {}
        for category in self.categories:
            running = running + shares[category]  # NaN anywhere below makes the rest a gap
            stacked[category] = running.copy()
        self.set_arrays(times, stacked, window_seconds=window_seconds)
        # The base line starts where the first share does, so the first area has no slanted edge.
        finite = np.flatnonzero(np.isfinite(shares[self.categories[0]]))
        start = int(finite[0]) if len(finite) else len(times)
        self._base.setData(times[start:] - times[-1], np.zeros(len(times) - start))

    def legend_html(self) -> str:
        return "&nbsp;&nbsp; ".join(f"<span style='color:{self._colors[c]}'>■</span> {TITLES[c]}"
                                    for c in self.categories)


class TopdownView(View):
    """The tma family: stacked shares for the machine, a heatmap per CPU, and what each means."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        intro = QLabel(EXPLANATION)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.reason_label = UnavailableLabel(self)
        layout.addWidget(self.reason_label)
        self.meanings = QLabel("")
        self.meanings.setWordWrap(True)
        layout.addWidget(self.meanings)
        self.level1: StackedShares | None = None
        self.level2: StackedShares | None = None
        self._legends: list[QLabel] = []
        self.plots = QHBoxLayout()
        layout.addLayout(self.plots, 2)
        row = QHBoxLayout()
        self.per_cpu_label = QLabel("Per CPU:")
        row.addWidget(self.per_cpu_label)
        self.category_box = QComboBox(self)
        self.category_box.currentIndexChanged.connect(self._category_changed)
        row.addWidget(self.category_box)
        row.addStretch(1)
        layout.addLayout(row)
        self.heatmap = HeatmapPlot("", unit="%", levels=(0.0, 100.0))
        layout.addWidget(self.heatmap, 1)
        self.multiplex_label = QLabel("")
        self.multiplex_label.setWordWrap(True)
        layout.addWidget(self.multiplex_label)
        self._categories: tuple[str, ...] = ()

    def _build(self, snapshot: Snapshot) -> None:
        """Make the plots for the categories this machine measures (known once data arrives)."""
        present = {sid.split(".")[1] for sid in snapshot.specs if sid.startswith("tma.")}
        level1 = tuple(c for c in (*LEVEL1, SMT_CONTENTION) if c in present)
        level2 = tuple(c for c in LEVEL2 if c in present)
        if (level1 + level2) == self._categories or not level1:
            return
        self._categories = level1 + level2
        while self.plots.count():  # rebuilt only when the measured categories change
            item = self.plots.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.level1 = StackedShares("Level 1, all CPUs (% of slots)", level1)
        self.level2 = None
        if level2 and any(sid == f"tma.{level2[0]}.total" for sid in snapshot.specs):
            self.level2 = StackedShares("Level 2, all CPUs (% of slots)", level2)
        self._legends = []
        for plot in (self.level1, self.level2):
            if plot is None:
                continue
            column = QWidget(self)
            column_layout = QVBoxLayout(column)
            column_layout.setContentsMargins(0, 0, 0, 0)
            column_layout.addWidget(plot, 1)
            legend = QLabel(plot.legend_html())
            legend.setWordWrap(True)
            column_layout.addWidget(legend)
            self._legends.append(legend)
            self.plots.addWidget(column, 1)
        self.category_box.blockSignals(True)
        self.category_box.clear()
        for category in self._categories:
            self.category_box.addItem(TITLES[category], category)
        self.category_box.blockSignals(False)
        self._category_changed()
        self.meanings.setText("\n".join(f"{TITLES[c]}: {MEANINGS[c]}" for c in level1))

    def _category_changed(self, *_args: object) -> None:
        category = self.category_box.currentData()
        latest = self.context.latest
        if category is None or latest is None:
            return
        rows = sorted((sid for sid in latest.specs if sid.startswith(f"tma.{category}.cpu")),
                      key=natural_key)
        self.heatmap.set_rows(rows, [sid.rsplit(".", 1)[1].replace("cpu", "CPU ") for sid in rows])
        self.heatmap.plotItem.setTitle(f"{TITLES[category]} per CPU (% of slots)", size="9pt")

    def refresh(self, snapshot: Snapshot) -> None:
        whole = snapshot.unavailable.get("tma")
        self.reason_label.set_unavailable(whole, "Top-down analysis")
        for widget in (self.meanings, self.per_cpu_label, self.category_box, self.heatmap):
            set_visible(widget, whole is None)
        if whole is not None:
            return
        self._build(snapshot)
        history, window = self.context.history, self.context.window_seconds
        for plot in (self.level1, self.level2):
            if plot is None:
                continue
            ids = [f"tma.{c}.total" for c in plot.categories]
            times, values = history.window(ids, window)
            plot.set_shares(times, {c: values[f"tma.{c}.total"] for c in plot.categories}, window)
        self.heatmap.update_from(history, window)
        counted = snapshot.value("tma.multiplex_pct.total")
        text = ("" if counted is None or counted >= 99.5 else
                f"Multiplexed: the top-down group ran {counted:.0f} % of the time on the busiest-shared CPU "
                "(other counter groups share the PMU); the shares are scaled to the whole interval.")
        if self.multiplex_label.text() != text:
            self.multiplex_label.setText(text)
