"""Services and containers: the cgroup v2 tree with human names, sortable and filterable, and
plots of the selected cgroup. (The Processes tab's Service/container column uses
``collectors.cgroup_tree.ServiceNames``.)
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from perfdeck.collectors.cgroups import TABLE, CgroupRow, CgroupTable
from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.gui.views.common import PlotPanel
from perfdeck.model.series import Snapshot, Unavailable
from perfdeck.model.units import format_bytes, format_value

SORT_ROLE = Qt.ItemDataRole.UserRole
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
# (key, title, the CgroupRow.missing column that explains an empty cell)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("name", "Name", ""), ("kind", "Kind", ""), ("cpu", "CPU %", "cpu"),
    ("throttled", "Throttled %", "throttled"),
    ("memory", "Memory / limit", "memory"), ("io_read", "IO read", "io"), ("io_write", "IO write", "io"),
    ("psi_cpu", "CPU pressure", "pressure"), ("psi_memory", "Memory pressure", "pressure"),
    ("psi_io", "IO pressure", "pressure"), ("procs", "Processes", "procs"),
    ("ctx", "Ctx switches/s", "counters"), ("ipc", "IPC", "ipc"),
    ("tma", "Top-down R / BS / FE / BE %", "tma"), ("path", "cgroup path", ""),
)
COLUMN_INDEX = {key: i for i, (key, _, _) in enumerate(COLUMNS)}
HISTORY_POINTS = 3600  # per selected cgroup, kept by the view: one hour at 1 s
_PLOT_KEYS = ("cpu", "throttled", "memory", "io_read", "io_write", "psi_cpu_some", "psi_memory_some",
              "psi_memory_full", "psi_io_some", "psi_io_full")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _pressure(row: CgroupRow, resource: str) -> tuple[str, float | None]:
    some, full = row.pressure.get((resource, "some")), row.pressure.get((resource, "full"))
    if some is None and full is None:
        return "—", None
    return f"{_pct(some)} / {_pct(full)}", some


def _topdown(row: CgroupRow) -> tuple[str, float | None]:
    """Level 1 as "retiring / bad speculation / frontend / backend", sorted by retiring."""
    if not row.tma:
        return "—", None
    parts = [row.tma.get(c) for c in ("retiring", "bad_speculation", "frontend_bound", "backend_bound")]
    return " / ".join("—" if p is None else f"{p:.0f}" for p in parts), row.tma.get("retiring")


def _subtree_procs(rows: tuple[CgroupRow, ...]) -> dict[str, int | None]:
    """Processes in each cgroup and its descendants (cgroup.procs lists only the cgroup's own)."""
    totals: dict[str, int | None] = {row.path: row.procs for row in rows}
    for row in sorted(rows, key=lambda r: -r.path.count("/")):  # children before parents
        if row.parent is not None and row.parent in totals and row.path != "/":
            mine = totals[row.path]
            if mine is not None:
                totals[row.parent] = (totals[row.parent] or 0) + mine
    return totals


def cells(row: CgroupRow, procs: int | None) -> list[tuple[str, Any]]:
    """(text, sort key) per column."""
    if row.memory_current is None:
        memory = ("—", None)
    else:
        limit = "no limit" if row.memory_unlimited or row.memory_max is None else format_bytes(row.memory_max)
        memory = (f"{format_bytes(row.memory_current)} / {limit}", float(row.memory_current))
    values: dict[str, tuple[str, Any]] = {
        "name": (row.name, row.name.lower()), "kind": (row.kind, row.kind),
        "cpu": (_pct(row.cpu_pct), row.cpu_pct), "throttled": (_pct(row.throttled_pct), row.throttled_pct),
        "memory": memory,
        "io_read": (format_value(row.io_read_bps, "B/s"), row.io_read_bps),
        "io_write": (format_value(row.io_write_bps, "B/s"), row.io_write_bps),
        "psi_cpu": _pressure(row, "cpu"), "psi_memory": _pressure(row, "memory"),
        "psi_io": _pressure(row, "io"),
        "procs": ("—" if procs is None else str(procs), procs),
        "ctx": ("—" if row.ctx_switches_ps is None else f"{row.ctx_switches_ps:.0f}", row.ctx_switches_ps),
        "ipc": ("—" if row.ipc is None else f"{row.ipc:.2f}", row.ipc),
        "tma": _topdown(row),
        "path": (row.path, row.path),
    }
    return [values[key] for key, _, _ in COLUMNS]


class CgroupFilterModel(QSortFilterProxyModel):
    """Numeric sorting (unknown last) and a filter on name, kind and path that keeps the ancestors."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setRecursiveFilteringEnabled(True)  # a matching child keeps its parents visible
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._needle = ""

    def set_text(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10; invalidateFilter is deprecated there
            self.beginFilterChange()
            self._needle = text.strip().lower()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._needle = text.strip().lower()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        if not self._needle:
            return True
        model = self.sourceModel()
        for column in (COLUMN_INDEX["name"], COLUMN_INDEX["kind"], COLUMN_INDEX["path"]):
            text = model.index(source_row, column, source_parent).data() or ""
            if self._needle in str(text).lower():
                return True
        return False

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a is None or b is None:
            # Unknown values sort below every number, in both directions.
            descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
            return (a is None and b is not None) if not descending else (b is None and a is not None)
        return a < b


class ServicesView(View):
    """The cgroup tree and the selected cgroup's CPU, memory, IO and pressure over time."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        self.reason_label = UnavailableLabel(self)
        layout.addWidget(self.reason_label)
        # Columns this host cannot fill (hybrid cgroup layouts): one compact banner, the
        # controller-by-controller reasons and the shared fix behind its Details.
        self.missing_label = UnavailableLabel(self)
        layout.addWidget(self.missing_label)
        self.layout_label = QLabel("")
        self.layout_label.setWordWrap(True)
        self.layout_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.layout_label)
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter by name, kind (service, container, pod…) or cgroup path")
        self.filter_edit.setClearButtonEnabled(True)
        layout.addWidget(self.filter_edit)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels([title for _, title, _ in COLUMNS])
        self.proxy = CgroupFilterModel(self)
        self.proxy.setSourceModel(self.model)
        self.tree = QTreeView(self)
        self.tree.setModel(self.proxy)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(COLUMN_INDEX["cpu"], Qt.SortOrder.DescendingOrder)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 260)
        self.filter_edit.textChanged.connect(self._filter_changed)
        self.tree.selectionModel().currentRowChanged.connect(self._current_changed)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.tree)
        detail = QWidget(self)
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        self.detail_label = QLabel("Select a service or container to see its plots.")
        self.detail_label.setWordWrap(True)
        detail_layout.addWidget(self.detail_label)
        grid = QGridLayout()
        # Panels give way to the reason when the column cannot be read (hybrid hosts: memory, IO).
        self.panels = {key: PlotPanel(title, unit) for key, title, unit in (
            ("cpu", "CPU (100 % = one CPU)", "%"), ("memory", "Memory", "B"), ("io", "IO", "B/s"),
            ("pressure", "Pressure (% of time)", "%"))}
        self.cpu_plot, self.memory_plot, self.io_plot, self.pressure_plot = (
            panel.plot for panel in self.panels.values())
        self.cpu_plot.set_series([("cpu", "used"), ("throttled", "throttled")])
        self.memory_plot.set_series([("memory", "current")])
        self.io_plot.set_series([("io_read", "read"), ("io_write", "write")])
        self.pressure_plot.set_series([("psi_cpu_some", "CPU some"), ("psi_memory_some", "memory some"),
                                       ("psi_memory_full", "memory full"), ("psi_io_some", "IO some"),
                                       ("psi_io_full", "IO full")])
        for index, panel in enumerate(self.panels.values()):
            grid.addWidget(panel, index // 2, index % 2)
        detail_layout.addLayout(grid, 1)
        splitter.addWidget(detail)
        splitter.setSizes([420, 300])
        layout.addWidget(splitter, 1)
        self.counters_label = QLabel("")
        self.counters_label.setWordWrap(True)
        layout.addWidget(self.counters_label)
        self._items: dict[str, list[QStandardItem]] = {}
        self.selected_path: str | None = None
        self._buffer: deque[tuple[float, ...]] = deque(maxlen=HISTORY_POINTS)
        self._last_table: CgroupTable | None = None

    # --- the tree ---------------------------------------------------------------------------------

    def _filter_changed(self, text: str) -> None:
        self.proxy.set_text(text)
        if text:
            self.tree.expandAll()

    def _set_row(self, items: list[QStandardItem], row: CgroupRow, procs: int | None) -> None:
        for column, (item, (text, key)) in enumerate(zip(items, cells(row, procs), strict=True)):
            if item.text() != text:
                item.setText(text)
            if item.data(SORT_ROLE) != key:
                item.setData(key, SORT_ROLE)
            missing_key = COLUMNS[column][2]
            reason = row.missing.get(missing_key) if missing_key else None
            tip = str(reason) if reason is not None and text == "—" else ""
            if column == 0:
                tip = f"{row.name}\n{row.path}"
            if item.toolTip() != tip:
                item.setToolTip(tip)

    def _update_tree(self, table: CgroupTable) -> None:
        procs = _subtree_procs(table.rows)
        present = {row.path for row in table.rows}
        for path in sorted((p for p in self._items if p not in present), key=lambda p: -p.count("/")):
            item = self._items.pop(path)[0]
            parent = item.parent() or self.model.invisibleRootItem()
            parent.removeRow(item.row())
        new_parents = False
        for row in table.rows:  # parents come first
            items = self._items.get(row.path)
            if items is None:
                items = [QStandardItem() for _ in COLUMNS]
                for column, item in enumerate(items):
                    item.setData(row.path, PATH_ROLE)
                    if column not in (COLUMN_INDEX["name"], COLUMN_INDEX["kind"], COLUMN_INDEX["path"]):
                        item.setTextAlignment(_RIGHT)
                parent_items = self._items.get(row.parent) if row.parent else None
                (parent_items[0] if parent_items else self.model.invisibleRootItem()).appendRow(items)
                self._items[row.path] = items
                new_parents = new_parents or row.path == "/" or row.path.count("/") <= 1
            self._set_row(items, row, procs.get(row.path))
        if new_parents:  # the root and the top-level slices open by default
            root = self._items.get("/")
            if root is not None:
                self.tree.expand(self.proxy.mapFromSource(root[0].index()))

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        path = current.data(PATH_ROLE) if current.isValid() else None
        if path == self.selected_path:
            return
        self.selected_path = path
        self._buffer.clear()
        self._seed_from_history()
        if self.context.latest is not None:
            self.refresh(self.context.latest)

    def select_path(self, path: str) -> None:
        """Select a cgroup by path (tests and other tabs)."""
        items = self._items.get(path)
        if items is not None:
            index = self.proxy.mapFromSource(items[0].index())
            self.tree.setCurrentIndex(index)

    # --- the selected cgroup's plots --------------------------------------------------------------

    def _row(self, table: CgroupTable | None, path: str | None) -> CgroupRow | None:
        if table is None or path is None:
            return None
        return next((row for row in table.rows if row.path == path), None)

    def _seed_from_history(self) -> None:
        """Start the plots with what history has: the busiest cgroups have series there."""
        row = self._row(self._last_table, self.selected_path)
        if row is None or row.series_instance is None:
            return
        inst = row.series_instance
        ids = {"cpu": f"cgroup.cpu.{inst}", "throttled": f"cgroup.throttled.{inst}",
               "memory": f"cgroup.memory.{inst}", "io_read": f"cgroup.io_read.{inst}",
               "io_write": f"cgroup.io_write.{inst}", "psi_cpu_some": f"cgroup.psi_cpu_some.{inst}",
               "psi_memory_some": f"cgroup.psi_memory_some.{inst}",
               "psi_memory_full": f"cgroup.psi_memory_full.{inst}",
               "psi_io_some": f"cgroup.psi_io_some.{inst}", "psi_io_full": f"cgroup.psi_io_full.{inst}"}
        times, values = self.context.history.window(list(ids.values()), None)
        for index, timestamp in enumerate(times[:-1]):  # the last one is appended by observe/refresh
            self._buffer.append((float(timestamp), *(float(values[ids[k]][index]) for k in _PLOT_KEYS)))

    def observe(self, snapshot: Snapshot) -> None:
        table = snapshot.tables.get(TABLE)
        if not isinstance(table, CgroupTable):
            return
        self._last_table = table
        row = self._row(table, self.selected_path)
        if row is None:
            return
        pressure = [row.pressure.get(key) for key in (("cpu", "some"), ("memory", "some"), ("memory", "full"),
                                                       ("io", "some"), ("io", "full"))]
        values = [row.cpu_pct, row.throttled_pct, row.memory_current, row.io_read_bps, row.io_write_bps,
                  *pressure]
        # NaN, not 0, for what could not be read: the plot shows a gap.
        self._buffer.append((snapshot.timestamp, *(math.nan if v is None else float(v) for v in values)))

    def _draw_selected(self, table: CgroupTable) -> None:
        row = self._row(table, self.selected_path)
        if row is None:
            self.detail_label.setText("Select a service or container to see its plots."
                                      if self.selected_path is None else
                                      f"{self.selected_path} no longer exists.")
            for panel in self.panels.values():  # no empty plots while nothing is selected
                panel.hide()
            return
        for panel in self.panels.values():
            panel.show()
        limit = ("no limit" if row.memory_unlimited else
                 format_bytes(row.memory_max) if row.memory_max is not None else "unknown")
        # Memory and IO say why in their own panels; the rest is listed here.
        gaps = "; ".join(f"{column}: {reason.reason}" for column, reason in row.missing.items()
                         if column not in ("counters", "memory", "io"))
        text = f"{row.name} ({row.kind}) — {row.path} — memory limit {limit}"
        if gaps:
            text += f"\nNot shown: {gaps}"
        if self.detail_label.text() != text:
            self.detail_label.setText(text)
        for key, panel in self.panels.items():
            panel.show_reason(row.missing.get(key))
        if not self._buffer:
            return
        data = np.array(self._buffer, dtype=float)
        times = data[:, 0]
        columns = {key: data[:, i + 1] for i, key in enumerate(_PLOT_KEYS)}
        window = self.context.window_seconds
        for plot, keys in ((self.cpu_plot, ("cpu", "throttled")), (self.memory_plot, ("memory",)),
                           (self.io_plot, ("io_read", "io_write")), (self.pressure_plot, _PLOT_KEYS[5:])):
            plot.set_arrays(times, {k: columns[k] for k in keys}, window_seconds=window)

    def refresh(self, snapshot: Snapshot) -> None:
        whole = snapshot.unavailable.get("cgroup")
        self.reason_label.set_unavailable(whole, "Services and containers")
        table = snapshot.tables.get(TABLE)
        if not isinstance(table, CgroupTable):
            return
        self._last_table = table
        self._update_tree(table)
        self._describe(table, snapshot.unavailable.get("cgroup.tree"))
        self._draw_selected(table)

    def _describe(self, table: CgroupTable, truncated: Unavailable | None) -> None:
        lines = [f"{len(table.rows)} cgroups ({table.layout} cgroup layout). CPU %: 100 = one CPU; "
                 "pressure: some / full, % of wall time."]
        if table.missing:
            # One reason per missing column, the shared fix once (hybrid hosts have one fix for all).
            columns = ", ".join(table.missing)
            why = "; ".join(f"{column}: {reason.reason}" for column, reason in table.missing.items())
            fixes = dict.fromkeys(reason.fix for reason in table.missing.values() if reason.fix)
            self.missing_label.set_unavailable(
                Unavailable(f"{columns[:1].upper()}{columns[1:]} cannot be read on this host. {why}",
                            " Or: ".join(fixes)), "Columns")
        else:
            self.missing_label.set_unavailable(None)
        if truncated is not None:
            lines.append(truncated.reason)
        text = "\n".join(lines)
        if self.layout_label.text() != text:
            self.layout_label.setText(text)
        if self.counters_label.text() != table.counters:
            self.counters_label.setText(table.counters)
