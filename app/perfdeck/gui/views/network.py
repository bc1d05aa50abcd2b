"""Network: throughput and packets per interface, errors and drops."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.gui.views.common import PlotPanel, instances, readonly_table
from perfdeck.model.series import Snapshot
from perfdeck.model.units import format_value

TABLE_COLUMNS = ("Interface", "Received", "Sent", "Packets in", "Packets out", "Errors in/out",
                 "Drops in/out")


class NetworkView(View):
    """Per-interface receive/send rates (and the total), packet rates, and a table of counters."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        self.reason_label = UnavailableLabel(self)
        layout.addWidget(self.reason_label)
        grid = QGridLayout()
        self.throughput = PlotPanel("Throughput", "B/s", style="area")
        self.packets = PlotPanel("Packets", "pkt/s")
        grid.addWidget(self.throughput, 0, 0)
        grid.addWidget(self.packets, 1, 0)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        layout.addLayout(grid, 3)
        self.table = readonly_table(TABLE_COLUMNS, self)
        layout.addWidget(self.table, 1)

    def refresh(self, snapshot: Snapshot) -> None:
        ctx = self.context
        history, window = ctx.history, ctx.window_seconds
        self.reason_label.set_unavailable(snapshot.unavailable.get("net"), "Network metrics")
        specs = snapshot.specs
        interfaces = [i for i in instances(specs, "net.rx") if i != "total"]
        labels = {}
        for name in interfaces:
            labels[f"net.rx.{name}"] = f"{name} in"
            labels[f"net.tx.{name}"] = f"{name} out"
            labels[f"net.rx_packets.{name}"] = f"{name} in"
            labels[f"net.tx_packets.{name}"] = f"{name} out"
        self.throughput.update_from(
            history, [i for n in interfaces for i in (f"net.rx.{n}", f"net.tx.{n}")], window, labels)
        packets = [i for n in interfaces for i in (f"net.rx_packets.{n}", f"net.tx_packets.{n}")
                   if i in specs]
        self.packets.update_from(history, packets, window, labels)
        self.throughput.show_reason(None if interfaces else ctx.unavailable("net.rx")
                                    or "the network collector reports no interfaces")
        self.packets.show_reason(None if packets else ctx.unavailable("net.rx_packets"))
        self._fill_table(snapshot, interfaces)

    def _fill_table(self, snapshot: Snapshot, interfaces: list[str]) -> None:
        if self.table.rowCount() != len(interfaces):
            self.table.setRowCount(len(interfaces))

        def pair(a: str, b: str) -> str:
            return f"{format_value(snapshot.value(a), '/s')} / {format_value(snapshot.value(b), '/s')}"

        for row, name in enumerate(interfaces):
            cells = (name, format_value(snapshot.value(f"net.rx.{name}"), "B/s"),
                     format_value(snapshot.value(f"net.tx.{name}"), "B/s"),
                     format_value(snapshot.value(f"net.rx_packets.{name}"), "pkt/s"),
                     format_value(snapshot.value(f"net.tx_packets.{name}"), "pkt/s"),
                     pair(f"net.rx_errors.{name}", f"net.tx_errors.{name}"),
                     pair(f"net.rx_drops.{name}", f"net.tx_drops.{name}"))
            for column, text in enumerate(cells):
                item = self.table.item(row, column)
                if item is None:
                    item = QTableWidgetItem()
                    if column:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    self.table.setItem(row, column, item)
                if item.text() != text:
                    item.setText(text)
