"""GPUs: per GPU, utilisation by engine, memory, power, temperature and clocks, live.

A selector lists every GPU (vendor, model, slot, state); the tiles give the current values and
the plots the history of the selected one. A sleeping card says so (its plots have gaps, not
zeros); with no GPU at all the tab is one line that says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.gui.views.common import PlotPanel, ValueTile, natural_key, recent_value, set_visible
from perfdeck.model.series import SeriesSpec, Snapshot
from perfdeck.model.units import format_bytes, format_value

# panel key, title, unit, y range, the metrics it plots
PANELS: tuple[tuple[str, str, str, tuple[float, float] | None, tuple[str, ...]], ...] = (
    ("util", "Utilisation", "%", (0.0, 100.0),
     ("gpu.busy", "gpu.engine", "gpu.mem_busy", "gpu.encoder", "gpu.decoder")),
    ("memory", "Memory", "B", None, ("gpu.vram_used", "gpu.gtt_used", "gpu.client_mem")),
    ("power", "Power", "W", None, ("gpu.power", "gpu.power_limit")),
    ("temp", "Temperature", "°C", None, ("gpu.temp",)),
    ("clocks", "Clocks", "MHz", None, ("gpu.freq", "gpu.freq_req", "gpu.mem_freq")),
    ("pcie", "PCIe", "B/s", None, ("gpu.pcie_rx", "gpu.pcie_tx")),
)


def gpu_series(specs: Mapping[str, SeriesSpec], slot: str) -> dict[str, list[SeriesSpec]]:
    """The selected GPU's specs by metric, each list in a stable order."""
    by_metric: dict[str, list[SeriesSpec]] = {}
    for spec in specs.values():
        if spec.family == "gpu" and dict(spec.labels).get("gpu") == slot:
            by_metric.setdefault(spec.metric_name, []).append(spec)
    for found in by_metric.values():
        found.sort(key=lambda s: natural_key(s.id))
    return by_metric


def short_label(spec: SeriesSpec, slot: str) -> str:
    """A legend entry without the GPU (it is in the selector): ``gfx``, ``edge``, ``VRAM used``."""
    labels = dict(spec.labels)
    if spec.metric_name == "gpu.engine":
        return labels.get("engine", spec.id)
    if spec.metric_name == "gpu.temp":
        return labels.get("sensor", spec.id)
    return spec.label.removeprefix(f"GPU {slot} ").removesuffix(" busy")


class GpuView(View):
    """Every GPU's live plots and current values, one GPU at a time."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        self.reason_label = UnavailableLabel(self)
        layout.addWidget(self.reason_label)
        bar = QHBoxLayout()
        self.selector = QComboBox(self)
        self.selector.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.selector.currentIndexChanged.connect(self._selection_changed)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        bar.addWidget(self.selector)
        bar.addWidget(self.info, 1)
        layout.addLayout(bar)
        self.state_label = UnavailableLabel(self)
        layout.addWidget(self.state_label)
        tiles = QHBoxLayout()
        self.tiles = {key: ValueTile(caption, self, widest_value="888.8 MiB",
                                     widest_detail="VRAM of 888.8 GiB (88 %)")
                      for key, caption in (("busy", "Busy"), ("memory", "Memory"), ("power", "Power"),
                                           ("temp", "Temperature"), ("clock", "Core clock"))}
        for tile in self.tiles.values():
            tiles.addWidget(tile)
        layout.addLayout(tiles)
        self.grid = QGridLayout()
        self.panels: dict[str, PlotPanel] = {}
        self._build_panels()
        layout.addLayout(self.grid, 1)
        layout.addStretch(0)  # takes the space instead of the plots when there is no GPU
        self._grid_index = layout.count() - 2
        self._gpus: list[Mapping[str, Any]] = []
        self._slot: str | None = None
        self._panel_ids: dict[str, tuple[str, ...]] = {}
        self._shown_layout: tuple[bool, ...] = ()

    def _build_panels(self) -> None:
        """(Re)create the plots: a new GPU gets fresh curves, none of the previous one's."""
        for panel in self.panels.values():
            self.grid.removeWidget(panel)
            panel.hide()  # deleteLater waits for the event loop; it must not be drawn meanwhile
            panel.deleteLater()
        self.panels = {}
        for index, (key, title, unit, y_range, _metrics) in enumerate(PANELS):
            panel = PlotPanel(title, unit, y_range, self)
            panel.hide()
            self.panels[key] = panel
            self.grid.addWidget(panel, index // 2, index % 2)
        self._panel_ids = {}

    # --- data ----------------------------------------------------------------------------------
    def refresh(self, snapshot: Snapshot) -> None:
        family_reason = snapshot.unavailable.get("gpu")
        gpus: Sequence[Mapping[str, Any]] = snapshot.tables.get("gpus") or ()
        self.reason_label.set_unavailable(family_reason if not gpus else None, "GPUs")
        has_gpu = bool(gpus)
        for widget in (self.selector, self.info):
            set_visible(widget, has_gpu)
        layout = self.layout()
        if layout.stretch(self._grid_index) != int(has_gpu):  # re-layout only on a change
            layout.setStretch(self._grid_index, int(has_gpu))
            layout.setStretch(layout.count() - 1, int(not has_gpu))
        if not has_gpu:
            for widget in (*self.tiles.values(), *self.panels.values()):
                set_visible(widget, False)
            self.state_label.set_unavailable(None)
            return
        self._update_selector(gpus)
        current = next((g for g in gpus if g["slot"] == self._slot), gpus[0])
        self._show_gpu(snapshot, current)

    def _update_selector(self, gpus: Sequence[Mapping[str, Any]]) -> None:
        items = [f"{g['title']} · {g['driver'] or 'no driver'} · {g['state']}" for g in gpus]
        existing = [self.selector.itemText(i) for i in range(self.selector.count())]
        self._gpus = list(gpus)
        if items != existing:
            self.selector.blockSignals(True)
            self.selector.clear()
            self.selector.addItems(items)
            slots = [g["slot"] for g in gpus]
            self.selector.setCurrentIndex(slots.index(self._slot) if self._slot in slots else 0)
            self.selector.blockSignals(False)
        if self._slot not in [g["slot"] for g in gpus]:
            self._slot = gpus[0]["slot"]

    def _selection_changed(self, index: int) -> None:
        if 0 <= index < len(self._gpus):
            self._slot = self._gpus[index]["slot"]
            self._build_panels()
            if self.context.latest is not None:
                self.refresh(self.context.latest)

    def _show_gpu(self, snapshot: Snapshot, gpu: Mapping[str, Any]) -> None:
        slot = gpu["slot"]
        self._slot = slot
        sources = ", ".join(gpu.get("sources") or ()) or "none"
        info = f"Sources: {sources}"
        if gpu.get("clients") is not None:
            info += f" · {gpu['clients']} DRM client{'s' if gpu['clients'] != 1 else ''}"
        if gpu.get("throttle"):
            info += " · clocks held back by: " + ", ".join(gpu["throttle"])
        ecc = gpu.get("ecc") or {}
        if ecc:
            info += " · ECC errors: " + ", ".join(f"{int(n)} {kind}" for kind, n in sorted(ecc.items()))
        hidden = snapshot.tables.get("gpu_processes_hidden")
        if hidden:
            info += f" · {hidden} other users' processes not visible (run as root)"
        if self.info.text() != info:
            self.info.setText(info)
        state = gpu.get("state")
        if state == "asleep":
            self.state_label.set_unavailable(
                "this GPU is runtime-suspended (asleep); PerfDeck does not wake it to read it, so its "
                "plots have gaps until something uses it", "Readings")
        elif state in ("lost", "no source"):
            self.state_label.set_unavailable(gpu.get("reason") or state, "Readings")
        else:
            self.state_label.set_unavailable(None)
        by_metric = gpu_series(snapshot.specs, slot)
        self._update_tiles(by_metric, gpu)
        history, window = self.context.history, self.context.window_seconds
        shown: list[bool] = []
        for key, _title, _unit, _range, metrics in PANELS:
            panel = self.panels[key]
            specs = [s for metric in metrics for s in by_metric.get(metric, ())]
            if not specs:
                panel.show_reason(None)
                set_visible(panel, False)
                shown.append(False)
                continue
            set_visible(panel, True)
            shown.append(True)
            ids = tuple(s.id for s in specs)
            labels = {s.id: short_label(s, slot) for s in specs}
            if self._panel_ids.get(key) != ids:
                self._panel_ids[key] = ids
                panel.update_from(history, ids, window, labels)
            else:
                panel.update_from(history, ids, window)

    def _update_tiles(self, by_metric: Mapping[str, list[SeriesSpec]], gpu: Mapping[str, Any]) -> None:
        history = self.context.history

        def latest(metric: str) -> float | None:
            specs = by_metric.get(metric)
            return recent_value(history, specs[0].id, 5.0) if specs else None

        has = {"busy": ("gpu.busy",), "memory": ("gpu.vram_used", "gpu.gtt_used", "gpu.client_mem"),
               "power": ("gpu.power",), "temp": ("gpu.temp",), "clock": ("gpu.freq",)}
        for key, metrics in has.items():
            # A tile this GPU has no source for is left out; busy stays (it says why it is empty).
            set_visible(self.tiles[key], key == "busy" or any(m in by_metric for m in metrics))
        if gpu.get("state") == "asleep":
            for tile in self.tiles.values():
                tile.set_value("asleep", "not woken to be read")
            return
        busy = latest("gpu.busy")
        busy_specs = by_metric.get("gpu.busy") or []
        if not busy_specs:
            busy_detail = "no DRM client yet" if gpu.get("driver") in ("i915", "xe") else ""
        else:
            busy_detail = "busiest engine" if "busiest" in busy_specs[0].label else ""
        self.tiles["busy"].set_value(format_value(busy, "%"), busy_detail)
        used, total = latest("gpu.vram_used"), latest("gpu.vram_total")
        gtt_used, gtt_total = latest("gpu.gtt_used"), latest("gpu.gtt_total")
        # An APU keeps its memory in GTT (system memory): show whichever holds more.
        if gtt_used is not None and (used is None or gtt_used > used):
            used, total, where = gtt_used, gtt_total, "GTT"
        else:
            where = "VRAM"
        if used is None:
            client = latest("gpu.client_mem")
            used, total, where = client, None, "held by clients"
        if used is not None and total:
            detail = f"{where} of {format_bytes(total)} ({100 * used / total:.0f} %)"
        else:
            detail = where if used is not None else ""
        self.tiles["memory"].set_value(format_bytes(used) if used is not None else "—", detail)
        power, limit = latest("gpu.power"), latest("gpu.power_limit")
        self.tiles["power"].set_value(format_value(power, "W"),
                                      f"limit {format_value(limit, 'W')}" if limit is not None else "")
        temps = by_metric.get("gpu.temp") or []
        first = recent_value(history, temps[0].id, 5.0) if temps else None
        self.tiles["temp"].set_value(format_value(first, "°C"),
                                     dict(temps[0].labels).get("sensor", "") if temps else "")
        clock, requested = latest("gpu.freq"), latest("gpu.freq_req")
        self.tiles["clock"].set_value(format_value(clock, "MHz"),
                                      f"requested {format_value(requested, 'MHz')}" if requested is not None
                                      else "")

    def time_window_changed(self, seconds: float) -> None:
        for panel in self.panels.values():
            panel.plot.set_window(seconds)
