"""Overview: the current value of each resource and four small plots."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from perfdeck.gui.strip import StripChart
from perfdeck.gui.views.base import View, ViewContext
from perfdeck.gui.views.common import PlotPanel, ValueTile, instances, nansum, recent_value
from perfdeck.gui.views.cpu import UTIL_PARTS
from perfdeck.gui.views.pressure import PressureStrip
from perfdeck.model.names import plain_reason
from perfdeck.model.series import Snapshot
from perfdeck.model.units import format_bytes, format_value


class OverviewView(View):
    """CPU, memory, disk and network at a glance."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        tiles = QHBoxLayout()
        self.tiles = {name: ValueTile(name) for name in ("CPU", "Memory", "Swap", "Disks", "Network",
                                                          "Processes")}
        for tile in self.tiles.values():
            tiles.addWidget(tile)
        layout.addLayout(tiles)
        self._tips: dict[str, str] = {}  # family -> the tooltip its tile has
        self.pressure = PressureStrip(self)  # PSI some/full per resource (views/pressure.py)
        layout.addWidget(self.pressure)
        grid = QGridLayout()
        # CPU by state, stacked: the top of the bands is the total busy time.
        # Strip charts: these four only ever follow "now", so they scroll their pixels each sample
        # instead of redrawing (gui/strip.py); the Overview is the tab a monitor sits on.
        self.cpu = PlotPanel("CPU", "%", (0, 100), style="stacked", chart=StripChart)
        self.cpu.plot.set_series([(f"cpu.util.{part}", part) for part in UTIL_PARTS])
        self.mem = PlotPanel("Memory used", "%", (0, 100), style="area", chart=StripChart)
        self.mem.plot.set_series([("mem.used_pct", "memory")])  # swap joins where there is swap
        self.disk = PlotPanel("Disks (all)", "B/s", style="area", chart=StripChart)
        self.disk.plot.set_series([("read", "read"), ("write", "write")])
        self.net = PlotPanel("Network (all interfaces)", "B/s", style="area", chart=StripChart)
        self.net.plot.set_series([("net.rx.total", "received"), ("net.tx.total", "sent")])
        grid.addWidget(self.cpu, 0, 0)
        grid.addWidget(self.mem, 0, 1)
        grid.addWidget(self.disk, 1, 0)
        grid.addWidget(self.net, 1, 1)
        layout.addLayout(grid, 1)

    def refresh(self, snapshot: Snapshot) -> None:
        ctx = self.context
        history, window = ctx.history, ctx.window_seconds
        # Tiles: values of this tick.
        cpu = snapshot.value("cpu.util.total")
        load = [snapshot.value(f"cpu.load.{n}") for n in (1, 5, 15)]
        self.tiles["CPU"].set_value(format_value(cpu, "%"), "load " + " ".join(
            "—" if v is None else f"{v:.2f}" for v in load))
        self.tiles["Memory"].set_value(
            format_bytes(snapshot.value("mem.used")),
            f"{format_value(snapshot.value('mem.used_pct'), '%')} of "
            f"{format_bytes(snapshot.value('mem.total'))}")
        if snapshot.value("mem.swap.total") == 0:
            self.tiles["Swap"].set_value("no swap", "none configured")
        else:
            self.tiles["Swap"].set_value(
                format_value(snapshot.value("mem.swap.used_pct"), "%"),
                f"{format_bytes(snapshot.value('mem.swap.used'))} of "
                f"{format_bytes(snapshot.value('mem.swap.total'))}")
        devices = instances(snapshot.specs, "disk.read")
        reads = [snapshot.value(f"disk.read.{d}") for d in devices]
        writes = [snapshot.value(f"disk.write.{d}") for d in devices]
        self.tiles["Disks"].set_value(
            f"R {format_value(_sum(reads), 'B/s')}", f"W {format_value(_sum(writes), 'B/s')}")
        self.tiles["Network"].set_value(
            f"↓ {format_value(snapshot.value('net.rx.total'), 'B/s')}",
            f"↑ {format_value(snapshot.value('net.tx.total'), 'B/s')}")
        count = recent_value(history, "proc.count")
        threads = recent_value(history, "proc.threads")
        self.tiles["Processes"].set_value("—" if count is None else f"{count:.0f}",
                                          "" if threads is None else f"{threads:.0f} threads")
        for tile, family in ((self.tiles["CPU"], "cpu"), (self.tiles["Memory"], "mem"),
                             (self.tiles["Disks"], "disk"), (self.tiles["Network"], "net"),
                             (self.tiles["Processes"], "proc")):
            reason = snapshot.unavailable.get(family)
            tip = str(reason) if reason else ""
            if self._tips.get(family) != tip:  # the same tip each second: no call into Qt
                self._tips[family] = tip
                tile.setToolTip(tip)
            if reason is not None:
                tile.set_value("unavailable", plain_reason(reason.reason))  # the reason: tooltip

        self.pressure.update_from(snapshot)
        # Plots: the visible window only.
        for panel, family in ((self.cpu, "cpu"), (self.mem, "mem"), (self.disk, "disk"), (self.net, "net")):
            panel.show_reason(snapshot.unavailable.get(family))
        self.cpu.plot.update_from(history, None, window)
        has_swap = (snapshot.value("mem.swap.total") or 0) > 0
        if has_swap and "mem.swap.used_pct" not in self.mem.plot.series_ids:
            self.mem.plot.set_series([("mem.swap.used_pct", "swap")])
            self.mem.plot.set_title("Memory and swap used")
        self.mem.plot.update_from(history, None, window)
        self.net.plot.update_from(history, None, window)
        read_ids = [f"disk.read.{d}" for d in devices]
        write_ids = [f"disk.write.{d}" for d in devices]
        times, values = history.window(read_ids + write_ids, window)
        if len(times) and devices:
            self.disk.plot.set_arrays(times, {
                "read": nansum([values[i] for i in read_ids]),
                "write": nansum([values[i] for i in write_ids])}, window_seconds=window)


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None
