"""A full disk: on a real 64 KiB tmpfs when we may mount one, else an injected ENOSPC.

Either way the recording stops with a clear error, the file keeps only complete rows, and an
export leaves no partial file and the previous file untouched.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SPECS, T0, synthetic_value
from perfdeck.model import recorder as recorder_module
from perfdeck.model.export import ExportError, ExportRequest, export_history
from perfdeck.model.recorder import CsvRecorder, DiskFullError
from perfdeck.model.recording_file import load_recording


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted on a temporary directory (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the injected-ENOSPC tests cover this case")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(recorder: CsvRecorder, rows: int, first: int = 0) -> None:
    for index in range(first, first + rows):
        recorder.append_values(T0 + index, float(index), {s: synthetic_value(s, index) for s in SPECS}, SPECS)


def _assert_only_complete_rows(path: Path, rows_written: int) -> None:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    recording = load_recording(path)
    assert recording.warnings == []
    assert len(recording) == rows_written


def test_recorder_on_a_full_tmpfs_stops_and_keeps_a_valid_file(small_disk: Path) -> None:
    path = small_disk / "run.csv"
    recorder = CsvRecorder(path, flush_interval=0.0)  # write every row at once: fills the disk fast
    recorder.open()
    with pytest.raises(DiskFullError) as info:
        _fill(recorder, 100_000)
    message = str(info.value)
    assert f"disk full while writing {path}" in message and "No space left on device" in message
    assert "the file is valid up to its last complete row" in message
    assert recorder.failed is info.value
    with pytest.raises(DiskFullError):  # nothing more is accepted
        _fill(recorder, 1, first=10**6)
    recorder.close()
    assert recorder.rows_written > 100  # the disk held a few hundred rows
    _assert_only_complete_rows(path, recorder.rows_written)


def test_export_to_a_full_tmpfs_leaves_nothing_and_keeps_the_old_file(small_disk: Path, make_history) -> None:
    path = small_disk / "export.csv"
    path.write_text("previous export\n")
    history = make_history(rows=5000)
    with pytest.raises(ExportError, match="disk full while exporting") as info:
        export_history(history, path, ExportRequest(tuple(SPECS)))
    assert "the existing file is unchanged" in str(info.value)
    assert path.read_text() == "previous export\n"
    assert sorted(p.name for p in small_disk.iterdir()) == ["export.csv"]


def test_cli_on_a_full_tmpfs_exits_with_the_error_and_a_valid_file(small_disk: Path) -> None:
    path = small_disk / "cli.csv"
    (small_disk / "filler").write_bytes(b"x" * 52 * 1024)  # leave about 12 KiB: full within seconds
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run([sys.executable, "-m", "perfdeck", "record", "--metrics", "cpu,mem", "--interval",
                             "0.1", "--duration", "120", "--output", str(path)],
                            capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 1
    assert "disk full while writing" in result.stderr
    recording = load_recording(path)
    assert len(recording) > 0 and recording.warnings == []
    assert f"Recorded {len(recording)} rows" in result.stdout


def test_injected_partial_write_is_cut_back_to_the_last_complete_row(tmp_path: Path, monkeypatch) -> None:
    """Where no tmpfs can be mounted: a write that stores half its bytes, then ENOSPC."""
    path = tmp_path / "run.csv"
    recorder = CsvRecorder(path, flush_interval=1e9)
    recorder.open()
    _fill(recorder, 10)
    recorder.flush()
    _fill(recorder, 10, first=10)  # buffered
    real_write = os.write
    state = {"calls": 0}

    def half_then_full(fd: int, data: bytes) -> int:
        state["calls"] += 1
        if state["calls"] == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))  # a short write, mid-row
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recorder_module.os, "write", half_then_full)
    with pytest.raises(DiskFullError):
        recorder.flush()
    monkeypatch.setattr(recorder_module.os, "write", real_write)
    recorder.close()
    assert 10 < recorder.rows_written < 20  # the complete rows of the short write were kept
    _assert_only_complete_rows(path, recorder.rows_written)


def test_injected_enospc_on_export(tmp_path: Path, make_history, monkeypatch) -> None:
    path = tmp_path / "e.csv"

    def no_space(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    from perfdeck.model import export as export_module

    monkeypatch.setattr(export_module.os, "fsync", no_space)
    with pytest.raises(ExportError, match=r"disk full while exporting .* no file was written"):
        export_history(make_history(rows=10), path, ExportRequest(tuple(SPECS)))
    assert list(tmp_path.iterdir()) == []
