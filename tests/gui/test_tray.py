"""The tray icon: drawing, tooltip, rate cap, menu, close-to-tray under a real tray, no-tray fallback.

The drawing and wiring tests run offscreen. The real-tray test starts its own Xvfb (free display
via -displayfd) and trayer, and runs ``tray_scenario.py`` in a subprocess on that display (a Qt
process has one platform; this suite's is offscreen).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from desktop_session import TRAY_BINARIES, Processes, missing, start_trayer, start_xvfb
from gui_fakes import many_cpu_snapshot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from perfdeck.gui import tray as tray_module
from perfdeck.gui.app import build_window
from perfdeck.gui.integration import install_desktop
from perfdeck.gui.settings_store import SettingsStore
from perfdeck.gui.tabs import TabEntry
from perfdeck.gui.tray import (
    AMBER,
    BLUE,
    GREEN,
    GREY,
    RED,
    TILE,
    IconStyle,
    MetricTrack,
    TrayActions,
    TrayController,
    draw_tray_pixmap,
    render_preview,
    scale_for,
    tooltip_text,
)
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.series import SeriesSpec, Snapshot, Unavailable

pytestmark = pytest.mark.gui

ALERTS_TAB = (TabEntry("Alerts", "perfdeck.gui.views.alerts:AlertsView"),)

HERE = Path(__file__).parent


def column_colours(size: int, values, style=None) -> list[list[str]]:
    """Per pixel column (inside the margin), the colours from bottom to top."""
    image = draw_tray_pixmap(size, values, style or IconStyle()).toImage()
    margin = max(2, size // 8)
    columns = []
    for x in range(margin, size - margin):
        columns.append([image.pixelColor(x, y).name() for y in range(size - margin - 1, margin - 1, -1)])
    return columns


def bar_height(column: list[str]) -> int:
    return sum(1 for c in column if c != TILE.name())


# --- drawing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [16, 22, 32])
def test_bar_heights_are_proportional_and_newest_is_rightmost(qapp, size):
    inner = size - 2 * max(2, size // 8)
    columns = column_colours(size, [0.0, 25.0, 50.0, 100.0])
    width = 1 if size < 28 else 2
    newest, older, old, oldest = (columns[-n * width] for n in (1, 2, 3, 4))
    assert bar_height(newest) == inner  # 100 %
    assert bar_height(older) == round(inner / 2)
    assert bar_height(old) == round(inner / 4)
    assert bar_height(oldest) == 0  # a real 0 % draws nothing...
    assert newest[0] == RED.name() and older[0] == GREEN.name()
    assert all(bar_height(c) == 0 for c in columns[: -4 * width])  # ...and no data on the left


def test_level_colours_and_non_percent_units(qapp):
    assert column_colours(22, [70.0])[-1][0] == AMBER.name()
    assert column_colours(22, [90.0])[-1][0] == RED.name()
    ipc = SeriesSpec("perf.ipc.total", "IPC", "IPC")
    style = scale_for(ipc, [0.8, 1.6, 2.2])
    assert (style.low, style.high, style.percent) == (0.0, 2.5, False)  # 2.2 * 1.1 -> nice 2.5
    columns = column_colours(32, [2.5], style)
    assert columns[-1][0] == BLUE.name() and bar_height(columns[-1]) == 24


def test_missing_values_leave_gaps_and_no_data_shows_a_dash(qapp):
    columns = column_colours(16, [50.0, None, 50.0])
    assert [bar_height(c) for c in columns[-3:]] == [6, 0, 6]
    empty = draw_tray_pixmap(16, [None, None], IconStyle()).toImage()
    assert empty.pixelColor(8, 8).name() == GREY.name()  # the dash, distinct from a 0 % bar


def test_outline_contrasts_with_light_and_dark_panels(qapp):
    """At 16 px the tile's edge must stand out on both panel colours (WCAG contrast >= 3)."""

    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())

    def contrast(a: QColor, b: QColor) -> float:
        la, lb = sorted((luminance(a), luminance(b)), reverse=True)
        return (la + 0.05) / (lb + 0.05)

    for panel in (QColor("#f2f2f2"), QColor("#ffffff"), QColor("#2b2b2b"), QColor("#000000")):
        image = render_preview([50.0] * 16, IconStyle(), panel, sizes=(16,)).toImage()
        ring = image.pixelColor(8 + 8, 8)  # top edge of the 16 px tile, drawn at (8, 8)
        tile = image.pixelColor(8 + 8, 8 + 3)
        best = max(contrast(ring, panel), contrast(tile, panel))
        assert best >= 3.0, f"icon edge lost on {panel.name()}: ring {ring.name()} tile {tile.name()}"


def test_pause_and_alert_are_drawn(qapp):
    paused = draw_tray_pixmap(32, [50.0] * 20, IconStyle(paused=True)).toImage()
    assert paused.pixelColor(11, 16).name() == "#ffffff"  # the middle of a pause bar
    assert column_colours(32, [50.0], IconStyle(paused=True))[-1][0] == GREY.name()
    alert = draw_tray_pixmap(32, [50.0], IconStyle(alert=True)).toImage()
    assert alert.pixelColor(16, 0).red() > 200 and alert.pixelColor(16, 0).green() < 120


# --- tooltip and per-second columns --------------------------------------------------------------
def test_tooltip_never_shows_zero_for_what_is_unavailable():
    snapshot = Snapshot(
        timestamp=0.0, monotonic=0.0,
        values={"cpu.util.total": 23.4, "mem.used_pct": None},
        specs={}, unavailable={"perf": Unavailable("no hardware PMU: this is a virtual machine")})
    text = tooltip_text(snapshot)
    assert text.splitlines() == ["PerfDeck", "CPU 23.4 % · IPC n/a"]  # memory has no value yet: omitted
    assert "0.0" not in text
    full = Snapshot(timestamp=0.0, monotonic=0.0,
                    values={"cpu.util.total": 5.0, "mem.used_pct": 41.0, "perf.ipc.total": 1.234,
                            "membw.total": 12.3}, specs={})
    assert tooltip_text(full, paused=True, active_alerts=["CPU busy"]).splitlines() == [
        "PerfDeck", "CPU 5.0 % · Memory 41.0 % · IPC 1.23 IPC · DRAM 12.30 GB/s", "Sampling paused",
        "Alerts: CPU busy"]
    other = tooltip_text(full, tray_metric="sensors.temp.cpu")
    assert other.splitlines()[-1] == "Icon: sensors.temp.cpu n/a"


def test_metric_track_averages_between_redraws():
    track = MetricTrack(columns=3)
    assert not track.flush()  # nothing arrived: no column
    for v in (10.0, 20.0, None):
        track.add(v)
    assert track.flush() and list(track.columns) == [15.0]
    track.add(None)
    track.flush()
    for v in (1.0, 2.0, 3.0):
        track.add(v)
        track.flush()
    assert list(track.columns) == [1.0, 2.0, 3.0]  # capped


def _actions(state: dict) -> TrayActions:
    return TrayActions(
        toggle_window=lambda: state.__setitem__("visible", not state["visible"]),
        window_visible=lambda: state["visible"],
        set_paused=lambda p: state.__setitem__("paused", p),
        is_paused=lambda: state["paused"],
        open_settings=lambda: state.__setitem__("settings", state.get("settings", 0) + 1),
        quit=lambda: state.__setitem__("quit", True))


def test_icon_redraws_at_most_once_a_second(qapp, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(tray_module.time, "monotonic", lambda: clock[0])
    state = {"visible": True, "paused": False}
    controller = TrayController(_actions(state))
    start = controller.redraws
    for tick in range(50):  # 50 snapshots at 10 Hz = 5 s
        controller.observe(many_cpu_snapshot(4, tick))
        clock[0] += 0.1
    assert 4 <= controller.redraws - start <= 5
    # One column per redraw, each the mean of the samples in between.
    assert len(controller.track.columns) == controller.redraws - start
    # Nothing new: a forced redraw with identical content does not repaint.
    clock[0] += 5
    controller.observe(many_cpu_snapshot(4, 49))
    count = controller.redraws
    controller.refresh_now()
    assert controller.redraws == count


def test_menu_actions_call_back_and_say_what_they_will_do(qapp):
    state = {"visible": True, "paused": False}
    controller = TrayController(_actions(state))
    controller.update_menu()
    assert controller.show_action.text() == "Hide window"
    controller.show_action.trigger()
    assert state["visible"] is False
    controller.update_menu()
    assert controller.show_action.text() == "Show window"
    controller.pause_action.trigger()
    assert state["paused"] is True
    controller.update_menu()
    assert controller.pause_action.text() == "Resume sampling"
    controller.settings_action.trigger()
    controller.quit_action.trigger()
    assert state["settings"] == 1 and state["quit"] is True
    # No recording/export callbacks given: those entries are disabled and say why.
    assert not controller.record_action.isEnabled() and "not available" in controller.record_action.toolTip()
    assert not controller.export_action.isEnabled()


def test_recording_entries_work_when_provided(qapp):
    state = {"visible": True, "paused": False, "recording": False, "exports": 0}
    actions = _actions(state)
    actions.toggle_recording = lambda: state.__setitem__("recording", not state["recording"])
    actions.is_recording = lambda: state["recording"]
    actions.export_csv = lambda: state.__setitem__("exports", state["exports"] + 1)
    controller = TrayController(actions)
    assert controller.record_action.isEnabled() and controller.export_action.isEnabled()
    controller.record_action.trigger()
    controller.update_menu()
    assert state["recording"] and controller.record_action.text() == "Stop recording"
    controller.export_action.trigger()
    assert state["exports"] == 1


# --- no tray: a plain window app ---------------------------------------------------------------------
def test_without_a_tray_closing_the_window_quits(qtbot, tmp_path):
    assert not QSystemTrayIcon.isSystemTrayAvailable()  # offscreen has no tray
    window = build_window(engine=SamplingEngine([]), tabs=ALERTS_TAB)
    qtbot.addWidget(window)
    store = SettingsStore(tmp_path / "perfdeck.ini")
    desktop = install_desktop(window, store.load(), store)
    quits: list[bool] = []
    desktop.request_quit = lambda: quits.append(True)
    assert desktop.tray is None
    assert QApplication.instance().quitOnLastWindowClosed()
    window.show()
    qtbot.waitExposed(window)
    window.sampler.start()
    window.close()
    assert not window.isVisible()
    assert not window.sampler.thread.isRunning()  # shut down, not hidden
    qtbot.waitUntil(lambda: quits == [True], timeout=2000)


def test_start_minimized_without_tray_minimizes_the_window(qtbot, tmp_path):
    window = build_window(engine=SamplingEngine([]), tabs=())
    qtbot.addWidget(window)
    store = SettingsStore(tmp_path / "perfdeck.ini")
    desktop = install_desktop(window, store.load(), store)
    desktop.request_quit = lambda: None
    desktop.start(minimized=True)
    assert window.isVisible() and window.isMinimized()
    window.close()


# --- a real tray --------------------------------------------------------------------------------------
@pytest.fixture
def tray_display():
    absent = missing(TRAY_BINARIES)
    if absent:
        pytest.skip(f"needs {', '.join(absent)} (apt install xvfb trayer xdotool)")
    procs = Processes()
    try:
        start_xvfb(procs)
        start_trayer(procs)
        yield procs
    finally:
        procs.stop()


@pytest.mark.xvfb
def test_real_tray_icon_menu_close_to_tray_and_quit(tray_display, tmp_path):
    result_file = tmp_path / "result.json"
    shots = os.environ.get("PERFDECK_SCREENSHOTS")  # set to a folder to keep the screenshots
    env = {**os.environ, **tray_display.env}
    command = [sys.executable, str(HERE / "tray_scenario.py"), str(result_file)]
    if shots:
        command.append(shots)
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    r = json.loads(result_file.read_text())
    assert "error" not in r, r["error"]
    assert r["tray_available"] and r["tray_created"] and r["icon_visible"]
    assert r["icon_geometry"][2] > 0  # embedded in trayer with a real size
    assert "CPU" in r["tooltip"] and "Memory 42.0 %" in r["tooltip"]
    # The alert fell back to the tray balloon (the scenario has no D-Bus session).
    assert r["balloon_fallback"] and r["deliveries"][0][0] == "balloon"
    assert r["deliveries"][0][1].startswith("CPU busy: ") and "(threshold 60 %)" in r["deliveries"][0][1]
    # Close to tray: hidden, sampling and the tray icon continue, the views do not redraw.
    assert r["hidden_after_close"] and r["sampler_running_while_hidden"]
    assert r["samples_while_hidden"] >= 8 and r["view_refreshes_while_hidden"] == 0
    assert r["tray_redraws_while_hidden"] >= 1
    assert r["menu_texts"] == ["Show window", "Pause sampling", "Start recording", "Export CSV…", "Settings…",
                               "Quit PerfDeck"]
    assert r["shown_by_menu"] and r["show_action_text_when_shown"] == "Hide window" and r["hidden_by_menu"]
    assert r["paused_by_menu"] and r["window_pause_action_checked"] and r["resumed_by_menu"]
    assert r["pause_text_when_paused"] == "Resume sampling"
    assert r["settings_dialog_shown"] and r["alive_after_dialog_closed"]
    assert r["context_menu_opened"] and r["context_menu_near_icon"]  # a real right click on the icon
    # Recording and export are enabled exactly when the recording component is installed.
    assert r["record_enabled"] == r["export_enabled"] == r["recording_module"]
    if not r["recording_module"]:
        assert r["record_tooltip"] == "recording is not available in this build"
    assert r["quit_triggered"] and r["exec_returned"] == 0 and r["sampler_stopped_after_quit"]


def test_tray_drives_the_window_recording_and_export_actions(qtbot, tmp_path):
    """The recording component exposes window.record_action (checkable) and window.export_action;
    they may appear after the tray is installed, so the menu looks them up when it opens."""
    from PySide6.QtGui import QAction

    window = build_window(engine=SamplingEngine([]), tabs=())
    qtbot.addWidget(window)
    store = SettingsStore(tmp_path / "perfdeck.ini")
    desktop = install_desktop(window, store.load(), store, tray_available=True)
    desktop.request_quit = lambda: None  # closing the window must not end the test session's app
    tray = desktop.tray
    assert tray is not None
    tray.update_menu()
    assert not tray.record_action.isEnabled()
    assert tray.record_action.toolTip() == "recording is not available in this build"

    window.record_action = QAction("Record", window, checkable=True)
    exports: list[bool] = []
    window.export_action = QAction("Export CSV…", window)
    window.export_action.triggered.connect(lambda: exports.append(True))
    tray.update_menu()
    assert tray.record_action.isEnabled() and tray.export_action.isEnabled()
    tray.record_action.trigger()
    assert window.record_action.isChecked()
    tray.update_menu()
    assert tray.record_action.text() == "Stop recording"
    tray.export_action.trigger()
    assert exports == [True]
    window.export_action.setEnabled(False)
    window.export_action.setToolTip("nothing recorded yet")
    tray.update_menu()
    assert not tray.export_action.isEnabled() and tray.export_action.toolTip() == "nothing recorded yet"
    window.close()


def test_start_minimized_with_a_tray_shows_only_the_icon(qtbot, tmp_path):
    window = build_window(engine=SamplingEngine([]), tabs=())
    qtbot.addWidget(window)
    store = SettingsStore(tmp_path / "perfdeck.ini")
    desktop = install_desktop(window, store.load(), store, tray_available=True)
    desktop.request_quit = lambda: None
    desktop.start(minimized=True)
    assert not window.isVisible()
    assert not QApplication.instance().quitOnLastWindowClosed()  # a closing dialog must not quit
    desktop.toggle_window()  # what a left click on the icon does
    assert window.isVisible() and not window.isMinimized()
    # An interval picked in the View menu is remembered for the next start.
    window.set_interval(2.0)
    assert store.load().settings.interval == 2.0
    window.close()
    QApplication.instance().setQuitOnLastWindowClosed(True)


def test_tray_drives_the_real_recording_controller(qtbot, tmp_path):
    """With gui.recording installed, the tray's Start/Stop recording and Export CSV… use
    window.recording, the same controller as the File menu and the status-bar button."""
    recording_module = pytest.importorskip("perfdeck.gui.recording")
    window = build_window(engine=SamplingEngine([]), tabs=())
    qtbot.addWidget(window)
    controller = recording_module.install_recording(window)
    store = SettingsStore(tmp_path / "perfdeck.ini")
    desktop = install_desktop(window, store.load(), store, tray_available=True)
    desktop.request_quit = lambda: None
    tray = desktop.tray
    tray.update_menu()
    assert tray.record_action.isEnabled() and tray.export_action.isEnabled()
    assert tray.record_action.text() == "Start recording"
    assert controller.start(tmp_path / "rec.csv")
    tray.update_menu()
    assert tray.record_action.text() == "Stop recording"
    tray.record_action.trigger()  # stops (starting would ask for a file name)
    assert not controller.is_recording
    tray.update_menu()
    assert tray.record_action.text() == "Start recording"
    window.close()
