"""Memory bandwidth tab: DRAM read/write GB/s (stacked), per socket or channel, and RAPL power.

Everything shown comes from the ``membw`` and ``power`` collectors through ``History``; the
source in use and its accuracy come from ``snapshot.tables["membw"]``. When no source works
(a VM, no privilege) the tab shows the collector's reason and fix instead of empty plots.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPainterPath, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGraphicsPathItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.plots import SERIES_COLORS, TimePlot
from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.gui.views.common import PlotPanel, natural_key
from perfdeck.model.series import SeriesSpec, Snapshot, Unavailable
from perfdeck.model.units import format_value

AXIS_LABEL = "GB/s (decimal: 10⁹ bytes/s)"
READ_COLOR = SERIES_COLORS[0]
WRITE_COLOR = SERIES_COLORS[1]
BREAKDOWNS = ("Per socket", "Per channel")
DIRECTIONS = ("Read + write", "Read", "Write")


def _brush(color: str, alpha: int = 110) -> QColor:
    qcolor = QColor(color)
    qcolor.setAlpha(alpha)
    return qcolor


def add_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b where either missing stays missing (a gap, never a partial number)."""
    return a + b


def finite_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges where ``mask`` is True."""
    if not len(mask):
        return []
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


class BandItem(QGraphicsPathItem):
    """A filled band between two curves that leaves a gap wherever either has no value.

    (pyqtgraph's FillBetweenItem joins across NaN gaps, drawing area that was never measured.)
    """

    def __init__(self, color: str) -> None:
        super().__init__()
        self.setBrush(_brush(color))
        self.setPen(QPen(Qt.PenStyle.NoPen))
        self.setZValue(-5)

    def set_band(self, x: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        path = QPainterPath()
        for start, stop in finite_runs(np.isfinite(lower) & np.isfinite(upper)):
            xs = np.concatenate((x[start:stop], x[start:stop][::-1]))
            ys = np.concatenate((upper[start:stop], lower[start:stop][::-1]))
            polygon = pg.arrayToQPath(xs, ys, connect="all")
            polygon.closeSubpath()
            path.addPath(polygon)
        self.setPath(path)


class StackedBandwidthPlot(TimePlot):
    """Read filled from 0, write stacked on top of it; or one filled total when there is no split.

    An optional horizontal reference line marks the machine's peak bandwidth, and the y range
    always includes it so the headroom is visible.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("DRAM bandwidth", unit="GB/s", parent=parent)
        self.plotItem.setLabel("left", AXIS_LABEL)
        self.getAxis("left").setWidth(84)
        self._bands: list[BandItem] = []
        self._mode: str | None = None
        self.peak: float | None = None
        self._peak_line = pg.InfiniteLine(angle=0, movable=False,
                                          pen=pg.mkPen("#c0392b", width=1.5, style=Qt.PenStyle.DashLine),
                                          label="peak",
                                          labelOpts={"position": 0.08, "color": "#c0392b"})
        self._peak_line.hide()
        self.plotItem.addItem(self._peak_line, ignoreBounds=True)

    def set_peak(self, peak: float | None) -> None:
        """Show (or with None/0 hide) the reference line at ``peak`` GB/s."""
        self.peak = peak if peak and peak > 0 else None
        if self.peak is None:
            self._peak_line.hide()
        else:
            text = f"peak {self.peak:.1f} GB/s"
            self._peak_line.label.setFormat(text)  # a fixed text: the label re-renders it on moves
            self._peak_line.label.setText(text)
            self._peak_line.setValue(self.peak)
            self._peak_line.show()
            self._adapt_y([])

    def _adapt_y(self, ys: list[np.ndarray]) -> None:
        if self.peak is not None:
            ys = [*ys, np.array([self.peak])]
        super()._adapt_y(ys)

    def _configure(self, mode: str) -> None:
        """Create the curves and bands once per mode ("split" or "total")."""
        if self._mode == mode:
            return
        for band in self._bands:
            self.plotItem.removeItem(band)
        for curve in self._curves.values():
            self.plotItem.removeItem(curve)
        self._curves.clear()
        self._labels.clear()
        self._colors.clear()  # the legend is drawn in the title line from these
        if mode == "split":
            self.set_series([("read", "read"), ("stack", "write (stacked on read)")])
            self._curves["read"].setPen(pg.mkPen(READ_COLOR, width=1.5))
            self._curves["stack"].setPen(pg.mkPen(WRITE_COLOR, width=1.5))
            self._bands = [BandItem(READ_COLOR), BandItem(WRITE_COLOR)]
        else:
            self.set_series([("total", "read + write")])
            self._bands = [BandItem(READ_COLOR)]
        for band in self._bands:
            self.plotItem.addItem(band, ignoreBounds=True)
        self._mode = mode

    def set_stack(self, times: np.ndarray, read: np.ndarray | None, write: np.ndarray | None,
                  total: np.ndarray | None, window_seconds: float) -> None:
        """Draw read/write stacked (when both exist) or the total alone."""
        if read is not None and write is not None:
            self._configure("split")
            arrays = {"read": read, "stack": add_nan(read, write)}
        else:
            self._configure("total")
            arrays = {"total": total if total is not None else np.full(len(times), np.nan)}
        self.set_arrays(times, arrays, window_seconds=window_seconds)
        if not len(times):
            return
        # Bands from the same (reduced) points the curves show.
        x, ys = self._last_x, self._last_ys
        zero = np.zeros(len(x))
        if self._mode == "split":
            self._bands[0].set_band(x, zero, ys["read"])
            self._bands[1].set_band(x, ys["read"], ys["stack"])
        else:
            self._bands[0].set_band(x, zero, ys["total"])

    def readout_text(self, x: float) -> str:
        # The stacked curve is read+write; say so, and give write on its own.
        text = super().readout_text(x)
        return text.replace("write (stacked on read)", "read + write")


def _socket_ids(specs: Mapping[str, SeriesSpec], direction: str) -> list[str]:
    pattern = re.compile(rf"^membw\.{direction}\.socket\d+$")
    return sorted((s for s in specs if pattern.match(s)), key=natural_key)


def _channels(specs: Mapping[str, SeriesSpec]) -> list[str]:
    found = {sid.split(".", 2)[2] for sid, spec in specs.items() if spec.group == "membw.channel"}
    return sorted(found, key=natural_key)


class MemoryBandwidthView(View):
    """DRAM bandwidth over time with its source and accuracy, plus package/DRAM power."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        # Peak bandwidth the user entered (GB/s); None = no reference line. The settings helper
        # persists it; until then it lives as long as the window.
        self.peak_gbps: float | None = None
        layout = QVBoxLayout(self)

        self.source_label = QLabel("")
        bold = QFont(self.source_label.font())
        bold.setBold(True)
        self.source_label.setFont(bold)
        self.source_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.accuracy_label = QLabel("")
        self.accuracy_label.setWordWrap(True)
        self.notes_label = QLabel("")
        self.notes_label.setWordWrap(True)
        self.notes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.now_label = QLabel("")
        self.now_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reason_label = UnavailableLabel(self)
        self.power_reason_label = UnavailableLabel(self)
        for widget in (self.source_label, self.accuracy_label, self.reason_label,
                       self.power_reason_label, self.now_label, self.notes_label):
            layout.addWidget(widget)

        controls = QHBoxLayout()
        self.breakdown = QComboBox()
        self.breakdown.addItems(BREAKDOWNS)
        self.direction = QComboBox()
        self.direction.addItems(DIRECTIONS)
        self.peak_spin = QDoubleSpinBox()
        self.peak_spin.setRange(0.0, 10_000.0)
        self.peak_spin.setDecimals(1)
        self.peak_spin.setSingleStep(10.0)
        self.peak_spin.setSuffix(" GB/s")
        self.peak_spin.setSpecialValueText("off")
        self.peak_spin.setToolTip("Theoretical peak DRAM bandwidth of this machine, drawn as a "
                                  "reference line (channels x MT/s x 8 bytes / 1000)")
        for text, widget in (("Breakdown:", self.breakdown), ("Show:", self.direction),
                             ("Peak bandwidth:", self.peak_spin)):
            controls.addWidget(QLabel(text))
            controls.addWidget(widget)
        controls.addStretch(1)
        self.controls = QWidget()
        self.controls.setLayout(controls)
        controls.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.controls)

        grid = QGridLayout()
        self.stacked = StackedBandwidthPlot()
        self.detail = self._new_detail_panel()
        self.package_power = PlotPanel("Package power", "W")
        self.dram_power = PlotPanel("DRAM power", "W")
        grid.addWidget(self.stacked, 0, 0)
        grid.addWidget(self.detail, 1, 0)
        grid.addWidget(self.package_power, 0, 1)
        grid.addWidget(self.dram_power, 1, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        self.plots = QWidget()
        self.plots.setLayout(grid)
        grid.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plots, 1)
        layout.addStretch(0)  # keeps the reasons at the top when every plot is hidden

        self._grid = grid
        self.peak_spin.valueChanged.connect(self._peak_changed)
        self.breakdown.currentIndexChanged.connect(self._selection_changed)
        self.direction.currentIndexChanged.connect(self._selection_changed)

    @staticmethod
    def _new_detail_panel() -> PlotPanel:
        panel = PlotPanel("Per socket", "GB/s")
        panel.plot.plotItem.setLabel("left", AXIS_LABEL)
        panel.plot.getAxis("left").setWidth(84)
        return panel

    # -- user input -------------------------------------------------------------------------------
    def set_peak(self, gbps: float | None) -> None:
        """Set the reference line (also what the settings helper calls to restore it)."""
        self.peak_spin.setValue(gbps or 0.0)

    def _peak_changed(self, value: float) -> None:
        self.peak_gbps = value if value > 0 else None
        self.stacked.set_peak(self.peak_gbps)

    def _selection_changed(self) -> None:
        # A fresh plot for the new breakdown, so no curve of the previous one lingers.
        old = self.detail
        self.detail = self._new_detail_panel()
        self._grid.replaceWidget(old, self.detail)
        old.deleteLater()
        if self.context.latest is not None:
            self.refresh(self.context.latest)

    # -- drawing ----------------------------------------------------------------------------------
    def refresh(self, snapshot: Snapshot) -> None:
        self._refresh_bandwidth(snapshot)
        self._refresh_power(snapshot)
        self.plots.setVisible(self.stacked.isVisibleTo(self) or self.package_power.isVisibleTo(self))

    def _refresh_bandwidth(self, snapshot: Snapshot) -> None:
        unavailable = snapshot.unavailable.get("membw")
        status = snapshot.tables.get("membw") or {}
        specs = snapshot.specs
        has_series = "membw.total" in specs
        if unavailable is not None or not has_series:
            reason = unavailable or Unavailable("the memory bandwidth collector has produced no data yet")
            self.reason_label.set_unavailable(reason, "DRAM bandwidth")
            self.source_label.setText("DRAM bandwidth: no source available")
            # The banner below says it in words: no bold heading repeating it.
            for widget in (self.source_label, self.accuracy_label, self.now_label, self.notes_label,
                           self.controls, self.stacked, self.detail):
                widget.hide()
            return
        self.reason_label.set_unavailable(None)
        for widget in (self.source_label, self.accuracy_label, self.now_label, self.controls, self.stacked,
                       self.detail):
            widget.show()
        self.source_label.setText(f"Source: {status.get('source') or 'unknown'}")
        self.accuracy_label.setText(f"Accuracy: {status.get('accuracy') or 'unknown'}")
        notes = list(status.get("notes") or [])
        notes += [f"{p}: {why}" for p, why in (status.get("problems") or {}).items()]
        fallbacks = [f"{f['kind']} not used: {f['reason']}" for f in status.get("fallbacks") or []
                     if f.get("kind") != "resctrl" or status.get("kind") == "resctrl"]
        self.notes_label.setText("\n".join(notes + fallbacks))
        self.notes_label.setVisible(bool(notes or fallbacks))

        history, window = self.context.history, self.context.window_seconds
        split = "membw.read.total" in specs
        ids = ["membw.read.total", "membw.write.total", "membw.total"] if split else ["membw.total"]
        times, values = history.window(ids, window)
        if split:
            self.stacked.set_stack(times, values["membw.read.total"], values["membw.write.total"], None,
                                   window)
        else:
            self.stacked.set_stack(times, None, None, values["membw.total"], window)
        self._update_now(snapshot, split)
        self._refresh_detail(specs, split, window)

    def _update_now(self, snapshot: Snapshot, split: bool) -> None:
        parts = []
        if split:
            parts.append(f"read {format_value(snapshot.value('membw.read.total'), 'GB/s')}")
            parts.append(f"write {format_value(snapshot.value('membw.write.total'), 'GB/s')}")
        parts.append(f"total {format_value(snapshot.value('membw.total'), 'GB/s')}")
        counted = snapshot.value("membw.counted_pct")
        if counted is not None:
            parts.append(f"counters running {counted:.0f} % of the time")
        self.now_label.setText("Now: " + ", ".join(parts))

    def _refresh_detail(self, specs: Mapping[str, SeriesSpec], split: bool, window: float) -> None:
        per_socket = self.breakdown.currentText() == "Per socket"
        direction = {"Read + write": "total", "Read": "read", "Write": "write"}[self.direction.currentText()]
        self.detail.title = f"{self.breakdown.currentText()}: {self.direction.currentText().lower()}"
        self.detail.plot.plotItem.setTitle(self.detail.title, size="9pt")
        if direction != "total" and not split:
            self.detail.show_reason(Unavailable(
                "this source counts reads and writes together; choose \"Read + write\""))
            return
        history = self.context.history
        if per_socket:
            ids = _socket_ids(specs, direction)
            if not ids:
                # resctrl has L3 domains instead of sockets
                ids = sorted((s for s, spec in specs.items() if spec.group == "membw.domain"),
                             key=natural_key)
            if not ids:
                self.detail.show_reason(Unavailable("this source reports no per-socket breakdown"))
                return
            self.detail.show_reason(None)
            self.detail.update_from(history, ids, window, {i: specs[i].label for i in ids})
            return
        channels = _channels(specs)
        if not channels:
            self.detail.show_reason(Unavailable("this source reports no per-channel breakdown"))
            return
        self.detail.show_reason(None)
        if direction == "total" and split:
            wanted = [f"membw.{d}.{c}" for c in channels for d in ("read", "write")]
            times, values = history.window(wanted, window)
            arrays = {c: add_nan(values[f"membw.read.{c}"], values[f"membw.write.{c}"]) for c in channels}
            self.detail.plot.set_arrays(times, arrays, labels={c: c for c in channels},
                                        window_seconds=window)
        else:
            ids = [f"membw.{direction}.{c}" for c in channels]
            self.detail.update_from(history, ids, window, dict(zip(ids, channels, strict=True)))

    def _refresh_power(self, snapshot: Snapshot) -> None:
        specs = snapshot.specs
        history, window = self.context.history, self.context.window_seconds
        family_reason = snapshot.unavailable.get("power")
        # The whole family missing is said once, above the plots, not once per power plot.
        self.power_reason_label.set_unavailable(family_reason, "Power (RAPL)")
        for panel in (self.package_power, self.dram_power):
            panel.setVisible(family_reason is None)
        self._grid.setColumnStretch(1, 2 if family_reason is None else 0)
        if family_reason is not None:
            return
        package = sorted((s for s in specs if s.startswith("power.package.")), key=natural_key)
        package += [s for s in ("power.psys",) if s in specs]
        dram = sorted((s for s in specs if s.startswith("power.dram.")), key=natural_key)
        for panel, ids, missing in (
                (self.package_power, package, "no package RAPL domain reported"),
                (self.dram_power, dram, "this CPU exposes no DRAM RAPL domain (most client parts "
                                        "and AMD CPUs have none)")):
            if not ids:
                panel.show_reason(Unavailable(missing))
                continue
            panel.show_reason(None)
            panel.update_from(history, ids, window, {i: specs[i].label for i in ids})
