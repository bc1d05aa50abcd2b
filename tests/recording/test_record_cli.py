"""``perfdeck record`` end to end, in subprocesses, with the real collectors."""

from __future__ import annotations

import csv
import math
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from perfdeck.model.recording_file import load_recording

# Runs the CLI in this interpreter's environment and reports whether any Qt module got imported.
RUNNER = (
    "import json, sys\n"
    "from perfdeck.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'pyqtgraph')))\n"
    "print('QT-MODULES=' + json.dumps(qt), file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DISPLAY", None)  # the recorder needs no display
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("QT_QPA_PLATFORM", None)
    return env


def record(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", RUNNER, "record", *args], capture_output=True, text=True,
                          timeout=timeout, env=_env())


def test_round_trip_through_the_window_loader(tmp_path: Path) -> None:
    out = tmp_path / "run.csv"
    result = record("--interval", "0.5", "--duration", "3", "--metrics", "cpu,memory", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "QT-MODULES=[]" in result.stderr  # headless: no Qt imported at all
    # stdout is a pipe: no progress bar, only the final summary.
    assert "\r" not in result.stdout and "[#" not in result.stdout
    assert result.stdout.startswith("Recorded 7 rows of ")
    assert str(out) in result.stdout
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, cells = rows[0], rows[1:]
    assert header[:2] == ["time", "elapsed_s"]
    assert "cpu.util.total [%]" in header and "mem.used [B]" in header
    assert len(cells) == 7  # samples at 0, 0.5, ... 3.0 s
    recording = load_recording(out)  # the loader behind File > Open recording
    assert recording.warnings == []
    assert [c.header for c in recording.columns] == header[2:]
    for row_index, row in enumerate(cells):
        assert recording.elapsed[row_index] == float(row[1])
        for column_index, column in enumerate(recording.columns):
            cell = row[column_index + 2]
            value = recording.values[column.series_id][row_index]
            assert math.isnan(value) if cell == "" else value == float(cell), (column, row_index)
    # Sampling really happened on a 0.5 s grid (loose bounds: this is a shared 2-core machine).
    assert 2.5 <= recording.duration <= 5.0
    # Memory in use is a real, non-zero reading; CPU utilisation is a percentage.
    assert recording.values["mem.used"][-1] > 0
    assert 0 <= recording.values["cpu.util.total"][-1] <= 100
    frame = pd.read_csv(out)
    assert frame.shape == (7, len(header))
    assert pd.to_datetime(frame["time"]).dt.tz is not None


def test_unknown_family_lists_the_known_ones(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    result = record("--metrics", "cpu,bogus", "--output", str(out), "--duration", "1")
    assert result.returncode == 2
    assert "unknown metric family 'bogus'; known families: cpu, mem, disk, net" in result.stderr
    assert not out.exists()


def test_unwritable_output_fails_before_sampling(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "run.csv"
    started = time.monotonic()
    result = record("--output", str(out), "--duration", "30")
    assert result.returncode == 2
    assert f"cannot create {out}: No such file or directory" in result.stderr
    assert time.monotonic() - started < 25  # it did not sample for 30 s first


def test_existing_output_is_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "run.csv"
    out.write_text("keep me\n")
    result = record("--output", str(out), "--duration", "1")
    assert result.returncode == 2 and "already exists" in result.stderr
    assert out.read_text() == "keep me\n"
    result = record("--output", str(out), "--duration", "0.5", "--interval", "0.5", "--metrics", "mem",
                    "--force")
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("time,elapsed_s,mem.")


@pytest.mark.parametrize(("args", "message"), [
    (("--interval", "0.01"), "--interval 0.01 is out of range"),
    (("--interval", "nan"), "is out of range"),
    (("--duration", "-5"), "--duration -5 must be a positive number"),
    (("--metrics", ","), "--metrics lists no family"),
])
def test_bad_options_are_explained(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = record(*args, "--output", str(tmp_path / "x.csv"))
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "x.csv").exists()


def test_quiet_prints_nothing(tmp_path: Path) -> None:
    out = tmp_path / "q.csv"
    result = record("--quiet", "--metrics", "mem", "--interval", "0.2", "--duration", "0.4", "-o", str(out))
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr.strip() == "QT-MODULES=[]"
    assert len(load_recording(out)) == 3


def _run_on_tty(args: list[str], timeout: float = 30) -> tuple[int, str]:
    """Run the CLI with stdout on a pseudo-terminal; return the exit code and what it showed."""
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", RUNNER, *args], stdout=slave, stderr=subprocess.PIPE,
                               env=_env())
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return process.wait(timeout=timeout), shown.decode("utf-8", "replace")


def test_progress_bar_on_a_terminal_with_duration(tmp_path: Path) -> None:
    code, shown = _run_on_tty(["record", "--metrics", "mem", "--interval", "0.5", "--duration", "2",
                               "-o", str(tmp_path / "p.csv")])
    assert code == 0
    assert "[" in shown and "%" in shown and "/2 s" in shown  # "[####------]  50%  1/2 s ..."
    assert "100%" in shown
    assert "Recorded 5 rows" in shown


def test_live_line_on_a_terminal_without_duration(tmp_path: Path) -> None:
    out = tmp_path / "live.csv"
    master, slave = pty.openpty()
    command = [sys.executable, "-c", RUNNER, "record", "--metrics", "mem", "--interval", "0.2",
               "-o", str(out)]
    process = subprocess.Popen(command, stdout=slave, stderr=subprocess.PIPE, env=_env())
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + 30
    while b"rows" not in shown and time.monotonic() < deadline:
        shown += os.read(master, 4096)
    process.send_signal(2)  # Ctrl+C
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert process.wait(timeout=30) == 0
    text = shown.decode()
    assert "recording live.csv:" in text and "(Ctrl+C to stop)" in text
    assert "stopped by SIGINT" in text


def test_help_explains_how_to_stop_and_open() -> None:
    result = subprocess.run([sys.executable, "-c", RUNNER, "record", "--help"], capture_output=True,
                            text=True, env=_env())
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--duration" in text and "until Ctrl+C (or SIGTERM)" in text and "perfdeck --open run.csv" in text


def test_notes_are_one_short_line_per_family_and_details_need_verbose(tmp_path: Path) -> None:
    # Every family: on this VM several are unavailable (sensors, membw, power, the hardware counters).
    result = record("--interval", "0.2", "--duration", "0.4", "-o", str(tmp_path / "all.csv"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("perfdeck record:")]
    assert lines[0].startswith("perfdeck record: ready: recording ")  # first, once the first row is written
    assert str(tmp_path / "all.csv") in lines[0] and "every 0.2 s" in lines[0]
    lines = lines[1:]
    families = [line.split(":", 2)[1].strip() for line in lines if "--verbose" not in line]
    assert len(families) == len(set(families))  # one line per family, never the same one twice
    assert all(len(line) <= 160 for line in lines), lines
    assert "fix:" not in result.stderr
    if families:
        assert "--verbose" in lines[-1]
        verbose = record("--verbose", "--interval", "0.2", "--duration", "0.4", "-o", str(tmp_path / "v.csv"))
        assert verbose.returncode == 0
        assert len(verbose.stderr) > len(result.stderr)  # the reasons in full
