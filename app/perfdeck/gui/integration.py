"""Desktop integration: settings, tray icon, alerts and notifications wired to the main window.

``run_gui`` calls ``load_settings()`` before building the window (interval, history, families,
theme come from it) and ``install_desktop(window, stored)`` after. Everything lives here so the
window itself stays unaware of trays and settings files:

* alert rules run on every snapshot (``views.alerts.AlertMonitor``), shown or hidden;
* fired/cleared alerts become desktop notifications (``gui.notify``), or tray balloons;
* a tray icon (``gui.tray``) when the desktop has a tray: closing the window hides it there
  (``close_to_tray``), Quit is in its menu; with no tray, closing the window quits as usual;
* File > Settings… and the tray's Settings… open ``gui.settings_dialog``; applied settings are
  saved and take effect live where that makes sense.

While the window is hidden the views are not redrawn (``MainWindow`` only redraws a shown
window), so PerfDeck in the tray costs the sampling plus one 16–48 px icon per second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from perfdeck import autostart
from perfdeck.gui.notify import Notifier
from perfdeck.gui.settings_dialog import SettingsDialog
from perfdeck.gui.settings_store import SettingsStore, StoreResult
from perfdeck.gui.tray import TrayActions, TrayController
from perfdeck.gui.views.alerts import AlertMonitor, AlertsView
from perfdeck.gui.views.membw import MemoryBandwidthView
from perfdeck.model.series import Snapshot
from perfdeck.model.settings import Settings

log = logging.getLogger(__name__)

# Recording and export come from gui.recording: ``window.recording`` (``toggle()``, ``is_recording``,
# ``export_csv()``, signal ``state_changed``). Failing that, window QActions under these names are
# triggered (a checkable one for recording). Either way the window menu, the status bar and the tray
# agree, because they all drive the same controller.
RECORD_ACTION_NAMES = ("record_action", "recording_action")
EXPORT_ACTION_NAMES = ("export_action", "export_csv_action")


def load_settings(path: Path | None = None) -> tuple[SettingsStore, StoreResult]:
    """Open the settings file (default location unless ``path``) and load it. Never raises."""
    store = SettingsStore(path)
    return store, store.load()


class DesktopIntegration(QObject):
    """Owns the tray, the alert monitor, the notifier and the settings dialog of one window."""

    def __init__(self, window: object, store: SettingsStore, stored: StoreResult,
                 tray_available: bool | None = None) -> None:
        super().__init__(window)  # type: ignore[arg-type]
        from perfdeck.gui.mainwindow import MainWindow  # the window module imports pyqtgraph

        assert isinstance(window, MainWindow)
        self.window = window
        self.store = store
        self.settings: Settings = stored.settings
        self.dialog: SettingsDialog | None = None
        self._told_hidden = False
        self._shut_down = False
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        self.app = app
        # Other components (the CSV export dialog) read the current settings here.
        window.desktop = self  # type: ignore[attr-defined]
        self.request_quit: Callable[[], None] = app.quit  # replaceable in tests

        self.notifier = Notifier(parent=self)
        self.monitor = AlertMonitor(self.settings.alert_rules, notify=self.notifier.notify, parent=self)
        available = QSystemTrayIcon.isSystemTrayAvailable() if tray_available is None else tray_available
        self.tray: TrayController | None = None
        if available:
            self.tray = TrayController(self._tray_actions(), self.settings.tray_metric, parent=self)
            self.tray.show()
            self.notifier.tray = self.tray.icon
            # A hidden window must not end the app when, say, the Settings dialog closes.
            app.setQuitOnLastWindowClosed(False)
            self.monitor.events.connect(self._on_alert_events)
            window.sampler.paused_changed.connect(lambda _p: self.tray and self.tray.refresh_now())
        else:
            app.setQuitOnLastWindowClosed(True)  # a plain window app: closing the window quits
        window.close_hooks.append(self._close_hook)
        window.sampler.snapshot.connect(self._on_snapshot)
        window.sampler.interval_changed.connect(self._remember_interval)
        window.about_to_shut_down.connect(self.shutdown)

        self.settings_action = QAction("&Settings…", window)
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.triggered.connect(lambda: self.open_settings())
        window.add_file_action(self.settings_action)
        # Tabs are built when first shown: attach the ones that exist and each one created later.
        for view in window.views.values():
            self._attach_view(view)
        window.view_created.connect(lambda _title, view: self._attach_view(view))
        self._apply_process_interval(self.settings.process_interval)
        for action in self._theme_actions():
            action.triggered.connect(lambda _checked=False, a=action: self._remember_theme(a.text().lower()))
        self._sync_window_menus()
        if stored.note:
            window.context.show_message(stored.note, 30000)

    # --- recording and CSV export (gui.recording), looked up each time the menu opens ------------
    def _tray_actions(self) -> TrayActions:
        return TrayActions(
            toggle_window=self.toggle_window,
            window_visible=self.window_visible,
            set_paused=self.set_sampling_paused,
            is_paused=lambda: self.window.sampler.paused,
            open_settings=lambda: self.open_settings(),
            quit=self.quit,
            toggle_recording=self._toggle_recording,
            is_recording=self._is_recording,
            export_csv=self._export_csv,
            recording_unavailable=lambda: self._unavailable("toggle", RECORD_ACTION_NAMES, "recording"),
            export_unavailable=lambda: self._unavailable("export_csv", EXPORT_ACTION_NAMES, "CSV export"),
        )

    def _recording(self) -> object | None:
        """``window.recording``: the controller ``gui.recording.install_recording`` sets."""
        return getattr(self.window, "recording", None)

    def _window_action(self, names: tuple[str, ...]) -> QAction | None:
        for name in names:
            action = getattr(self.window, name, None)
            if isinstance(action, QAction):
                return action
        return None

    def _unavailable(self, method: str, names: tuple[str, ...], what: str) -> str:
        if callable(getattr(self._recording(), method, None)):
            return ""
        action = self._window_action(names)
        if action is None:
            return f"{what} is not available in this build"
        if not action.isEnabled():
            return action.toolTip() or f"{what} is not available right now"
        return ""

    def _toggle_recording(self) -> None:
        toggle = getattr(self._recording(), "toggle", None)
        if callable(toggle):
            toggle()
            return
        action = self._window_action(RECORD_ACTION_NAMES)
        if action is not None and action.isEnabled():
            action.trigger()

    def _export_csv(self) -> None:
        export = getattr(self._recording(), "export_csv", None)
        if callable(export):
            export()
            return
        action = self._window_action(EXPORT_ACTION_NAMES)
        if action is not None and action.isEnabled():
            action.trigger()

    def _is_recording(self) -> bool:
        recording = self._recording()
        if recording is not None and hasattr(recording, "is_recording"):
            state = recording.is_recording
            return bool(state() if callable(state) else state)
        action = self._window_action(RECORD_ACTION_NAMES)
        return bool(action is not None and action.isCheckable() and action.isChecked())

    # --- window / sampling ---------------------------------------------------------------------------
    def window_visible(self) -> bool:
        return self.window.isVisible() and not self.window.isMinimized()

    def show_window(self) -> None:
        w = self.window
        w.show()
        w.setWindowState((w.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive)
        w.raise_()
        w.activateWindow()

    def toggle_window(self) -> None:
        if self.window_visible():
            self.window.hide()
        else:
            self.show_window()

    def set_sampling_paused(self, paused: bool) -> None:
        action = getattr(self.window, "pause_sampling_action", None)
        if isinstance(action, QAction):
            action.setChecked(paused)  # keeps the window's View menu in step; it pauses the sampler
        if self.window.sampler.paused != paused:
            if paused:
                self.window.sampler.pause()
            else:
                self.window.sampler.resume()

    def quit(self) -> None:
        self.window.quit_app()

    def start(self, minimized: bool = False) -> None:
        """Show the window, or leave only the tray icon when starting minimised with a tray."""
        if minimized and self.tray is not None:
            self.window.context.show_message("started hidden in the tray", 5000)
            return
        if minimized:
            self.window.showMinimized()
            self.window.context.show_message("no system tray here: started minimised instead", 15000)
            return
        self.window.show()

    def _close_hook(self, _event: QCloseEvent) -> bool:
        tray = self.tray
        if (tray is not None and self.settings.close_to_tray and tray.icon.isVisible()
                and QSystemTrayIcon.isSystemTrayAvailable()):
            self.window.hide()
            if not self._told_hidden:
                self._told_hidden = True
                tray.show_message("PerfDeck is still running",
                                  "Sampling and alerts continue. Quit from the tray icon's menu.")
            return True
        # No tray (or not wanted): closing the window quits, even if a dialog is still open.
        self.app.setQuitOnLastWindowClosed(True)
        QTimer.singleShot(0, lambda: self.request_quit())
        return False

    # --- data -------------------------------------------------------------------------------------
    def _on_snapshot(self, snapshot: Snapshot) -> None:
        if self._shut_down:
            return  # the sampler's stop() hands over what it read before: alerts are over by then
        self.monitor.observe(snapshot)
        if self.tray is not None:
            self.tray.observe(snapshot)

    def _on_alert_events(self, _events: list) -> None:
        if self.tray is not None:
            self.tray.set_active_alerts(self.monitor.active_names())
            self.tray.refresh_now()

    # --- settings ---------------------------------------------------------------------------------
    def open_settings(self, tab: str | None = None) -> SettingsDialog:
        if self.dialog is None:
            specs = self.window.history.specs
            units = {sid: spec.unit for sid, spec in specs.items()}
            labels = {sid: spec.label for sid, spec in specs.items()}
            self.dialog = SettingsDialog(self.settings, sorted(specs), tray_available=self.tray is not None,
                                         parent=self.window, units=units, labels=labels)
            self.dialog.applied.connect(self.apply_settings)
            self.dialog.finished.connect(self._dialog_closed)
        if tab:
            for index in range(self.dialog.tabs.count()):
                if self.dialog.tabs.tabText(index).replace("&&", "&").lower().startswith(tab.lower()):
                    self.dialog.tabs.setCurrentIndex(index)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog

    def _dialog_closed(self, _result: int) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None

    def apply_settings(self, new: Settings) -> list[str]:
        """Save ``new`` and apply what can change live. Returns the messages shown."""
        old, self.settings = self.settings, new
        messages: list[str] = []
        if new.interval != self.window.sampler.interval:
            self.window.set_interval(new.interval)
        if new.theme != old.theme:
            from perfdeck.gui.theme import apply_theme

            apply_theme(self.app, new.theme)
            self._sync_window_menus()
        if self.tray is not None:
            self.tray.set_metric(new.tray_metric)
        if new.alert_rules != old.alert_rules:
            self.monitor.set_rules(new.alert_rules)
        if new.process_interval != old.process_interval:
            self._apply_process_interval(new.process_interval)
        if new.start_at_login != autostart.is_enabled():
            try:
                path = autostart.set_enabled(new.start_at_login)
                messages.append(f"{'wrote' if new.start_at_login else 'removed'} {path}")
            except OSError as exc:
                messages.append(f"start at login could not be changed: {exc}")
        if new.families != old.families or new.history_seconds != old.history_seconds:
            messages.append("metric families and history length take effect at the next start")
        error = self.store.save(new)
        if error:
            messages.append(error)
        text = "Settings applied" + (": " + "; ".join(messages) if messages else "")
        self.window.context.show_message(text, 15000)
        return messages

    def _remember_interval(self, seconds: float) -> None:
        """An interval chosen in the View menu is kept for the next start too."""
        self._sync_window_menus()
        if abs(seconds - self.settings.interval) > 1e-9:
            self._save_one(interval=seconds)

    def _remember_theme(self, theme: str) -> None:
        """A theme chosen in View > Theme is kept for the next start too."""
        if theme in ("system", "light", "dark") and theme != self.settings.theme:
            self._save_one(theme=theme)

    def _save_one(self, **changes: object) -> None:
        self.settings = replace(self.settings, **changes)  # type: ignore[arg-type]
        dialog = self.dialog
        if dialog is not None:  # keep an open dialog from undoing this on Apply; leave its other edits
            dialog.interval.setValue(self.settings.interval)
            dialog.theme.setCurrentIndex(max(0, dialog.theme.findData(self.settings.theme)))
            dialog.set_base(self.settings)
        error = self.store.save(self.settings)
        if error:
            self.window.context.show_message(error, 15000)

    def _theme_actions(self) -> list[QAction]:
        """The window's View > Theme entries (System, Light, Dark)."""
        for action in self.window.view_menu.actions():
            menu = action.menu()
            if menu is not None and menu.title().replace("&", "") == "Theme":
                return [a for a in menu.actions() if a.isCheckable()]
        return []

    def _sync_window_menus(self) -> None:
        """Tick the View menu's interval and theme entries that are in force."""
        interval_text = f"{self.window.sampler.interval:g} s"
        menu = getattr(self.window, "interval_menu", None)
        if menu is not None:
            for action in menu.actions():
                if action.isCheckable() and action.text() == interval_text:
                    action.setChecked(True)
        for action in self._theme_actions():
            if action.text().lower() == self.settings.theme:
                action.setChecked(True)

    def _attach_view(self, view: object) -> None:
        if isinstance(view, AlertsView):
            view.attach(self.monitor, edit_rules=lambda: self.open_settings("Alerts"))
        elif isinstance(view, MemoryBandwidthView):
            view.set_peak(self.settings.peak_bandwidth_gbps or None)
            view.peak_spin.valueChanged.connect(self._remember_peak_bandwidth)

    def _remember_peak_bandwidth(self, gbps: float) -> None:
        """The peak line entered in the Memory bandwidth tab is kept for the next start."""
        if abs(gbps - self.settings.peak_bandwidth_gbps) > 1e-9:
            self._save_one(peak_bandwidth_gbps=gbps)

    def _apply_process_interval(self, seconds: float) -> None:
        # Through the sampler, so its "nobody is looking" slowdown stays on top of the setting.
        self.window.sampler.set_family_interval("proc", seconds)

    def shutdown(self) -> None:
        if self._shut_down:
            return
        self._shut_down = True
        self.notifier.shutdown()
        if self.tray is not None:
            self.tray.hide()


def install_desktop(window: object, stored: StoreResult | None = None, store: SettingsStore | None = None,
                    tray_available: bool | None = None) -> DesktopIntegration:
    """Attach settings, alerts, notifications and (when available) the tray icon to ``window``."""
    if store is None or stored is None:
        store, stored = load_settings(None if store is None else store.path)
    return DesktopIntegration(window, store, stored, tray_available)
