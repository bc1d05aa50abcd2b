"""PerfDeck on Wayland: the real window under a headless Weston compositor (``QT_QPA_PLATFORM=wayland``,
no X server at all), every tab visited, and the tray decision checked on a private D-Bus session bus:

* with no StatusNotifierWatcher on the bus there is no tray, so closing the window quits;
* with a watcher (``sni_watcher.py``, written with jeepney) the tray icon registers as a
  StatusNotifierItem, and closing the window hides it to the tray instead.

Needs ``weston`` and ``dbus-daemon`` (both in ``tools/perfdeck.sh``'s test packages).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
APP = HERE.parents[1] / "app"

pytestmark = [pytest.mark.gui, pytest.mark.wayland]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Session:
    env: dict[str, str]
    log: Path


@pytest.fixture
def wayland_session(tmp_path: Path) -> Iterator[Session]:
    """A headless Weston and a private D-Bus session bus, with a throw-away home; no DISPLAY."""
    if shutil.which("weston") is None:
        pytest.skip("weston is not installed (apt install weston; tools/perfdeck.sh test installs it)")
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (apt install dbus)")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    home = tmp_path / "home"
    home.mkdir()
    socket_name = f"perfdeck-test-{os.getpid()}"
    log = tmp_path / "weston.log"
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "QT_QPA_PLATFORM")}
    env.update(XDG_RUNTIME_DIR=str(runtime), HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), XDG_CACHE_HOME=str(home / ".cache"))
    weston = None
    # Weston 10 (Debian 12) names its backend by file; later versions also by short name.
    for backend in ("headless-backend.so", "headless"):
        with open(log, "wb") as handle:
            weston = subprocess.Popen(["weston", f"--backend={backend}", f"--socket={socket_name}",
                                       "--idle-time=0", "--width=1280", "--height=800"],
                                      env=env, stdout=handle, stderr=subprocess.STDOUT)
        started = weston

        def up_or_gone(process: subprocess.Popen = started) -> bool:
            return (runtime / socket_name).exists() or process.poll() is not None

        try:
            _wait_for(up_or_gone, "weston's socket")
        except AssertionError:
            _stop(weston)
            raise
        if (runtime / socket_name).exists():
            break
        _stop(weston)
        weston = None
    if weston is None:
        pytest.fail(f"weston did not start headless: {log.read_text()[-2000:]}")
    bus = subprocess.run(["dbus-daemon", "--session", "--fork", "--nopidfile", "--print-address=1",
                          "--print-pid=1"], capture_output=True, text=True, env=env, check=True, timeout=30)
    address, pid = bus.stdout.split()[:2]
    env.update(WAYLAND_DISPLAY=socket_name, QT_QPA_PLATFORM="wayland", DBUS_SESSION_BUS_ADDRESS=address,
               PYTHONPATH=os.pathsep.join(filter(None, [str(APP), env.get("PYTHONPATH", "")])))
    try:
        yield Session(env, log)
    finally:
        os.kill(int(pid), signal.SIGTERM)
        _stop(weston)


def _run(session: Session, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=session.env,
                          timeout=timeout)


def test_every_tab_draws_on_wayland(wayland_session: Session, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    wayland_session.env["PERFDECK_SMOKE_SCREENSHOTS"] = str(shots)
    code = ("import sys\nfrom PySide6.QtWidgets import QApplication\nfrom perfdeck.cli import main\n"
            "status = main(['--smoke-test'])\n"
            "print('PLATFORM=' + QApplication.instance().platformName())\nsys.exit(status)\n")
    result = _run(wayland_session, "-c", code)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "PLATFORM=wayland" in result.stdout  # really Wayland, not a fallback to offscreen or xcb
    from perfdeck.gui.tabs import TABS  # every registered tab, whatever families were added

    assert f"perfdeck smoke test passed: {len(TABS)} tabs drew live data" in result.stdout
    assert "Traceback" not in result.stderr
    assert not [line for line in result.stderr.splitlines() if "qt.qpa.wayland" in line and "rror" in line]
    assert len(list(shots.glob("*.png"))) == len(TABS)


def test_without_a_tray_watcher_closing_the_window_quits(wayland_session: Session) -> None:
    result = _run(wayland_session, str(HERE / "driver.py"))
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "PLATFORM=wayland" in lines and "VISIBLE=True" in lines
    assert "TRAY=False" in lines  # nothing owns org.kde.StatusNotifierWatcher on this bus
    assert "QUIT" in lines and "HIDDEN" not in lines


def test_with_a_tray_watcher_the_icon_registers_and_closing_hides(wayland_session: Session,
                                                                  tmp_path: Path) -> None:
    watcher_log = tmp_path / "watcher.log"
    with open(watcher_log, "w") as handle:
        watcher = subprocess.Popen([sys.executable, str(HERE / "sni_watcher.py")], env=wayland_session.env,
                                   stdout=handle, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: "READY" in watcher_log.read_text() or watcher.poll() is not None, "the watcher")
        assert watcher.poll() is None, watcher_log.read_text()
        result = _run(wayland_session, str(HERE / "driver.py"))
    finally:
        _stop(watcher)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "PLATFORM=wayland" in lines and "TRAY=True" in lines
    assert "HIDDEN" in lines  # closing hid the window to the tray; PerfDeck kept running
    registrations = [line for line in watcher_log.read_text().splitlines() if line.startswith("REGISTERED ")]
    assert len(registrations) == 1, watcher_log.read_text()
    service, path = registrations[0].split()[1:]
    assert service.startswith(":") or service.startswith("org.kde.StatusNotifierItem-")
    assert path == "/StatusNotifierItem"
