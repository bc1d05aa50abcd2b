"""Memory: RAM by use, swap, and swap traffic."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.gui.views.common import PlotPanel, ValueTile, set_visible
from perfdeck.model.series import Snapshot, Unavailable
from perfdeck.model.units import format_bytes, format_value

# The parts of RAM that add up (with the free rest) to the total, stacked from the bottom.
RAM_SERIES = (("mem.used", "used"), ("mem.buffers", "buffers"), ("mem.cached", "cached"))


class MemoryView(View):
    """RAM (used, cached, buffers, shared, available) against total; swap use and traffic."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        self.reason_label = UnavailableLabel(self)
        layout.addWidget(self.reason_label)
        tiles = QHBoxLayout()
        self.tiles = {name: ValueTile(name) for name in ("Used", "Available", "Cached", "Swap used")}
        for tile in self.tiles.values():
            tiles.addWidget(tile)
        layout.addLayout(tiles)
        grid = QGridLayout()
        # The y axis is 0..total RAM, fixed once known: used memory never rescales the plot.
        self.ram = PlotPanel("RAM", "B", style="stacked")
        self.ram.plot.set_series(RAM_SERIES)
        self.swap = PlotPanel("Swap used", "%", (0, 100), style="area")
        self.swap.plot.set_series([("mem.swap.used_pct", "swap used")])
        self.swap_io = PlotPanel("Swap traffic", "B/s", style="area")
        self.swap_io.plot.set_series([("mem.swap.in", "in"), ("mem.swap.out", "out")])
        self.swap_reason = UnavailableLabel(self)
        grid.addWidget(self.ram, 0, 0, 1, 2)
        grid.addWidget(self.swap_reason, 1, 0, 1, 2)
        swap_row = QHBoxLayout()  # with no swap, the traffic plot takes the whole row
        swap_row.addWidget(self.swap)
        swap_row.addWidget(self.swap_io)
        grid.addLayout(swap_row, 2, 0, 1, 2)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(2, 2)
        self.grid = grid
        layout.addLayout(grid, 1)
        self._total: float | None = None

    def refresh(self, snapshot: Snapshot) -> None:
        ctx = self.context
        history, window = ctx.history, ctx.window_seconds
        self.reason_label.set_unavailable(snapshot.unavailable.get("mem"), "Memory metrics")
        total = snapshot.value("mem.total")
        if total and total != self._total:
            self._total = total
            self.ram.plot.set_fixed_y((0.0, total))
        used_pct = snapshot.value("mem.used_pct")
        self.tiles["Used"].set_value(format_bytes(snapshot.value("mem.used")),
                                     f"{format_value(used_pct, '%')} of {format_bytes(total)}")
        self.tiles["Available"].set_value(format_bytes(snapshot.value("mem.available")),
                                          format_value(snapshot.value("mem.available_pct"), "%"))
        self.tiles["Cached"].set_value(format_bytes(snapshot.value("mem.cached")),
                                       f"buffers {format_bytes(snapshot.value('mem.buffers'))}")
        swap_total = snapshot.value("mem.swap.total")
        if swap_total == 0:
            self.tiles["Swap used"].set_value("no swap", "none configured")
        else:
            self.tiles["Swap used"].set_value(format_bytes(snapshot.value("mem.swap.used")),
                                              f"of {format_bytes(swap_total)}")
        self.ram.plot.update_from(history, None, window)
        swap_reason = ctx.unavailable("mem.swap.used_pct")
        if swap_reason is None and swap_total == 0:
            swap_reason = Unavailable("this system has no swap configured")
        # No swap: one full-width sentence instead of an empty plot.
        self.swap_reason.set_unavailable(swap_reason, "Swap")
        set_visible(self.swap, swap_reason is None)
        # No swap at all: no traffic to plot either; the one line above says so, and RAM takes
        # the room.
        set_visible(self.swap_io, swap_total != 0)
        swap_stretch = 2 if swap_total != 0 else 0
        if self.grid.rowStretch(2) != swap_stretch:
            self.grid.setRowStretch(2, swap_stretch)
        if swap_reason is None:
            self.swap.plot.update_from(history, None, window)
        if swap_total != 0:
            self.swap_io.show_reason(ctx.unavailable("mem.swap.in"))
            self.swap_io.plot.update_from(history, None, window)
