"""Stopping a recording: SIGTERM/SIGINT/SIGHUP finish the file; SIGKILL loses only unflushed rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfdeck.model.recording_file import load_recording


def _start(out: Path, interval: str = "0.2") -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.Popen([sys.executable, "-m", "perfdeck", "record", "--metrics", "cpu,mem",
                             "--interval", interval, "--output", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_header(out: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 1:
            return
        time.sleep(0.1)
    raise AssertionError(f"{out} got no header within {timeout} s")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_stop_signals_finish_the_file_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    out = tmp_path / "run.csv"
    process = _start(out)
    _wait_for_header(out)
    time.sleep(1.0)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"stopped by {signum.name}" in stdout
    data = out.read_bytes()
    assert data.endswith(b"\n")  # every buffered row written, none torn
    recording = load_recording(out)
    assert recording.warnings == []
    assert len(recording) >= 2  # rows buffered for less than 5 s were written on the way out
    assert f"Recorded {len(recording)} rows" in stdout


def test_sigkill_loses_at_most_the_unflushed_seconds(tmp_path: Path) -> None:
    out = tmp_path / "killed.csv"
    process = _start(out)
    _wait_for_header(out)
    time.sleep(7.0)  # past the first 5 s flush
    killed_at = time.time()
    process.kill()
    process.communicate(timeout=30)
    recording = load_recording(out)  # parses: whole rows only (or a torn last line, said and skipped)
    assert len(recording) >= 1
    assert all("incomplete" in w for w in recording.warnings)
    # Rows are written at least every 5 s, so at most ~5 s (plus scheduling slack here) were lost.
    assert recording.wall_times[-1] >= killed_at - 8.0


GUI_SCRIPT = """
import sys
from PySide6.QtWidgets import QApplication
from perfdeck.gui.app import build_window, ensure_application, install_signal_handlers
from perfdeck.gui.recording import install_recording

app = ensure_application()
install_signal_handlers(app)  # what run_gui installs: SIGINT/SIGTERM -> a clean quit
window = build_window(interval=0.2, families=["mem"], tabs=())
controller = install_recording(window)
app.aboutToQuit.connect(window.shutdown)
window.show()
window.sampler.start()
assert controller.start(sys.argv[1])
print("RECORDING", flush=True)
status = app.exec()
print(f"QUIT {status} recording={controller.is_recording} message={controller.last_message}", flush=True)
"""


@pytest.mark.gui
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_window_finishes_its_recording_on_sigterm_and_sigint(tmp_path: Path,
                                                                signum: signal.Signals) -> None:
    out = tmp_path / "gui.csv"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    process = subprocess.Popen([sys.executable, "-c", GUI_SCRIPT, str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "RECORDING"
    time.sleep(1.5)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "QUIT 0 recording=False message=Recorded " in stdout
    assert out.read_bytes().endswith(b"\n")
    recording = load_recording(out)
    assert recording.warnings == [] and len(recording) >= 2
