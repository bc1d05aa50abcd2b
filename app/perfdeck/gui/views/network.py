"""Network: throughput and packets per interface, errors and drops.

Plots show the interfaces that matter: physical ones, and virtual ones (veth, ifb, bridges, tunnels)
while they carry traffic. Loopback and idle virtual interfaces are folded away behind one line and a
checkbox; the table below lists every interface, loopback last.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.gui.views.common import PlotPanel, instances, readonly_table
from perfdeck.model.series import Snapshot
from perfdeck.model.units import format_value

# Name prefixes of virtual interfaces, for when /sys/class/net cannot tell (a fake tree, a container).
VIRTUAL_PREFIXES = ("veth", "ifb", "br-", "br", "docker", "virbr", "vnet", "tun", "tap", "wg", "dummy",
                    "bond", "vxlan", "cni", "flannel", "lxc", "lxd", "podman", "kube")


def is_virtual(interface: str, root: Path = Path("/")) -> bool:
    """True for a software interface: no ``device`` link in sysfs (the kernel's own test), or a
    virtual name when sysfs does not have the interface (the instance name may be sanitised)."""
    entry = root / "sys/class/net" / interface
    if entry.exists():
        return not (entry / "device").exists()
    return interface.startswith(VIRTUAL_PREFIXES)


TABLE_COLUMNS = ("Interface", "Received", "Sent", "Packets in", "Packets out", "Errors/s in / out",
                 "Drops/s in / out")


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
        folded = QHBoxLayout()
        self.folded_label = QLabel("")
        self.folded_label.setWordWrap(True)
        self.show_all = QCheckBox("Show loopback and idle virtual interfaces")
        self.show_all.toggled.connect(lambda _on: self.context.latest and self.refresh(self.context.latest))
        folded.addWidget(self.folded_label, 1)
        folded.addWidget(self.show_all)
        layout.addLayout(folded)
        self.table = readonly_table(TABLE_COLUMNS, self)
        layout.addWidget(self.table, 1)

    def refresh(self, snapshot: Snapshot) -> None:
        ctx = self.context
        history, window = ctx.history, ctx.window_seconds
        self.reason_label.set_unavailable(snapshot.unavailable.get("net"), "Network metrics")
        specs = snapshot.specs
        every = [i for i in instances(specs, "net.rx") if i != "total"]
        interfaces, folded = self.plotted(every, window)
        note = ", ".join(f"{name} ({why})" for name, why in folded)
        text = f"Not plotted: {note}." if note and not self.show_all.isChecked() else ""
        if self.folded_label.text() != text:
            self.folded_label.setText(text)
        self.show_all.setVisible(bool(folded))
        if self.show_all.isChecked():
            interfaces = every
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
        if interfaces or folded:
            self.throughput.show_reason(None)  # folded ones are named on the line below
        else:
            self.throughput.show_reason(ctx.unavailable("net.rx")
                                        or "the network collector reports no interfaces")
        self.packets.show_reason(None if packets else ctx.unavailable("net.rx_packets"))
        self._fill_table(snapshot, sorted(every, key=lambda n: (n == "lo", is_virtual(n), n)))

    def plotted(self, interfaces: list[str], window: float) -> tuple[list[str], list[tuple[str, str]]]:
        """(interfaces to plot, [(folded interface, why)]): loopback always folds; a virtual
        interface folds while it had no traffic in the visible window."""
        shown, folded = [], []
        ids = [i for n in interfaces for i in (f"net.rx.{n}", f"net.tx.{n}")]
        _times, values = self.context.history.window(ids, window)
        for name in interfaces:
            if name == "lo":
                folded.append((name, "loopback"))
                continue
            if is_virtual(name):
                traffic = np.concatenate([values[f"net.rx.{name}"], values[f"net.tx.{name}"]])
                if not (np.nan_to_num(traffic) > 0).any():
                    folded.append((name, "idle virtual"))
                    continue
            shown.append(name)
        return shown, folded

    def _fill_table(self, snapshot: Snapshot, interfaces: list[str]) -> None:
        if self.table.rowCount() != len(interfaces):
            self.table.setRowCount(len(interfaces))

        def pair(a: str, b: str) -> str:
            # The unit is in the header ("Errors/s"); the cell reads "0 / 2".
            return f"{format_value(snapshot.value(a), '')} / {format_value(snapshot.value(b), '')}"

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
