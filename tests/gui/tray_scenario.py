"""Run PerfDeck's window + tray on a real X display and report what happened, as JSON.

``python tray_scenario.py RESULT.json [SCREENSHOT_DIR]`` with ``DISPLAY`` set to an Xvfb that has a
tray host (trayer). tests/gui/test_tray.py runs it in a subprocess because a Qt process can only
use one platform and the rest of the suite runs offscreen. Every step records its observation;
the test asserts on them. The D-Bus session address is removed from the environment on purpose,
so a firing alert must fall back to the tray balloon.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from perfdeck.model.collector import Collector
from perfdeck.model.series import Reading, SeriesSpec


class RampCollector(Collector):
    """cpu.util.total as a wave between 10 and 95 % and mem.used_pct fixed at 42 %."""

    family = "cpu"
    title = "CPU (ramp)"

    def __init__(self) -> None:
        self.reads = 0

    def specs(self) -> Mapping[str, SeriesSpec]:
        return {"cpu.util.total": SeriesSpec("cpu.util.total", "CPU busy", "%", value_range=(0, 100)),
                "mem.used_pct": SeriesSpec("mem.used_pct", "Memory used", "%", value_range=(0, 100))}

    def read(self, now: float) -> Reading:
        self.reads += 1
        wave = 52.5 + 42.5 * math.sin(self.reads / 6.0)
        return Reading(values={"cpu.util.total": round(wave, 1), "mem.used_pct": 42.0})


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    app = QApplication.instance()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    app.processEvents()
    return condition()


def main() -> int:
    out = Path(sys.argv[1])
    shots = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    results: dict[str, object] = {}

    from perfdeck.gui.app import build_window, ensure_application
    from perfdeck.gui.integration import install_desktop
    from perfdeck.gui.settings_store import SettingsStore
    from perfdeck.gui.tabs import TabEntry
    from perfdeck.model.alerts import AlertRule
    from perfdeck.model.engine import SamplingEngine
    from perfdeck.model.settings import Settings

    app = ensure_application([sys.argv[0]])
    results["tray_available"] = wait_until(QSystemTrayIcon.isSystemTrayAvailable, 10)

    store = SettingsStore(Path(tempfile.mkdtemp(prefix="perfdeck-tray-")) / "perfdeck.ini")
    store.save(Settings(alert_rules=(AlertRule("Test CPU", "cpu.util.total", 60.0, duration=0.0),)))
    window = build_window(engine=SamplingEngine([RampCollector()]), interval=0.2,
                          tabs=(TabEntry("Alerts", "perfdeck.gui.views.alerts:AlertsView"),))
    window.resize(820, 560)  # with no window manager nothing stacks docks on top: keep clear of trayer
    try:  # as run_gui does: recording first, so the tray's Record / Export entries drive it
        from perfdeck.gui.recording import install_recording
    except ImportError:
        results["recording_module"] = False
    else:
        install_recording(window)
        results["recording_module"] = True
    desktop = install_desktop(window, store.load(), store)
    refreshes: list[str] = []
    window.view_refreshed.connect(refreshes.append)
    deliveries: list[tuple[str, str]] = []
    desktop.notifier.delivered.connect(lambda method, summary: deliveries.append((method, summary)))

    def scenario() -> None:
        try:
            run_steps()
        except Exception:
            results["error"] = traceback.format_exc()
        finally:
            if "quit_triggered" not in results:
                window.quit_app()

    def run_steps() -> None:
        tray = desktop.tray
        results["tray_created"] = tray is not None
        if tray is None:
            return
        desktop.start(minimized=False)
        window.sampler.start()
        # Embedded: trayer sits at the top right, so the icon has a real size and position there.
        results["icon_visible"] = wait_until(
            lambda: tray.icon.isVisible() and tray.icon.geometry().width() > 0
            and tray.icon.geometry().x() > 0)
        geometry = tray.icon.geometry()
        results["icon_geometry"] = [geometry.x(), geometry.y(), geometry.width(), geometry.height()]
        results["window_shown"] = wait_until(window.isVisible)
        wait_until(lambda: tray.redraws >= 3 and "CPU" in tray.icon.toolTip(), 10)
        results["redraws"] = tray.redraws
        results["tooltip"] = tray.icon.toolTip()
        results["balloon_fallback"] = wait_until(lambda: any(m == "balloon" for m, _ in deliveries), 10)
        results["deliveries"] = deliveries[:3]

        # Close to tray: the window hides, the app and sampling go on, no view redraws.
        window.close()
        results["hidden_after_close"] = wait_until(lambda: not window.isVisible(), 5)
        before_samples, before_refreshes = window.sampler.samples, len(refreshes)
        before_redraws = tray.redraws
        wait_until(lambda: window.sampler.samples >= before_samples + 8, 10)
        results["samples_while_hidden"] = window.sampler.samples - before_samples
        results["view_refreshes_while_hidden"] = len(refreshes) - before_refreshes
        results["tray_redraws_while_hidden"] = tray.redraws - before_redraws
        results["sampler_running_while_hidden"] = window.sampler.is_running()

        # Menu: Show, Hide, Show again.
        tray.update_menu()
        results["menu_texts"] = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
        tray.show_action.trigger()
        results["shown_by_menu"] = wait_until(window.isVisible, 5)
        tray.update_menu()
        results["show_action_text_when_shown"] = tray.show_action.text()
        tray.show_action.trigger()
        results["hidden_by_menu"] = wait_until(lambda: not window.isVisible(), 5)
        tray.show_action.trigger()
        wait_until(window.isVisible, 5)

        # Pause / resume sampling keeps the window's menu in step.
        tray.pause_action.trigger()
        results["paused_by_menu"] = window.sampler.paused
        results["window_pause_action_checked"] = window.pause_sampling_action.isChecked()
        tray.update_menu()
        results["pause_text_when_paused"] = tray.pause_action.text()
        tray.pause_action.trigger()
        results["resumed_by_menu"] = not window.sampler.paused

        tray.update_menu()
        results["record_enabled"] = tray.record_action.isEnabled()
        results["record_tooltip"] = tray.record_action.toolTip()
        results["export_enabled"] = tray.export_action.isEnabled()

        # Settings... opens the dialog; closing it while the window is hidden must not quit.
        window.hide()
        tray.settings_action.trigger()
        results["settings_dialog_shown"] = wait_until(
            lambda: desktop.dialog is not None and desktop.dialog.isVisible(), 5)
        if desktop.dialog is not None:
            desktop.dialog.reject()
        wait_until(lambda: desktop.dialog is None, 5)
        results["alive_after_dialog_closed"] = window.sampler.is_running()
        tray.show_action.trigger()
        wait_until(window.isVisible, 5)

        # The real context menu: right-click the icon in trayer, take a screenshot, close it.
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            wait_until(lambda: False, 8)  # eight more one-second columns in the icon
            for widget in app.topLevelWidgets():  # Qt's own balloon would cover the icon
                if widget.metaObject().className() == "QBalloonTip":
                    widget.hide()
            wait_until(lambda: False, 0.3)
            subprocess.run(["/usr/bin/import", "-window", "root", str(shots / "tray-xvfb-icon-root.png")],
                           check=False)
        center = tray.icon.geometry().center()
        subprocess.run(["xdotool", "mousemove", str(center.x()), str(center.y()), "click", "3"], check=False)
        results["context_menu_opened"] = wait_until(tray.menu.isVisible, 5)
        results["context_menu_near_icon"] = abs(tray.menu.geometry().right() - center.x()) < 300
        if shots is not None:
            wait_until(lambda: False, 0.5)  # let the menu paint
            subprocess.run(["/usr/bin/import", "-window", "root", str(shots / "tray-xvfb-root.png")],
                           check=False)
        subprocess.run(["xdotool", "key", "Escape"], check=False)
        wait_until(lambda: not tray.menu.isVisible(), 3)

        # Quit from the tray menu ends the event loop and stops the sampler.
        results["quit_triggered"] = True
        tray.quit_action.trigger()

    QTimer.singleShot(0, scenario)
    status = app.exec()
    results["exec_returned"] = status
    results["sampler_stopped_after_quit"] = not window.sampler.thread.isRunning()
    out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
