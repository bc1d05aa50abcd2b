"""The one settings schema: defaults, validation and migration. Pure Python, no Qt.

Settings live in an INI file (``gui.settings_store`` reads and writes it through QSettings). This
module works on the flat mapping of that file, ``{"sampling/interval": "1.0", ...}``, so it can be
tested without Qt and so there is exactly one place that knows keys, defaults and limits.

``from_mapping(raw)`` never raises: every value that is missing, unparsable or out of range falls
back to its default, and each such reset is described in ``LoadResult.problems`` (one sentence
each) and summed up in ``LoadResult.note`` (one line, for the status bar).

Layout (schema version 1)::

    [schema]    version=1
    [sampling]  interval=1.0            seconds, 0.1-10
                process_interval=2.0    seconds, 0.5-60 (the process list is costlier)
    [history]   length=3600.0           seconds kept in memory, 60-86400 (24 h)
                window=300.0            seconds shown by default, 10 s up to the history length
    [metrics]   disabled=perf,...       metric families switched off (model.registry.family_names());
                                        listing the disabled ones means new families start enabled
    [tray]      close_to_tray=true      closing the window hides it to the tray (when one exists)
                start_minimized=false   start hidden in the tray
                metric=cpu.util.total   series drawn in the tray icon
    [appearance] theme=system           system, light or dark
    [export]    directory=              CSV export folder; empty = the user's documents folder
                average_seconds=0       average rows over this many seconds; 0 = every sample
    [startup]   at_login=false          XDG autostart entry (perfdeck.autostart)
    [alerts]    size=N, 1\\name=..., 1\\series=..., 1\\direction=above, 1\\threshold=90,
                1\\duration=30, 1\\rearm=80, 1\\enabled=true, 1\\notify=true   (a QSettings array)

Version 0 (PerfDeck 0.0.x, no version key) kept its values in ``[General]`` with other names and
units (``refresh_ms``, ``history_minutes``, ``dark_theme``, a single ``[Alerts] cpu_percent`` rule,
older series ids such as ``cpu.total``); ``migrate_v0`` maps them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from perfdeck.model.alerts import MAX_DURATION_SECONDS, AlertRule, validate_rule
from perfdeck.model.history import (
    DEFAULT_HISTORY_SECONDS,
    MAX_HISTORY_SECONDS,
    MAX_INTERVAL_SECONDS,
    MIN_INTERVAL_SECONDS,
)
from perfdeck.model.registry import ALIASES, family_names

SCHEMA_VERSION = 1
APP_ID = "io.github.perfdeck.PerfDeck"
THEMES = ("system", "light", "dark")
MIN_HISTORY_SECONDS = 60.0
MIN_WINDOW_SECONDS = 10.0
MIN_PROCESS_INTERVAL = 0.5
MAX_PROCESS_INTERVAL = 60.0
MAX_EXPORT_AVERAGE_SECONDS = 3600.0
MAX_ALERT_RULES = 100
_SERIES_ID = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$")

# The examples users asked for. CPU, memory, temperature and disk rules are on by default; the
# LLC rule is off because a cache-miss ratio above 20 % is normal for many workloads and most
# virtual machines have no hardware PMU to measure it.
DEFAULT_ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule("CPU busy", "cpu.util.total", 90.0, "above", duration=30.0, rearm=80.0),
    AlertRule("Low memory", "mem.available_pct", 10.0, "below", duration=10.0, rearm=15.0),
    AlertRule("Hot sensor", "sensors.temp.*", 85.0, "above", duration=5.0, rearm=80.0),
    AlertRule("LLC misses", "perf.llc_miss_pct.total", 20.0, "above", duration=10.0, rearm=15.0,
              enabled=False),
    AlertRule("Disk saturated", "disk.busy.*", 95.0, "above", duration=60.0, rearm=80.0),
)


def _default_families() -> tuple[str, ...]:
    return tuple(family_names())


@dataclass(frozen=True, slots=True)
class Settings:
    """Every user setting, typed and valid. Build variants with ``dataclasses.replace``."""

    interval: float = 1.0
    process_interval: float = 2.0
    history_seconds: float = DEFAULT_HISTORY_SECONDS
    window_seconds: float = 300.0
    families: tuple[str, ...] = field(default_factory=_default_families)
    close_to_tray: bool = True
    start_minimized: bool = False
    tray_metric: str = "cpu.util.total"
    theme: str = "system"
    export_directory: str = ""
    export_average_seconds: float = 0.0
    # The machine's theoretical peak DRAM bandwidth, drawn as a reference line; 0 = off.
    peak_bandwidth_gbps: float = 0.0
    start_at_login: bool = False
    alert_rules: tuple[AlertRule, ...] = DEFAULT_ALERT_RULES


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What loading produced: valid settings, plus what had to be reset and why."""

    settings: Settings
    problems: tuple[str, ...] = ()
    migrated_from: int | None = None

    @property
    def note(self) -> str:
        """One line for the status bar; empty when nothing was reset."""
        if not self.problems:
            return ""
        return "Settings: " + "; ".join(self.problems)


# --- value parsing ---------------------------------------------------------------------------------
class _Bad(ValueError):
    """A value that cannot be used; the message says why (without the key)."""


# A value echoed in a message is cut to this many characters: a 5 MB value must not become a
# 5 MB status-bar line. A whole problem sentence is cut to MAX_PROBLEM_CHARS.
MAX_SHOWN_CHARS = 60
MAX_PROBLEM_CHARS = 300
# Unknown keys named in the note (the count is always given).
MAX_UNKNOWN_SHOWN = 3


def shown(value: Any) -> str:
    """``repr`` of a value for a message, cut to MAX_SHOWN_CHARS with its full length said."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= MAX_SHOWN_CHARS:
        return repr(text)
    return f"{text[:MAX_SHOWN_CHARS]!r}… ({len(text):,} characters)"


def _clip(sentence: str) -> str:
    if len(sentence) <= MAX_PROBLEM_CHARS:
        return sentence
    return sentence[:MAX_PROBLEM_CHARS - 1] + "…"


def _as_text(raw: Any) -> str:
    if isinstance(raw, list | tuple):  # QSettings splits "a, b" into a list when unquoted
        return ",".join(str(part).strip() for part in raw)
    return str(raw).strip()


def parse_float(raw: Any) -> float:
    text = _as_text(raw)
    try:
        value = float(text)
    except ValueError:
        raise _Bad(f"{shown(text)} is not a number") from None
    if not math.isfinite(value):
        raise _Bad(f"{shown(text)} is not a finite number")
    return value


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = _as_text(raw).lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise _Bad(f"{shown(text)} is not true or false")


def _in_range(low: float, high: float, unit: str = " s") -> Callable[[float], str]:
    def check(value: float) -> str:
        if low <= value <= high:
            return ""
        return f"{value:g}{unit} is outside {low:g}–{high:g}{unit}"

    return check


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        return "" if value in choices else f"{shown(value)} is not one of {', '.join(choices)}"

    return check


def _check_series_id(value: str) -> str:
    return "" if _SERIES_ID.match(value) else f"{shown(value)} is not a series id (e.g. cpu.util.total)"


def _check_directory(value: str) -> str:
    if value == "":
        return ""
    if "\0" in value or not Path(value).is_absolute():
        return f"{shown(value)} is not an absolute folder path"
    return ""


def _parse_disabled_families(raw: Any) -> tuple[str, ...]:
    """The file lists the *disabled* families, so a family added in a later version is on by default.
    Returns the enabled ones, in registry order."""
    text = _as_text(raw)
    names = [ALIASES.get(n.strip(), n.strip()) for n in text.split(",") if n.strip()]
    known = family_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        listed = ", ".join(n if len(n) <= MAX_SHOWN_CHARS else shown(n) for n in unknown[:MAX_UNKNOWN_SHOWN])
        more = f" and {len(unknown) - MAX_UNKNOWN_SHOWN} more" if len(unknown) > MAX_UNKNOWN_SHOWN else ""
        raise _Bad(f"unknown families {listed}{more} (known: {', '.join(known)})")
    enabled = tuple(n for n in known if n not in names)
    if not enabled:
        raise _Bad("disables every family")
    return enabled


def _dump_disabled_families(enabled: tuple[str, ...]) -> str:
    return ",".join(n for n in family_names() if n not in enabled)


def _check_families(value: tuple[str, ...]) -> str:
    known = family_names()
    if not value:
        return "no family is enabled"
    unknown = [n for n in value if n not in known]
    return f"unknown families {', '.join(unknown)}" if unknown else ""


@dataclass(frozen=True, slots=True)
class _Field:
    attr: str
    key: str
    label: str
    parse: Callable[[Any], Any]
    check: Callable[[Any], str]
    dump: Callable[[Any], str]


def _dump_float(value: float) -> str:
    return repr(float(value))


def _dump_bool(value: bool) -> str:
    return "true" if value else "false"


FIELDS: tuple[_Field, ...] = (
    _Field("interval", "sampling/interval", "sampling interval", parse_float,
           _in_range(MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS), _dump_float),
    _Field("process_interval", "sampling/process_interval", "process refresh interval", parse_float,
           _in_range(MIN_PROCESS_INTERVAL, MAX_PROCESS_INTERVAL), _dump_float),
    _Field("history_seconds", "history/length", "history length", parse_float,
           _in_range(MIN_HISTORY_SECONDS, MAX_HISTORY_SECONDS), _dump_float),
    _Field("window_seconds", "history/window", "default time window", parse_float,
           _in_range(MIN_WINDOW_SECONDS, MAX_HISTORY_SECONDS), _dump_float),
    _Field("families", "metrics/disabled", "disabled metric families", _parse_disabled_families,
           _check_families, _dump_disabled_families),
    _Field("close_to_tray", "tray/close_to_tray", "close to tray", parse_bool, lambda _v: "", _dump_bool),
    _Field("start_minimized", "tray/start_minimized", "start minimised", parse_bool, lambda _v: "",
           _dump_bool),
    _Field("tray_metric", "tray/metric", "tray metric", _as_text, _check_series_id, str),
    _Field("theme", "appearance/theme", "theme", lambda r: _as_text(r).lower(), _choice(THEMES), str),
    _Field("export_directory", "export/directory", "export folder", _as_text, _check_directory, str),
    _Field("export_average_seconds", "export/average_seconds", "export averaging", parse_float,
           _in_range(0.0, MAX_EXPORT_AVERAGE_SECONDS), _dump_float),
    _Field("peak_bandwidth_gbps", "memory_bandwidth/peak_gbps", "peak memory bandwidth", parse_float,
           _in_range(0.0, 10_000.0, " GB/s"), _dump_float),
    _Field("start_at_login", "startup/at_login", "start at login", parse_bool, lambda _v: "", _dump_bool),
)
VERSION_KEY = "schema/version"
ALERT_FIELDS = ("name", "series", "direction", "threshold", "duration", "rearm", "enabled", "notify")


# --- validation of typed settings (the dialog uses this) ------------------------------------------
def validate(settings: Settings) -> list[str]:
    """Every problem in ``settings``, one sentence each; empty when all values are valid."""
    problems = []
    for f in FIELDS:
        message = f.check(getattr(settings, f.attr))
        if message:
            problems.append(f"{f.label}: {message}")
    if settings.window_seconds > settings.history_seconds:
        problems.append(f"default time window: {settings.window_seconds:g} s is longer than the history "
                        f"({settings.history_seconds:g} s)")
    if len(settings.alert_rules) > MAX_ALERT_RULES:
        problems.append(f"alert rules: at most {MAX_ALERT_RULES} rules")
    names = [r.name for r in settings.alert_rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"alert rules: names must be unique ({', '.join(duplicates)})")
    for rule in settings.alert_rules:
        problems.extend(validate_rule(rule))
    return problems


# --- mapping <-> settings -------------------------------------------------------------------------
def to_mapping(settings: Settings) -> dict[str, str]:
    """The flat INI mapping for ``settings`` (every key, strings only, current schema version)."""
    raw = {VERSION_KEY: str(SCHEMA_VERSION)}
    for f in FIELDS:
        raw[f.key] = f.dump(getattr(settings, f.attr))
    raw["alerts/size"] = str(len(settings.alert_rules))
    for index, rule in enumerate(settings.alert_rules, start=1):
        prefix = f"alerts/{index}/"
        raw[prefix + "name"] = rule.name
        raw[prefix + "series"] = rule.series
        raw[prefix + "direction"] = rule.direction
        raw[prefix + "threshold"] = _dump_float(rule.threshold)
        raw[prefix + "duration"] = _dump_float(rule.duration)
        raw[prefix + "rearm"] = "" if rule.rearm is None else _dump_float(rule.rearm)
        raw[prefix + "enabled"] = _dump_bool(rule.enabled)
        raw[prefix + "notify"] = _dump_bool(rule.notify)
    return raw


def _normalise_keys(raw: Mapping[str, Any]) -> dict[str, Any]:
    # QSettings reports array entries as "alerts/1/name"; a hand-edited file may write "alerts/1\name".
    # Section and key names are matched case-insensitively, as users edit INI files by hand.
    return {key.replace("\\", "/").lower(): value for key, value in raw.items()}


def _parse_rules(raw: Mapping[str, Any], problems: list[str]) -> tuple[AlertRule, ...]:
    if "alerts/size" not in raw:
        return DEFAULT_ALERT_RULES
    try:
        size = int(parse_float(raw["alerts/size"]))
        if not 0 <= size <= MAX_ALERT_RULES:
            raise _Bad(f"{size} rules is outside 0–{MAX_ALERT_RULES}")
    except _Bad as exc:
        problems.append(f"alert rules: {exc}; reset to the default rules")
        return DEFAULT_ALERT_RULES
    rules: list[AlertRule] = []
    for index in range(1, size + 1):
        prefix = f"alerts/{index}/"
        try:
            if prefix + "series" not in raw or prefix + "threshold" not in raw:
                raise _Bad("has no series or threshold")
            rearm_raw = _as_text(raw.get(prefix + "rearm", ""))
            rule = AlertRule(
                name=_as_text(raw.get(prefix + "name", "")) or f"Rule {index}",
                series=_as_text(raw[prefix + "series"]),
                threshold=parse_float(raw[prefix + "threshold"]),
                direction=_as_text(raw.get(prefix + "direction", "above")).lower(),
                duration=parse_float(raw.get(prefix + "duration", "0")),
                rearm=parse_float(rearm_raw) if rearm_raw else None,
                enabled=parse_bool(raw.get(prefix + "enabled", "true")),
                notify=parse_bool(raw.get(prefix + "notify", "true")),
            )
        except _Bad as exc:
            problems.append(f"alert rule {index} {exc}; dropped")
            continue
        rule_problems = _too_long(rule) or validate_rule(rule) or _never_fires(rule)
        if rule_problems:
            problems.append(f"{rule_problems[0]}; dropped")
            continue
        if any(r.name == rule.name for r in rules):
            problems.append(f"alert rule {index}: duplicate name {rule.name!r}; dropped")
            continue
        rules.append(rule)
    return tuple(rules)


# Series whose unit is % of something bounded (0-100): utilisation, busy, used, miss ratios, battery.
_PERCENT_SERIES = re.compile(r"^(cpu\.util\.|disk\.busy\.|disk\.fs_used_pct\.|mem\.([a-z]+\.)?[a-z_]+_pct$|"
                             r"perf\.[a-z0-9_]+_pct\.|sensors\.battery\.percent$)")


MAX_RULE_NAME_CHARS = 100  # shown in notifications and the Alerts tab
MAX_RULE_SERIES_CHARS = 200  # longer than any series id


def _too_long(rule: AlertRule) -> list[str]:
    if len(rule.name) > MAX_RULE_NAME_CHARS:
        return [f"alert rule {shown(rule.name)}: the name is longer than {MAX_RULE_NAME_CHARS} characters"]
    if len(rule.series) > MAX_RULE_SERIES_CHARS:
        return [f"alert rule {shown(rule.name)}: the series {shown(rule.series)} is longer than "
                f"{MAX_RULE_SERIES_CHARS} characters"]
    return []


def _never_fires(rule: AlertRule) -> list[str]:
    """A rule on a 0-100 % series whose threshold it can never cross (e.g. above 500 %)."""
    if not _PERCENT_SERIES.match(rule.series) or not math.isfinite(rule.threshold):
        return []
    if (rule.direction == "above" and rule.threshold >= 100.0) or (rule.direction == "below"
                                                                   and rule.threshold <= 0.0):
        return [f"alert rule {shown(rule.name)}: {rule.series} is a percentage (0–100 %), so "
                f"{rule.direction} {rule.threshold:g} % can never fire"]
    return []


def from_mapping(raw: Mapping[str, Any]) -> LoadResult:
    """Typed settings from a flat INI mapping. Never raises; see the module docstring."""
    raw = _normalise_keys(raw)
    problems: list[str] = []
    migrated_from: int | None = None
    version_raw = raw.get(VERSION_KEY)
    if version_raw is None:
        if any(key in raw for key in V0_KEYS):
            raw, migration_problems = migrate_v0(raw)
            problems.extend(migration_problems)
            migrated_from = 0
    else:
        try:
            version = int(parse_float(version_raw))
        except _Bad:
            version = SCHEMA_VERSION
            problems.append(f"schema version {shown(_as_text(version_raw))} is not a number; read as "
                            f"version {SCHEMA_VERSION}")
        if version > SCHEMA_VERSION:
            problems.append(f"file written by a newer PerfDeck (schema {version}); settings this version "
                            "does not know are ignored")
        elif version == 0:
            raw, migration_problems = migrate_v0(raw)
            problems.extend(migration_problems)
            migrated_from = 0

    defaults = Settings()
    values: dict[str, Any] = {}
    for f in FIELDS:
        if f.key not in raw:
            continue
        try:
            value = f.parse(raw[f.key])
            message = f.check(value)
        except _Bad as exc:
            message = str(exc)
        if message:
            problems.append(f"{f.label} {message}; reset to {f.dump(getattr(defaults, f.attr)) or 'default'}")
            continue
        values[f.attr] = value
    settings = replace(defaults, **values, alert_rules=_parse_rules(raw, problems))
    if settings.window_seconds > settings.history_seconds:
        window = min(defaults.window_seconds, settings.history_seconds)
        problems.append(f"default time window {settings.window_seconds:g} s is longer than the history "
                        f"({settings.history_seconds:g} s); reset to {window:g} s")
        settings = replace(settings, window_seconds=window)
    newer = version_raw is not None and "newer PerfDeck" in " ".join(problems)
    unknown = [] if newer else unknown_keys(raw)
    if unknown:
        names = ", ".join(shown(k) for k in unknown[:MAX_UNKNOWN_SHOWN])
        more = f" and {len(unknown) - MAX_UNKNOWN_SHOWN:,} more" if len(unknown) > MAX_UNKNOWN_SHOWN else ""
        problems.append(f"{len(unknown):,} unknown setting{'s' if len(unknown) > 1 else ''} ignored "
                        f"({names}{more})")
    return LoadResult(settings, tuple(_clip(p) for p in problems), migrated_from)


_ALERT_KEY = re.compile(r"^alerts/(size|[0-9]+/(" + "|".join(ALERT_FIELDS) + r"))$")


def unknown_keys(raw: Mapping[str, Any]) -> list[str]:
    """Keys (normalised) that this schema does not know, in file order."""
    known = {VERSION_KEY, *(f.key for f in FIELDS)}
    return [key for key in raw if key not in known and not _ALERT_KEY.match(key)]


# --- migration ------------------------------------------------------------------------------------
# Version 0 keys (lower-cased, as _normalise_keys gives them) and the series ids that were renamed.
# Version 0 kept most keys in the INI [General] section, which QSettings reports without a prefix.
V0_KEYS = (
    "refresh_ms", "history_minutes", "timespan_minutes", "minimize_to_tray", "start_hidden",
    "dark_theme", "tray_series", "autostart", "alerts/cpu_percent", "alerts/cpu_seconds", "export/folder",
)
V0_SERIES_RENAMES = {
    "cpu.total": "cpu.util.total",
    "mem.percent": "mem.used_pct",
    "mem.available_percent": "mem.available_pct",
    "ipc": "perf.ipc.total",
}


def migrate_v0(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Map a version-0 mapping onto version-1 keys. Values are converted, not validated (the
    normal validation follows). Returns the new mapping and the problems met on the way."""
    old = dict(raw)
    new: dict[str, Any] = {k: v for k, v in old.items() if k not in V0_KEYS}
    problems: list[str] = []

    def convert(key: str, target: str, fn: Callable[[Any], str]) -> None:
        if key not in old:
            return
        try:
            new[target] = fn(old[key])
        except _Bad as exc:
            problems.append(f"old setting {key} {exc}; reset to default")

    convert("refresh_ms", "sampling/interval", lambda v: repr(parse_float(v) / 1000.0))
    convert("history_minutes", "history/length", lambda v: repr(parse_float(v) * 60.0))
    convert("timespan_minutes", "history/window", lambda v: repr(parse_float(v) * 60.0))
    convert("minimize_to_tray", "tray/close_to_tray", lambda v: _dump_bool(parse_bool(v)))
    convert("start_hidden", "tray/start_minimized", lambda v: _dump_bool(parse_bool(v)))
    convert("dark_theme", "appearance/theme", lambda v: "dark" if parse_bool(v) else "system")
    convert("tray_series", "tray/metric",
            lambda v: V0_SERIES_RENAMES.get(_as_text(v), _as_text(v)))
    convert("autostart", "startup/at_login", lambda v: _dump_bool(parse_bool(v)))
    convert("export/folder", "export/directory", _as_text)
    if "alerts/cpu_percent" in old:
        # Version 0 had a single CPU alert; it becomes the first rule, the other defaults follow.
        try:
            threshold = parse_float(old["alerts/cpu_percent"])
            seconds = parse_float(old.get("alerts/cpu_seconds", "30"))
            if not 0.0 <= threshold < 100.0:  # CPU % never exceeds 100: such a rule could never fire
                raise _Bad(f"{threshold:g} % is outside 0–100 % (a CPU alert above it could never fire)")
            if not 0.0 <= seconds <= MAX_DURATION_SECONDS:
                raise _Bad(f"duration {seconds:g} s is outside 0–{MAX_DURATION_SECONDS:g} s")
            cpu_rule = AlertRule("CPU busy", "cpu.util.total", threshold, "above", duration=seconds,
                                 rearm=min(threshold, max(0.0, threshold - 10.0)))
            rules = (cpu_rule, *(r for r in DEFAULT_ALERT_RULES if r.name != "CPU busy"))
            new.update({k: v for k, v in to_mapping(replace(Settings(), alert_rules=rules)).items()
                        if k.startswith("alerts/")})
        except _Bad as exc:
            problems.append(f"old setting alerts/cpu_percent {exc}; default alert rules used")
    new[VERSION_KEY] = str(SCHEMA_VERSION)
    return new, problems


def export_directory(settings: Settings) -> Path:
    """The folder CSV exports default to: the setting, or the user's documents folder when empty."""
    if settings.export_directory:
        return Path(settings.export_directory)
    import platformdirs  # pure Python; only needed here

    return Path(platformdirs.user_documents_dir())


def field_keys() -> list[str]:
    """Every top-level key of the schema (not the alert array), for docs and tests."""
    return [VERSION_KEY, *(f.key for f in FIELDS)]

