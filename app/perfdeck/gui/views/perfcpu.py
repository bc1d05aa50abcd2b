"""CPU performance: IPC, effective GHz, branch misses, TLB misses, stalls and software counters.

Reads the ``perf.*`` series of ``perfdeck.collectors.perfcounters`` from History: each metric has a
``.total`` and one ``.cpuN`` per CPU. The per-CPU view is one heatmap (CPU x time) for a chosen
metric, readable from 2 to 256 CPUs; the totals are small plots. Any plot whose series cannot be
read shows the collector's reason inline, with a link to the Diagnostics tab, instead of an empty
or zero curve. The counting mode and the measured multiplexing ratio are shown at the top.

``CounterTab`` is shared with the Cache tab (``perfdeck.gui.views.cache``).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.plots import HeatmapPlot, axis_label, nice_ceiling
from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.gui.views.common import PlotPanel, recent_value
from perfdeck.gui.views.process_counters import ProcessCountersPanel, connect_process_selection
from perfdeck.model.names import plain_reason
from perfdeck.model.series import Snapshot, Unavailable

DIAGNOSTICS_TAB = "Diagnostics"
_LINK = f'<a href="diagnostics">Open {DIAGNOSTICS_TAB}</a>'


def open_diagnostics(widget: QWidget) -> bool:
    """Switch the main window to the Diagnostics tab (False when there is no such window)."""
    window = widget.window()
    select = getattr(window, "select_tab", None)
    return bool(select(DIAGNOSTICS_TAB)) if callable(select) else False


@dataclass(frozen=True)
class HeatMetric:
    """A per-CPU metric offered in the heatmap: ``perf.<name>.cpuN`` rows."""

    name: str
    label: str
    unit: str
    floor: float  # smallest colour-scale maximum, so noise near 0 does not fill the scale
    fixed: tuple[float, float] | None = None  # fixed levels (percentages)


@dataclass(frozen=True)
class TotalPlot:
    """One small plot of ``.total`` series: (metric name, curve label) pairs with one unit."""

    title: str
    unit: str
    series: tuple[tuple[str, str], ...]
    y_range: tuple[float, float] | None = None


_NEEDS = re.compile(r"\s*\(needs [^)]*\)\s*$")
_CPU_ROW = re.compile(r"^perf\.([a-z0-9_]+)\.cpu(\d+)$")


def per_cpu_ids(specs: Sequence[str], metric: str) -> list[str]:
    """``perf.<metric>.cpuN`` ids in CPU order."""
    rows = [(int(m.group(2)), sid) for sid in specs if (m := _CPU_ROW.match(sid)) and m.group(1) == metric]
    return [sid for _, sid in sorted(rows)]


class UnavailableSummary(QLabel):
    """Every plot of the tab that cannot be drawn, grouped by reason: one compact banner.

    Plain words first ("Hardware counters are off in this virtual machine: IPC, Effective clock
    and Branch misses are not shown"), the exact reason and fix behind "Details", and a link to
    the Diagnostics tab. Said once, never once per plot.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.setObjectName("unavailableSummary")
        self.setContentsMargins(8, 6, 8, 6)
        self.setStyleSheet("#unavailableSummary { border: 1px solid palette(mid); border-radius: 4px; }")
        self.linkActivated.connect(self._on_link)
        self.groups: dict[Unavailable, list[str]] = {}
        self.expanded = False
        self.hide()

    def _on_link(self, href: str) -> None:
        if href == "diagnostics":
            open_diagnostics(self)
            return
        self.expanded = href == "details"
        self._render()

    def set_groups(self, groups: dict[Unavailable, list[str]]) -> None:
        """``{reason: [plot titles]}``; empty hides the box."""
        if groups == self.groups:
            return
        self.groups = groups
        if not groups:
            self.hide()
            return
        self._render()
        self.show()

    def full_text(self) -> str:
        """Every group in plain text: the plots, the reason and the fix."""
        lines = []
        for reason, titles in self.groups.items():
            lines.append(f"{', '.join(titles)}: {reason.reason}")
            if reason.fix:
                lines.append(f"Fix: {reason.fix}")
        return "\n".join(lines)

    def _render(self) -> None:
        parts = []
        for reason, titles in self.groups.items():
            text = (f"⚠ <b>{html.escape(plain_reason(reason.reason))}</b>: "
                    f"{html.escape(_and_list(titles))} {'is' if len(titles) == 1 else 'are'} not shown.")
            if self.expanded:
                text += f"<br/>{html.escape(reason.reason)}"
                if reason.fix:
                    text += f"<br/><b>Fix:</b> {html.escape(reason.fix)}"
            parts.append(text)
        toggle = "<a href='hide'>Hide details</a>" if self.expanded else "<a href='details'>Details</a>"
        self.setToolTip(self.full_text())
        self.setText("<br/>".join(parts) + f" &nbsp;{toggle} &nbsp;{_LINK}")


def _and_list(items: Sequence[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


class CounterTab(View):
    """Status line (mode, multiplexing), a per-CPU heatmap for one metric, and total plots.

    Plots whose series are all unavailable are taken out of the grid and listed, grouped by
    reason, in one box above it (with the fix and a link to the Diagnostics tab), so the plots
    that do work get the space.
    """

    HEAT_METRICS: tuple[HeatMetric, ...] = ()
    TOTAL_PLOTS: tuple[TotalPlot, ...] = ()
    COLUMNS = 4
    SHOW_PROCESS_PANEL = False

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        self.family_reason = UnavailableLabel(self)
        layout.addWidget(self.family_reason)
        status = QHBoxLayout()
        self.mode_label = QLabel("")
        self.mode_label.setWordWrap(True)
        self.mode_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.diag_link = QLabel(f'<a href="diagnostics">{DIAGNOSTICS_TAB}…</a>')
        self.diag_link.setToolTip("What works on this machine, why not, and how to fix it")
        self.diag_link.linkActivated.connect(lambda _href: open_diagnostics(self))
        status.addWidget(self.mode_label, 1)
        status.addWidget(self.diag_link)
        layout.addLayout(status)
        self.summary = UnavailableSummary(self)
        layout.addWidget(self.summary)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        heat_box = QWidget()
        heat_layout = QVBoxLayout(heat_box)
        heat_layout.setContentsMargins(0, 0, 0, 0)
        self.chooser_box = QWidget()
        chooser = QHBoxLayout(self.chooser_box)
        chooser.setContentsMargins(0, 0, 0, 0)
        chooser.addWidget(QLabel("Per CPU:"))
        self.metric_combo = QComboBox()
        for metric in self.HEAT_METRICS:
            self.metric_combo.addItem(self._metric_text(metric, None), metric.name)
        self.metric_combo.currentIndexChanged.connect(self._metric_changed)
        chooser.addWidget(self.metric_combo)
        self.heat_reason = QLabel("")
        self.heat_reason.setWordWrap(True)
        self.heat_reason.setTextFormat(Qt.TextFormat.RichText)
        self.heat_reason.linkActivated.connect(lambda _href: open_diagnostics(self))
        chooser.addWidget(self.heat_reason, 1)
        heat_layout.addWidget(self.chooser_box)
        self.heat_box = heat_box
        first = self.HEAT_METRICS[0] if self.HEAT_METRICS else None
        self.heatmap = HeatmapPlot("", first.unit if first else "", (0.0, first.floor if first else 1.0))
        heat_layout.addWidget(self.heatmap, 1)
        # Takes the space only while the heatmap is hidden, keeping the chooser row at the top.
        heat_layout.addStretch(0)
        self.heatmap.colorbar.axis.setWidth(64)  # room for "10 k/s"
        splitter.addWidget(heat_box)

        grid_box = QWidget()
        self.grid_box = grid_box
        self.grid = QGridLayout(grid_box)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.panels: dict[str, PlotPanel] = {}
        for spec in self.TOTAL_PLOTS:
            panel = PlotPanel(spec.title, spec.unit, spec.y_range)
            panel.plot.set_series((f"perf.{name}.total", label) for name, label in spec.series)
            self.panels[spec.title] = panel
        self._shown_panels: list[str] | None = None
        self._layout_panels([s.title for s in self.TOTAL_PLOTS])
        splitter.addWidget(grid_box)
        self.process_panel: ProcessCountersPanel | None = None
        if self.SHOW_PROCESS_PANEL:
            self.process_panel = ProcessCountersPanel(
                self, reason_for=lambda metric: self.context.unavailable(f"perf.{metric}.total"))
            splitter.addWidget(self.process_panel)
            splitter.setSizes([250, 330, 140])
        else:
            splitter.setSizes([300, 360])
        layout.addWidget(splitter, 1)
        self._heat_rows_metric: str | None = None
        self._mode_text: str | None = None
        self._connected = False
        self._auto_picked = False

    # --- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _metric_text(metric: HeatMetric, reason: Unavailable | None) -> str:
        text = f"{metric.label} ({metric.unit})"
        return f"{text} — unavailable" if reason is not None else text

    def current_heat_metric(self) -> HeatMetric | None:
        name = self.metric_combo.currentData()
        return next((m for m in self.HEAT_METRICS if m.name == name), None)

    def select_heat_metric(self, name: str) -> None:
        index = self.metric_combo.findData(name)
        if index >= 0:
            self.metric_combo.setCurrentIndex(index)

    def _metric_changed(self, _index: int) -> None:
        self._heat_rows_metric = None
        if self.context.latest is not None:
            self.refresh(self.context.latest)

    def _layout_panels(self, titles: list[str]) -> None:
        """Put exactly these panels in the grid, in catalogue order; hide the others."""
        if titles == self._shown_panels:
            return
        for panel in self.panels.values():
            self.grid.removeWidget(panel)
            panel.hide()
        for index, title in enumerate(titles):
            panel = self.panels[title]
            self.grid.addWidget(panel, index // self.COLUMNS, index % self.COLUMNS)
            panel.show()
        self._shown_panels = list(titles)
        self.grid_box.setVisible(bool(titles))

    def _family_reason(self, snapshot: Snapshot) -> Unavailable | None:
        """Why the whole perf family gives nothing (not registered, failed, or unavailable)."""
        reason = snapshot.unavailable.get("perf")
        if reason is not None:
            return reason
        failure = snapshot.failures.get("perf")
        if failure:
            return Unavailable(f"the hardware-counter collector failed: {failure}")
        if not any(sid.startswith("perf.") for sid in snapshot.specs) and not any(
                key.startswith("perf.") for key in snapshot.unavailable):
            return Unavailable("the hardware-counter collector (perf family) is not running",
                               "start PerfDeck with the perf family enabled (it is on by default)")
        return None

    def _series_reason(self, series_ids: Sequence[str]) -> Unavailable | None:
        """The reason when EVERY series is unavailable, else None (partial data is plotted)."""
        reasons = [self.context.unavailable(sid) for sid in series_ids]
        if reasons and all(r is not None for r in reasons):
            return reasons[0]
        return None

    def _metric_reason(self, metric: HeatMetric, ids: list[str]) -> Unavailable | None:
        if ids:
            return self._series_reason(ids)
        return (self.context.unavailable(f"perf.{metric.name}.cpu0")
                or self.context.unavailable(f"perf.{metric.name}.total"))

    def _mode_line(self) -> str:
        if self._mode_text is None:
            self._mode_text = self._collector_mode()
        mode_text = self._mode_text
        if mode_text is None:
            # Before the collector has opened (or without a sampler): what the doctor predicts
            # from files only (cheap; nothing is opened).
            from perfdeck.perf.doctor import counting_mode
            from perfdeck.perf.system import probe

            try:
                mode_text = f"{counting_mode(probe()).summary} (expected)"
            except Exception as exc:  # a probe failure must not break the tab
                mode_text = f"unknown ({exc})"
        mux = recent_value(self.context.history, "perf.multiplex_pct.total")
        if mux is None:
            mux_text = "no hardware counters running, so nothing multiplexes"
        elif mux >= 99.5:
            mux_text = "hardware counters ran 100 % of the time (no multiplexing)"
        else:
            mux_text = (f"hardware counters ran {mux:.0f} % of the time: multiplexed, values scaled by "
                        "time_enabled/time_running")
        return f"Counting mode: {mode_text}. Multiplexing: {mux_text}."

    def _collector_mode(self) -> str | None:
        """The mode the running perf collector reports in its static facts, once it has opened."""
        engine = getattr(self.context.sampler, "engine", None)
        if engine is None:
            return None
        try:
            facts = engine.static_facts().get("perf", {})
        except Exception:  # the engine belongs to the sampling thread; a race must not break us
            return None
        return facts.get("mode") or None

    # --- View hooks ------------------------------------------------------------------------------
    def refresh(self, snapshot: Snapshot) -> None:
        ctx = self.context
        history, window = ctx.history, ctx.window_seconds
        if self.process_panel is not None and not self._connected:
            self._connected = connect_process_selection(self, self.process_panel)
        family = self._family_reason(snapshot)
        self.family_reason.set_unavailable(family, "Hardware counters")
        text = self._mode_line()
        if self.mode_label.text() != text:
            self.mode_label.setText(text)
        shown: list[str] = []
        groups: dict[str, tuple[Unavailable, list[str]]] = {}
        for spec in self.TOTAL_PLOTS:
            ids = [f"perf.{name}.total" for name, _label in spec.series]
            reason = None if family is not None else self._series_reason(ids)
            if reason is None and family is None:
                shown.append(spec.title)
                self.panels[spec.title].plot.update_from(history, ids, window)
                # A curve this machine cannot give (AMD: no active clock) is named in the box
                # above with its reason, rather than silently missing from a plot that is shown.
                for (_name, label), sid in zip(spec.series, ids, strict=True):
                    partial = self.context.unavailable(sid)
                    if partial is not None:
                        base = Unavailable(_NEEDS.sub("", partial.reason), partial.fix)
                        groups.setdefault(partial.fix or base.reason, (base, []))[1].append(
                            f"{spec.title.split(' (')[0]} ({label})")
            elif reason is not None:
                # Group by the fix: "no PMU (needs cycles)" and "no PMU (needs branches)" are one
                # cause; the box then lists the plots once with the first plot's reason.
                base = Unavailable(_NEEDS.sub("", reason.reason), reason.fix)
                groups.setdefault(reason.fix or base.reason, (base, []))[1].append(spec.title)
        self._layout_panels(shown)
        self.summary.set_groups({reason: titles for reason, titles in groups.values()})
        self._refresh_heatmap(snapshot, family)

    def _refresh_heatmap(self, snapshot: Snapshot, family: Unavailable | None) -> None:
        specs = list(self.context.history.specs) or list(snapshot.specs)
        reasons = {}
        for index, metric in enumerate(self.HEAT_METRICS):
            reasons[metric.name] = self._metric_reason(metric, per_cpu_ids(specs, metric.name))
            text = self._metric_text(metric, reasons[metric.name])
            if self.metric_combo.itemText(index) != text:
                self.metric_combo.setItemText(index, text)
        if not self._auto_picked and family is None and any(r is None for r in reasons.values()):
            # Start on a metric that works here (in a VM: the software counters).
            self._auto_picked = True
            current = self.current_heat_metric()
            if current is not None and reasons.get(current.name) is not None:
                first_ok = next(m for m in self.HEAT_METRICS if reasons[m.name] is None)
                self.select_heat_metric(first_ok.name)  # re-enters refresh via _metric_changed
                return
        # No per-CPU metric works here: the banner above says why once; a chooser that can show
        # nothing is hidden.
        nothing_works = family is not None or all(r is not None for r in reasons.values())
        if self.heat_box.isHidden() != nothing_works:
            self.heat_box.setVisible(not nothing_works)
        if nothing_works:
            return
        metric = self.current_heat_metric()
        if metric is None:
            return
        ids = per_cpu_ids(specs, metric.name)
        reason = family or reasons.get(metric.name)
        if reason is None and not ids:
            reason = Unavailable("no per-CPU series in this counting mode (per-CPU needs system-wide "
                                 "counting)")
        if reason is not None:
            self.heat_reason.setText(f"{html.escape(metric.label)} per CPU: "
                                     f"{html.escape(plain_reason(reason.reason))}. {_LINK}")
            self.heat_reason.setToolTip(str(reason))
        else:
            self.heat_reason.setText("")
        self.heatmap.setVisible(reason is None)
        if reason is not None:
            return
        if self._heat_rows_metric != metric.name or ids != self.heatmap.rows:
            self.heatmap.set_rows(ids, [sid.rsplit("cpu", 1)[-1] for sid in ids])
            self.heatmap.unit = metric.unit
            unit = metric.unit
            self.heatmap.colorbar.axis.tickStrings = lambda values, scale, spacing: [  # type: ignore[method-assign]
                # The title names the noun; the narrow colour bar reads "10 k/s".
                f"{v:.0f} %" if unit == "%" else axis_label(v, "/s" if unit.endswith("/s") else unit)
                for v in values]
            self.heatmap.plotItem.setTitle(f"{metric.label} per CPU ({metric.unit})", size="9pt")
            self._heat_rows_metric = metric.name
        self._set_levels(metric, ids)
        self.heatmap.update_from(self.context.history, self.context.window_seconds)

    def _set_levels(self, metric: HeatMetric, ids: list[str]) -> None:
        """Fixed levels for percentages; otherwise a "nice" maximum of the visible window."""
        if metric.fixed is not None:
            levels = metric.fixed
        else:
            _times, values = self.context.history.window(ids, self.context.window_seconds)
            peak = max((float(np.nanmax(v)) for v in values.values() if np.isfinite(v).any()),
                       default=math.nan)
            top = max(metric.floor, nice_ceiling(peak)) if math.isfinite(peak) else metric.floor
            levels = (0.0, top)
        if levels != self.heatmap.levels:
            self.heatmap.levels = levels
            self.heatmap.colorbar.setLevels(levels)

    def shutdown(self) -> None:
        if self.process_panel is not None:
            self.process_panel.shutdown()


class PerfCpuView(CounterTab):
    """IPC, GHz, branch misses, TLB misses, stalls, software counters; per CPU and total."""

    HEAT_METRICS = (
        HeatMetric("ipc", "IPC", "IPC", 2.0),
        HeatMetric("ghz", "Unhalted GHz (idle = 0)", "GHz", 1.0),
        HeatMetric("active_ghz", "Active clock", "GHz", 1.0),
        HeatMetric("branch_miss_pct", "Branch misses", "%", 5.0),
        HeatMetric("dtlb_mpki", "dTLB misses", "MPKI", 1.0),
        HeatMetric("itlb_mpki", "iTLB misses", "MPKI", 1.0),
        HeatMetric("stall_frontend_pct", "Front-end stalls", "%", 0.0, (0.0, 100.0)),
        HeatMetric("stall_backend_pct", "Back-end stalls", "%", 0.0, (0.0, 100.0)),
        HeatMetric("ctx_switches", "Context switches", "switches/s", 10.0),
        HeatMetric("migrations", "CPU migrations", "migrations/s", 1.0),
        HeatMetric("page_faults", "Page faults", "faults/s", 10.0),
    )
    TOTAL_PLOTS = (
        TotalPlot("IPC (instructions per cycle)", "IPC", (("ipc", "IPC"),)),
        # Unhalted GHz counts idle as 0; the active clock (cycles / ref-cycles x base clock) is
        # the frequency while running: side by side, the gap between them is the idle share.
        TotalPlot("Clock (GHz)", "GHz", (("active_ghz", "active"), ("ghz", "unhalted (idle = 0)"))),
        TotalPlot("Branch misses", "%", (("branch_miss_pct", "of branches"),)),
        TotalPlot("TLB misses", "MPKI", (("dtlb_mpki", "dTLB"), ("itlb_mpki", "iTLB"))),
        TotalPlot("Stalled cycles", "%", (("stall_frontend_pct", "front end"),
                                          ("stall_backend_pct", "back end")), (0.0, 100.0)),
        TotalPlot("CPU scheduling", "events/s", (("ctx_switches", "switches"),
                                                 ("migrations", "migrations"))),
        TotalPlot("Page faults", "faults/s", (("page_faults", "all"), ("minor_faults", "minor"),
                                        ("major_faults", "major"))),
        TotalPlot("Counted time (multiplexing)", "%", (("multiplex_pct", "counted"),), (0.0, 100.0)),
    )
    SHOW_PROCESS_PANEL = True

