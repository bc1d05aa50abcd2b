"""The settings schema: defaults, round trip, out-of-range values, bad rules, migration from v0."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from perfdeck.model import settings as schema
from perfdeck.model.alerts import AlertRule
from perfdeck.model.registry import family_names
from perfdeck.model.settings import DEFAULT_ALERT_RULES, Settings, from_mapping, to_mapping, validate


def test_defaults_are_valid_and_as_documented() -> None:
    s = Settings()
    assert validate(s) == []
    assert (s.interval, s.history_seconds, s.tray_metric, s.theme) == (
        1.0, 3600.0, "cpu.util.total", "system")
    assert s.families == tuple(family_names())
    assert s.close_to_tray and not s.start_minimized and not s.start_at_login
    assert [r.series for r in s.alert_rules] == [
        "cpu.util.total", "mem.available_pct", "sensors.temp.*", "perf.llc_miss_pct.total", "disk.busy.*"]


def test_empty_mapping_gives_defaults_without_a_note() -> None:
    result = from_mapping({})
    assert result.settings == Settings() and result.note == "" and result.migrated_from is None


def test_round_trip_of_every_value() -> None:
    custom = Settings(
        interval=0.25, process_interval=5.0, history_seconds=7200.0, window_seconds=900.0,
        families=("cpu", "mem"), close_to_tray=False, start_minimized=True, tray_metric="perf.ipc.total",
        theme="dark", export_directory="/tmp/exports, with comma", export_average_seconds=10.0,
        start_at_login=True,
        alert_rules=(AlertRule("Hot, very", "sensors.temp.*", 85.5, "above", 5.0, 80.0, True, False),
                     AlertRule("Low", "mem.available_pct", 10.0, "below", 0.0, None, False, True)),
    )
    raw = to_mapping(custom)
    assert all(isinstance(v, str) for v in raw.values())
    assert raw["schema/version"] == str(schema.SCHEMA_VERSION)
    result = from_mapping(raw)
    assert result.problems == ()
    assert result.settings == custom


def test_qsettings_style_values_are_accepted() -> None:
    # QSettings hands back unquoted "a, b" as a list and may use backslashes in array keys.
    disabled = [n for n in family_names() if n not in ("cpu", "mem")]
    raw = {"metrics/disabled": disabled, "Tray/Close_To_Tray": "TRUE", "alerts\\size": "1",
           "alerts\\1\\series": "cpu.util.total", "alerts\\1\\threshold": "50"}
    result = from_mapping(raw)
    assert result.problems == ()
    assert result.settings.families == ("cpu", "mem")
    assert [r.threshold for r in result.settings.alert_rules] == [50.0]


def test_out_of_range_values_reset_one_by_one_with_a_one_line_note() -> None:
    raw = to_mapping(Settings(theme="dark"))
    raw.update({"sampling/interval": "42", "history/length": "999999", "tray/metric": "CPU!",
                "tray/close_to_tray": "maybe", "export/average_seconds": "-1", "appearance/theme": "pink",
                "metrics/disabled": "cpu,fpga"})
    result = from_mapping(raw)
    s = result.settings
    assert (s.interval, s.history_seconds, s.tray_metric, s.close_to_tray, s.export_average_seconds) == (
        1.0, 3600.0, "cpu.util.total", True, 0.0)
    assert s.theme == "system" and s.families == tuple(family_names())
    assert len(result.problems) == 7
    note = result.note
    assert "\n" not in note
    assert note.startswith("Settings: ") and note.count("; reset to") == 7
    assert "sampling interval 42 s is outside 0.1–10 s; reset to 1.0" in note
    assert "'maybe' is not true or false" in note
    assert "unknown families fpga" in note


def test_non_numbers_and_infinities_are_reset() -> None:
    result = from_mapping({"sampling/interval": "fast", "history/window": "inf"})
    assert result.settings.interval == 1.0 and result.settings.window_seconds == 300.0
    assert "'fast' is not a number" in result.problems[0]
    assert "not a finite number" in result.problems[1]


def test_window_longer_than_history_is_clamped() -> None:
    result = from_mapping({"history/length": "120", "history/window": "900"})
    assert result.settings.window_seconds == 120.0
    assert "longer than the history" in result.note


def test_bad_alert_rules_are_dropped_alone() -> None:
    raw = to_mapping(Settings())
    raw["alerts/2/threshold"] = "lots"
    raw["alerts/3/direction"] = "sideways"
    raw["alerts/5/rearm"] = "99"  # above the 95 % threshold of an 'above' rule
    result = from_mapping(raw)
    names = [r.name for r in result.settings.alert_rules]
    assert names == ["CPU busy", "LLC misses"]
    assert len(result.problems) == 3
    assert "alert rule 2 'lots' is not a number; dropped" in result.problems[0]


def test_alert_size_out_of_range_restores_default_rules() -> None:
    result = from_mapping({"alerts/size": "100000"})
    assert result.settings.alert_rules == DEFAULT_ALERT_RULES
    assert "outside 0–100" in result.note
    assert from_mapping({"alerts/size": "0"}).settings.alert_rules == ()  # the user removed them all


def test_validate_reports_typed_problems_for_the_dialog() -> None:
    bad = replace(Settings(), interval=0.01, window_seconds=7200.0, families=(),
                  alert_rules=(AlertRule("a", "cpu.util.total", 1.0), AlertRule("a", "mem.used_pct", 2.0)))
    problems = validate(bad)
    assert any(p.startswith("sampling interval: 0.01 s is outside") for p in problems)
    assert any("longer than the history" in p for p in problems)
    assert any("no family is enabled" in p for p in problems)
    assert any("names must be unique (a)" in p for p in problems)


def test_newer_schema_is_read_with_a_note() -> None:
    result = from_mapping({"schema/version": "7", "sampling/interval": "2", "future/thing": "x"})
    assert result.settings.interval == 2.0
    assert "newer PerfDeck (schema 7)" in result.note


V0_FILE = {
    "refresh_ms": "500",
    "history_minutes": "120",
    "timespan_minutes": "15",
    "minimize_to_tray": "false",
    "start_hidden": "true",
    "dark_theme": "true",
    "tray_series": "mem.percent",
    "autostart": "1",
    "Alerts/cpu_percent": "75",
    "Alerts/cpu_seconds": "10",
    "Export/folder": "/home/u/exports",
}


def test_migration_from_v0_renames_keys_converts_units_and_series_ids() -> None:
    result = from_mapping(V0_FILE)
    s = result.settings
    assert result.migrated_from == 0 and result.problems == ()
    assert (s.interval, s.history_seconds, s.window_seconds) == (0.5, 7200.0, 900.0)
    assert (s.close_to_tray, s.start_minimized, s.theme, s.start_at_login) == (False, True, "dark", True)
    assert s.tray_metric == "mem.used_pct"
    assert s.export_directory == "/home/u/exports"
    cpu = s.alert_rules[0]
    assert (cpu.series, cpu.threshold, cpu.duration, cpu.rearm) == ("cpu.util.total", 75.0, 10.0, 65.0)
    assert [r.name for r in s.alert_rules[1:]] == [r.name for r in DEFAULT_ALERT_RULES[1:]]
    # After migration the mapping is current: saving and reloading gives the same settings.
    assert from_mapping(to_mapping(s)).settings == s


def test_migration_keeps_going_past_bad_old_values() -> None:
    result = from_mapping({"refresh_ms": "soon", "dark_theme": "false",
                           "Alerts/cpu_percent": "hot"})
    assert result.migrated_from == 0
    assert result.settings.interval == 1.0 and result.settings.theme == "system"
    assert result.settings.alert_rules == DEFAULT_ALERT_RULES
    assert len(result.problems) == 2 and "refresh_ms" in result.problems[0]


def test_migrated_v0_values_still_validated() -> None:
    result = from_mapping({"refresh_ms": "50"})  # 0.05 s: below the minimum
    assert result.settings.interval == 1.0
    assert "sampling interval 0.05 s is outside" in result.note


# --- start at login (perfdeck.autostart) -----------------------------------------------------------
def test_autostart_entry_written_and_removed(tmp_path) -> None:
    import shutil
    import subprocess

    from perfdeck import autostart

    path = autostart.set_enabled(True, base=tmp_path)
    assert path == tmp_path / "autostart" / "io.github.perfdeck.PerfDeck.desktop"
    text = path.read_text()
    assert "Exec=" in text and "--minimized" in text and "Type=Application" in text
    assert autostart.is_enabled(tmp_path)
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    autostart.set_enabled(False, base=tmp_path)
    assert not path.exists() and not autostart.is_enabled(tmp_path)
    autostart.set_enabled(False, base=tmp_path)  # removing twice is fine


def test_autostart_exec_line_quoting_and_xdg_config_home(tmp_path) -> None:
    from perfdeck import autostart

    assert autostart.desktop_entry("perfdeck --minimized").count("Exec=perfdeck --minimized\n") == 1
    # The Exec value is quoted and %-escaped the way `perfdeck install-desktop` does it.
    exec_value = autostart.exec_command()
    assert exec_value.endswith(" --minimized")
    assert autostart.desktop_entry().count(f"Exec={exec_value}\n") == 1
    assert autostart.config_home({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path
    assert autostart.config_home({"XDG_CONFIG_HOME": "relative/dir"}).name == ".config"
    import pytest

    with pytest.raises(ValueError, match="newline"):
        autostart.desktop_entry("perfdeck\n--evil")


def test_export_directory_defaults_to_documents(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_DOCUMENTS_DIR", str(tmp_path / "Docs"))
    assert schema.export_directory(Settings(export_directory="/srv/csv")) == Path("/srv/csv")
    assert schema.export_directory(Settings()) == tmp_path / "Docs"
