"""Alerts: the monitor that evaluates rules on every snapshot, and the tab that lists episodes.

``AlertMonitor`` runs for every snapshot whether the window is shown or hidden in the tray (it is
connected to the sampler by ``perfdeck.gui.integration``), feeds ``model.alerts.AlertEngine``,
keeps an ``AlertLog`` and sends a notification for each fired or cleared alert whose rule asks for
one. ``AlertsView`` is the "Alerts" tab: when each alert fired and cleared, the value that fired
it, the worst value while it lasted, and the rules in force.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.model.alerts import AlertEngine, AlertEvent, AlertLog, AlertLogEntry, AlertRule, EventKind
from perfdeck.model.names import human_name
from perfdeck.model.series import Snapshot
from perfdeck.model.units import format_value

NotifyFn = Callable[[object, str, str], None]


class AlertMonitor(QObject):
    """Evaluates alert rules on each snapshot. Signals ``events(list[AlertEvent])`` when any happen."""

    events = Signal(list)

    def __init__(self, rules: Sequence[AlertRule], notify: NotifyFn | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = AlertEngine(list(rules))
        self.log = AlertLog()
        self.rules: tuple[AlertRule, ...] = tuple(rules)
        self._notify = notify

    def set_notify(self, notify: NotifyFn | None) -> None:
        self._notify = notify

    def set_rules(self, rules: Sequence[AlertRule]) -> None:
        self.rules = tuple(rules)
        self._handle(self.engine.set_rules(rules, timestamp=time.time()))

    def observe(self, snapshot: Snapshot) -> None:
        events = self.engine.feed_snapshot(snapshot)
        for entry in self.log.open_entries():
            self.log.observe_value(entry.series_id, entry.rule_name, snapshot.value(entry.series_id))
        self._handle(events)

    def _handle(self, events: list[AlertEvent]) -> None:
        if not events:
            return
        self.log.record(events)
        if self._notify is not None:
            for event in events:
                if event.rule.notify:
                    self._notify((event.rule.name, event.series_id), event.summary, event.body)
        self.events.emit(events)

    def active_names(self) -> list[str]:
        """``rule (series)`` for every alert firing now."""
        return [f"{a.rule.name} ({a.series_id})" if a.rule.is_glob else a.rule.name
                for a in self.engine.active()]


def _time(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class AlertsView(View):
    """The Alerts tab. Needs ``attach(monitor)``; until then it says alerts are not running."""

    COLUMNS = ("Fired", "Cleared", "Lasted", "Rule", "Series", "Value", "Worst", "Condition")

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.monitor: AlertMonitor | None = None
        self._shown_revision = -1
        self._edit_rules: Callable[[], None] | None = None
        layout = QVBoxLayout(self)
        self.not_running = UnavailableLabel(self)
        self.not_running.set_unavailable(
            "alert rules are evaluated by PerfDeck's desktop integration, which is not running in this "
            "window", "Alerts")
        layout.addWidget(self.not_running)
        top = QHBoxLayout()
        self.summary = QLabel("No alert has fired in this session.")
        self.summary.setWordWrap(True)
        top.addWidget(self.summary, 1)
        self.edit_button = QPushButton("Edit rules…")
        self.edit_button.setEnabled(False)
        self.edit_button.clicked.connect(lambda: self._edit_rules() if self._edit_rules else None)
        top.addWidget(self.edit_button)
        layout.addLayout(top)
        self.table = QTableWidget(0, len(self.COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        self.rules_label = QLabel()
        self.rules_label.setWordWrap(True)
        self.rules_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.rules_label)

    def attach(self, monitor: AlertMonitor, edit_rules: Callable[[], None] | None = None) -> None:
        """Show ``monitor``'s log; ``edit_rules`` opens the settings dialog on the rules."""
        self.monitor = monitor
        self._edit_rules = edit_rules
        self.edit_button.setEnabled(edit_rules is not None)
        self.not_running.set_unavailable(None)
        monitor.events.connect(lambda _events: self._redraw_if_visible())
        self._shown_revision = -1
        self._redraw()

    def _redraw_if_visible(self) -> None:
        if self.isVisible():
            self._redraw()

    def refresh(self, snapshot: Snapshot) -> None:
        self._redraw()

    def _redraw(self) -> None:
        monitor = self.monitor
        if monitor is None:
            return
        self._update_rules_label(monitor)
        if monitor.log.revision == self._shown_revision and self.table.rowCount():
            self._update_open_rows(monitor)
            return
        self._shown_revision = monitor.log.revision
        entries = list(reversed(monitor.log.entries))  # newest first
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            for column, text in enumerate(self._row(entry)):
                item = QTableWidgetItem(text)
                if column in (5, 6):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        active = monitor.active_names()
        fired = len(monitor.log.entries)
        if active:
            self.summary.setText(f"Firing now: {', '.join(active)}. {fired} alert(s) this session.")
        elif fired:
            self.summary.setText(f"Nothing firing now. {fired} alert(s) this session.")
        else:
            self.summary.setText("No alert has fired in this session.")

    def _update_open_rows(self, monitor: AlertMonitor) -> None:
        """Only the 'Lasted' and 'Worst' cells of open episodes change between events."""
        entries = list(reversed(monitor.log.entries))
        for row, entry in enumerate(entries):
            if entry.cleared_at is not None:
                continue
            texts = self._row(entry)
            for column in (2, 6):
                item = self.table.item(row, column)
                if item is not None:
                    item.setText(texts[column])

    @staticmethod
    def _row(entry: AlertLogEntry) -> list[str]:
        end = entry.cleared_at if entry.cleared_at is not None else time.time()
        lasted = _duration(end - entry.fired_at) + ("" if entry.cleared_at is not None else " (ongoing)")
        cleared = _time(entry.cleared_at) if entry.cleared_at is not None else "firing"
        if entry.note:
            cleared += f" ({entry.note})"
        return [_time(entry.fired_at), cleared, lasted, entry.rule_name, human_name(entry.series_id),
                format_value(entry.fired_value, entry.unit), format_value(entry.peak, entry.unit),
                entry.description]

    def _update_rules_label(self, monitor: AlertMonitor) -> None:
        enabled = [r for r in monitor.rules if r.enabled]
        described = "; ".join(f"{r.name}: {r.describe()}" for r in enabled)
        text = "Rules: " + (described or "none enabled")
        if self.rules_label.text() != text:
            self.rules_label.setText(text)

    def latest_event_kinds(self) -> list[EventKind]:
        """For tests: the kinds of the episodes shown, newest first (fired or cleared)."""
        if self.monitor is None:
            return []
        return [EventKind.FIRED if e.cleared_at is None else EventKind.CLEARED
                for e in reversed(self.monitor.log.entries)]
