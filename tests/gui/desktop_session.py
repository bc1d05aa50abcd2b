"""Private desktop pieces for tests: an Xvfb display, a trayer tray, a D-Bus session bus, dunst.

Each starter returns a handle whose ``stop()`` ends what it started (and only that). Xvfb picks
its own free display number (``-displayfd``), so these tests never collide with another X server,
including those other tests start. Nothing here imports Qt.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

XVFB_BINARIES = ("Xvfb",)
TRAY_BINARIES = ("Xvfb", "trayer", "xdotool")
NOTIFY_BINARIES = ("Xvfb", "dbus-daemon", "dunst", "dunstctl", "dbus-monitor")


def missing(binaries: tuple[str, ...]) -> list[str]:
    return [b for b in binaries if shutil.which(b) is None]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class Processes:
    """Processes started by one fixture, stopped in reverse order."""

    procs: list[subprocess.Popen] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def add(self, proc: subprocess.Popen) -> subprocess.Popen:
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        self.procs.clear()


def start_xvfb(procs: Processes, size: str = "1280x800x24") -> str:
    """Start Xvfb on a display number it chooses itself; returns ``":N"`` and sets ``DISPLAY``."""
    read_fd, write_fd = os.pipe()
    proc = procs.add(subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    os.close(write_fd)
    data = b""
    deadline = time.monotonic() + 20
    with os.fdopen(read_fd, "rb") as pipe:
        while not data.endswith(b"\n") and time.monotonic() < deadline:
            chunk = pipe.read(1)
            if not chunk:
                break
            data += chunk
    if not data.strip():
        raise RuntimeError(f"Xvfb did not report a display (exit status {proc.poll()})")
    display = f":{int(data.strip())}"
    procs.env["DISPLAY"] = display
    return display


def start_trayer(procs: Processes) -> None:
    """trayer as the system tray host; waits until it owns the tray selection."""
    env = {**os.environ, **procs.env}
    errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 - open as long as trayer runs
    trayer = procs.add(subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32",
         "--transparent", "false", "--tint", "0x303030", "--SetDockType", "true"],
        env=env, stdout=subprocess.DEVNULL, stderr=errors))
    screen = env["DISPLAY"].split(".")[0]

    def owned() -> bool:
        # trayer's window exists once it has started; the Qt side then waits for the tray
        # selection itself (QSystemTrayIcon.isSystemTrayAvailable()).
        result = subprocess.run(["xdotool", "search", "--classname", "trayer"], env=env,
                                capture_output=True, text=True)
        return result.returncode == 0 and bool(result.stdout.strip())

    try:
        wait_for(owned, 30, f"trayer on {screen}")
    except TimeoutError as exc:
        errors.seek(0)
        raise TimeoutError(f"{exc}; trayer exit status {trayer.poll()}, stderr: {errors.read()[-2000:]!r}") \
            from None


def start_session_bus(procs: Processes, allow_activation: bool = True) -> str:
    """A private D-Bus session bus (what dbus-run-session does); returns and exports its address.

    With ``allow_activation=False`` the bus has no service directories, so nothing (not even an
    installed dunst) can be auto-started: a session without a notification service.
    """
    args = ["dbus-daemon", "--nofork", "--print-address=1"]
    if allow_activation:
        args.append("--session")
    else:
        config = Path(tempfile.mkdtemp(prefix="perfdeck-dbus-")) / "session.conf"
        config.write_text(
            '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
            "<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>"
            "<auth>EXTERNAL</auth>"
            '<policy context="default"><allow send_destination="*" eavesdrop="true"/>'
            '<allow eavesdrop="true"/><allow own="*"/></policy></busconfig>\n')
        args.append(f"--config-file={config}")
    proc = procs.add(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    if not address:
        raise RuntimeError(f"dbus-daemon printed no address (exit status {proc.poll()})")
    procs.env["DBUS_SESSION_BUS_ADDRESS"] = address
    return address


def start_dunst(procs: Processes, monitor_log: Path) -> None:
    """dunst on the private display and bus, plus dbus-monitor recording every Notify call."""
    env = {**os.environ, **procs.env}
    log = monitor_log.open("w")
    procs.add(subprocess.Popen(
        ["dbus-monitor", "--address", env["DBUS_SESSION_BUS_ADDRESS"],
         "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"],
        env=env, stdout=log, stderr=subprocess.STDOUT))
    procs.add(subprocess.Popen(["dunst"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def serving() -> bool:
        result = subprocess.run(["dunstctl", "is-paused"], env=env, capture_output=True, text=True)
        return result.returncode == 0 and result.stdout.strip() in ("true", "false")

    wait_for(serving, 30, "dunst to own org.freedesktop.Notifications")
