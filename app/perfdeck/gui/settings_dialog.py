"""The Settings dialog: every setting of ``model.settings`` including an alert-rule editor.

Values are validated through the schema (``model.settings.validate``) before anything is applied:
a bad value is listed under the tabs and nothing changes until it is fixed. Apply and OK emit
``applied(Settings)``; the desktop integration saves them and applies what can change live
(sampling interval, theme, tray metric, alert rules, close-to-tray, start at login). Metric
families and the history length take effect at the next start, as the dialog says.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from perfdeck.gui.plots import TIME_WINDOWS
from perfdeck.model import settings as schema
from perfdeck.model.alerts import DIRECTIONS, AlertRule
from perfdeck.model.history import MAX_HISTORY_SECONDS, MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS
from perfdeck.model.names import family_name, human_name
from perfdeck.model.registry import FAMILIES
from perfdeck.model.settings import Settings

# The windows the main window's selector offers, so the default is always one it can show.
WINDOW_CHOICES: tuple[tuple[str, float], ...] = TIME_WINDOWS
COMMON_TRAY_METRICS = ("cpu.util.total", "mem.used_pct", "mem.available_pct", "perf.ipc.total",
                       "membw.total", "mem.swap.used_pct", "net.rx.total", "net.tx.total")
RULE_COLUMNS = ("On", "Name", "Series", "Condition", "Threshold", "Re-arm at", "For (s)",
                "Notify")


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


_LABELS: dict[str, str] = {}


def set_series_labels(labels: Mapping[str, str]) -> None:
    """The collectors' labels, for names the generic rules cannot make ("Tctl" for a sensor)."""
    _LABELS.update(labels)


def _name(series: str) -> str:
    return human_name(series, _LABELS.get(series, ""))


def series_item(series: str) -> QTableWidgetItem:
    """A rule's series cell: the human name shown, the id or glob kept (and in the tooltip)."""
    item = QTableWidgetItem(_name(series) if not is_glob(series) else series)
    item.setData(Qt.ItemDataRole.UserRole, series)
    item.setToolTip(series)
    return item


def series_of(item: QTableWidgetItem) -> str:
    """The id behind a series cell; text typed over the name (an id or a glob) wins."""
    series = item.data(Qt.ItemDataRole.UserRole)
    text = item.text().strip()
    if isinstance(series, str) and series and text == (series if is_glob(series) else _name(series)):
        return series
    return text


def is_glob(series: str) -> bool:
    return any(c in series for c in "*?[")


class SeriesPickerDelegate(QStyledItemDelegate):
    """Edits a series cell with a searchable list grouped by family ("Disks › sda read"); only
    series that exist here are listed, and any id or glob may still be typed."""

    def __init__(self, series_ids: Callable[[], Sequence[str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._series_ids = series_ids

    def createEditor(self, parent: QWidget, option: object, index: object) -> QWidget:
        combo = QComboBox(parent)
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for sid in sorted(self._series_ids(), key=lambda s: (family_name(s), _name(s))):
            combo.addItem(f"{family_name(sid)} › {_name(sid)}", sid)
            combo.setItemData(combo.count() - 1, sid, Qt.ItemDataRole.ToolTipRole)
        completer = combo.completer()
        completer.setFilterMode(Qt.MatchFlag.MatchContains)  # type "read" to find every disk read
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        return combo

    def setEditorData(self, editor: QWidget, index: object) -> None:
        series = index.data(Qt.ItemDataRole.UserRole) or index.data()
        found = editor.findData(series)
        if found >= 0:
            editor.setCurrentIndex(found)
        else:
            editor.setEditText(str(series or ""))

    def setModelData(self, editor: QWidget, model: object, index: object) -> None:
        text = editor.currentText().strip()
        found = editor.findText(text)
        series = str(editor.itemData(found)) if found >= 0 else text
        model.setData(index, series, Qt.ItemDataRole.UserRole)
        model.setData(index, _name(series) if not is_glob(series) else series, Qt.ItemDataRole.EditRole)
        model.setData(index, series, Qt.ItemDataRole.ToolTipRole)


class UnitSuffixDelegate(QStyledItemDelegate):
    """Shows a threshold with the unit of its row's series ("90 %", "85 °C"); edits the number."""

    def __init__(self, unit_of_row: Callable[[int], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._unit_of_row = unit_of_row

    def initStyleOption(self, option: object, index: object) -> None:
        super().initStyleOption(option, index)
        unit = self._unit_of_row(index.row())
        if unit and option.text:
            option.text = f"{option.text} {unit}"


class SettingsDialog(QDialog):
    """Edit ``Settings``. ``series_ids`` fills the tray-metric choices (any id may be typed)."""

    applied = Signal(object)  # Settings

    def __init__(self, settings: Settings, series_ids: Sequence[str] = (), tray_available: bool = True,
                 parent: QWidget | None = None, units: Mapping[str, str] | None = None,
                 labels: Mapping[str, str] | None = None) -> None:
        """``series_ids``: the series that exist here (offered in pickers); ``units`` and ``labels``:
        their units and collector labels (for the human names of sensors and the like)."""
        super().__init__(parent)
        self._series_list = list(series_ids)
        self._units = dict(units or {})
        set_series_labels(labels or {})
        self.setWindowTitle("PerfDeck Settings")
        self.setObjectName("settingsDialog")
        self._settings = settings
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget(self)
        layout.addWidget(self.tabs)
        self.tabs.addTab(self._general_page(), "General")
        self.tabs.addTab(self._tray_page(tray_available, series_ids), "Tray")
        self.tabs.addTab(self._alerts_page(), "Alerts")
        self.tabs.addTab(self._export_page(), "Export && startup")
        self.error_label = QLabel(self)
        self.error_label.setObjectName("settingsErrors")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("#settingsErrors { color: #d32f2f; }")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Apply
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        self.buttons = buttons
        layout.addWidget(buttons)
        self.load(settings)
        self.resize(720, 480)

    # --- pages ----------------------------------------------------------------------------------
    def _general_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        # Compact fields at their natural width, not stretched across the dialog.
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.interval = QDoubleSpinBox()
        self.interval.setRange(MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS)
        self.interval.setDecimals(2)
        self.interval.setSingleStep(0.1)
        self.interval.setSuffix(" s")
        self.interval.setToolTip("How often every metric is read (0.1–10 s). Applies at once.")
        form.addRow("Sampling interval:", self.interval)
        self.process_interval = QDoubleSpinBox()
        self.process_interval.setRange(schema.MIN_PROCESS_INTERVAL, schema.MAX_PROCESS_INTERVAL)
        self.process_interval.setDecimals(2)  # as the sampling interval above
        self.process_interval.setSuffix(" s")
        self.process_interval.setToolTip(
            "The process list costs more to read, so it refreshes at most this often")
        form.addRow("Process list refresh:", self.process_interval)
        self.history_minutes = QDoubleSpinBox()
        self.history_minutes.setRange(schema.MIN_HISTORY_SECONDS / 60, MAX_HISTORY_SECONDS / 60)
        self.history_minutes.setDecimals(0)
        self.history_minutes.setSuffix(" min")
        self.history_minutes.setToolTip("How much history is kept in memory (at most 24 h). "
                                        "Takes effect at the next start.")
        form.addRow("History length:", self.history_minutes)
        self.window_combo = QComboBox()
        for label, seconds in WINDOW_CHOICES:
            self.window_combo.addItem(label, seconds)
        self.window_combo.setToolTip("The time window plots show when PerfDeck starts")
        form.addRow("Default time window:", self.window_combo)
        self.theme = QComboBox()
        for name in schema.THEMES:
            self.theme.addItem(name.capitalize(), name)
        form.addRow("Theme:", self.theme)
        families = QGroupBox("Metric families (take effect at the next start)")
        family_layout = QGridLayout(families)
        self.family_boxes: dict[str, QCheckBox] = {}
        for index, fam in enumerate(FAMILIES):
            box = QCheckBox(fam.title)
            box.setToolTip(f"series ids {fam.name}.*")
            self.family_boxes[fam.name] = box
            family_layout.addWidget(box, index // 3, index % 3)
        form.addRow(families)
        return page

    def _tray_page(self, tray_available: bool, series_ids: Sequence[str]) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        if not tray_available:
            note = QLabel("This desktop has no system tray (on GNOME, the AppIndicator extension provides "
                          "one). These settings apply when a tray is available; until then closing the "
                          "window quits PerfDeck.")
            note.setWordWrap(True)
            form.addRow(note)
        self.close_to_tray = QCheckBox("Closing the window keeps PerfDeck running in the tray")
        form.addRow(self.close_to_tray)
        self.start_minimized = QCheckBox("Start hidden in the tray")
        form.addRow(self.start_minimized)
        self.tray_metric = QComboBox()
        self.tray_metric.setEditable(True)
        self.tray_metric.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        seen: list[str] = []
        present = set(series_ids)
        # Offer what exists here (the common ones first), by name; the id is the item's data.
        common = [s for s in COMMON_TRAY_METRICS if s in present] if present else list(COMMON_TRAY_METRICS)
        for series_id in (*common, *sorted(series_ids)):
            if series_id not in seen:
                seen.append(series_id)
                self.tray_metric.addItem(f"{_name(series_id)} ({family_name(series_id)})"
                                         if _name(series_id) != series_id else series_id, series_id)
                self.tray_metric.setItemData(len(seen) - 1, series_id, Qt.ItemDataRole.ToolTipRole)
        self.tray_metric.setToolTip("The series drawn in the tray icon: pick one, or type a series id")
        form.addRow("Tray icon shows:", self.tray_metric)
        return page

    def _alerts_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        help_text = QLabel(
            "A rule fires when the value stays beyond the threshold for the given seconds, and clears "
            "when it goes back beyond the re-arm level (empty: the threshold). The series may be a glob: "
            "sensors.temp.* watches every temperature. Missing values neither fire nor clear a rule.")
        help_text.setWordWrap(True)
        layout.addWidget(help_text)
        self.rules_table = QTableWidget(0, len(RULE_COLUMNS), page)
        self.rules_table.setHorizontalHeaderLabels(list(RULE_COLUMNS))
        # The series by name, picked from a searchable list of what exists here (a glob may be
        # typed); thresholds shown with the series' unit.
        self.series_delegate = SeriesPickerDelegate(self._series_ids, self.rules_table)
        self.rules_table.setItemDelegateForColumn(2, self.series_delegate)
        self.unit_delegate = UnitSuffixDelegate(self._unit_of_row, self.rules_table)
        for column in (4, 5):
            self.rules_table.setItemDelegateForColumn(column, self.unit_delegate)
        self.rules_table.verticalHeader().setVisible(False)
        self.rules_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.rules_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.rules_table, 1)
        row = QHBoxLayout()
        self.add_rule_button = QPushButton("Add rule")
        self.add_rule_button.clicked.connect(self.add_rule)
        self.remove_rule_button = QPushButton("Remove selected")
        self.remove_rule_button.clicked.connect(self.remove_selected_rules)
        self.default_rules_button = QPushButton("Restore default rules")
        self.default_rules_button.clicked.connect(lambda: self._set_rules(schema.DEFAULT_ALERT_RULES))
        for button in (self.add_rule_button, self.remove_rule_button, self.default_rules_button):
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        return page

    def _export_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        folder_row = QHBoxLayout()
        self.export_directory = QLineEdit()
        self.export_directory.setPlaceholderText("your documents folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_export_directory)
        folder_row.addWidget(self.export_directory, 1)
        folder_row.addWidget(browse)
        form.addRow("CSV export folder:", folder_row)
        self.export_average = QDoubleSpinBox()
        self.export_average.setRange(0.0, schema.MAX_EXPORT_AVERAGE_SECONDS)
        self.export_average.setDecimals(1)
        self.export_average.setSuffix(" s")
        self.export_average.setSpecialValueText("every sample")
        self.export_average.setToolTip("Average exported rows over this many seconds (0: one row per sample)")
        form.addRow("Export averaging:", self.export_average)
        self.start_at_login = QCheckBox("Start PerfDeck in the tray when I log in")
        self.start_at_login.setToolTip(f"Writes ~/.config/autostart/{schema.APP_ID}.desktop "
                                       "(XDG autostart); unticking removes it")
        form.addRow(self.start_at_login)
        return page

    # --- rules table ------------------------------------------------------------------------------
    def _set_rules(self, rules: Sequence[AlertRule]) -> None:
        self.rules_table.setRowCount(0)
        for rule in rules:
            self._append_rule_row(rule)

    def _append_rule_row(self, rule: AlertRule) -> None:
        table = self.rules_table
        row = table.rowCount()
        table.insertRow(row)
        for column, checked in ((0, rule.enabled), (7, rule.notify)):
            item = QTableWidgetItem()
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled
                          | Qt.ItemFlag.ItemIsSelectable)
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            table.setItem(row, column, item)
        table.setItem(row, 1, QTableWidgetItem(rule.name))
        table.setItem(row, 2, series_item(rule.series))
        combo = QComboBox()
        for direction in DIRECTIONS:
            combo.addItem(direction, direction)
        combo.setCurrentIndex(DIRECTIONS.index(rule.direction) if rule.direction in DIRECTIONS else 0)
        table.setCellWidget(row, 3, combo)
        table.setItem(row, 4, QTableWidgetItem(f"{rule.threshold:g}"))
        table.setItem(row, 5, QTableWidgetItem("" if rule.rearm is None else f"{rule.rearm:g}"))
        table.setItem(row, 6, QTableWidgetItem(f"{rule.duration:g}"))

    def add_rule(self) -> None:
        names = {self._cell(r, 1) for r in range(self.rules_table.rowCount())}
        n = 1
        while f"Rule {n}" in names:
            n += 1
        self._append_rule_row(AlertRule(f"Rule {n}", "cpu.util.total", 90.0, "above", duration=10.0))
        self.rules_table.scrollToBottom()
        self.rules_table.editItem(self.rules_table.item(self.rules_table.rowCount() - 1, 1))

    def remove_selected_rules(self) -> None:
        rows = sorted({index.row() for index in self.rules_table.selectedIndexes()}, reverse=True)
        for row in rows:
            self.rules_table.removeRow(row)

    def _cell(self, row: int, column: int) -> str:
        item = self.rules_table.item(row, column)
        return item.text().strip() if item is not None else ""

    def _series_ids(self) -> list[str]:
        return self._series_list

    def _series(self, row: int) -> str:
        """The rule's series id or glob: the picked id, or what was typed in its place."""
        item = self.rules_table.item(row, 2)
        return series_of(item) if item is not None else ""

    def _unit_of_row(self, row: int) -> str:
        series = self._series(row)
        if is_glob(series):  # a glob's unit is its series' unit (sensors.temp.* -> °C)
            series = next((sid for sid in self._series_list if fnmatch.fnmatchcase(sid, series)), series)
        return self._units.get(series, "")

    def _checked(self, row: int, column: int) -> bool:
        item = self.rules_table.item(row, column)
        return item is not None and item.checkState() == Qt.CheckState.Checked

    def _rules(self, problems: list[str]) -> tuple[AlertRule, ...]:
        rules = []
        for row in range(self.rules_table.rowCount()):
            name = self._cell(row, 1) or f"Rule {row + 1}"
            numbers = {}
            for column, label in ((4, "threshold"), (5, "re-arm level"), (6, "duration")):
                text = self._cell(row, column)
                if column == 5 and not text:
                    numbers[label] = None
                    continue
                value = _number(text)
                if value is None:
                    problems.append(f"alert rule {name!r}: {label} {text!r} is not a number")
                numbers[label] = value
            if any(numbers[k] is None for k in ("threshold", "duration")) or (
                    self._cell(row, 5) and numbers["re-arm level"] is None):
                continue
            combo = self.rules_table.cellWidget(row, 3)
            direction = combo.currentData() if isinstance(combo, QComboBox) else "above"
            rules.append(AlertRule(name, self._series(row), float(numbers["threshold"] or 0.0), direction,
                                   duration=float(numbers["duration"] or 0.0), rearm=numbers["re-arm level"],
                                   enabled=self._checked(row, 0), notify=self._checked(row, 7)))
        return tuple(rules)

    # --- load / collect / apply --------------------------------------------------------------------
    def load(self, settings: Settings) -> None:
        """Show ``settings`` in the widgets."""
        self.interval.setValue(settings.interval)
        self.process_interval.setValue(settings.process_interval)
        self.history_minutes.setValue(round(settings.history_seconds / 60))
        index = self.window_combo.findData(settings.window_seconds)
        if index < 0:
            self.window_combo.addItem(f"{settings.window_seconds:g} s", settings.window_seconds)
            index = self.window_combo.count() - 1
        self.window_combo.setCurrentIndex(index)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))
        for name, box in self.family_boxes.items():
            box.setChecked(name in settings.families)
        self.close_to_tray.setChecked(settings.close_to_tray)
        self.start_minimized.setChecked(settings.start_minimized)
        index = self.tray_metric.findData(settings.tray_metric)
        if index >= 0:
            self.tray_metric.setCurrentIndex(index)
        else:
            self.tray_metric.setEditText(settings.tray_metric)
        self._set_rules(settings.alert_rules)
        self.export_directory.setText(settings.export_directory)
        self.export_average.setValue(settings.export_average_seconds)
        self.start_at_login.setChecked(settings.start_at_login)
        self._show_problems([])

    def tray_metric_id(self) -> str:
        """The picked series' id, or the id typed into the box."""
        text = self.tray_metric.currentText().strip()
        index = self.tray_metric.currentIndex()
        if index >= 0 and self.tray_metric.itemText(index) == text:
            return str(self.tray_metric.itemData(index))
        found = self.tray_metric.findText(text)
        return str(self.tray_metric.itemData(found)) if found >= 0 else text

    def collect(self) -> tuple[Settings, list[str]]:
        """The settings the widgets describe, and every problem with them (empty when valid)."""
        problems: list[str] = []
        rules = self._rules(problems)
        # From the last applied settings, so a setting edited elsewhere (the Memory bandwidth tab's
        # peak line) is kept as it is.
        settings = replace(
            self._settings,
            interval=round(self.interval.value(), 3),
            process_interval=round(self.process_interval.value(), 3),
            history_seconds=self.history_minutes.value() * 60.0,
            window_seconds=float(self.window_combo.currentData()),
            families=tuple(name for name, box in self.family_boxes.items() if box.isChecked()),
            close_to_tray=self.close_to_tray.isChecked(),
            start_minimized=self.start_minimized.isChecked(),
            tray_metric=self.tray_metric_id(),
            theme=str(self.theme.currentData()),
            export_directory=self.export_directory.text().strip(),
            export_average_seconds=self.export_average.value(),
            start_at_login=self.start_at_login.isChecked(),
            alert_rules=rules,
        )
        problems.extend(schema.validate(settings))
        return settings, problems

    def apply(self) -> bool:
        """Validate and emit ``applied``. Returns False (and lists the problems) when invalid."""
        settings, problems = self.collect()
        self._show_problems(problems)
        if problems:
            return False
        self._settings = settings
        self.applied.emit(settings)
        return True

    def accept(self) -> None:
        if self.apply():
            super().accept()

    def _show_problems(self, problems: list[str]) -> None:
        if problems:
            self.error_label.setText("Not applied; please fix:\n• " + "\n• ".join(problems))
            self.error_label.show()
        else:
            self.error_label.clear()
            self.error_label.hide()

    @property
    def settings(self) -> Settings:
        """The last settings applied (or loaded)."""
        return self._settings

    def set_base(self, settings: Settings) -> None:
        """Settings changed outside the dialog: keep them for the fields the dialog does not edit."""
        self._settings = settings

    def _browse_export_directory(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "CSV export folder", self.export_directory.text())
        if folder:
            self.export_directory.setText(folder)
