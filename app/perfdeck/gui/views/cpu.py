"""CPU: machine-wide utilisation by state, per-CPU heatmap and bars, frequency and load.

The per-CPU part is an image (CPU x time) plus one thin bar per CPU, so it stays readable from
2 to 256 logical CPUs where one curve per CPU would be a tangle.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from perfdeck.gui.plots import BarStrip, HeatmapPlot, reserve_right
from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.gui.views.common import PlotPanel, core_ids, has_values
from perfdeck.model.series import Snapshot, Unavailable

UTIL_PARTS = ("user", "system", "iowait", "irq", "softirq", "steal")
# Width of the heatmap's colour bar and its labels, so both plots share one time axis.
HEATMAP_RIGHT_MARGIN = 64


class CpuView(View):
    """Utilisation (total and by state), per-CPU heatmap + bars, frequency, load average."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        self.reason_label = UnavailableLabel(self)
        layout.addWidget(self.reason_label)
        self.facts = QLabel("")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.facts)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        # Stacked by state: the bands add up to the total busy time.
        self.util = PlotPanel("Utilisation by state", "%", (0, 100), style="stacked")
        self.util.plot.set_series([(f"cpu.util.{p}", p) for p in UTIL_PARTS])
        splitter.addWidget(self.util)
        self.util.plot.reserve_right(HEATMAP_RIGHT_MARGIN)

        per_cpu = QWidget()
        per_cpu_layout = QVBoxLayout(per_cpu)
        per_cpu_layout.setContentsMargins(0, 0, 0, 0)
        self.heatmap = HeatmapPlot("Per-CPU utilisation (busy %)", "%", (0.0, 100.0))
        self.bars = BarStrip("%", (0.0, 100.0))
        self.bars.setMaximumHeight(130)
        reserve_right(self.bars, HEATMAP_RIGHT_MARGIN)
        per_cpu_layout.addWidget(self.heatmap, 3)
        per_cpu_layout.addWidget(self.bars, 1)
        splitter.addWidget(per_cpu)

        bottom = QWidget()
        bottom_layout = QGridLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        self.freq = PlotPanel("Frequency (average of CPUs)", "MHz")
        self.freq.plot.set_series([("cpu.freq.avg", "average")])
        self.load = PlotPanel("Load average", "")
        self.load.plot.set_series([("cpu.load.1", "1 min"), ("cpu.load.5", "5 min"),
                                   ("cpu.load.15", "15 min")])
        bottom_layout.addWidget(self.freq, 0, 0)
        bottom_layout.addWidget(self.load, 0, 1)
        bottom_layout.setColumnStretch(0, 1)
        bottom_layout.setColumnStretch(1, 1)
        self.bottom_layout = bottom_layout
        self._freq_ok = True
        splitter.addWidget(bottom)
        splitter.setSizes([200, 320, 180])
        layout.addWidget(splitter, 1)
        self._facts_shown = False

    def refresh(self, snapshot: Snapshot) -> None:
        ctx = self.context
        history, window = ctx.history, ctx.window_seconds
        reason = snapshot.unavailable.get("cpu")
        self.reason_label.set_unavailable(reason, "CPU metrics")
        if not self._facts_shown and ctx.sampler is not None:
            self._show_facts()
        self.util.plot.update_from(history, None, window)

        cores = core_ids(snapshot.specs)
        if cores != self.heatmap.rows:
            self.heatmap.set_rows(cores, [c.rsplit("core", 1)[-1] for c in cores])
        self.heatmap.update_from(history, window)
        self.bars.set_values([snapshot.value(c) for c in cores], [c.rsplit("core", 1)[-1] for c in cores])

        freq_reason = ctx.unavailable("cpu.freq.avg")
        if freq_reason is None and not has_values(history, "cpu.freq.avg", window):
            # No reason given, and no value at all (a recording from a machine without cpufreq,
            # or before the first reading): one line instead of an empty "0 MHz" plot.
            freq_reason = Unavailable("no clock speed readings in this time range")
        self.freq.show_reason(freq_reason)
        if freq_reason is None:
            self.freq.plot.update_from(history, None, window)
        self._place_bottom(freq_reason is None)
        self.load.show_reason(ctx.unavailable("cpu.load.1"))
        self.load.plot.update_from(history, None, window)

    def _place_bottom(self, freq_ok: bool) -> None:
        """Frequency and load side by side; with no clock readings here, the frequency's one line
        goes above a full-width load plot."""
        if freq_ok == self._freq_ok:
            return
        self._freq_ok = freq_ok
        grid = self.bottom_layout
        grid.removeWidget(self.freq)
        grid.removeWidget(self.load)
        if freq_ok:
            grid.addWidget(self.freq, 0, 0)
            grid.addWidget(self.load, 0, 1)
            grid.setRowStretch(1, 0)
        else:
            grid.addWidget(self.freq, 0, 0, 1, 2)
            grid.addWidget(self.load, 1, 0, 1, 2)
            grid.setRowStretch(1, 1)

    def _show_facts(self) -> None:
        # Static facts (model name, cache sizes) do not change: ask once.
        self._facts_shown = True
        sampler = self.context.sampler
        try:
            facts = sampler.engine.static_facts().get("cpu", {}) if sampler is not None else {}
        except Exception:  # facts are decoration; never break the tab for them
            facts = {}
        if facts:
            self.facts.setText(" · ".join(f"{k}: {v}" for k, v in facts.items()))
        else:
            self.facts.hide()
