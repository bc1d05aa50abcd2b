"""Layout at the smallest supported size (issue 12): every tab and dialog at 1000x700, with real data.

Two checks on each: the window keeps its size (a tab whose minimum width exceeds the window made it
grow from 1000 to 1036 and 1095 px), and no label is narrower or shorter than its own minimum size
hint (its text would be clipped). Labels with a fixed size are checked the same way: their text
must fit the size they were given.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QWidget

from perfdeck.gui.app import build_window, load_engine
from perfdeck.gui.mainwindow import MainWindow, default_size, format_span
from perfdeck.gui.tabs import TABS

pytestmark = pytest.mark.gui

SIZE = QSize(1000, 700)


def clipped_labels(root: QWidget) -> list[str]:
    """Visible labels whose geometry is smaller than their minimum size hint, as readable lines."""
    problems = []
    for label in root.findChildren(QLabel):
        if not label.isVisibleTo(root) or not label.text():
            continue
        hint, size = label.minimumSizeHint(), label.size()
        if label.wordWrap():
            # A wrapped label's minimum width is one word; its height must hold the wrapped text.
            needed = label.heightForWidth(size.width()) if label.hasHeightForWidth() else hint.height()
            if needed > size.height() + 1:
                problems.append(f"{label.text()[:60]!r}: needs {needed} px high, has {size.height()}")
        elif hint.width() > size.width() + 1 or hint.height() > size.height() + 1:
            problems.append(f"{label.text()[:60]!r}: needs {hint.width()}x{hint.height()}, "
                            f"has {size.width()}x{size.height()}")
    return problems


@pytest.fixture
def window(qtbot, tmp_path):
    window = build_window(engine=load_engine(), interval=0.25, window_seconds=60.0,
                          state_path=tmp_path / "window.ini")
    qtbot.addWidget(window)
    window.resize(SIZE)
    window.show()
    qtbot.waitExposed(window)
    window.sampler.start()
    qtbot.waitUntil(lambda: window.sampler.samples >= 4, timeout=15000)
    yield window
    window.close()
    assert not window.sampler.thread.isRunning()


def test_every_tab_and_dialog_fits_1000x700(qtbot, window: MainWindow):
    from perfdeck.gui.export_dialog import show_export_dialog
    from perfdeck.gui.settings_dialog import SettingsDialog

    problems: dict[str, list[str]] = {}
    for index in range(window.tab_widget.count()):
        title = window.tab_widget.tabText(index)
        with qtbot.waitSignal(window.view_refreshed, timeout=5000):
            window.tab_widget.setCurrentIndex(index)
            if index == 0:
                window.set_time_window(60.0)
        qtbot.wait(60)  # a layout pass after the refresh
        assert window.size() == SIZE, f"the window resized itself on the {title} tab: {window.size()}"
        if found := clipped_labels(window):
            problems[title] = found
    dialogs: list[tuple[str, QDialog]] = [
        ("Settings", SettingsDialog(window.desktop.settings if hasattr(window, "desktop") else _defaults(),
                                    sorted(window.history.specs), tray_available=True, parent=window)),
        ("Export", show_export_dialog(window))]
    for name, dialog in dialogs:
        dialog.show()
        qtbot.waitExposed(dialog)
        tabs = getattr(dialog, "tabs", None)
        for page in range(tabs.count() if tabs is not None else 1):
            if tabs is not None:
                tabs.setCurrentIndex(page)
            qtbot.wait(30)
            if found := clipped_labels(dialog):
                problems[f"{name} dialog page {page}"] = found
        dialog.reject()
    assert window.size() == SIZE
    assert not problems, "clipped text:\n" + "\n".join(f"{k}: {v}" for k, v in problems.items())


def _defaults():
    from perfdeck.model.settings import Settings

    return Settings()


def test_keyboard_switches_tabs_from_anywhere_and_leaves_the_process_selection(qtbot, window: MainWindow):
    window.select_tab("Processes")
    processes = window.views["Processes"]
    qtbot.waitUntil(lambda: processes.model.rowCount() > 2, timeout=15000)
    processes.table.selectRow(0)
    watched = processes.selected_pid()
    processes.table.setFocus()
    start = window.tab_widget.currentIndex()
    for keys, expected in ((Qt.Key.Key_PageDown, start + 1), (Qt.Key.Key_PageUp, start - 1),
                           (Qt.Key.Key_Tab, start + 1)):
        QTest.keyClick(QApplication.focusWidget() or window, keys, Qt.KeyboardModifier.ControlModifier)
        assert window.tab_widget.currentIndex() == expected, keys
        window.tab_widget.setCurrentIndex(start)
        processes.table.setFocus()
    QTest.keyClick(processes.table, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)
    assert window.tab_widget.currentIndex() == 2
    assert processes.selected_pid() == watched  # the table did not take the keys as row moves


def test_window_remembers_size_and_tab(qtbot, tmp_path):
    state = tmp_path / "window.ini"
    first = build_window(engine=load_engine(["cpu"]), state_path=state)
    qtbot.addWidget(first)
    first.resize(1234, 777)
    first.select_tab("Memory")
    first.close()
    second = build_window(engine=load_engine(["cpu"]), state_path=state)
    qtbot.addWidget(second)
    assert second.tab_widget.tabText(second.tab_widget.currentIndex()) == "Memory"
    assert second.size() == QSize(1234, 777)
    second.close()
    state.write_text("[window]\nsize=huge\nposition=1,2,3\ntab=No such tab\n")
    third = build_window(engine=load_engine(["cpu"]), state_path=state)  # a bad file changes nothing
    qtbot.addWidget(third)
    assert third.tab_widget.currentIndex() == 0
    third.close()


def test_first_size_suits_the_screen_and_history_span_reads_well():
    assert default_size(QSize(1280, 800)) == QSize(1024, 700)
    assert default_size(QSize(3840, 2160)) == QSize(1600, 1000)
    assert default_size(QSize(1024, 600)) == QSize(1000, 600)
    assert format_span(45) == "45 s" and format_span(150) == "2 min 30 s" and format_span(7260) == "2 h 1 min"
    assert format_span(150, whole_minutes=True) == "2 min" and format_span(45, whole_minutes=True) == "40 s"
    assert format_span(7, whole_minutes=True) == "7 s" and format_span(59.6, whole_minutes=True) == "1 min"
    assert len(TABS) >= 9  # Alt+1..9 reach the first nine tabs
