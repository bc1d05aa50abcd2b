"""The Processes tab's optional IPC / Cache miss % / Branch miss % columns.

The first tests run the real collector and the real perf layer on this machine (a VM without a
PMU here: the reason must be shown, nothing measured, nothing else broken). The others inject a
manager driven by a counter-replaying test double to check display, "—" and sorting.
"""

from __future__ import annotations

import os
import time
from typing import ClassVar

import pytest
from PySide6.QtCore import Qt

from perfdeck.collectors.processes import ProcessCollector
from perfdeck.gui.views.base import ViewContext
from perfdeck.gui.views.processes import COLUMN_INDEX, COLUMNS, COUNTER_COLUMNS, ProcessesView
from perfdeck.model.history import History
from perfdeck.model.series import Snapshot
from perfdeck.perf.top_processes import HardwareProbe, TopProcessCounters, probe_hardware

pytestmark = pytest.mark.gui

IPC, CACHE, BRANCH = (len(COLUMNS) + i for i in range(3))


def _snapshot(rows) -> Snapshot:
    return Snapshot(timestamp=time.time(), monotonic=time.monotonic(), values={"mem.total": 8 * 2**30},
                    specs={}, tables={"processes": tuple(rows)})


def _row(pid: int, name: str, cpu: float | None, cmd=("prog",)):
    return {"pid": pid, "name": name, "user": "alice", "cpu_percent": cpu, "rss": 1024, "threads": 1,
            "status": "running", "cmdline": cmd, "create_time": None}


@pytest.fixture
def view(qtbot):
    v = ProcessesView(ViewContext(history=History(10)))
    qtbot.addWidget(v)
    v.resize(1100, 500)
    v.show()
    yield v
    v.shutdown()


def _real_rows():
    collector = ProcessCollector()
    collector.open()
    collector.read(time.monotonic())
    time.sleep(0.2)
    return collector.read(time.monotonic()).tables["processes"]


def _cell(view: ProcessesView, pid: int, column: int, role=Qt.ItemDataRole.DisplayRole):
    for r in range(view.model.rowCount()):
        if view.model.index(r, COLUMN_INDEX["pid"]).data(Qt.ItemDataRole.UserRole) == pid:
            return view.model.index(r, column).data(role)
    raise AssertionError(f"pid {pid} not in the table")


def test_off_by_default_costs_nothing(view):
    view.refresh(_snapshot([_row(1, "a", 5.0)]))
    assert not view.counters_action.isChecked()
    assert view.model.columnCount() == len(COLUMNS)
    assert view.top_counters is None  # the perf layer was never even imported into the view


def test_real_machine_shows_the_reason_and_nothing_else_breaks(view):
    rows = _real_rows()
    view.refresh(_snapshot(rows))
    before = {c.key: _cell(view, os.getpid(), i) for i, c in enumerate(COLUMNS)}
    view.select_pid(os.getpid())
    view.counters_action.setChecked(True)
    assert view.model.columnCount() == len(COLUMNS) + len(COUNTER_COLUMNS)
    probe = probe_hardware()
    header_tip = view.model.headerData(IPC, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    if probe.unavailable is not None:  # this VM: no PMU
        assert probe.unavailable.reason in view.counters_note.text()
        assert view.counters_note.isVisible()
        assert probe.unavailable.reason in header_tip
        assert view.top_counters.fds_open == 0
        # Not measured: a dash in every counter cell, never 0.
        for column in (IPC, CACHE, BRANCH):
            assert _cell(view, os.getpid(), column) == "—"
        assert probe.unavailable.reason in _cell(view, os.getpid(), IPC, Qt.ItemDataRole.ToolTipRole)
    else:
        assert "fds in use" in view.counters_note.text()
    # The usual columns, the selection and the filter are untouched.
    assert {c.key: _cell(view, os.getpid(), i) for i, c in enumerate(COLUMNS)} == before
    assert view.selected_pid() == os.getpid()
    # Command line comes from ProcessRow.command: kernel threads as [name].
    kthreads = [r for r in rows if r.cmdline == ()]
    view.kernel_check.setChecked(True)  # kernel threads are hidden by default
    if kthreads:
        assert _cell(view, kthreads[0].pid, COLUMN_INDEX["cmdline"]) == f"[{kthreads[0].name}]"
    view.refresh(_snapshot(_real_rows()))  # a second refresh with the option on
    assert view.selected_pid() == os.getpid()
    view.counters_action.setChecked(False)
    assert view.model.columnCount() == len(COLUMNS) and not view.counters_note.isVisible()
    assert view.selected_pid() == os.getpid()


def test_counter_columns_sit_before_the_command_line(view):
    view.refresh(_snapshot([_row(1, "a", 5.0)]))
    view.counters_action.setChecked(True)
    header = view.table.horizontalHeader()
    visual = [header.logicalIndex(v) for v in range(header.count())]
    assert visual[-1] == COLUMN_INDEX["cmdline"]
    assert visual[COLUMN_INDEX["cmdline"]:COLUMN_INDEX["cmdline"] + 3] == [IPC, CACHE, BRANCH]


# --- with a counter-replaying test double ----------------------------------------------------------

class _Sample:
    def __init__(self, metrics):
        self.alive, self.threads, self.metrics, self.unavailable = True, 1, metrics, {}


class _Replay:
    """Replays fixed metrics per pid (only to test display and sorting)."""

    METRICS: ClassVar[dict] = {10: {"ipc": 2.25, "llc_miss_pct": 3.0, "branch_miss_pct": 0.5},
                               20: {"ipc": 0.75, "llc_miss_pct": 40.0, "branch_miss_pct": 4.0}}

    def __init__(self, pid, _events):
        self.pid, self.groups = pid, {}

    def open(self):
        self.groups = {self.pid: [type("G", (), {"events": [0] * 6})()]}

    def read(self):
        idle = {"ipc": None, "llc_miss_pct": None, "branch_miss_pct": None}
        return _Sample(self.METRICS.get(self.pid, idle))

    def close(self):
        self.groups = {}


def _replay_view(view: ProcessesView) -> None:
    view.top_counters = TopProcessCounters(2, margin=0, factory=_Replay,
                                           probe=lambda: HardwareProbe(tuple(range(6)), "LLC", 6),  # type: ignore[arg-type]
                                           thread_count=lambda pid: 1)


def _order(view: ProcessesView) -> list[int]:
    return [view.model.index(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(view.model.rowCount())]


def test_values_dashes_and_unknowns_sort_last(view):
    _replay_view(view)
    rows = [_row(10, "busy", 50.0), _row(20, "busier", 60.0), _row(30, "idle", 0.5)]
    view.refresh(_snapshot(rows))
    view.counters_action.setChecked(True)  # opens 20 and 10 (top 2); first values next refresh
    assert _cell(view, 10, IPC) == "—"
    assert "next refresh" in _cell(view, 10, IPC, Qt.ItemDataRole.ToolTipRole)
    view.refresh(_snapshot([dict(r) for r in rows]))
    assert (_cell(view, 10, IPC), _cell(view, 10, CACHE), _cell(view, 10, BRANCH)) == ("2.25", "3.0", "0.5")
    assert _cell(view, 20, CACHE) == "40.0"
    assert _cell(view, 30, IPC) == "—"  # not in the top 2: not counted, not 0
    assert "top processes" in _cell(view, 30, IPC, Qt.ItemDataRole.ToolTipRole)
    assert "2 processes counted, 12 of 256 fds" in view.counters_note.text()
    view.table.sortByColumn(IPC, Qt.SortOrder.DescendingOrder)
    assert _order(view) == [10, 20, 30]
    view.table.sortByColumn(IPC, Qt.SortOrder.AscendingOrder)
    assert _order(view) == [20, 10, 30]  # the unknown stays last
    view.table.sortByColumn(CACHE, Qt.SortOrder.AscendingOrder)
    assert _order(view) == [10, 20, 30]
    # Turning the option off closes every counter.
    view.counters_action.setChecked(False)
    assert view.top_counters.fds_open == 0
