"""Settings error paths found by adversarial testing (issue 13 items 9-11): huge values are never
echoed in full, unknown keys are said, and migrated values are range-checked like any other."""

from __future__ import annotations

from perfdeck.model.settings import MAX_PROBLEM_CHARS, from_mapping


def test_a_5_mb_value_is_not_echoed_in_full() -> None:
    huge = "9" * 5_000_000 + "x"
    result = from_mapping({"schema/version": "1", "sampling/interval": huge, "appearance/theme": huge,
                           "tray/metric": huge, "export/directory": huge, "tray/close_to_tray": huge})
    assert len(result.problems) == 5
    assert all(len(p) <= MAX_PROBLEM_CHARS for p in result.problems)
    assert len(result.note) < 2000
    assert "(5,000,001 characters)" in result.note  # it still says how long the value was


def test_a_huge_alert_rule_name_is_clipped() -> None:
    raw = {"schema/version": "1", "alerts/size": "1", "alerts/1/name": "n" * 1_000_000,
           "alerts/1/series": "x" * 1_000_000, "alerts/1/threshold": "5"}
    result = from_mapping(raw)
    assert result.settings.alert_rules == ()
    assert all(len(p) <= MAX_PROBLEM_CHARS for p in result.problems)


def test_unknown_keys_are_counted_and_a_few_named() -> None:
    raw = {"schema/version": "1", "sampling/interval": "0.5"}
    raw.update({f"junk/key{i}": "1" for i in range(10_000)})
    result = from_mapping(raw)
    assert result.settings.interval == 0.5
    expected = "10,000 unknown settings ignored ('junk/key0', 'junk/key1', 'junk/key2' and 9,997 more)"
    assert expected in result.note


def test_known_keys_including_alert_arrays_are_not_unknown() -> None:
    raw = {"schema/version": "1", "sampling/interval": "0.5", "alerts/size": "1", "alerts/1/name": "a",
           "alerts/1/series": "cpu.util.total", "alerts/1/threshold": "50", "alerts/1/rearm": "40",
           "alerts/1/direction": "above", "alerts/1/duration": "1", "alerts/1/enabled": "true",
           "alerts/1/notify": "false"}
    assert from_mapping(raw).problems == ()


def test_a_newer_schema_is_not_scolded_for_its_new_keys() -> None:
    result = from_mapping({"schema/version": "9", "future/thing": "1"})
    assert not any("unknown setting" in p for p in result.problems)


def test_migrated_cpu_percent_out_of_range_is_reported_not_kept() -> None:
    result = from_mapping({"refresh_ms": "1000", "alerts/cpu_percent": "500"})
    assert result.migrated_from == 0
    cpu_rules = [r for r in result.settings.alert_rules if r.series == "cpu.util.total"]
    assert [r.threshold for r in cpu_rules] == [90.0]  # the default rule, not a rule at 500 %
    assert any("alerts/cpu_percent 500 % is outside 0–100 %" in p for p in result.problems)


def test_migrated_cpu_seconds_out_of_range_is_reported() -> None:
    result = from_mapping({"alerts/cpu_percent": "80", "alerts/cpu_seconds": "-5"})
    assert any("alerts/cpu_percent duration -5 s is outside" in p for p in result.problems)


def test_a_percentage_rule_that_can_never_fire_is_dropped_and_said() -> None:
    raw = {"schema/version": "1", "alerts/size": "2",
           "alerts/1/name": "never", "alerts/1/series": "cpu.util.total", "alerts/1/threshold": "150",
           "alerts/2/name": "fine", "alerts/2/series": "disk.busy.*", "alerts/2/threshold": "90"}
    result = from_mapping(raw)
    assert [r.name for r in result.settings.alert_rules] == ["fine"]
    assert any("above 150 % can never fire" in p for p in result.problems)
