"""Disks: throughput, operations and busy time per device; filesystem usage."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.gui.views.common import PlotPanel, UsageBarDelegate, instances, readonly_table
from perfdeck.model.series import Snapshot
from perfdeck.model.units import format_bytes, format_value

FS_COLUMNS = ("Mount", "Used", "Size", "Usage")
USAGE_COLUMN = 3


class DisksView(View):
    """Per-device read/write throughput, IOPS and busy %, and a table of mounted filesystems."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        self.reason_label = UnavailableLabel(self)
        layout.addWidget(self.reason_label)
        grid = QGridLayout()
        self.throughput = PlotPanel("Throughput", "B/s", style="area")
        self.iops = PlotPanel("Operations", "IOPS", style="area")
        self.busy = PlotPanel("Busy time", "%", (0, 100), style="area")
        grid.addWidget(self.throughput, 0, 0, 1, 2)
        grid.addWidget(self.iops, 1, 0)
        grid.addWidget(self.busy, 1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid, 3)
        self.fs_table = readonly_table(FS_COLUMNS, self)
        self.fs_table.setItemDelegateForColumn(USAGE_COLUMN, UsageBarDelegate(self.fs_table))
        self.fs_table.setShowGrid(False)
        layout.addWidget(self.fs_table, 1)

    def refresh(self, snapshot: Snapshot) -> None:
        ctx = self.context
        history, window = ctx.history, ctx.window_seconds
        self.reason_label.set_unavailable(snapshot.unavailable.get("disk"), "Disk metrics")
        specs = snapshot.specs
        devices = instances(specs, "disk.read")
        labels: dict[str, str] = {}
        for dev in devices:
            labels[f"disk.read.{dev}"] = f"{dev} read"
            labels[f"disk.write.{dev}"] = f"{dev} write"
            labels[f"disk.read_iops.{dev}"] = f"{dev} read"
            labels[f"disk.write_iops.{dev}"] = f"{dev} write"
            labels[f"disk.busy.{dev}"] = dev
        self.throughput.update_from(
            history, [i for d in devices for i in (f"disk.read.{d}", f"disk.write.{d}")], window, labels)
        iops = [i for d in devices for i in (f"disk.read_iops.{d}", f"disk.write_iops.{d}") if i in specs]
        self.iops.update_from(history, iops, window, labels)
        busy = [f"disk.busy.{d}" for d in devices if f"disk.busy.{d}" in specs]
        self.busy.update_from(history, busy, window, labels)
        self.throughput.show_reason(
            None if devices else ctx.unavailable("disk.read") or "the disk collector reports no devices")
        self.iops.show_reason(None if iops else ctx.unavailable("disk.read_iops"))
        self.busy.show_reason(
            None if busy else ctx.unavailable("disk.busy") or "the disk collector reports no busy time")
        self._fill_fs_table(snapshot)

    def _fill_fs_table(self, snapshot: Snapshot) -> None:
        mounts = instances(snapshot.specs, "disk.fs_used_pct")
        if self.fs_table.rowCount() != len(mounts):
            self.fs_table.setRowCount(len(mounts))
        for row, mount in enumerate(mounts):
            spec = snapshot.specs.get(f"disk.fs_used_pct.{mount}")
            # The spec label reads "<mount> used (<device>, <fs type>)"; the table wants the rest.
            name = spec.label.replace(" used (", " (", 1) if spec is not None else mount
            cells = (name, format_bytes(snapshot.value(f"disk.fs_used.{mount}")),
                     format_bytes(snapshot.value(f"disk.fs_total.{mount}")),
                     format_value(snapshot.value(f"disk.fs_used_pct.{mount}"), "%"))
            for column, text in enumerate(cells):
                item = self.fs_table.item(row, column)
                if item is None:
                    item = QTableWidgetItem()
                    if column:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    self.fs_table.setItem(row, column, item)
                if item.text() != text:
                    item.setText(text)
                if column == USAGE_COLUMN:  # the bar's length
                    item.setData(Qt.ItemDataRole.UserRole, snapshot.value(f"disk.fs_used_pct.{mount}"))
