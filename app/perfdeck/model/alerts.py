"""Alert rules and the engine that evaluates them on snapshots. Pure Python, no Qt.

A rule watches every series whose id matches ``series`` (an exact id or a glob such as
``sensors.temp.*``) and fires when the value stays beyond ``threshold`` (``above`` or ``below``)
for ``duration`` seconds. Once fired it clears only when the value goes back beyond ``rearm``
(hysteresis): a CPU alert at 90 % with ``rearm`` 80 % does not flap while the load hovers at 89-91 %.

Missing values: a tick where a series has no value (``None``, NaN, or the series absent) is
ignored, as if that tick had not happened. It neither fires, nor clears, nor restarts the
duration count. Why: a rate's first read, a sensor that skipped a read or a paused collector says
nothing about the condition, and clearing on a gap would send a false "back to normal" followed by
a second "fired" notification on the next real value. The duration is measured between real
values, so a condition that held on both sides of a short gap still fires.

Each (rule, series) pair has its own state, so ``sensors.temp.*`` > 85 °C fires once per hot
sensor and names it. The engine measures durations on ``Snapshot.monotonic`` (immune to wall-clock
jumps) and stamps events with ``Snapshot.timestamp`` (wall clock, for the log).
"""

from __future__ import annotations

import enum
import fnmatch
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from perfdeck.model.names import human_name
from perfdeck.model.series import SeriesSpec, Snapshot

DIRECTIONS = ("above", "below")
# A series id or glob: dotted lower-case family then parts; globs may use * ? and [...].
_SERIES_PATTERN = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_\-*?\[\]!]+)*$|^\*$")
MAX_DURATION_SECONDS = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One user rule. ``rearm`` defaults to ``threshold`` (no hysteresis) when None."""

    name: str
    series: str
    threshold: float
    direction: str = "above"
    duration: float = 0.0
    rearm: float | None = None
    enabled: bool = True
    notify: bool = True

    @property
    def rearm_level(self) -> float:
        return self.threshold if self.rearm is None else self.rearm

    def breached(self, value: float) -> bool:
        """True when ``value`` is beyond the threshold (strictly)."""
        return value > self.threshold if self.direction == "above" else value < self.threshold

    def recovered(self, value: float) -> bool:
        """True when ``value`` is back beyond the re-arm level (strictly), so the alert clears."""
        level = self.rearm_level
        return value < level if self.direction == "above" else value > level

    def matches(self, series_id: str) -> bool:
        return fnmatch.fnmatchcase(series_id, self.series)

    @property
    def is_glob(self) -> bool:
        return any(ch in self.series for ch in "*?[")

    def describe(self, unit: str = "") -> str:
        """Human form, e.g. ``CPU busy above 90 % for 30 s (clears below 80 %)``; a glob stays
        as written (``sensors.temp.* above 85 °C``)."""
        suffix = f" {unit}" if unit else ""
        what = self.series if self.is_glob else human_name(self.series)
        text = f"{what} {self.direction} {self.threshold:g}{suffix}"
        if self.duration:
            text += f" for {self.duration:g} s"
        if self.rearm is not None and self.rearm != self.threshold:
            back = "below" if self.direction == "above" else "above"
            text += f" (clears {back} {self.rearm:g}{suffix})"
        return text


def validate_rule(rule: AlertRule) -> list[str]:
    """Every problem with ``rule`` as one sentence each; empty when the rule is usable."""
    problems: list[str] = []
    label = f"alert rule {rule.name!r}" if rule.name else "alert rule"
    if not rule.name.strip():
        problems.append("alert rule has no name")
    if not _SERIES_PATTERN.match(rule.series or ""):
        problems.append(f"{label}: {rule.series!r} is not a series id or glob (e.g. cpu.util.total, "
                        "sensors.temp.*)")
    if rule.direction not in DIRECTIONS:
        problems.append(f"{label}: direction must be 'above' or 'below', not {rule.direction!r}")
    if not _finite(rule.threshold):
        problems.append(f"{label}: threshold must be a number")
    if not _finite(rule.duration) or not 0 <= rule.duration <= MAX_DURATION_SECONDS:
        problems.append(f"{label}: duration must be 0 to {MAX_DURATION_SECONDS:g} s, not {rule.duration!r}")
    if rule.rearm is not None:
        if not _finite(rule.rearm):
            problems.append(f"{label}: re-arm level must be a number")
        elif _finite(rule.threshold) and rule.direction == "above" and rule.rearm > rule.threshold:
            problems.append(f"{label}: re-arm level {rule.rearm:g} must be at or below the threshold "
                            f"{rule.threshold:g} for an 'above' rule")
        elif _finite(rule.threshold) and rule.direction == "below" and rule.rearm < rule.threshold:
            problems.append(f"{label}: re-arm level {rule.rearm:g} must be at or above the threshold "
                            f"{rule.threshold:g} for a 'below' rule")
    return problems


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class EventKind(enum.Enum):
    FIRED = "fired"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert fired or cleared on one series.

    ``timestamp`` is the wall-clock time of the tick that decided it; ``since`` the wall-clock time
    the condition started to hold (fired) or the alert fired (cleared); ``value`` the value that
    decided it (None when a rule was removed or edited while firing).
    """

    kind: EventKind
    rule: AlertRule
    series_id: str
    timestamp: float
    value: float | None
    since: float
    unit: str = ""
    label: str = ""
    note: str = ""

    @property
    def what(self) -> str:
        """The series by its human name ("CPU busy", not cpu.util.total)."""
        return human_name(self.series_id, self.label)

    def _amount(self, value: float | None) -> str:
        if value is None:
            return "no value"
        return f"{value:.3g} {self.unit}".rstrip() if self.unit != "%" else f"{value:.3g} %"

    @property
    def summary(self) -> str:
        """A notification title that says what happened, e.g. ``CPU busy: 97 % for 2 s (threshold 90 %)``."""
        held = max(0.0, self.timestamp - self.since)
        threshold = self._amount(self.rule.threshold)
        if self.kind is EventKind.FIRED:
            lasting = f" for {held:.0f} s" if held >= 1 else ""  # a rule with no duration fires at once
            return f"{self.what}: {self._amount(self.value)}{lasting} (threshold {threshold})"
        return f"{self.what} back to normal: {self._amount(self.value)}"

    @property
    def body(self) -> str:
        """A notification body: the value, the rule and, as a secondary detail, the series id."""
        unit = f" {self.unit}" if self.unit else ""
        held = max(0.0, self.timestamp - self.since)
        value = "no value" if self.value is None else f"{self.value:.4g}{unit}"
        rule = self.series_id  # the id is the secondary detail
        if self.rule.name:
            rule = f"Rule \u201c{self.rule.name}\u201d \u00b7 {self.series_id}"
        if self.kind is EventKind.FIRED:
            return (f"{self.what} is {value}, {self.rule.direction} {self.rule.threshold:g}{unit} "
                    f"for {held:.0f} s.\n{rule}")
        if self.note:
            return f"{self.what}: {self.note}.\n{rule}"
        return f"{self.what} is back to {value} (the alert lasted {held:.0f} s).\n{rule}"


@dataclass(slots=True)
class _State:
    pending_since: float | None = None  # monotonic time the condition started to hold
    pending_since_wall: float | None = None
    firing_since_wall: float | None = None  # wall-clock time it fired; None when armed

    @property
    def firing(self) -> bool:
        return self.firing_since_wall is not None


@dataclass(slots=True)
class ActiveAlert:
    rule: AlertRule
    series_id: str
    since: float  # wall clock


@dataclass
class AlertEngine:
    """Evaluates rules on each snapshot and returns the fired/cleared events of that tick.

    Pure and deterministic: feed it replayed snapshots and it gives the same events.
    """

    rules: list[AlertRule] = field(default_factory=list)
    _states: dict[tuple[AlertRule, str], _State] = field(default_factory=dict, init=False, repr=False)
    # Series ids seen so far, and those some rule watches (with its rules). Recomputed only for ids
    # not seen before, so a tick costs a C-level set difference plus the watched series.
    _known: set[str] = field(default_factory=set, init=False, repr=False)
    _watched: dict[str, tuple[AlertRule, ...]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rules = [r for r in self.rules if r.enabled]

    def set_rules(self, rules: Iterable[AlertRule], timestamp: float = 0.0) -> list[AlertEvent]:
        """Replace the rules. Unchanged rules keep their state (a firing alert stays firing);
        a firing alert whose rule was removed, edited or disabled is cleared with a note."""
        new_rules = [r for r in rules if r.enabled]
        kept = set(new_rules)
        events = []
        for (rule, series_id), state in list(self._states.items()):
            if rule in kept:
                continue
            if state.firing:
                events.append(AlertEvent(EventKind.CLEARED, rule, series_id, timestamp, None,
                                         state.firing_since_wall,
                                         note="rule removed, disabled or edited"))
            del self._states[(rule, series_id)]
        self.rules = new_rules
        self._known.clear()
        self._watched.clear()
        return events

    def _learn(self, series_ids: Iterable[str]) -> None:
        for series_id in series_ids:
            self._known.add(series_id)
            rules = tuple(r for r in self.rules if r.matches(series_id))
            if rules:
                self._watched[series_id] = rules

    def feed(self, monotonic: float, timestamp: float, values: Mapping[str, float | None],
             specs: Mapping[str, SeriesSpec] | None = None) -> list[AlertEvent]:
        """Evaluate one tick. ``monotonic`` measures durations, ``timestamp`` stamps events."""
        events: list[AlertEvent] = []
        if not self.rules:
            return events
        new_ids = values.keys() - self._known
        if new_ids:
            self._learn(new_ids)
        for series_id, rules in self._watched.items():
            value = values.get(series_id)
            if value is None or not math.isfinite(value):
                continue  # missing values are ignored: see the module docstring
            for rule in rules:
                event = self._step(rule, series_id, float(value), monotonic, timestamp, specs)
                if event is not None:
                    events.append(event)
        return events

    def feed_snapshot(self, snapshot: Snapshot) -> list[AlertEvent]:
        return self.feed(snapshot.monotonic, snapshot.timestamp, snapshot.values, snapshot.specs)

    def _step(self, rule: AlertRule, series_id: str, value: float, monotonic: float, timestamp: float,
              specs: Mapping[str, SeriesSpec] | None) -> AlertEvent | None:
        key = (rule, series_id)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State()
        spec = specs.get(series_id) if specs else None
        unit, label = (spec.unit, spec.label) if spec else ("", "")
        if state.firing:
            if rule.recovered(value):
                since = state.firing_since_wall
                state.firing_since_wall = None
                state.pending_since = state.pending_since_wall = None
                return AlertEvent(EventKind.CLEARED, rule, series_id, timestamp, value, since, unit, label)
            return None
        if not rule.breached(value):
            state.pending_since = state.pending_since_wall = None
            return None
        if state.pending_since is None:
            state.pending_since, state.pending_since_wall = monotonic, timestamp
        if monotonic - state.pending_since >= rule.duration:
            state.firing_since_wall = timestamp
            since = timestamp if state.pending_since_wall is None else state.pending_since_wall
            return AlertEvent(EventKind.FIRED, rule, series_id, timestamp, value, since, unit, label)
        return None

    def active(self) -> list[ActiveAlert]:
        """Alerts firing now, oldest first."""
        firing = [ActiveAlert(rule, sid, st.firing_since_wall) for (rule, sid), st in self._states.items()
                  if st.firing_since_wall is not None]
        return sorted(firing, key=lambda a: a.since)


@dataclass(slots=True)
class AlertLogEntry:
    """One alert episode: when it fired and, once it has, when it cleared."""

    rule_name: str
    series_id: str
    fired_at: float
    fired_value: float | None
    unit: str = ""
    description: str = ""
    direction: str = "above"
    cleared_at: float | None = None
    cleared_value: float | None = None
    peak: float | None = None
    note: str = ""


class AlertLog:
    """The episodes of the session, newest last, capped so it cannot grow without bound."""

    def __init__(self, max_entries: int = 1000) -> None:
        self.max_entries = max_entries
        self.entries: list[AlertLogEntry] = []
        self._open: dict[tuple[str, str], AlertLogEntry] = {}
        self.revision = 0  # bumped on every change, so a view redraws only when needed

    def record(self, events: Sequence[AlertEvent]) -> None:
        for event in events:
            key = (event.rule.name, event.series_id)
            if event.kind is EventKind.FIRED:
                entry = AlertLogEntry(event.rule.name, event.series_id, event.timestamp, event.value,
                                      event.unit, event.rule.describe(event.unit), event.rule.direction,
                                      peak=event.value)
                self.entries.append(entry)
                self._open[key] = entry
                if len(self.entries) > self.max_entries:
                    dropped = self.entries.pop(0)
                    self._open = {k: e for k, e in self._open.items() if e is not dropped}
            else:
                entry = self._open.pop(key, None)
                if entry is not None:
                    entry.cleared_at = event.timestamp
                    entry.cleared_value = event.value
                    entry.note = event.note
            self.revision += 1

    def observe_value(self, series_id: str, rule_name: str, value: float | None) -> None:
        """Track the worst value of an open episode (called for firing series only)."""
        entry = self._open.get((rule_name, series_id))
        if entry is None or value is None or not math.isfinite(value):
            return
        if entry.peak is None:
            entry.peak = value
            self.revision += 1
            return
        worse = value > entry.peak if entry.direction == "above" else value < entry.peak
        if worse:
            entry.peak = value
            self.revision += 1

    def open_entries(self) -> list[AlertLogEntry]:
        return list(self._open.values())
