"""Processes: a sortable, filterable table updated in place, with Terminate and Kill.

The rows come from ``snapshot.tables["processes"]``: a sequence of mappings (or objects with
attributes) with keys among ``COLUMNS`` below; common psutil names are accepted too
(``cpu_percent``, ``memory_percent``, ``num_threads``, ``username``, ``rss``). A key a row lacks
shows as "—" (unknown), never 0.

The model filters and sorts in Python (no QSortFilterProxyModel: a proxy calls into Python for
every changed row and re-sorts with a whole-viewport repaint). Row i shows the i-th process of the
shown order; an update announces only the rows whose process or text changed (``dataChanged``), and
inserts or removes rows at the end when the number shown changes, so Qt repaints only those. The
selection follows its process (not the row), and the scroll position stays.

"Hardware counter columns" (off by default) adds IPC, Cache miss % and Branch miss % for the top
processes by CPU %, counted by ``perfdeck.perf.top_processes.TopProcessCounters`` within its fd
budget. Untracked processes show "—"; where counters cannot be opened at all (a VM without a PMU)
the header tooltip and a note above the table give the reason. While the option is off the model
has no such columns and nothing is computed or opened.
"""

from __future__ import annotations

import math
import os
import pwd
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psutil
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from perfdeck.collectors.cgroup_tree import ServiceNames
from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext, fix_label_size
from perfdeck.gui.views.process_gpu import show_gpu_columns, with_gpu
from perfdeck.model.series import Snapshot
from perfdeck.model.units import format_bytes, format_value

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
    Column("gpu_pct", "GPU %", numeric=True),  # from the gpu family; hidden without a GPU (process_gpu.py)
    Column("gpu_mem", "GPU memory", numeric=True),
    Column("service", "Service / container"),  # from /proc/PID/cgroup (collectors/cgroup_tree.py)
    # Per-process disk rates from /proc/PID/io where readable (None, shown "—", where not).
    Column("io_read_bps", "Disk read", numeric=True),
    Column("io_write_bps", "Disk write", numeric=True),
    Column("cmdline", "Command line"),
)
# A new column (GPU, service, container) is one Column line above, plus a line in ``_display`` if
# its values need formatting.
COLUMN_INDEX = {c.key: i for i, c in enumerate(COLUMNS)}
# Optional hardware-counter columns, appended after COLUMNS (shown before Command line) when on.
COUNTER_COLUMNS: tuple[Column, ...] = (
    Column("hw_ipc", "IPC", numeric=True),
    Column("hw_cache_miss_pct", "Cache miss %", numeric=True),
    Column("hw_branch_miss_pct", "Branch miss %", numeric=True),
)
_COUNTER_FIELDS = {"hw_ipc": "ipc", "hw_cache_miss_pct": "cache_miss_pct",
                   "hw_branch_miss_pct": "branch_miss_pct"}
# The filter box matches these.
FILTER_KEYS = ("name", "cmdline", "user", "pid")
SORT_ROLE = Qt.ItemDataRole.UserRole
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_DISPLAY_ROLE = int(Qt.ItemDataRole.DisplayRole)
_SORT_ROLE = int(SORT_ROLE)
_ALIGNMENT_ROLE = int(Qt.ItemDataRole.TextAlignmentRole)
_TOOLTIP_ROLE = int(Qt.ItemDataRole.ToolTipRole)
# Hardware counter columns: how many processes, and the fd ceiling (see perf/top_processes.py).
TOP_N = 10
FD_BUDGET = 256


_IS_MAPPING: dict[type, bool] = {}  # row type -> is it a Mapping (an ABC check costs ~1 µs a call)


def _is_mapping(row: Any) -> bool:
    kind = type(row)
    is_mapping = _IS_MAPPING.get(kind)
    if is_mapping is None:
        is_mapping = _IS_MAPPING[kind] = isinstance(row, Mapping)
    return is_mapping


def field(row: Any, column: Column) -> Any:
    """A row's value for ``column``, whether the row is a mapping or an object; None if absent."""
    if _is_mapping(row):
        for key in (column.key, *column.aliases):
            if key in row:
                return row[key]
        return None
    for key in (column.key, *column.aliases):
        value = getattr(row, key, _ABSENT)
        if value is not _ABSENT:
            return value
    return None


_ABSENT = object()


def _display(column: Column, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if column.key == "cmdline" and isinstance(value, (list, tuple)):
        return " ".join(value)
    if column.key in ("mem_rss", "gpu_mem"):
        return format_bytes(value)
    if column.key in ("io_read_bps", "io_write_bps"):
        return format_value(value, "B/s")
    if column.key in ("cpu_pct", "mem_pct", "hw_cache_miss_pct", "hw_branch_miss_pct", "gpu_pct"):
        return f"{value:.1f}"
    if column.key == "hw_ipc":
        return f"{value:.2f}"
    return str(value)


def current_user() -> str | None:
    """This user's name as the process table shows it (None if it cannot be told)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name  # the effective user, as /proc reports owners
    except KeyError:
        return None


def is_kernel_thread(row: Any) -> bool:
    """The collector's ``kernel_thread`` flag where it has one; else an empty command line (what
    ps shows in brackets). An unreadable command line (None) is not taken for a kernel thread."""
    flag = row.get("kernel_thread") if _is_mapping(row) else getattr(row, "kernel_thread", None)
    if flag is not None:
        return bool(flag)
    cmdline = field(row, COLUMNS[COLUMN_INDEX["cmdline"]])
    return cmdline is not None and not cmdline


class ProcessTableModel(QAbstractTableModel):
    """The process rows keyed by PID, filtered and sorted here, shown in "slots".

    No sort/filter proxy: slot i (the model's row i) shows the i-th process of the shown order.
    An update re-sorts in Python and announces only the slots whose process or text changed
    (``dataChanged`` per contiguous block, rows inserted or removed at the end when the number
    shown changes), so Qt repaints those rows and nothing else, and calls into Python only for
    them. Persistent indexes (the selection, the current row) follow their process to its new
    slot, as a proxy's would.

    ``total_memory`` (bytes) lets Memory % be derived from RSS when rows do not carry it.
    """

    # Emitted with the PIDs about to be shown, in order, before the rows change (the view drops a
    # selection whose process is about to disappear, rather than let Qt move it to a neighbour).
    about_to_show = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Every process, shown or not, by PID. Per process: display strings and sort keys,
        # computed when its row changed, so that data() is a list lookup.
        self._rows: dict[int, Any] = {}
        self._display: dict[int, tuple[str, ...]] = {}
        self._keys: dict[int, tuple[Any, ...]] = {}
        # Per process: what the filter looks at (kernel thread?, user, lower-case texts), and
        # whether it passes the current filter.
        self._facts: dict[int, tuple[bool, Any, tuple[str, ...]]] = {}
        self._accepted: dict[int, bool] = {}
        # The shown order: slot -> PID, and slot -> display strings (what data() reads).
        self._order: list[int] = []
        self._slot_display: list[tuple[str, ...]] = []
        self.total_memory: float | None = None
        self.columns: tuple[Column, ...] = COLUMNS
        self._cells_context: tuple[Any, ...] | None = None  # what the cells were last computed with
        # pid -> perfdeck.perf.top_processes.ProcessMetrics or Unavailable (counter columns only)
        self.counter_values: Mapping[int, Any] = {}
        self.counter_header_tip = ""
        self.service_names = ServiceNames()  # pid -> service/container, cached (collectors/cgroup_tree.py)
        # Key of an unknown counter cell: always sorts last (set from the sort order).
        self.unknown_counter_key = float("-inf")
        # The filter: kernel threads hidden by default, as in GNOME System Monitor.
        self.needle = ""
        self.show_kernel_threads = False
        self.only_user: str | None = None  # "Mine": this user's processes only
        self.sort_column = COLUMN_INDEX["cpu_pct"]
        self.sort_order = Qt.SortOrder.DescendingOrder

    @property
    def counters_shown(self) -> bool:
        return len(self.columns) > len(COLUMNS)

    def set_counter_columns(self, shown: bool) -> None:
        """Add or remove the hardware-counter columns (rows and selection stay)."""
        if shown == self.counters_shown:
            return
        first, last = len(COLUMNS), len(COLUMNS) + len(COUNTER_COLUMNS) - 1
        if shown:
            self.beginInsertColumns(QModelIndex(), first, last)
            self.columns = COLUMNS + COUNTER_COLUMNS
        else:
            self.beginRemoveColumns(QModelIndex(), first, last)
            self.columns = COLUMNS
            self.counter_values = {}
            if self.sort_column >= len(COLUMNS):  # the view sorts again by CPU %
                self.sort_column = COLUMN_INDEX["cpu_pct"]
        for pid, row in self._rows.items():
            self._display[pid], self._keys[pid] = self._cells(row, pid)
        self._slot_display = [self._display[pid] for pid in self._order]
        self.endInsertColumns() if shown else self.endRemoveColumns()

    def counter_tooltip(self, slot: int, column: Column) -> str:
        """Why a counter cell shows what it shows."""
        value = self.counter_values.get(self._order[slot])
        if value is None:
            return ("not counted: only the top processes by CPU % are counted" +
                    (f" ({self.counter_header_tip})" if self.counter_header_tip else ""))
        reason = getattr(value, "reason", None)
        if reason is not None:  # Unavailable
            return str(value)
        if getattr(value, "note", ""):
            return value.note
        if column.key == "hw_cache_miss_pct":
            what = f"{value.cache_level} load misses / loads"
        else:
            what = {"hw_ipc": "instructions / cycles",
                    "hw_branch_miss_pct": "branch misses / branches"}[column.key]
        why = value.reasons.get(_COUNTER_FIELDS[column.key])
        if why:
            return f"{what}: not counted: {why}"
        if getattr(value, _COUNTER_FIELDS[column.key]) is None:
            return f"{what}: nothing counted this interval (the process did not run)"
        threads = f"{value.threads} thread{'s' if value.threads != 1 else ''}"
        return f"{what} over the last refresh; {threads} counted with {value.fds} fds"

    def value(self, slot: int, column: Column) -> Any:
        return self._value(self._rows[self._order[slot]], column)

    def _value(self, row: Any, column: Column) -> Any:
        if column.key == "service":
            return self.service_names.name_of_row(row)
        value = field(row, column)
        if value is None and column.key == "mem_pct" and self.total_memory:
            rss = field(row, COLUMNS[COLUMN_INDEX["mem_rss"]])
            if rss is not None:
                value = 100.0 * rss / self.total_memory
        return value

    def _cells(self, row: Any, pid: int | None = None) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        display: list[str] = []
        keys: list[Any] = []
        for column in self.columns:
            if column.key in _COUNTER_FIELDS:
                measured = self.counter_values.get(pid) if pid is not None else None
                value = getattr(measured, _COUNTER_FIELDS[column.key], None)
                display.append(_display(column, value))
                keys.append(None if value is None else float(value))  # None: see unknown_counter_key
                continue
            value = self._value(row, column)
            text = _display(column, value)
            if column.key == "cmdline":
                command = getattr(row, "command", None)  # ProcessRow: "[name]" for kernel threads
                if isinstance(command, str):
                    text = command
                elif value is not None and not value:
                    # An empty command line is a kernel thread; show its name as ps does.
                    text = f"[{field(row, COLUMNS[COLUMN_INDEX['name']]) or '?'}]"
            display.append(text)
            # One type per column so keys compare; unknown (or NaN) sorts below everything.
            if column.numeric:
                key = float("-inf") if value is None else float(value)
                keys.append(float("-inf") if key != key else key)
            else:
                keys.append(text.lower() if value is not None else "")
        return tuple(display), tuple(keys)

    # Qt model API
    def index(self, row: int, column: int, parent: _Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        # Qt's own index() asks rowCount() and columnCount() first, two calls into Python for each
        # index the view makes.
        if 0 <= row < len(self._order) and 0 <= column < len(self.columns) and not parent.isValid():
            return self.createIndex(row, column)
        return QModelIndex()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].title
        if role == Qt.ItemDataRole.ToolTipRole and self.columns[section].key in _COUNTER_FIELDS:
            return self.counter_header_tip
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # Qt asks each visible cell for seven roles per paint: the roles are compared as plain
        # ints, the unanswered ones return at once.
        role = int(role)
        if role == _DISPLAY_ROLE:
            return self._slot_display[index.row()][index.column()]
        if role == _ALIGNMENT_ROLE:
            return _RIGHT if self.columns[index.column()].numeric else None
        if role == _SORT_ROLE:
            key = self._keys[self._order[index.row()]][index.column()]
            return self.unknown_counter_key if key is None else key
        if role == _TOOLTIP_ROLE:
            column = self.columns[index.column()]
            if column.key == "cmdline":
                return self._slot_display[index.row()][index.column()]
            if column.key in _COUNTER_FIELDS:
                return self.counter_tooltip(index.row(), column)
        return None

    # --- what is shown ---------------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Called by the view (header clicks, sortByColumn)."""
        if not 0 <= column < len(self.columns):
            return
        self.sort_column, self.sort_order = column, order
        # Unknown counter cells sort last in both directions: the key flips with the order.
        descending = order == Qt.SortOrder.DescendingOrder
        self.unknown_counter_key = float("-inf") if descending else float("inf")
        self._publish(self._shown_order())

    def set_text(self, text: str) -> None:
        """The filter box: keep processes whose name, command line, user or PID contain ``text``."""
        self._set_filter(needle=text.strip().lower())

    def set_kernel_threads_shown(self, shown: bool) -> None:
        self._set_filter(show_kernel_threads=shown)

    def set_only_user(self, user: str | None) -> None:
        self._set_filter(only_user=user)

    def _set_filter(self, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        self._accepted = {pid: self._accepts(facts) for pid, facts in self._facts.items()}
        self._publish(self._shown_order())

    @staticmethod
    def _filter_facts(row: Any, pid: int) -> tuple[bool, Any, tuple[str, ...]]:
        texts = []
        for key in FILTER_KEYS:
            value = pid if key == "pid" else field(row, COLUMNS[COLUMN_INDEX[key]])
            if value is not None:
                texts.append((" ".join(value) if isinstance(value, (list, tuple)) else str(value)).lower())
        return is_kernel_thread(row), field(row, COLUMNS[COLUMN_INDEX["user"]]), tuple(texts)

    def _accepts(self, facts: tuple[bool, Any, tuple[str, ...]]) -> bool:
        kernel, user, texts = facts
        if kernel and not self.show_kernel_threads:
            return False
        if self.only_user is not None and user != self.only_user:
            return False
        needle = self.needle
        return not needle or any(needle in text for text in texts)

    def _shown_order(self) -> list[int]:
        """The PIDs to show, in the sort order; ties in PID order."""
        accepted = self._accepted
        shown = [pid for pid in sorted(self._rows) if accepted[pid]]
        column = self.sort_column if self.sort_column < len(self.columns) else COLUMN_INDEX["cpu_pct"]
        keys = self._keys
        if self.columns[column].key in _COUNTER_FIELDS:
            unknown = self.unknown_counter_key
            def key(pid: int) -> Any:
                value = keys[pid][column]
                return unknown if value is None else value
        else:
            def key(pid: int) -> Any:
                return keys[pid][column]
        shown.sort(key=key, reverse=self.sort_order == Qt.SortOrder.DescendingOrder)  # stable
        return shown

    def _publish(self, order: list[int]) -> None:
        """Show ``order``: announce only the slots whose process or text changed."""
        self.about_to_show.emit(order)
        old_order, old_display = self._order, self._slot_display
        display = self._display
        new_display = [display[pid] for pid in order]
        before, after = len(old_order), len(order)
        if after > before:
            self.beginInsertRows(QModelIndex(), before, after - 1)
            self._order, self._slot_display = order, new_display
            self.endInsertRows()
            self._follow(old_order, order)
        elif after < before:
            self._follow(old_order, order)  # first: what moves up is not removed with the end
            self.beginRemoveRows(QModelIndex(), after, before - 1)
            self._order, self._slot_display = order, new_display
            self.endRemoveRows()
        else:
            self._order, self._slot_display = order, new_display
            self._follow(old_order, order)
        last_column = len(self.columns) - 1
        first = -1
        for slot in range(min(before, after)):
            changed = old_order[slot] != order[slot] or (
                old_display[slot] is not new_display[slot] and old_display[slot] != new_display[slot])
            if changed and first < 0:
                first = slot
            elif not changed and first >= 0:
                self.dataChanged.emit(self.createIndex(first, 0), self.createIndex(slot - 1, last_column))
                first = -1
        if first >= 0:
            self.dataChanged.emit(self.createIndex(first, 0),
                                  self.createIndex(min(before, after) - 1, last_column))

    def _follow(self, old_order: list[int], order: list[int]) -> None:
        """Move the persistent indexes (selection, current row) to their process's new slot.

        One whose process is no longer shown stays where it was (``about_to_show`` let the view
        clear its selection).
        """
        persistent = self.persistentIndexList()
        if not persistent or old_order == order:
            return
        moved_from, moved_to = [], []
        for index in persistent:
            slot = index.row()
            if not 0 <= slot < len(old_order):
                continue
            try:
                new_slot = order.index(old_order[slot])
            except ValueError:
                continue
            if new_slot != slot:
                moved_from.append(index)
                moved_to.append(self.createIndex(new_slot, index.column()))
        if moved_from:
            self.changePersistentIndexList(moved_from, moved_to)

    # --- updates -----------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[Any]) -> None:
        """Replace the rows, then filter and sort them again and show the result in place.

        A process's cells, sort keys and filter facts are computed again only when its row changed
        (and its display strings replaced only when they did), so an unchanged table announces
        nothing and repaints nothing.
        """
        new_by_pid: dict[int, Any] = {}
        for row in rows:
            pid = field(row, COLUMNS[0])
            if pid is not None:
                new_by_pid[int(pid)] = row
        self.service_names.forget_except(set(new_by_pid))
        old_rows = self._rows
        for pid in [pid for pid in old_rows if pid not in new_by_pid]:  # vanished
            del self._display[pid], self._keys[pid], self._facts[pid], self._accepted[pid]
        # A row equal to the last one (most processes of an idle machine, read after read) has the
        # same cells, unless what else goes into them changed: the memory total behind Memory %,
        # or the counter columns (their values come from elsewhere: always recomputed when shown).
        context = (self.total_memory, self.columns)
        reuse = context == self._cells_context and not self.counters_shown
        self._cells_context = context
        changed = len(new_by_pid) != len(old_rows)
        display, keys = self._display, self._keys
        for pid, row in new_by_pid.items():
            old = old_rows.get(pid, _ABSENT)
            same = old is not _ABSENT and row == old
            if same and reuse:
                continue
            if not same:
                facts = self._facts[pid] = self._filter_facts(row, pid)
                accepted = self._accepts(facts)
                if old is _ABSENT or accepted != self._accepted[pid]:
                    changed = True
                self._accepted[pid] = accepted
            cells, sort_keys = self._cells(row, pid)
            if old is _ABSENT or cells != display[pid]:
                display[pid], keys[pid] = cells, sort_keys
                changed = True
        self._rows = new_by_pid
        if changed:
            self._publish(self._shown_order())

    def row_for(self, slot: int) -> Any:
        """The row shown in ``slot``."""
        return self._rows[self._order[slot]]

    def pid_at(self, slot: int) -> int:
        """The PID shown in ``slot``."""
        return self._order[slot]

    def slot_of(self, pid: int) -> int | None:
        """Where ``pid`` is shown; None when it is not (gone, or filtered out)."""
        try:
            return self._order.index(pid)
        except ValueError:
            return None

    def total(self) -> int:
        """How many processes there are, shown or not."""
        return len(self._rows)

    def all_rows(self) -> list[Any]:
        """Every process's row, shown or not."""
        return list(self._rows.values())


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
        fix_label_size(self.count_label, "99999 of 99999 processes", opaque=True)
        self.terminate_button = QPushButton("Terminate…")
        self.terminate_button.setToolTip("Ask the selected process to exit (SIGTERM)")
        self.kill_button = QPushButton("Kill…")
        self.kill_button.setToolTip("Force the selected process to stop (SIGKILL)")
        # Off by default: when off, nothing below is computed and no counter is opened.
        self.counters_action = QAction("Hardware counter columns", self)
        self.counters_action.setCheckable(True)
        self.counters_action.setToolTip("Add IPC, cache miss % and branch miss % columns for the top "
                                        f"{TOP_N} processes by CPU % (hardware counters, at most "
                                        f"{FD_BUDGET} file descriptors)")
        self.counters_action.toggled.connect(self.set_counter_columns)
        self.counters_button = QToolButton(self)
        self.counters_button.setDefaultAction(self.counters_action)
        self.owner_combo = QComboBox(self)
        self.owner_combo.addItem("All users", None)
        self.owner_combo.addItem("Mine", current_user())
        self.owner_combo.setToolTip("Show every process, or only your own")
        self.kernel_check = QCheckBox("Kernel threads", self)
        self.kernel_check.setToolTip("Show the kernel's own threads (kworker, ksoftirqd…), hidden by default")
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.owner_combo)
        bar.addWidget(self.kernel_check)
        bar.addWidget(self.counters_button)
        bar.addWidget(self.count_label)
        bar.addWidget(self.terminate_button)
        bar.addWidget(self.kill_button)
        layout.addLayout(bar)
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.hide()
        layout.addWidget(self.message_label)
        self.counters_note = QLabel("")
        self.counters_note.setWordWrap(True)
        self.counters_note.hide()
        layout.addWidget(self.counters_note)
        self.top_counters: Any = None  # perfdeck.perf.top_processes.TopProcessCounters, made on first use

        self.model = ProcessTableModel(self)  # filters and sorts too: no proxy model
        self._shown_rows: object = None
        self._selected_pid: int | None = None  # the process the selection follows
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMN_INDEX["cpu_pct"], Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)  # alternating rows guide the eye; a grid makes a spreadsheet
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for key, width in (("pid", 64), ("name", 140), ("user", 80), ("status", 74), ("cpu_pct", 64),
                           ("mem_rss", 96), ("mem_pct", 84), ("threads", 64), ("io_read_bps", 84),
                           ("io_write_bps", 84)):
            self.table.setColumnWidth(COLUMN_INDEX[key], width)
        # Text columns added later (Service / container) start as wide as their header, not cut.
        for key in ("service",):
            title = COLUMNS[COLUMN_INDEX[key]].title
            self.table.setColumnWidth(COLUMN_INDEX[key], header.fontMetrics().horizontalAdvance(title) + 28)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        layout.addWidget(self.table, 1)

        self.filter_edit.textChanged.connect(self._on_filter)
        self.owner_combo.currentIndexChanged.connect(
            lambda _i: self._refilter(lambda: self.model.set_only_user(self.owner_combo.currentData())))
        self.kernel_check.toggled.connect(
            lambda shown: self._refilter(lambda: self.model.set_kernel_threads_shown(shown)))
        # Ctrl+F finds, Esc clears: from anywhere in this tab, the table included.
        find = QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self)
        find.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        find.activated.connect(self.focus_filter)
        clear = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        clear.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        clear.activated.connect(self.filter_edit.clear)
        self.terminate_button.clicked.connect(lambda: self.signal_selected(kill=False))
        self.kill_button.clicked.connect(lambda: self.signal_selected(kill=True))
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.model.about_to_show.connect(self._drop_hidden_selection)
        self._update_buttons()

    # --- data --------------------------------------------------------------------------------------
    def refresh(self, snapshot: Snapshot) -> None:
        reason = snapshot.unavailable.get("proc") or snapshot.unavailable.get("proc.processes")
        rows = snapshot.tables.get("processes")
        self.reason_label.set_unavailable(reason if rows is None else None, "Process list")
        show_gpu_columns(self.table, COLUMN_INDEX, snapshot)
        if rows is None or rows is self._shown_rows:
            return  # the process list is read every few seconds; same table, nothing to do
        self._shown_rows = rows
        rows = with_gpu(rows, snapshot)
        self.model.total_memory = snapshot.value("mem.total") or self.model.total_memory
        if self.model.counters_shown:
            self._update_counters(rows)
        self.model.set_rows(rows)
        self._update_count()

    # --- hardware counter columns ------------------------------------------------------------
    def set_counter_columns(self, shown: bool) -> None:
        """Show or hide the IPC / miss-% columns; hiding closes every counter fd."""
        if self.counters_action.isChecked() != shown:
            self.counters_action.setChecked(shown)  # re-enters through toggled
            return
        if shown == self.model.counters_shown:
            return
        if not shown:
            if self.top_counters is not None:
                self.top_counters.close()
            sorted_by = self.table.horizontalHeader().sortIndicatorSection()
            self.model.set_counter_columns(False)
            self.counters_note.hide()
            if sorted_by >= len(COLUMNS):  # that column is gone: back to the default order
                self.table.sortByColumn(COLUMN_INDEX["cpu_pct"], Qt.SortOrder.DescendingOrder)
            return
        selected = self.selected_pid()
        self.model.set_counter_columns(True)
        if selected is not None:
            self.select_pid(selected)  # a row selection covers the new columns only when re-made
        header = self.table.horizontalHeader()
        # Shown before the (stretching) Command line column.
        for offset, column in enumerate(COUNTER_COLUMNS):
            logical = len(COLUMNS) + offset
            header.moveSection(header.visualIndex(logical), COLUMN_INDEX["cmdline"] + offset)
            self.table.setColumnWidth(logical, 95 if column.key != "hw_ipc" else 60)
        self.counters_note.show()
        rows = self.model.all_rows()
        self._update_counters(rows)
        self.model.set_rows(rows)

    def _update_counters(self, rows: Sequence[Any]) -> None:
        """Adjust the tracked top processes and read them (once per process-list refresh)."""
        if self.top_counters is None:
            from perfdeck.perf.top_processes import TopProcessCounters  # only when the option is used

            self.top_counters = TopProcessCounters(TOP_N, fd_budget=FD_BUDGET)
        from perfdeck.perf.top_processes import Candidate

        cpu, cmd, start = (COLUMNS[COLUMN_INDEX["cpu_pct"]], COLUMNS[COLUMN_INDEX["cmdline"]],
                           Column("create_time", ""))
        candidates = []
        for row in rows:
            pid = field(row, COLUMNS[0])
            if pid is None:
                continue
            cmdline = field(row, cmd)
            candidates.append(Candidate(int(pid), field(row, cpu), field(row, start),
                                        kernel_thread=cmdline is not None and not cmdline))
        result = self.top_counters.update(candidates)
        self.model.counter_values = result.values
        self._show_counter_state(result)

    def _show_counter_state(self, result: Any) -> None:
        if result.unavailable is not None:
            why = result.unavailable
            tip = f"Not available here: {why}"
            self.counters_note.setText(f"Hardware counter columns: {why.reason}."
                                       + (f" Fix: {why.fix}" if why.fix else ""))
        else:
            measured = sum(1 for v in result.values.values() if not hasattr(v, "reason"))
            cache = f"{result.cache_level} " if result.cache_level else ""
            tip = (f"Counted for the top {TOP_N} processes by CPU % (user space where the kernel "
                   f"requires it); others show —. Cache miss % is {cache}load misses / loads.")
            self.counters_note.setText(f"Hardware counter columns: {measured} processes counted, "
                                       f"{result.fds_open} of {result.fd_budget} fds in use.")
        if tip != self.model.counter_header_tip:
            self.model.counter_header_tip = tip
            first = len(COLUMNS)
            self.model.headerDataChanged.emit(Qt.Orientation.Horizontal, first,
                                              first + len(COUNTER_COLUMNS) - 1)

    def shutdown(self) -> None:
        if self.top_counters is not None:
            self.top_counters.close()
        super().shutdown()

    def _update_count(self) -> None:
        total, shown = self.model.total(), self.model.rowCount()
        self.count_label.setText(f"{shown} of {total}" if shown != total else f"{total} processes")

    def _on_filter(self, text: str) -> None:
        self._refilter(lambda: self.model.set_text(text))

    def _refilter(self, change: Callable[[], None]) -> None:
        change()
        self._update_count()

    def focus_filter(self) -> None:
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    # --- selection ---------------------------------------------------------------------------------
    def selected_pid(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.pid_at(rows[0].row())

    def selected_row(self) -> Any:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.row_for(rows[0].row())

    def select_pid(self, pid: int) -> bool:
        slot = self.model.slot_of(pid)
        if slot is None:
            return False
        self.table.selectRow(slot)
        self.table.scrollTo(self.model.index(slot, 0))
        return True

    def _drop_hidden_selection(self, order: list[int]) -> None:
        """The model moves the selection with its process; when the process is about to go (it
        exited, or is filtered out), the selection and current row are cleared. (Left alone, Qt
        would select the neighbouring process when the row is removed, or the selection would stay
        on a row that then shows another process.)"""
        selection = self.table.selectionModel()
        pid = self._selected_pid
        if pid is not None and pid not in order:
            self._selected_pid = None
            selection.clear()
            return
        current = selection.currentIndex()
        if current.isValid() and self.model.pid_at(current.row()) not in order:
            selection.clearCurrentIndex()

    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_buttons()
        pid = self.selected_pid()
        self._selected_pid = pid
        if pid is not None:
            self.process_selected.emit(pid)

    def _update_buttons(self) -> None:
        has = self.selected_pid() is not None
        self.terminate_button.setEnabled(has)
        self.kill_button.setEnabled(has)

    def context_actions(self, menu: QMenu) -> list[QAction]:
        """The context menu's actions for the selected process (none without a selection)."""
        pid = self.selected_pid()
        if pid is None:
            return []
        row = self.selected_row()
        entries: list[tuple[str, Callable[[], object]] | None] = [
            ("Watch in CPU performance", lambda: self.watch(pid)),
            None,
            ("Copy PID", lambda: self.copy_text(str(pid))),
            ("Copy command line", lambda: self.copy_text(self._command(row))),
            None,
            ("Stop (SIGSTOP)", lambda: self.send(pid, signal.SIGSTOP, "stop")),
            ("Continue (SIGCONT)", lambda: self.send(pid, signal.SIGCONT, "continue")),
            ("Change priority…", lambda: self.ask_priority(pid)),
            None,
            ("Terminate (SIGTERM)…", lambda: self.signal_selected(kill=False)),
            ("Kill (SIGKILL)…", lambda: self.signal_selected(kill=True)),
        ]
        actions = []
        for entry in entries:
            if entry is None:
                separator = QAction(menu)
                separator.setSeparator(True)
                actions.append(separator)
                continue
            action = QAction(entry[0], menu)
            action.triggered.connect(lambda _checked=False, run=entry[1]: run())
            actions.append(action)
        return actions

    def _context_menu(self, pos: Any) -> None:
        menu = QMenu(self)
        actions = self.context_actions(menu)
        for action in actions:
            menu.addAction(action)
        if actions:
            menu.addSeparator()
        menu.addAction(self.counters_action)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    # --- context menu actions -----------------------------------------------------------------------
    def _command(self, row: Any) -> str:
        command = getattr(row, "command", None)
        if isinstance(command, str):
            return command
        value = field(row, COLUMNS[COLUMN_INDEX["cmdline"]])
        return " ".join(value) if isinstance(value, (list, tuple)) else str(value or "")

    def copy_text(self, text: str) -> None:
        QApplication.clipboard().setText(text)
        self.context.show_message(f"Copied: {text[:80]}", 3000)

    def watch(self, pid: int) -> None:
        """Count this process in the CPU performance tab, and go there."""
        self.process_selected.emit(pid)
        select = getattr(self.window(), "select_tab", None)
        if callable(select):
            select("CPU performance")

    def ask_priority(self, pid: int) -> str:
        try:
            current = psutil.Process(pid).nice()
        except psutil.Error as exc:
            return self._report(f"Cannot read the priority of process {pid}: {exc}")
        value, ok = QInputDialog.getInt(self, "Change priority",
                                        f"Nice value for process {pid} (-20 is most favoured, 19 least):",
                                        current, -20, 19)
        return self.set_priority(pid, value) if ok else ""

    def set_priority(self, pid: int, nice: int) -> str:
        """Renice ``pid``; says plainly when that is not permitted (raising needs root or CAP_SYS_NICE)."""
        try:
            psutil.Process(pid).nice(nice)
        except psutil.NoSuchProcess:
            return self._report(f"Process {pid} no longer exists.")
        except psutil.AccessDenied:
            return self._report(f"Not permitted to set the priority of process {pid} to {nice}: making a "
                                "process more favoured (a lower nice value) or changing another user's "
                                "process needs root or CAP_SYS_NICE.")
        except (OSError, ValueError) as exc:
            return self._report(f"Could not set the priority of process {pid}: {exc}")
        return self._report(f"Process {pid} now runs at nice {nice}.")

    def send(self, pid: int, signum: signal.Signals, verb: str) -> str:
        """Send a signal (stop, continue) without asking: both are undone by the other."""
        try:
            psutil.Process(pid).send_signal(signum)
        except psutil.NoSuchProcess:
            return self._report(f"Process {pid} no longer exists; nothing to {verb}.")
        except psutil.AccessDenied:
            return self._report(f"Not permitted to {verb} process {pid}: it belongs to another user.")
        except OSError as exc:
            return self._report(f"Could not {verb} process {pid}: {exc}")
        return self._report(f"Sent {signum.name} to process {pid}.")

    def _report(self, message: str) -> str:
        self.message_label.setText(message)
        self.message_label.show()
        self.context.show_message(message, 10000)
        return message

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
