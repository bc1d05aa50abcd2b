"""Processes: a sortable, filterable table updated in place, with Terminate and Kill.

The rows come from ``snapshot.tables["processes"]``: a sequence of mappings (or objects with
attributes) with keys among ``COLUMNS`` below; common psutil names are accepted too
(``cpu_percent``, ``memory_percent``, ``num_threads``, ``username``, ``rss``). A key a row lacks
shows as "—" (unknown), never 0.

Updating in place (``dataChanged`` for the rows that stayed, ``rowsRemoved``/``rowsInserted`` for
the ones that came and went) keeps the selection and the scroll position across refreshes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psutil
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext, fix_label_size
from perfdeck.model.series import Snapshot
from perfdeck.model.units import format_bytes

_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    numeric: bool = False
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("pid", "PID", numeric=True),
    Column("name", "Name"),
    Column("user", "User", aliases=("username",)),
    Column("status", "State"),
    Column("cpu_pct", "CPU %", numeric=True, aliases=("cpu_percent",)),
    Column("mem_rss", "Memory (RSS)", numeric=True, aliases=("rss", "memory_rss")),
    Column("mem_pct", "Memory %", numeric=True, aliases=("memory_percent",)),
    Column("threads", "Threads", numeric=True, aliases=("num_threads",)),
    Column("cmdline", "Command line"),
)
COLUMN_INDEX = {c.key: i for i, c in enumerate(COLUMNS)}
# The filter box matches these.
FILTER_KEYS = ("name", "cmdline", "user", "pid")
SORT_ROLE = Qt.ItemDataRole.UserRole
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def field(row: Any, column: Column) -> Any:
    """A row's value for ``column``, whether the row is a mapping or an object; None if absent."""
    for key in (column.key, *column.aliases):
        if isinstance(row, Mapping):
            if key in row:
                return row[key]
        elif hasattr(row, key):
            return getattr(row, key)
    return None


def _display(column: Column, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if column.key == "cmdline" and isinstance(value, (list, tuple)):
        return " ".join(value)
    if column.key == "mem_rss":
        return format_bytes(value)
    if column.key in ("cpu_pct", "mem_pct"):
        return f"{value:.1f}"
    return str(value)


class ProcessTableModel(QAbstractTableModel):
    """The process rows keyed by PID, updated in place by ``set_rows``.

    ``total_memory`` (bytes) lets Memory % be derived from RSS when rows do not carry it.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []
        self._pids: list[int] = []
        # Per row: display strings and sort keys, computed once per update so that data(),
        # which Qt calls thousands of times per sort and paint, is a list lookup.
        self._display: list[tuple[str, ...]] = []
        self._keys: list[tuple[Any, ...]] = []
        self.total_memory: float | None = None

    def value(self, source_row: int, column: Column) -> Any:
        return self._value(self._rows[source_row], column)

    def _value(self, row: Any, column: Column) -> Any:
        value = field(row, column)
        if value is None and column.key == "mem_pct" and self.total_memory:
            rss = field(row, COLUMNS[COLUMN_INDEX["mem_rss"]])
            if rss is not None:
                value = 100.0 * rss / self.total_memory
        return value

    def _cells(self, row: Any) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        display: list[str] = []
        keys: list[Any] = []
        for column in COLUMNS:
            value = self._value(row, column)
            text = _display(column, value)
            if column.key == "cmdline" and value is not None and not value:
                # An empty command line is a kernel thread; show its name as ps does.
                text = f"[{field(row, COLUMNS[COLUMN_INDEX['name']]) or '?'}]"
            display.append(text)
            # One type per column so Qt's comparison works; unknown sorts below everything.
            if column.numeric:
                keys.append(float("-inf") if value is None else float(value))
            else:
                keys.append(text.lower() if value is not None else "")
        return tuple(display), tuple(keys)

    # Qt model API
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display[index.row()][index.column()]
        if role == SORT_ROLE:
            return self._keys[index.row()][index.column()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole and column.key == "cmdline":
            return self._display[index.row()][index.column()]
        return None

    # updates
    def set_rows(self, rows: Sequence[Any]) -> None:
        """Replace the rows, keeping rows of surviving PIDs in place (selection survives).

        Only rows whose shown values changed are announced (``dataChanged``), so an unchanged
        table costs no re-sort and no repaint.
        """
        new_by_pid: dict[int, Any] = {}
        for row in rows:
            pid = field(row, COLUMNS[0])
            if pid is not None:
                new_by_pid[int(pid)] = row
        # Remove vanished PIDs, last block first so indices stay valid.
        gone = [i for i, pid in enumerate(self._pids) if pid not in new_by_pid]
        for first, last in reversed(_blocks(gone)):
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first:last + 1]
            del self._pids[first:last + 1]
            del self._display[first:last + 1]
            del self._keys[first:last + 1]
            self.endRemoveRows()
        first_changed, last_changed = len(self._rows), -1
        for i, pid in enumerate(self._pids):
            row = new_by_pid.pop(pid)
            self._rows[i] = row
            display, keys = self._cells(row)
            if display != self._display[i]:
                self._display[i], self._keys[i] = display, keys
                first_changed, last_changed = min(first_changed, i), i
        if last_changed >= 0:
            self.dataChanged.emit(self.index(first_changed, 0),
                                  self.index(last_changed, len(COLUMNS) - 1),
                                  [Qt.ItemDataRole.DisplayRole, SORT_ROLE])
        if new_by_pid:  # what is left is new
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new_by_pid) - 1)
            for pid, row in new_by_pid.items():
                display, keys = self._cells(row)
                self._pids.append(pid)
                self._rows.append(row)
                self._display.append(display)
                self._keys.append(keys)
            self.endInsertRows()

    def row_for(self, source_row: int) -> Any:
        return self._rows[source_row]

    def pid_at(self, source_row: int) -> int:
        return self._pids[source_row]


def _blocks(indices: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7, 8] -> [(1, 3), (7, 8)]."""
    blocks: list[tuple[int, int]] = []
    for i in indices:
        if blocks and blocks[-1][1] == i - 1:
            blocks[-1] = (blocks[-1][0], i)
        else:
            blocks.append((i, i))
    return blocks


class ProcessFilterModel(QSortFilterProxyModel):
    """Sorts on raw values and keeps rows whose name, command line, user or PID contain the text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self._needle = ""

    def set_text(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10; invalidateRowsFilter is deprecated there
            self.beginFilterChange()
            self._needle = text.strip().lower()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._needle = text.strip().lower()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        if not self._needle:
            return True
        model = self.sourceModel()
        if not isinstance(model, ProcessTableModel):
            return True
        row = model.row_for(source_row)
        for key in FILTER_KEYS:
            value = field(row, COLUMNS[COLUMN_INDEX[key]])
            if value is None:
                continue
            text = " ".join(value) if isinstance(value, (list, tuple)) else str(value)
            if self._needle in text.lower():
                return True
        return False


class ProcessesView(View):
    """The process table. Emits ``process_selected(pid)`` when the selection changes."""

    process_selected = Signal(int)

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        self.reason_label = UnavailableLabel(self)
        layout.addWidget(self.reason_label)
        bar = QHBoxLayout()
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter by name, command line, user or PID")
        self.filter_edit.setClearButtonEnabled(True)
        self.count_label = QLabel("")
        fix_label_size(self.count_label, "99999 of 99999 processes")
        self.terminate_button = QPushButton("Terminate…")
        self.terminate_button.setToolTip("Ask the selected process to exit (SIGTERM)")
        self.kill_button = QPushButton("Kill…")
        self.kill_button.setToolTip("Force the selected process to stop (SIGKILL)")
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.count_label)
        bar.addWidget(self.terminate_button)
        bar.addWidget(self.kill_button)
        layout.addLayout(bar)
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.hide()
        layout.addWidget(self.message_label)

        self.model = ProcessTableModel(self)
        self._shown_rows: object = None
        self.proxy = ProcessFilterModel(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMN_INDEX["cpu_pct"], Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for key, width in (("pid", 70), ("name", 170), ("user", 90), ("status", 80), ("cpu_pct", 70),
                           ("mem_rss", 100), ("mem_pct", 80), ("threads", 70)):
            self.table.setColumnWidth(COLUMN_INDEX[key], width)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        layout.addWidget(self.table, 1)

        self.filter_edit.textChanged.connect(self._on_filter)
        self.terminate_button.clicked.connect(lambda: self.signal_selected(kill=False))
        self.kill_button.clicked.connect(lambda: self.signal_selected(kill=True))
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self._update_buttons()

    # --- data --------------------------------------------------------------------------------------
    def refresh(self, snapshot: Snapshot) -> None:
        reason = snapshot.unavailable.get("proc") or snapshot.unavailable.get("proc.processes")
        rows = snapshot.tables.get("processes")
        self.reason_label.set_unavailable(reason if rows is None else None, "Process list")
        if rows is None or rows is self._shown_rows:
            return  # the process list is read every few seconds; same table, nothing to do
        self._shown_rows = rows
        self.model.total_memory = snapshot.value("mem.total") or self.model.total_memory
        self.model.set_rows(rows)
        self._update_count()

    def _update_count(self) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        self.count_label.setText(f"{shown} of {total}" if shown != total else f"{total} processes")

    def _on_filter(self, text: str) -> None:
        self.proxy.set_text(text)
        self._update_count()

    # --- selection ---------------------------------------------------------------------------------
    def selected_pid(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.pid_at(self.proxy.mapToSource(rows[0]).row())

    def selected_row(self) -> Any:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.row_for(self.proxy.mapToSource(rows[0]).row())

    def select_pid(self, pid: int) -> bool:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if self.model.pid_at(self.proxy.mapToSource(index).row()) == pid:
                self.table.selectRow(row)
                self.table.scrollTo(index)
                return True
        return False

    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_buttons()
        pid = self.selected_pid()
        if pid is not None:
            self.process_selected.emit(pid)

    def _update_buttons(self) -> None:
        has = self.selected_pid() is not None
        self.terminate_button.setEnabled(has)
        self.kill_button.setEnabled(has)

    def _context_menu(self, pos: Any) -> None:
        if self.selected_pid() is None:
            return
        menu = QMenu(self)
        terminate = QAction("Terminate (SIGTERM)…", menu)
        terminate.triggered.connect(lambda: self.signal_selected(kill=False))
        kill = QAction("Kill (SIGKILL)…", menu)
        kill.triggered.connect(lambda: self.signal_selected(kill=True))
        menu.addAction(terminate)
        menu.addAction(kill)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    # --- signalling --------------------------------------------------------------------------------
    def confirm(self, text: str) -> bool:
        """Ask before signalling (tests replace this)."""
        answer = QMessageBox.question(self, "PerfDeck", text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def signal_selected(self, kill: bool) -> str:
        """Terminate or kill the selected process after confirmation. Returns the message shown."""
        pid = self.selected_pid()
        if pid is None:
            return ""
        row = self.selected_row()
        name = field(row, COLUMNS[COLUMN_INDEX["name"]]) or "?"
        verb = "Kill" if kill else "Terminate"
        if not self.confirm(f"{verb} process {pid} ({name})?"
                            + ("\nKilling gives it no chance to save its work." if kill else "")):
            return ""
        return self.send_signal(pid, kill, str(name), field(row, Column("create_time", "")))

    def send_signal(self, pid: int, kill: bool, name: str = "?", create_time: float | None = None) -> str:
        """Send SIGKILL or SIGTERM to ``pid``; report the outcome in the view and status bar."""
        action = "kill" if kill else "terminate"
        try:
            process = psutil.Process(pid)
            # A PID can be reused: never signal a different process that took the number.
            if create_time is not None and abs(process.create_time() - float(create_time)) > 0.01:
                raise psutil.NoSuchProcess(pid, name)
            process.kill() if kill else process.terminate()
        except psutil.NoSuchProcess:
            message = f"Process {pid} ({name}) no longer exists; nothing to {action}."
        except psutil.AccessDenied:
            message = (f"Not permitted to {action} process {pid} ({name}): it belongs to another user. "
                       "Run PerfDeck as that user or as root to do this.")
        except OSError as exc:
            message = f"Could not {action} process {pid} ({name}): {exc}"
        else:
            message = f"Sent {'SIGKILL' if kill else 'SIGTERM'} to process {pid} ({name})."
        self.message_label.setText(message)
        self.message_label.show()
        self.context.show_message(message, 10000)
        return message
