"""Settings file (QSettings INI) and the Settings dialog: round trip, bad files, live apply."""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QDialogButtonBox

from perfdeck import autostart
from perfdeck.gui.app import build_window
from perfdeck.gui.integration import install_desktop
from perfdeck.gui.settings_dialog import SettingsDialog
from perfdeck.gui.settings_store import SettingsStore, default_path
from perfdeck.gui.tabs import TabEntry
from perfdeck.model.alerts import AlertRule
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.settings import DEFAULT_ALERT_RULES, Settings

pytestmark = pytest.mark.gui

ALERTS_TAB = (TabEntry("Alerts", "perfdeck.gui.views.alerts:AlertsView"),)


def backups(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".bad-" in p.name or ".v0-" in p.name)


# --- the store ------------------------------------------------------------------------------------
def test_default_path_follows_xdg_config_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_path() == tmp_path / "perfdeck" / "perfdeck.ini"


def test_first_run_gives_defaults_and_writes_nothing(tmp_path):
    store = SettingsStore(tmp_path / "perfdeck.ini")
    result = store.load()
    assert result.settings == Settings() and result.note == "" and result.backup is None
    assert list(tmp_path.iterdir()) == []


def test_round_trip_through_the_ini_file(tmp_path):
    store = SettingsStore(tmp_path / "sub" / "perfdeck.ini")
    custom = Settings(interval=0.5, theme="dark", tray_metric="perf.ipc.total", families=("cpu", "mem"),
                      export_directory="/data/runs, 2024", start_minimized=True,
                      alert_rules=(AlertRule("Hot, really", "sensors.temp.*", 80.0, rearm=75.0),))
    assert store.save(custom) == ""
    text = store.path.read_text()
    assert "[sampling]" in text and "interval=0.5" in text and "1\\series=sensors.temp.*" in text
    result = store.load()
    assert result.settings == custom and result.note == "" and backups(store.path.parent) == []


def test_corrupt_file_keeps_the_good_values_and_a_backup(tmp_path):
    store = SettingsStore(tmp_path / "perfdeck.ini")
    store.save(Settings(theme="dark", interval=2.0))
    original = store.path.read_text()
    damaged = original.replace("interval=2.0", "interval=banana") + "\n[broken section\n=novalue\n"
    store.path.write_text(damaged)
    result = store.load()
    assert result.settings.theme == "dark"  # the good values survive
    assert result.settings.interval == 1.0  # the bad one is reset
    assert "\n" not in result.note and result.note.startswith("Settings: ")
    assert "'banana' is not a number; reset to 1.0" in result.note
    assert "not valid INI" in result.note
    [backup] = backups(tmp_path)
    assert backup.name.startswith("perfdeck.ini.bad-") and backup.read_text() == damaged
    assert f"kept as {backup.name}" in result.note
    # The repaired file was written: the next start is clean.
    again = store.load()
    assert again.note == "" and again.settings == result.settings


def test_binary_garbage_gives_defaults(tmp_path):
    path = tmp_path / "perfdeck.ini"
    path.write_bytes(b"\x00\xff\xfe\x01PK\x03\x04garbage")
    result = SettingsStore(path).load()
    assert result.settings == Settings()
    assert "not a text INI file" in result.note
    [backup] = backups(tmp_path)
    assert backup.read_bytes().startswith(b"\x00\xff")


def test_a_folder_in_place_of_the_file_is_moved_aside(tmp_path):
    path = tmp_path / "perfdeck.ini"
    path.mkdir()
    (path / "something").write_text("x")
    result = SettingsStore(path).load()
    assert result.settings == Settings()
    assert "could not be read (Is a directory)" in result.note
    [backup] = backups(tmp_path)
    assert (backup / "something").read_text() == "x"  # nothing lost
    assert path.is_file()  # fresh defaults written


def test_unreadable_file_via_injected_oserror(tmp_path):
    path = tmp_path / "perfdeck.ini"
    path.write_text("[sampling]\ninterval=2\n")

    def refuse(_p: Path) -> bytes:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(_p))

    result = SettingsStore(path, read_bytes=refuse).load()
    assert result.settings == Settings()
    assert "could not be read (Permission denied)" in result.note
    [backup] = backups(tmp_path)
    assert backup.read_text() == "[sampling]\ninterval=2\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode; the injected "
                                               "OSError test above covers this path")
def test_unreadable_file_chmod_000(tmp_path):
    path = tmp_path / "perfdeck.ini"
    path.write_text("[sampling]\ninterval=2\n")
    path.chmod(0)
    result = SettingsStore(path).load()
    assert "could not be read" in result.note and result.settings == Settings()
    assert len(backups(tmp_path)) == 1


def test_out_of_range_values_in_the_file(tmp_path):
    path = tmp_path / "perfdeck.ini"
    path.write_text("[schema]\nversion=1\n[sampling]\ninterval=0.01\n[history]\nlength=999999\n"
                    "[appearance]\ntheme=dark\n")
    result = SettingsStore(path).load()
    s = result.settings
    assert (s.interval, s.history_seconds, s.theme) == (1.0, 3600.0, "dark")
    assert "sampling interval 0.01 s is outside 0.1–10 s" in result.note
    assert "history length 999999 s is outside 60–86400 s" in result.note
    assert len(backups(tmp_path)) == 1


def test_migration_of_a_real_v0_file(tmp_path):
    path = tmp_path / "perfdeck.ini"
    v0 = ("[General]\nrefresh_ms=250\nhistory_minutes=30\nminimize_to_tray=false\ndark_theme=true\n"
          "tray_series=cpu.total\n\n[Alerts]\ncpu_percent=85\ncpu_seconds=20\n\n[Export]\nfolder=/srv/csv\n")
    path.write_text(v0)
    result = SettingsStore(path).load()
    s = result.settings
    assert (s.interval, s.history_seconds, s.close_to_tray, s.theme) == (0.25, 1800.0, False, "dark")
    assert s.tray_metric == "cpu.util.total" and s.export_directory == "/srv/csv"
    assert (s.alert_rules[0].threshold, s.alert_rules[0].duration) == (85.0, 20.0)
    assert result.note.startswith("Settings: upgraded from schema version 0")
    [backup] = backups(tmp_path)
    assert backup.name.startswith("perfdeck.ini.v0-") and backup.read_text() == v0
    assert "[schema]" in path.read_text() and "refresh_ms" not in path.read_text()
    assert SettingsStore(path).load().note == ""


# --- the dialog -----------------------------------------------------------------------------------
def test_dialog_shows_and_collects_every_setting(qtbot):
    custom = Settings(interval=0.5, process_interval=4.0, history_seconds=7200.0, window_seconds=900.0,
                      families=("cpu", "mem"), close_to_tray=False, start_minimized=True,
                      tray_metric="perf.ipc.total", theme="light", export_directory="/data",
                      export_average_seconds=5.0, start_at_login=True,
                      alert_rules=DEFAULT_ALERT_RULES[:2])
    dialog = SettingsDialog(custom, series_ids=["net.rx.eth0"])
    qtbot.addWidget(dialog)
    settings, problems = dialog.collect()
    assert problems == [] and settings == custom
    index = dialog.tray_metric.findData("net.rx.eth0")
    assert index >= 0 and dialog.tray_metric.itemText(index) == "eth0 received (Network)"  # by name


def test_dialog_rejects_invalid_values_and_applies_nothing(qtbot):
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    applied: list[Settings] = []
    dialog.applied.connect(applied.append)
    for box in dialog.family_boxes.values():
        box.setChecked(False)
    dialog.tray_metric.setEditText("not an id!")
    dialog.rules_table.item(0, 4).setText("ninety")
    dialog.rules_table.item(1, 5).setText("5")  # re-arm below the threshold of a 'below' rule
    dialog.history_minutes.setValue(2)
    dialog.window_combo.setCurrentIndex(dialog.window_combo.findData(300.0))  # 5 min > 2 min history
    dialog.show()
    assert dialog.apply() is False
    assert applied == []
    text = dialog.error_label.text()
    for expected in ("threshold 'ninety' is not a number", "no family is enabled", "'not an id!' is not a "
                     "series id", "must be at or above the threshold", "longer than the history"):
        assert expected in text
    assert dialog.error_label.isVisible()


def test_rule_editor_add_remove_restore(qtbot):
    dialog = SettingsDialog(replace(Settings(), alert_rules=()))
    qtbot.addWidget(dialog)
    assert dialog.rules_table.rowCount() == 0
    qtbot.mouseClick(dialog.add_rule_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.add_rule_button, Qt.MouseButton.LeftButton)
    dialog.rules_table.item(1, 2).setText("sensors.temp.*")
    combo = dialog.rules_table.cellWidget(1, 3)
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(combo.findData("below"))
    dialog.rules_table.item(1, 4).setText("5")
    settings, problems = dialog.collect()
    assert problems == []
    assert [(r.name, r.series, r.direction) for r in settings.alert_rules] == [
        ("Rule 1", "cpu.util.total", "above"), ("Rule 2", "sensors.temp.*", "below")]
    dialog.rules_table.selectRow(0)
    qtbot.mouseClick(dialog.remove_rule_button, Qt.MouseButton.LeftButton)
    assert [r.name for r in dialog.collect()[0].alert_rules] == ["Rule 2"]
    qtbot.mouseClick(dialog.default_rules_button, Qt.MouseButton.LeftButton)
    assert dialog.collect()[0].alert_rules == DEFAULT_ALERT_RULES


def test_ok_applies_and_closes_cancel_does_not_apply(qtbot):
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    applied: list[Settings] = []
    dialog.applied.connect(applied.append)
    dialog.show()
    dialog.interval.setValue(2.5)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert applied == [] and not dialog.isVisible()
    dialog.show()
    dialog.interval.setValue(2.5)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert [s.interval for s in applied] == [2.5] and not dialog.isVisible()


# --- live apply through the desktop integration ----------------------------------------------------
def test_applied_settings_take_effect_live_and_are_saved(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    window = build_window(engine=SamplingEngine([]), tabs=ALERTS_TAB)
    qtbot.addWidget(window)
    store = SettingsStore(tmp_path / "perfdeck.ini")
    desktop = install_desktop(window, store.load(), store, tray_available=True)
    desktop.request_quit = lambda: None  # closing the window must not end the test session's app
    dialog = desktop.open_settings("Alerts")
    assert dialog.isVisible() and dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Alerts"
    dialog.interval.setValue(0.5)
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.tray_metric.setEditText("mem.used_pct")
    dialog.start_at_login.setChecked(True)
    dialog.rules_table.setRowCount(1)
    assert dialog.apply()

    assert window.sampler.interval == 0.5
    assert QApplication.instance().palette().window().color().name() == "#2b2b2b"  # the dark palette
    assert desktop.tray is not None and desktop.tray.metric == "mem.used_pct"
    assert [r.name for r in desktop.monitor.rules] == ["CPU busy"]
    entry = tmp_path / "config" / "autostart" / "io.github.perfdeck.PerfDeck.desktop"
    assert entry.is_file() and "--minimized" in entry.read_text()
    assert autostart.is_enabled()
    saved = store.load().settings
    assert (saved.interval, saved.theme, saved.tray_metric, saved.start_at_login) == (
        0.5, "dark", "mem.used_pct", True)
    assert window.statusBar().currentMessage().startswith("Settings applied")

    dialog.start_at_login.setChecked(False)
    dialog.theme.setCurrentIndex(dialog.theme.findData("system"))
    assert dialog.apply()
    assert not entry.exists()
    dialog.reject()
    window.close()


def test_status_bar_shows_the_reset_note(qtbot, tmp_path):
    path = tmp_path / "perfdeck.ini"
    path.write_text("[sampling]\ninterval=77\n")
    store = SettingsStore(path)
    window = build_window(engine=SamplingEngine([]), tabs=())
    qtbot.addWidget(window)
    desktop = install_desktop(window, store.load(), store, tray_available=False)
    desktop.request_quit = lambda: None
    message = window.statusBar().currentMessage()
    assert message.startswith("Settings: sampling interval 77 s is outside 0.1–10 s; reset to 1.0")
    assert "perfdeck.ini.bad-" in message
    window.close()


def test_view_menu_choices_are_remembered_and_shown(qtbot, tmp_path):
    """View > Theme and View > Sampling interval (the window's own menu) persist, and the menu
    ticks what the settings say."""
    store = SettingsStore(tmp_path / "perfdeck.ini")
    store.save(Settings(theme="light", interval=2.0))
    window = build_window(engine=SamplingEngine([]), tabs=(), interval=2.0)
    qtbot.addWidget(window)
    desktop = install_desktop(window, store.load(), store, tray_available=False)
    desktop.request_quit = lambda: None
    theme_actions = {a.text(): a for a in desktop._theme_actions()}
    assert set(theme_actions) == {"System", "Light", "Dark"}
    assert theme_actions["Light"].isChecked()
    assert [a.text() for a in window.interval_menu.actions() if a.isChecked()] == ["2 s"]
    theme_actions["Dark"].trigger()
    assert store.load().settings.theme == "dark"
    window.set_interval(0.5)
    assert store.load().settings.interval == 0.5
    assert [a.text() for a in window.interval_menu.actions() if a.isChecked()] == ["0.5 s"]
    theme_actions["System"].trigger()
    window.close()


def test_alerts_tab_built_later_is_attached_to_the_monitor(qtbot, tmp_path, monkeypatch):
    """Tabs are built when first shown; the Alerts tab must still get the alert monitor."""
    from perfdeck.gui.views.alerts import AlertsView

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    tabs = (TabEntry("First", "perfdeck.gui.views.sensors:SensorsView"), *ALERTS_TAB)
    window = build_window(engine=SamplingEngine([]), tabs=tabs)
    qtbot.addWidget(window)
    store = SettingsStore(tmp_path / "perfdeck.ini")
    desktop = install_desktop(window, store.load(), store, tray_available=False)
    desktop.request_quit = lambda: None
    assert "Alerts" not in window.views  # not built yet
    view = window.view("Alerts")
    assert isinstance(view, AlertsView)
    assert view.monitor is desktop.monitor and view.edit_button.isEnabled()


def test_peak_bandwidth_entered_in_the_tab_persists_and_survives_the_dialog(qtbot, tmp_path, monkeypatch):
    from perfdeck.gui.views.membw import MemoryBandwidthView

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    tabs = (TabEntry("Memory bandwidth", "perfdeck.gui.views.membw:MemoryBandwidthView"),)
    store = SettingsStore(tmp_path / "perfdeck.ini")
    window = build_window(engine=SamplingEngine([]), tabs=tabs)
    qtbot.addWidget(window)
    desktop = install_desktop(window, store.load(), store, tray_available=False)
    desktop.request_quit = lambda: None
    view = window.view("Memory bandwidth")
    assert isinstance(view, MemoryBandwidthView) and view.peak_gbps is None
    view.peak_spin.setValue(204.8)
    assert store.load().settings.peak_bandwidth_gbps == 204.8
    dialog = desktop.open_settings()
    dialog.interval.setValue(2.0)
    assert dialog.apply()  # the dialog has no peak field: applying it must not reset the peak
    saved = store.load().settings
    assert saved.peak_bandwidth_gbps == 204.8 and saved.interval == 2.0

    # The next start restores the line.
    window2 = build_window(engine=SamplingEngine([]), tabs=tabs)
    qtbot.addWidget(window2)
    desktop2 = install_desktop(window2, store.load(), store, tray_available=False)
    desktop2.request_quit = lambda: None
    assert window2.view("Memory bandwidth").peak_gbps == 204.8
    dialog.close()


def test_a_settings_file_over_the_cap_is_not_read_and_is_kept_aside(tmp_path):
    from perfdeck.gui.settings_store import MAX_FILE_BYTES

    path = tmp_path / "perfdeck.ini"
    with open(path, "w") as handle:  # a million unknown keys, 15 MB: parsing it took 668 MB before
        handle.write("[schema]\nversion=1\n[junk]\n")
        handle.writelines(f"k{i}=v\n" for i in range(1_000_000))
    assert path.stat().st_size > MAX_FILE_BYTES
    result = SettingsStore(path).load()
    assert result.settings == Settings()
    assert "so it was not read" in result.note and "MiB" in result.note
    assert len(result.note) < 400
    assert result.backup is not None and result.backup.stat().st_size > MAX_FILE_BYTES
    assert path.stat().st_size < 10_000  # the repaired file


def test_a_file_with_unknown_keys_under_the_cap_names_a_few(tmp_path):
    path = tmp_path / "perfdeck.ini"
    path.write_text("[schema]\nversion=1\n[sampling]\ninterval=0.5\n[junk]\n"
                    + "".join(f"k{i}=v\n" for i in range(1000)))
    result = SettingsStore(path).load()
    assert result.settings.interval == 0.5
    assert "1,000 unknown settings ignored" in result.note and len(result.note) < 400
def test_rule_series_are_picked_by_name_from_what_exists_with_units(qtbot):
    from PySide6.QtWidgets import QStyleOptionViewItem

    rules = (AlertRule("Hot", "sensors.temp.k10temp_tctl", 85.0),
             AlertRule("Busy", "cpu.util.total", 90.0), AlertRule("Any disk", "disk.busy.*", 95.0))
    dialog = SettingsDialog(replace(Settings(), alert_rules=rules),
                            ["cpu.util.total", "disk.read.sda", "sensors.temp.k10temp_tctl"],
                            units={"cpu.util.total": "%", "disk.read.sda": "B/s",
                                   "sensors.temp.k10temp_tctl": "°C"},
                            labels={"sensors.temp.k10temp_tctl": "k10temp Tctl"})
    qtbot.addWidget(dialog)
    table = dialog.rules_table
    assert table.item(1, 2).text() == "CPU busy" and table.item(1, 2).toolTip() == "cpu.util.total"
    assert table.item(2, 2).text() == "disk.busy.*"  # a glob shows as written
    # The threshold reads with the series' unit.
    option = QStyleOptionViewItem()
    dialog.unit_delegate.initStyleOption(option, table.model().index(1, 4))
    assert option.text == "90 %"
    dialog.unit_delegate.initStyleOption(option, table.model().index(0, 4))
    assert option.text == "85 °C"
    table.item(2, 2).setText("sensors.temp.*")  # a glob takes the unit of the series it matches
    dialog.unit_delegate.initStyleOption(option, table.model().index(2, 4))
    assert option.text == "95 °C"
    table.item(2, 2).setText("disk.busy.*")
    # The picker lists only the series that exist here, by family and name, and writes the id back.
    editor = dialog.series_delegate.createEditor(table, QStyleOptionViewItem(), table.model().index(1, 2))
    names = [editor.itemText(i) for i in range(editor.count())]
    assert names == ["CPU › CPU busy", "Disks › sda read", "Sensors › k10temp Tctl"]
    editor.setCurrentIndex(1)
    dialog.series_delegate.setModelData(editor, table.model(), table.model().index(1, 2))
    assert table.item(1, 2).text() == "sda read"
    settings, problems = dialog.collect()
    assert problems == [] and [r.series for r in settings.alert_rules] == [
        "sensors.temp.k10temp_tctl", "disk.read.sda", "disk.busy.*"]
