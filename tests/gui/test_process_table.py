"""The process table: sort, filter, in-place updates, and Terminate/Kill outcomes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from PySide6.QtCore import QEvent, QObject, Qt

from perfdeck.gui.views.base import ViewContext
from perfdeck.gui.views.processes import COLUMN_INDEX, ProcessesView, current_user
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import History
from perfdeck.model.series import Snapshot

pytestmark = pytest.mark.gui


def _snapshot(rows, total_memory: float | None = 8 * 2**30) -> Snapshot:
    values = {"mem.total": total_memory} if total_memory else {}
    return Snapshot(timestamp=time.time(), monotonic=time.monotonic(), values=values, specs={},
                    tables={"processes": tuple(rows)})


def _row(pid: int, name: str, cpu: float | None = 1.0, user: str = "alice", cmd=("prog",), rss=1024):
    return {"pid": pid, "name": name, "user": user, "cpu_percent": cpu, "rss": rss, "threads": 1,
            "status": "running", "cmdline": cmd, "create_time": None}


@pytest.fixture
def view(qtbot):
    v = ProcessesView(ViewContext(history=History(10)))
    qtbot.addWidget(v)
    v.resize(900, 500)
    v.show()
    return v


def _pids_in_view_order(view: ProcessesView) -> list[int]:
    model = view.model
    return [int(model.index(r, COLUMN_INDEX["pid"]).data(Qt.ItemDataRole.UserRole))
            for r in range(model.rowCount())]


def test_sort_by_any_column(view):
    view.refresh(_snapshot([_row(30, "bash", 5.0), _row(10, "Xorg", 50.0), _row(20, "zsh", None)]))
    assert _pids_in_view_order(view) == [10, 30, 20]  # CPU % descending; unknown last
    view.table.sortByColumn(COLUMN_INDEX["pid"], Qt.SortOrder.AscendingOrder)
    assert _pids_in_view_order(view) == [10, 20, 30]
    view.table.sortByColumn(COLUMN_INDEX["name"], Qt.SortOrder.AscendingOrder)
    assert _pids_in_view_order(view) == [30, 10, 20]  # case-insensitive: bash, Xorg, zsh
    # Unknown values show as a dash, not 0.
    row = view.model.index(view.model.slot_of(20), COLUMN_INDEX["cpu_pct"])
    assert view.model.data(row) == "—"


def test_filter_matches_name_cmdline_user_and_pid(view):
    view.refresh(_snapshot([_row(101, "python3", cmd=("python3", "serve.py")),
                            _row(202, "nginx", user="www-data", cmd=("nginx", "-g")),
                            _row(303, "bash")]))
    for text, expected in (("serve", [101]), ("WWW-DATA", [202]), ("303", [303]), ("py", [101]),
                           ("", [101, 202, 303]), ("nothing-matches", [])):
        view.filter_edit.setText(text)
        assert sorted(_pids_in_view_order(view)) == expected, text
    view.filter_edit.setText("nginx")
    assert view.count_label.text() == "1 of 3"


def test_updates_in_place_keep_the_selection(qtbot, view):
    view.table.sortByColumn(COLUMN_INDEX["pid"], Qt.SortOrder.AscendingOrder)
    view.refresh(_snapshot([_row(p, f"p{p}") for p in range(1, 200)]))
    with qtbot.waitSignal(view.process_selected) as selected:
        assert view.select_pid(150)
    assert selected.args == [150]
    scroll = view.table.verticalScrollBar().value()
    assert scroll > 0
    # p3 exits, p500 starts, everything else changes value: the same process stays selected.
    rows = [_row(p, f"p{p}", cpu=2.0) for p in range(1, 200) if p != 3] + [_row(500, "new")]
    view.refresh(_snapshot(rows))
    assert view.selected_pid() == 150
    assert view.model.rowCount() == 199
    assert view.table.verticalScrollBar().value() == scroll
    cpu_index = view.model.index(view.model.slot_of(150), COLUMN_INDEX["cpu_pct"])
    assert view.model.data(cpu_index) == "2.0"


def test_kernel_threads_show_their_name_as_command_line(view):
    view.refresh(_snapshot([_row(2, "kthreadd", cmd=()), _row(3, "secret", cmd=None)]))
    view.kernel_check.setChecked(True)  # hidden by default
    view.table.sortByColumn(COLUMN_INDEX["pid"], Qt.SortOrder.AscendingOrder)
    assert view.model.data(view.model.index(0, COLUMN_INDEX["cmdline"])) == "[kthreadd]"
    assert view.model.data(view.model.index(1, COLUMN_INDEX["cmdline"])) == "—"  # unreadable: unknown


def test_memory_percent_is_derived_from_rss(view):
    view.refresh(_snapshot([_row(1, "a", rss=2 * 2**30)], total_memory=8 * 2**30))
    index = view.model.index(0, COLUMN_INDEX["mem_pct"])
    assert view.model.data(index) == "25.0"


def test_an_unchanged_row_keeps_its_cells_and_a_new_memory_total_recomputes_them(view, monkeypatch):
    rows = [_row(1, "a", rss=2 * 2**30), _row(2, "b", cpu=5.0)]
    view.refresh(_snapshot(rows, total_memory=8 * 2**30))
    computed: list[int] = []
    cells = view.model._cells
    def counted(row, pid=None):
        computed.append(pid)
        return cells(row, pid)

    monkeypatch.setattr(view.model, "_cells", counted)
    # The next read: equal rows (new objects) for 1, a new CPU % for 2: only 2 is computed again.
    view.refresh(_snapshot([dict(rows[0]), _row(2, "b", cpu=7.0)], total_memory=8 * 2**30))
    assert computed == [2]
    assert _memory_percent_by_pid(view)["1"] == "25.0"
    # A new memory total changes Memory % of every row, equal or not.
    computed.clear()
    view.refresh(_snapshot([dict(rows[0]), _row(2, "b", cpu=7.0)], total_memory=16 * 2**30))
    assert sorted(computed) == [1, 2]
    assert _memory_percent_by_pid(view)["1"] == "12.5"


def _memory_percent_by_pid(view: ProcessesView) -> dict[str, str]:
    model = view.model
    return {model.index(r, COLUMN_INDEX["pid"]).data(): model.index(r, COLUMN_INDEX["mem_pct"]).data()
            for r in range(model.rowCount())}


def test_rows_from_the_real_process_collector(qtbot, view):
    from perfdeck.model.registry import family

    engine = SamplingEngine([family("proc").load()()])
    engine.open()
    try:
        snapshot = engine.sample()
    finally:
        engine.close()
    view.refresh(snapshot)
    assert view.select_pid(os.getpid())
    name = view.model.data(view.model.index(view.table.currentIndex().row(), COLUMN_INDEX["name"]))
    assert name == psutil.Process().name()


@pytest.fixture
def child():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def _child_row(proc: subprocess.Popen) -> dict:
    p = psutil.Process(proc.pid)
    return {"pid": proc.pid, "name": p.name(), "user": p.username(), "cmdline": tuple(p.cmdline()),
            "create_time": p.create_time()}


def test_terminate_after_confirmation(qtbot, view, child, monkeypatch):
    asked = []
    monkeypatch.setattr(view, "confirm", lambda text: asked.append(text) or True)
    view.refresh(_snapshot([_child_row(child)]))
    assert view.select_pid(child.pid)
    message = view.signal_selected(kill=False)
    assert child.wait(10) == -signal.SIGTERM
    assert asked and f"Terminate process {child.pid}" in asked[0]
    assert message.startswith(f"Sent SIGTERM to process {child.pid}")
    assert view.message_label.text() == message


def test_declined_confirmation_sends_nothing(view, child, monkeypatch):
    monkeypatch.setattr(view, "confirm", lambda text: False)
    view.refresh(_snapshot([_child_row(child)]))
    view.select_pid(child.pid)
    assert view.signal_selected(kill=True) == ""
    assert child.poll() is None


def test_kill_of_a_vanished_process_says_so(view, child, monkeypatch):
    monkeypatch.setattr(view, "confirm", lambda text: True)
    row = _child_row(child)
    view.refresh(_snapshot([row]))
    view.select_pid(child.pid)
    child.kill()
    child.wait(10)
    message = view.signal_selected(kill=True)
    assert message == f"Process {child.pid} ({row['name']}) no longer exists; nothing to kill."


def test_a_reused_pid_is_not_signalled(view, child, monkeypatch):
    monkeypatch.setattr(view, "confirm", lambda text: True)
    row = _child_row(child) | {"create_time": _child_row(child)["create_time"] - 100}
    view.refresh(_snapshot([row]))
    view.select_pid(child.pid)
    assert "no longer exists" in view.signal_selected(kill=True)
    assert child.poll() is None  # the process that now has the number was left alone


def test_kill_not_permitted_says_so(view, child, monkeypatch):
    monkeypatch.setattr(view, "confirm", lambda text: True)

    def denied(self):
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "kill", denied)
    view.refresh(_snapshot([_child_row(child)]))
    view.select_pid(child.pid)
    message = view.signal_selected(kill=True)
    assert message.startswith(f"Not permitted to kill process {child.pid}")
    assert "Run PerfDeck as that user or as root" in message
    assert child.poll() is None


def test_unavailable_process_list_is_explained(view):
    from perfdeck.model.series import Unavailable

    view.refresh(Snapshot(timestamp=0, monotonic=0, values={}, specs={},
                          unavailable={"proc": Unavailable("cannot read /proc (test)")}))
    assert view.reason_label.isVisible()
    assert "cannot read /proc (test)" in view.reason_label.full_text()


# --- issue 12: kernel threads, mine, disk rates, context menu, keys ---------------------------------

def test_kernel_threads_hidden_by_default_and_mine_filter(view):
    me = current_user()
    rows = [_row(2, "kthreadd", cmd=()), _row(3, "zombie", cmd=None), _row(10, "bash", user=me or "me"),
            _row(11, "sshd", user="someone-else"),
            {**_row(12, "kworker/0:1", cmd=("kworker",)), "kernel_thread": True}]  # the collector's flag wins
    view.refresh(_snapshot(rows))
    view.table.sortByColumn(COLUMN_INDEX["pid"], Qt.SortOrder.AscendingOrder)
    assert _pids_in_view_order(view) == [3, 10, 11]  # an unreadable command line is not a kernel thread
    assert view.count_label.text() == "3 of 5"
    view.kernel_check.setChecked(True)
    assert _pids_in_view_order(view) == [2, 3, 10, 11, 12]
    view.owner_combo.setCurrentIndex(view.owner_combo.findText("Mine"))
    assert _pids_in_view_order(view) == ([10] if me else [])
    assert not view.table.showGrid()


def test_disk_rates_per_process_where_readable(view):
    view.refresh(_snapshot([{**_row(1, "dd"), "io_read_bps": 2.5e6, "io_write_bps": None}, _row(2, "old")]))
    view.table.sortByColumn(COLUMN_INDEX["pid"], Qt.SortOrder.AscendingOrder)
    cell = lambda r, key: view.model.data(view.model.index(r, COLUMN_INDEX[key]))  # noqa: E731
    assert cell(0, "io_read_bps") == "2.5 MB/s" and cell(0, "io_write_bps") == "—"
    assert cell(1, "io_read_bps") == "—"  # a collector without the field: unknown, not 0


def test_context_menu_offers_the_process_actions(qtbot, view, child):
    from PySide6.QtWidgets import QApplication, QMenu

    view.refresh(_snapshot([_child_row(child)]))
    assert view.select_pid(child.pid)
    titles = [a.text() for a in view.context_actions(QMenu(view)) if not a.isSeparator()]
    assert titles[:3] == ["Watch in CPU performance", "Copy PID", "Copy command line"]
    assert {"Stop (SIGSTOP)", "Continue (SIGCONT)", "Change priority…"} <= set(titles)
    watched = []
    view.process_selected.connect(watched.append)
    next(a for a in view.context_actions(QMenu(view)) if a.text() == "Watch in CPU performance").trigger()
    assert watched == [child.pid]
    next(a for a in view.context_actions(QMenu(view)) if a.text() == "Copy PID").trigger()
    assert QApplication.clipboard().text() == str(child.pid)
    # Stop and continue a real process, and read its state back from the kernel.
    assert "SIGSTOP" in view.send(child.pid, signal.SIGSTOP, "stop")
    qtbot.waitUntil(lambda: psutil.Process(child.pid).status() == psutil.STATUS_STOPPED, timeout=3000)
    view.send(child.pid, signal.SIGCONT, "continue")
    qtbot.waitUntil(lambda: psutil.Process(child.pid).status() != psutil.STATUS_STOPPED, timeout=3000)
    assert "nice 5" in view.set_priority(child.pid, 5) and psutil.Process(child.pid).nice() == 5
    assert "no longer exists" in view.set_priority(2**22 + 7, 5)


def test_priority_error_is_plain_when_not_permitted(view, monkeypatch):
    def deny(self, value=None):
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "nice", deny)
    message = view.set_priority(os.getpid(), -5)
    assert "Not permitted" in message and "CAP_SYS_NICE" in message and view.message_label.isVisible()


def test_ctrl_f_focuses_the_filter_and_esc_clears_it(qtbot, view):
    from PySide6.QtTest import QTest

    view.refresh(_snapshot([_row(1, "a"), _row(2, "b")]))
    view.table.setFocus()
    QTest.keyClick(view.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert view.filter_edit.hasFocus()
    QTest.keyClicks(view.filter_edit, "zzz")
    assert view.model.rowCount() == 0
    QTest.keyClick(view.filter_edit, Qt.Key.Key_Escape)
    assert view.filter_edit.text() == "" and view.model.rowCount() == 2


# --- issue 15: no proxy; an update announces (and repaints) only the rows that changed --------------

class _Signals:
    """What the model announced: dataChanged row ranges, and counts of the other signals."""

    def __init__(self, model) -> None:
        self.changed: list[tuple[int, int]] = []
        self.inserted: list[tuple[int, int]] = []
        self.removed: list[tuple[int, int]] = []
        self.layouts = self.resets = 0
        model.dataChanged.connect(
            lambda top, bottom, _roles=(): self.changed.append((top.row(), bottom.row())))
        model.rowsInserted.connect(lambda _p, first, last: self.inserted.append((first, last)))
        model.rowsRemoved.connect(lambda _p, first, last: self.removed.append((first, last)))
        model.layoutChanged.connect(lambda *_a: setattr(self, "layouts", self.layouts + 1))
        model.modelReset.connect(lambda: setattr(self, "resets", self.resets + 1))


class _Paints(QObject):
    """The regions painted on a widget."""

    def __init__(self) -> None:
        super().__init__()
        self.regions: list = []

    def eventFilter(self, _watched, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.regions.append(event.region().boundingRect())
        return False


def _ranked_rows(count: int = 60, **changes: float) -> list[dict]:
    """``count`` processes with distinct CPU % (pid 1 the busiest); ``changes``: pid -> new CPU %."""
    return [_row(p, f"p{p}", cpu=changes.get(f"p{p}", float(count - p))) for p in range(1, count + 1)]


def _python_calls(function) -> dict[str, int]:
    """Calls into this module's model functions while ``function`` runs, by name."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.runcall(function)
    calls: dict[str, int] = {}
    for (filename, _line, name), (_cc, nc, *_rest) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        if filename.endswith("processes.py"):
            calls[name] = calls.get(name, 0) + nc
    return calls


def test_one_changed_process_announces_and_repaints_its_row_only(qtbot, view):
    from PySide6.QtWidgets import QApplication

    view.refresh(_snapshot(_ranked_rows()))
    qtbot.waitExposed(view)
    qtbot.wait(50)
    signals = _Signals(view.model)
    paints = _Paints()
    view.table.viewport().installEventFilter(paints)
    slot = view.model.slot_of(4)
    assert slot == 3  # 59, 58, 57, 56 %: pid 4 is the fourth, and on screen
    # pid 4: 56 % -> 56.5 %, still between 57 and 55: the order stays.
    rows = _ranked_rows(p4=56.5)

    def update() -> None:
        view.refresh(_snapshot(rows))
        QApplication.processEvents()

    calls = _python_calls(update)
    assert signals.changed == [(slot, slot)]
    assert (signals.layouts, signals.resets, signals.inserted, signals.removed) == (0, 0, [], [])
    assert view.model.index(slot, COLUMN_INDEX["cpu_pct"]).data() == "56.5"
    # Only that row was repainted.
    row_top = view.table.rowViewportPosition(slot)
    assert paints.regions, "the changed row was not repainted"
    for rect in paints.regions:
        assert rect.top() >= row_top and rect.bottom() <= row_top + view.table.rowHeight(slot), rect
    # Qt called into Python for that row only: 140 data() (14 cells x 10 roles) + 20 index(),
    # measured; the bound has ~30 % headroom. The sort proxy made ~2 000 such calls per update
    # (filterAcceptsRow, index and data for every changed row, then the whole viewport after
    # re-sorting).
    assert calls.get("data", 0) + calls.get("index", 0) <= 210, calls
    assert "filterAcceptsRow" not in calls


def test_an_unchanged_update_announces_nothing(view):
    view.refresh(_snapshot(_ranked_rows()))
    signals = _Signals(view.model)
    view.refresh(_snapshot([dict(r) for r in _ranked_rows()]))
    assert (signals.changed, signals.layouts, signals.inserted, signals.removed) == ([], 0, [], [])


def test_a_process_that_gets_busier_moves_up_and_the_selection_follows_it(qtbot, view):
    view.refresh(_snapshot(_ranked_rows()))
    selected = []
    view.process_selected.connect(selected.append)
    assert view.select_pid(6) and selected == [6]
    assert view.table.selectionModel().selectedRows()[0].row() == 5
    signals = _Signals(view.model)
    scroll = view.table.verticalScrollBar().value()
    view.refresh(_snapshot(_ranked_rows(p6=99.0)))
    assert view.model.pid_at(0) == 6 and view.model.pid_at(5) == 5
    assert signals.changed == [(0, 5)]  # slots 0-5 show another process now; the rest did not move
    assert signals.layouts == 0
    assert view.selected_pid() == 6
    assert [i.row() for i in view.table.selectionModel().selectedRows()] == [0]
    assert view.table.currentIndex().row() == 0
    assert selected == [6]  # not announced again: the same process
    assert view.table.verticalScrollBar().value() == scroll
    assert view.terminate_button.isEnabled()
    # It calms down and sinks to the bottom, past the end of the old slots: still followed.
    view.refresh(_snapshot(_ranked_rows(p6=-1.0)))
    assert view.model.pid_at(59) == 6 and view.selected_pid() == 6 and selected == [6]


def test_the_selection_is_cleared_when_its_process_exits_or_is_filtered_out(view):
    view.refresh(_snapshot(_ranked_rows()))
    selected = []
    view.process_selected.connect(selected.append)
    view.select_pid(3)
    view.refresh(_snapshot([r for r in _ranked_rows() if r["pid"] != 3]))
    assert view.selected_pid() is None and not view.table.selectionModel().selectedRows()
    assert not view.terminate_button.isEnabled()
    assert view.model.rowCount() == 59
    view.select_pid(60)  # the last slot: removing rows at the end must not select a neighbour
    view.filter_edit.setText("p1")  # p1, p10-p19: 60 is filtered out
    assert view.selected_pid() is None and not view.table.currentIndex().isValid()
    view.filter_edit.clear()
    view.select_pid(15)
    view.filter_edit.setText("p1")  # 15 stays shown: the selection stays on it
    assert view.selected_pid() == 15
    assert selected == [3, 60, 15]


def test_rows_come_and_go_at_the_end(view):
    view.refresh(_snapshot(_ranked_rows(10)))
    signals = _Signals(view.model)
    # pid 11 (new, busiest), pid 5 gone: slots 0-4 shift down by one, nothing is added or removed.
    rows = [r for r in _ranked_rows(10) if r["pid"] != 5] + [_row(11, "new", cpu=50.0)]
    view.refresh(_snapshot(rows))
    assert (signals.inserted, signals.removed, signals.changed) == ([], [], [(0, 4)])
    assert [view.model.pid_at(i) for i in range(10)] == [11, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    view.refresh(_snapshot([*rows, _row(12, "idle", cpu=0.0), _row(13, "idle", cpu=0.0)]))
    # Two idle newcomers sort after pid 10 (0.0 % too: ties in PID order): added at the end.
    assert signals.inserted == [(10, 11)] and signals.changed == [(0, 4)]
    assert [view.model.pid_at(i) for i in range(9, 12)] == [10, 12, 13]
    view.refresh(_snapshot(rows[:3]))  # 1, 2, 3 left
    assert signals.removed == [(3, 11)] and signals.changed == [(0, 4), (0, 2)]
    assert view.count_label.text() == "3 processes"


def test_sort_by_numeric_and_text_columns_both_ways_ties_in_pid_order(view):
    rows = [_row(5, "beta", cpu=1.0, rss=300), _row(3, "Alpha", cpu=None, rss=100),
            _row(9, "alpha", cpu=2.0, rss=None), _row(7, "gamma", cpu=1.0, rss=200)]
    view.refresh(_snapshot(rows))
    for key, order, expected in (
            ("cpu_pct", Qt.SortOrder.DescendingOrder, [9, 5, 7, 3]),  # unknown CPU % last; 5, 7 tie
            ("cpu_pct", Qt.SortOrder.AscendingOrder, [3, 5, 7, 9]),  # unknown below everything
            ("mem_rss", Qt.SortOrder.AscendingOrder, [9, 3, 7, 5]),
            ("mem_rss", Qt.SortOrder.DescendingOrder, [5, 7, 3, 9]),
            ("name", Qt.SortOrder.AscendingOrder, [3, 9, 5, 7]),  # case-insensitive; Alpha/alpha tie
            ("name", Qt.SortOrder.DescendingOrder, [7, 5, 3, 9]),
            ("pid", Qt.SortOrder.DescendingOrder, [9, 7, 5, 3])):
        view.table.sortByColumn(COLUMN_INDEX[key], order)
        assert _pids_in_view_order(view) == expected, (key, order)
        assert view.table.horizontalHeader().sortIndicatorSection() == COLUMN_INDEX[key]
    # A click on a header sorts by that column.
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    header = view.table.horizontalHeader()
    x = header.sectionViewportPosition(COLUMN_INDEX["name"]) + 10
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    assert header.sortIndicatorSection() == COLUMN_INDEX["name"]
    ascending = header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    assert _pids_in_view_order(view) == ([3, 9, 5, 7] if ascending else [7, 5, 3, 9])
    # Updates keep the order chosen.
    view.table.sortByColumn(COLUMN_INDEX["threads"], Qt.SortOrder.AscendingOrder)
    view.refresh(_snapshot([{**r, "threads": 10 - r["pid"]} for r in rows]))
    assert _pids_in_view_order(view) == [9, 7, 5, 3]


def test_the_filter_looks_again_only_at_rows_that_changed(view, monkeypatch):
    rows = _ranked_rows(50)
    view.refresh(_snapshot(rows))
    tested: list[int] = []
    facts = view.model._filter_facts
    monkeypatch.setattr(view.model, "_filter_facts", lambda row, pid: tested.append(pid) or facts(row, pid))
    view.refresh(_snapshot([*(dict(r) for r in rows[1:]), {**rows[0], "name": "renamed"}, _row(99, "new")]))
    assert sorted(tested) == [1, 99]
    view.filter_edit.setText("renamed")
    assert _pids_in_view_order(view) == [1] and view.count_label.text() == "1 of 51"
