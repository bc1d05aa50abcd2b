"""Desktop notifications end to end: an alert fires, a real dunst on a private bus receives it.

The xvfb tests start their own Xvfb (free display via -displayfd), a private D-Bus session bus
(as dbus-run-session does) and dunst, and stop them afterwards. Delivery is checked twice: in the
Notify calls dbus-monitor saw on the bus, and in dunst's own history (``dunstctl history``).
"""

from __future__ import annotations

import json
import subprocess

import pytest
from desktop_session import NOTIFY_BINARIES, Processes, missing, start_dunst, start_session_bus, start_xvfb

from perfdeck.gui.notify import DBusNotifier, NotificationError, Notifier
from perfdeck.gui.views.alerts import AlertMonitor
from perfdeck.model.alerts import AlertRule
from perfdeck.model.series import SeriesSpec, Snapshot

pytestmark = pytest.mark.gui

CPU_SPEC = {"cpu.util.total": SeriesSpec("cpu.util.total", "CPU busy, all CPUs", "%", value_range=(0, 100))}


def cpu_snapshot(tick: int, value: float) -> Snapshot:
    return Snapshot(timestamp=1_700_000_000.0 + tick, monotonic=float(tick), values={"cpu.util.total": value},
                    specs=CPU_SPEC)


@pytest.fixture
def dunst_session(tmp_path, monkeypatch):
    absent = missing(NOTIFY_BINARIES)
    if absent:
        pytest.skip(f"needs {', '.join(absent)} (apt install xvfb dbus dunst)")
    procs = Processes()
    try:
        start_xvfb(procs)
        address = start_session_bus(procs)
        monitor_log = tmp_path / "notify-calls.txt"
        start_dunst(procs, monitor_log)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield procs, monitor_log
    finally:
        procs.stop()


def dunst_history(env: dict[str, str]) -> list[dict]:
    import os

    full_env = {**os.environ, **env}
    subprocess.run(["dunstctl", "close-all"], env=full_env, check=True, timeout=10)  # displayed -> history
    out = subprocess.run(["dunstctl", "history"], env=full_env, check=True, capture_output=True, text=True,
                         timeout=10).stdout
    return json.loads(out)["data"][0]


@pytest.mark.xvfb
def test_alert_fires_a_real_desktop_notification(qtbot, dunst_session):
    procs, monitor_log = dunst_session
    notifier = Notifier()
    monitor = AlertMonitor([AlertRule("CPU busy", "cpu.util.total", 90.0, duration=2.0, rearm=80.0)],
                           notify=notifier.notify)
    delivered: list[tuple[str, str]] = []
    notifier.delivered.connect(lambda method, summary: delivered.append((method, summary)))

    for tick, value in enumerate([50.0, 95.0, 96.0]):
        monitor.observe(cpu_snapshot(tick, value))
    assert delivered == []  # 1 s above 90 %: not yet
    monitor.observe(cpu_snapshot(3, 97.0))  # 2 s: fires
    qtbot.waitUntil(lambda: len(delivered) == 1, timeout=10000)
    assert delivered == [("dbus", "CPU busy: 97 % for 2 s (threshold 90 %)")]  # what happened, in words

    monitor.observe(cpu_snapshot(4, 70.0))  # below the 80 % re-arm level: cleared
    qtbot.waitUntil(lambda: len(delivered) == 2, timeout=10000)
    assert delivered[1] == ("dbus", "CPU busy back to normal: 70 %")
    notifier.shutdown()

    calls = monitor_log.read_text()
    assert calls.count("member=Notify") == 2
    assert 'string "CPU busy: 97 % for 2 s (threshold 90 %)"' in calls
    assert "CPU busy is 97 %, above 90 % for 2 s." in calls and "cpu.util.total" in calls  # id: secondary
    assert 'string "PerfDeck"' in calls
    # The cleared notification replaces the fired one (replaces_id = the id dunst gave it).
    assert "uint32 0" in calls and calls.count("uint32 ") == 2
    replaced = calls.split("member=Notify")[2]
    assert "uint32 0" not in replaced

    summaries = [entry["summary"]["data"] for entry in dunst_history(procs.env)]
    assert "CPU busy back to normal: 70 %" in summaries
    assert all(entry["appname"]["data"] == "PerfDeck" for entry in dunst_history(procs.env))


@pytest.mark.xvfb
def test_dbus_notifier_talks_to_dunst_directly(dunst_session):
    _procs, monitor_log = dunst_session
    client = DBusNotifier()
    first = client.notify("PerfDeck direct", "body text")
    second = client.notify("PerfDeck direct 2", "again", replaces_id=first)
    client.close()
    assert first > 0 and second == first  # dunst keeps the id of a replaced notification
    assert "PerfDeck direct 2" in monitor_log.read_text()


def test_no_session_bus_falls_back_and_says_why(qtbot, monkeypatch):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    with pytest.raises(NotificationError, match="no D-Bus session bus"):
        DBusNotifier().notify("x")
    notifier = Notifier()  # no tray here (offscreen): the message goes to the log
    with qtbot.waitSignal(notifier.delivered, timeout=10000) as blocker:
        notifier.notify("key", "Hot sensor: Core 0 above 85 °C", "body")
    assert blocker.args == ["log", "Hot sensor: Core 0 above 85 °C"]
    assert "no D-Bus session bus" in notifier.last_error
    # Within RETRY_SECONDS the fallback is used at once, without another D-Bus attempt.
    with qtbot.waitSignal(notifier.delivered, timeout=1000) as blocker:
        notifier.notify("key", "second", "body")
    assert blocker.args == ["log", "second"]
    notifier.shutdown()


@pytest.mark.xvfb
def test_bus_without_notification_service_falls_back(qtbot, monkeypatch):
    absent = missing(("dbus-daemon",))
    if absent:
        pytest.skip("needs dbus-daemon (apt install dbus)")
    procs = Processes()
    try:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", start_session_bus(procs, allow_activation=False))
        with pytest.raises(NotificationError, match="ServiceUnknown"):
            DBusNotifier().notify("x")
        notifier = Notifier()
        with qtbot.waitSignal(notifier.delivered, timeout=10000) as blocker:
            notifier.notify("key", "Low memory: below 10 %", "body")
        assert blocker.args[0] == "log"
        assert "ServiceUnknown" in notifier.last_error
        notifier.shutdown()
    finally:
        procs.stop()


def test_alert_log_tab_lists_when_alerts_fired_and_cleared(qtbot, tmp_path):
    from perfdeck.gui.app import build_window
    from perfdeck.gui.integration import install_desktop
    from perfdeck.gui.settings_store import SettingsStore
    from perfdeck.gui.tabs import TabEntry
    from perfdeck.model.engine import SamplingEngine
    from perfdeck.model.settings import Settings

    store = SettingsStore(tmp_path / "perfdeck.ini")
    store.save(Settings(alert_rules=(AlertRule("CPU busy", "cpu.util.total", 90.0, duration=1.0, rearm=80.0,
                                               notify=False),)))
    window = build_window(engine=SamplingEngine([]),
                          tabs=(TabEntry("Alerts", "perfdeck.gui.views.alerts:AlertsView"),))
    qtbot.addWidget(window)
    desktop = install_desktop(window, store.load(), store, tray_available=False)
    desktop.request_quit = lambda: None
    view = window.views["Alerts"]
    assert view.not_running.isHidden()
    # Hidden window: alerts are still evaluated and logged.
    for tick, value in enumerate([95.0, 96.0, 99.0, 85.0]):
        window.sampler.snapshot.emit(cpu_snapshot(tick, value))
    window.show()
    qtbot.waitExposed(window)
    view.refresh(window.context.latest)
    assert view.table.rowCount() == 1
    cells = [view.table.item(0, c).text() for c in range(view.table.columnCount())]
    assert cells[1] == "firing" and cells[2].endswith("(ongoing)")
    assert cells[3:7] == ["CPU busy", "CPU busy", "96.0 %", "99.0 %"]  # fired at 96, worst 99
    assert "Firing now: CPU busy" in view.summary.text()
    window.sampler.snapshot.emit(cpu_snapshot(4, 70.0))
    cells = [view.table.item(0, c).text() for c in range(view.table.columnCount())]
    assert cells[1] != "firing" and cells[2] == "3 s"
    assert view.summary.text() == "Nothing firing now. 1 alert(s) this session."
    assert "CPU busy above 90 % for 1 s (clears below 80 %)" in cells[7]
    window.close()


def test_no_alert_is_evaluated_after_the_desktop_shut_down(qtbot, tmp_path):
    """The sampler's stop() hands over the snapshots it read before stopping; by then the desktop
    integration (alerts, notifier threads, tray) has shut down and must not react to them."""
    from perfdeck.gui.app import build_window
    from perfdeck.gui.integration import install_desktop
    from perfdeck.gui.settings_store import SettingsStore
    from perfdeck.model.engine import SamplingEngine
    from perfdeck.model.settings import Settings

    store = SettingsStore(tmp_path / "perfdeck.ini")
    store.save(Settings(alert_rules=(AlertRule("CPU busy", "cpu.util.total", 90.0, duration=1.0, rearm=80.0,
                                               notify=False),)))
    window = build_window(engine=SamplingEngine([]))
    qtbot.addWidget(window)
    desktop = install_desktop(window, store.load(), store, tray_available=False)
    desktop.request_quit = lambda: None
    seen: list[float] = []
    original = desktop.monitor.observe
    desktop.monitor.observe = lambda snapshot: (seen.append(snapshot.timestamp), original(snapshot))
    window.sampler.snapshot.emit(cpu_snapshot(0, 95.0))
    desktop.shutdown()
    window.sampler.snapshot.emit(cpu_snapshot(1, 99.0))
    window.sampler.snapshot.emit(cpu_snapshot(2, 99.0))
    assert len(seen) == 1
    assert desktop.monitor.active_names() == []  # 99 % for 1 s after shutdown fired nothing
    window.close()
