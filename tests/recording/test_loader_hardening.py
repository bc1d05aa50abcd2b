"""The loader's error paths found by adversarial testing (issue 13): what is not a regular file,
names too long for a part, infinities, line numbers, blank cells, and pandas' common shapes."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perfdeck.model.csvformat import CsvFormatError
from perfdeck.model.recorder import existing_parts
from perfdeck.model.recording_file import load_recording

HEADER = "time,elapsed_s,cpu.util.total [%],mem.used [B]\n"
ROW1 = "2026-11-18T11:06:40.000+00:00,0.000,12.5,4000000000\n"
ROW2 = "2026-11-18T11:06:41.000+00:00,1.000,,4000004096\n"


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


# --- what is not a regular file is refused at once, never read ---------------------------------
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    # Nobody writes to the pipe: opening it for reading would block forever. The alarm turns a
    # hang into a failure instead of a stuck test run.
    previous = signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("hung")))
    signal.alarm(10)
    try:
        with pytest.raises(CsvFormatError, match="named pipe"):
            load_recording(fifo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(("path", "words"), [
    ("/dev/zero", "character device"),
    ("/dev/null", "character device"),
    ("/proc/self/status", "kernel file under /proc"),
    ("/proc/kmsg", "kernel file under /proc"),
    ("/sys/kernel/mm/transparent_hugepage/enabled", "kernel file under /sys"),
])
def test_devices_and_kernel_files_are_refused(path: str, words: str) -> None:
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    with pytest.raises(CsvFormatError, match=words):
        load_recording(path)


def test_a_folder_and_a_socket_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="a folder"):
        load_recording(tmp_path)
    sock_path = tmp_path / "s.csv"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(CsvFormatError, match="a socket"):
            load_recording(sock_path)


def test_a_symlink_to_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "run.csv"
    link.symlink_to(fifo)
    with pytest.raises(CsvFormatError, match="named pipe"):
        load_recording(link)


def test_a_fifo_is_refused_in_a_fresh_process_too(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    code = (
        "import sys\n"
        "from perfdeck.model.recording_file import load_recording\n"
        "from perfdeck.model.csvformat import CsvFormatError\n"
        "try:\n"
        "    load_recording(sys.argv[1])\n"
        "except CsvFormatError as exc:\n"
        "    print('REFUSED', exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "REFUSED" in result.stdout and "named pipe (FIFO)" in result.stdout


# --- names too long for their parts ---------------------------------------------------------
def test_a_legal_name_too_long_for_a_part_sibling_loads(tmp_path: Path) -> None:
    # 248 + ".csv" = 252 bytes is legal; "<name>.part2.csv" (258 bytes) is not.
    path = _write(tmp_path / ("y" * 248 + ".csv"), HEADER + ROW1 + ROW2)
    assert existing_parts(path) == []  # raised ENAMETOOLONG before
    assert len(load_recording(path)) == 2


# --- values ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["1e400", "-1e999", "inf", "Infinity"])
def test_infinities_are_refused_with_line_and_column(tmp_path: Path, cell: str) -> None:
    row3 = f"2026-11-18T11:06:42.000+00:00,2.000,{cell},1\n"
    path = _write(tmp_path / "inf.csv", HEADER + ROW1 + ROW2 + row3)
    with pytest.raises(CsvFormatError) as info:
        load_recording(path)
    assert info.value.line == 4
    assert "column 3 'cpu.util.total [%]'" in str(info.value)
    assert "finite" in str(info.value)


def test_a_bad_byte_is_reported_on_its_own_line(tmp_path: Path) -> None:
    data = (HEADER + ROW1).encode() + b"2026-11-18T11:06:41.000+00:00,1.000,\xff,1\n"
    path = _write(tmp_path / "bad.csv", data)
    with pytest.raises(CsvFormatError) as info:
        load_recording(path)
    assert info.value.line == 3
    assert "not UTF-8" in str(info.value)


def test_a_bad_byte_far_down_a_big_file_names_its_line(tmp_path: Path) -> None:
    rows = [f"2026-11-18T11:06:{i % 60:02d}.000+00:00,{i}.000,1,2\n" for i in range(2000)]
    data = (HEADER + "".join(rows)).encode() + b"\xc3\x28 broken\n"
    path = _write(tmp_path / "big.csv", data)
    with pytest.raises(CsvFormatError) as info:
        load_recording(path)
    assert info.value.line == 2002


def test_blank_cells_are_missing_values_like_empty_ones(tmp_path: Path) -> None:
    row = "2026-11-18T11:06:42.000+00:00,2.000,   ,7\n"
    recording = load_recording(_write(tmp_path / "blank.csv", HEADER + ROW1 + row))
    assert math.isnan(recording.values["cpu.util.total"][1])
    assert recording.values["mem.used"][1] == 7


def test_a_bad_cell_among_blanks_names_its_column(tmp_path: Path) -> None:
    row = "2026-11-18T11:06:42.000+00:00,2.000,  ,x1\n"
    with pytest.raises(CsvFormatError) as info:
        load_recording(_write(tmp_path / "b.csv", HEADER + ROW1 + row))
    assert info.value.line == 3 and "column 4 'mem.used [B]'" in str(info.value)


# --- pandas' common shapes -------------------------------------------------------------------
def test_pandas_default_to_csv_with_its_index_column_opens(tmp_path: Path) -> None:
    original = load_recording(_write(tmp_path / "orig.csv", HEADER + ROW1 + ROW2))
    again = tmp_path / "again.csv"
    pd.read_csv(tmp_path / "orig.csv").to_csv(again)  # default: index=True, na_rep=""
    assert again.read_text().startswith(",time,elapsed_s,")
    loaded = load_recording(again)
    assert any("unnamed index" in w for w in loaded.warnings)
    for sid in original.values:
        np.testing.assert_array_equal(original.values[sid], loaded.values[sid])


def test_pandas_na_rep_nan_opens_as_missing(tmp_path: Path) -> None:
    again = tmp_path / "nan.csv"
    pd.read_csv(_write(tmp_path / "orig.csv", HEADER + ROW1 + ROW2)).to_csv(again, na_rep="NaN")
    assert ",NaN," in again.read_text()
    loaded = load_recording(again)
    assert math.isnan(loaded.values["cpu.util.total"][1])
    assert loaded.values["mem.used"][1] == 4000004096


@pytest.mark.gui
def test_the_window_opened_on_a_fifo_still_ends_on_sigterm(tmp_path: Path) -> None:
    """``perfdeck --open fifo`` used to block in open() inside the GUI thread, where SIGTERM's
    handler never got to run. Now the FIFO is refused with a message and SIGTERM ends PerfDeck."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / ".config")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    # The window logs "refused" once the open was attempted; wait for that line, then SIGTERM.
    code = ("import logging, sys\n"
            "from perfdeck.gui import recording_view\n"
            "original = recording_view.show_open_error\n"
            "def shown(parent, path, message):\n"
            "    print('OPEN-ERROR ' + message.replace(chr(10), ' '), flush=True)\n"
            "    return original(parent, path, message)\n"
            "recording_view.show_open_error = shown\n"
            "from perfdeck.cli import main\n"
            "sys.exit(main(['--open', sys.argv[1]]))\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(fifo)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    # A window stuck in open() never prints the line: kill it after a minute, so the test fails
    # instead of hanging the whole run.
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the window refused the FIFO (or died)
        assert line.startswith("OPEN-ERROR ") and "named pipe (FIFO)" in line, line
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=60)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert status == 0 or status == -signal.SIGTERM or status == 128 + signal.SIGTERM, stderr[-2000:]
    assert "Traceback" not in stderr
