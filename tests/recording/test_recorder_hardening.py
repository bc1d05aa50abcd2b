"""Recorder, export and ``perfdeck record`` error paths found by adversarial testing (issue 13):
names too long for a part, a disk full before the header, the summary's series count, and the
sampling schedule (the first interval is a whole interval; --duration D gives floor(D/i)+1 rows)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from conftest import SPECS, T0, synthetic_value
from perfdeck.commands import record as record_command
from perfdeck.model import recorder as recorder_module
from perfdeck.model.export import ExportError, ExportRequest, export_history
from perfdeck.model.recorder import CsvRecorder, DiskFullError, RecordingError, check_part_names_fit
from perfdeck.model.recording_file import load_recording
from perfdeck.model.series import Snapshot

LONG_NAME = "y" * 248 + ".csv"  # 252 bytes: a legal name, but "<name>.part2.csv" is not


def _values(index: int) -> dict[str, float | None]:
    return {s: synthetic_value(s, index) for s in SPECS}


def _no_space(_fd: int, _data: bytes) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")


# --- 1. a legal name too long for its parts ------------------------------------------------------
def test_recorder_refuses_a_name_too_long_for_its_parts_with_a_sentence(tmp_path: Path) -> None:
    recorder = CsvRecorder(tmp_path / LONG_NAME)
    with pytest.raises(RecordingError) as info:
        recorder.open()
    assert "too long (252 bytes)" in str(info.value) and "at most 248 bytes" in str(info.value)
    assert not (tmp_path / LONG_NAME).exists()
    assert check_part_names_fit(tmp_path / ("y" * 244 + ".csv")) == ""  # 248 bytes leave room


def test_recorder_names_longer_than_the_filesystem_allows_are_a_recording_error(tmp_path: Path) -> None:
    recorder = CsvRecorder(tmp_path / ("z" * 300 + ".csv"))
    with pytest.raises(RecordingError, match="too long"):
        recorder.open()


def test_cli_long_name_is_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    command = [sys.executable, "-m", "perfdeck", "record", "--duration", "1", "--metrics", "cpu",
               "-o", str(tmp_path / LONG_NAME)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("perfdeck record: error: the file name is too long")


def test_export_to_a_long_legal_name_works(tmp_path: Path, make_history) -> None:
    target = tmp_path / LONG_NAME
    result = export_history(make_history(rows=5), target, ExportRequest(list(SPECS)))
    assert result.rows == 5 and len(load_recording(target)) == 5


def test_export_to_a_name_longer_than_the_filesystem_allows_is_an_export_error(tmp_path: Path,
                                                                              make_history) -> None:
    with pytest.raises(ExportError, match="File name too long"):
        export_history(make_history(rows=5), tmp_path / ("z" * 300 + ".csv"), ExportRequest(list(SPECS)))
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


# --- 3 and 4. a disk already full at the start ------------------------------------------------------
def test_disk_full_before_the_header_leaves_no_empty_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "run.csv"
    recorder = CsvRecorder(path, flush_interval=0.0)
    recorder.open()
    monkeypatch.setattr(recorder_module.os, "write", _no_space)
    with pytest.raises(DiskFullError) as info:
        recorder.append_values(T0, 0.0, _values(0), SPECS)
    monkeypatch.undo()
    recorder.close()
    assert not path.exists()  # a 0-byte file is no CSV: pandas raises EmptyDataError on it
    message = str(info.value)
    assert "nothing could be written, so the empty file run.csv was removed" in message
    assert "valid up to its last complete row" not in message


def test_disk_full_after_the_header_keeps_a_header_only_file_pandas_reads(tmp_path: Path,
                                                                         monkeypatch) -> None:
    path = tmp_path / "run.csv"
    recorder = CsvRecorder(path, flush_interval=0.0)
    recorder.open()
    real_write = os.write
    calls = []

    def header_then_full(fd: int, data: bytes) -> int:
        calls.append(bytes(data))
        if len(calls) == 1:
            return real_write(fd, data)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recorder_module.os, "write", header_then_full)
    with pytest.raises(DiskFullError, match="holds only the header line"):
        recorder.append_values(T0, 0.0, _values(0), SPECS)
    monkeypatch.undo()
    recorder.close()
    frame = pd.read_csv(path)
    assert frame.shape == (0, 2 + len(SPECS))
    assert len(load_recording(path)) == 0


def test_cli_disk_full_at_start_says_what_happened_and_counts_the_series(tmp_path: Path,
                                                                        monkeypatch, capsys) -> None:
    out = tmp_path / "run.csv"
    monkeypatch.setattr(recorder_module.os, "write", _no_space)
    args = record_command_args(out, "--metrics", "mem", "--duration", "0.2", "--interval", "0.1")
    code = record_command.run(args)
    monkeypatch.undo()
    captured = capsys.readouterr()
    assert code == 1
    assert not out.exists()
    assert "Recorded 0 rows" not in captured.out and "of 0 series" not in captured.out
    assert "disk full" in captured.err and "was removed" in captured.err


def test_cli_disk_full_mid_run_counts_the_series(tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "run.csv"
    real_write = os.write
    writes = []

    def third_write_fails(fd: int, data: bytes) -> int:
        writes.append(len(data))
        if len(writes) >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(record_command, "CsvRecorder",
                        lambda path, overwrite: CsvRecorder(path, overwrite=overwrite, flush_interval=0.0))
    monkeypatch.setattr(recorder_module.os, "write", third_write_fails)
    code = record_command.run(record_command_args(out, "--metrics", "mem", "--interval", "0.1"))
    monkeypatch.undo()
    captured = capsys.readouterr()
    assert code == 1
    series = len(load_recording(out).columns)
    assert series > 0
    assert f"Recorded 1 rows of {series} series" in captured.out
    assert "disk full" in captured.err


def record_command_args(out: Path, *extra: str):
    import argparse

    parser = argparse.ArgumentParser()
    record_command.configure(parser)
    return parser.parse_args(["--output", str(out), *extra])


# --- 8. the schedule --------------------------------------------------------------------------
class FakeClock:
    """A monotonic clock that advances only when told (or when the loop waits)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeEngine:
    """Samples cost ``cost`` seconds of the fake clock; opening cost was spent before the loop."""

    def __init__(self, clock: FakeClock, cost: float) -> None:
        self.clock = clock
        self.cost = cost
        self.family_unavailable: dict = {}
        self.sampled_at: list[float] = []

    def sample(self, now: float, timestamp: float) -> Snapshot:
        self.sampled_at.append(now)
        self.clock.now += self.cost
        return Snapshot(timestamp=timestamp, monotonic=now, values={"mem.used": 1.0},
                        specs={"mem.used": SPECS["mem.used"]})


class FakeStop(threading.Event):
    """``wait(t)`` advances the fake clock by t instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        self.clock.now += timeout or 0.0
        return self.is_set()


@pytest.mark.parametrize(("interval", "duration", "rows"), [(0.1, 120.0, 1201), (1.0, 60.0, 61),
                                                             (0.5, 3.0, 7), (0.3, 1.0, 4)])
def test_schedule_gives_floor_duration_over_interval_plus_one_rows(tmp_path: Path, interval: float,
                                                                   duration: float, rows: int) -> None:
    clock = FakeClock()
    clock.now += 0.15  # opening the collectors took 0.15 s: it must not shorten the first interval
    engine = FakeEngine(clock, cost=0.004)
    recorder = CsvRecorder(tmp_path / "s.csv", clock=clock)
    recorder.open()
    schedule = record_command._Schedule(interval, duration, clock=clock)
    progress = record_command._Progress(sys.stdout, False, recorder.path, duration)
    reporter = record_command._Reporter(quiet=True, verbose=False, progress=progress)
    record_command._loop(engine, recorder, progress, FakeStop(clock), schedule, reporter,
                         wall_clock=lambda: T0 + clock.now)
    recorder.close()
    assert len(engine.sampled_at) == rows
    gaps = [b - a for a, b in zip(engine.sampled_at, engine.sampled_at[1:], strict=False)]
    assert gaps[0] == pytest.approx(interval)  # before the fix: interval - 0.15
    assert min(gaps) == pytest.approx(interval) and max(gaps) == pytest.approx(interval)
    assert load_recording(recorder.path).elapsed[-1] == pytest.approx((rows - 1) * interval, abs=1e-3)


def test_schedule_skips_ticks_missed_by_a_slow_sample_instead_of_bunching(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, cost=0.25)  # each sample takes 2.5 intervals
    recorder = CsvRecorder(tmp_path / "slow.csv", clock=clock)
    recorder.open()
    schedule = record_command._Schedule(0.1, 1.0, clock=clock)
    progress = record_command._Progress(sys.stdout, False, recorder.path, 1.0)
    reporter = record_command._Reporter(quiet=True, verbose=False, progress=progress)
    record_command._loop(engine, recorder, progress, FakeStop(clock), schedule, reporter)
    recorder.close()
    offsets = [round(t - engine.sampled_at[0], 6) for t in engine.sampled_at]
    assert offsets == [0.0, 0.3, 0.6, 0.9]  # every sample on the grid, none closer than an interval


# --- outputs that are not regular files --------------------------------------------------------
@pytest.fixture
def device_node(tmp_path: Path) -> Path:
    """A character device like /dev/full (1, 7), made in tmp_path (root only)."""
    import stat

    node = tmp_path / "full"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return node


def test_recording_to_a_device_is_refused_and_never_removes_it(device_node: Path, monkeypatch) -> None:
    # Before: -o /dev/full --force wrote nothing, and the "remove the empty file" step unlinked
    # the device node itself.
    import stat

    recorder = CsvRecorder(device_node, overwrite=True)
    with pytest.raises(RecordingError, match="is a character device; PerfDeck records to a regular file"):
        recorder.open()
    assert stat.S_ISCHR(os.stat(device_node).st_mode)
    code = record_command.run(record_command_args(device_node, "--force", "--metrics", "mem",
                                                  "--duration", "0.2", "--interval", "0.1"))
    assert code == 2
    assert stat.S_ISCHR(os.stat(device_node).st_mode)


def test_exporting_over_a_device_is_refused_and_keeps_it(device_node: Path, make_history) -> None:
    import stat

    with pytest.raises(ExportError, match="character device, not a regular file"):
        export_history(make_history(rows=3), device_node, ExportRequest(list(SPECS)))
    assert stat.S_ISCHR(os.stat(device_node).st_mode)
    assert sorted(p.name for p in device_node.parent.iterdir()) == ["full"]


def test_recording_to_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(RecordingError, match="named pipe"):
        CsvRecorder(fifo, overwrite=True).open()
    with pytest.raises(RecordingError, match="named pipe"):
        CsvRecorder(fifo).open()  # without overwriting too: what it is matters more than that it exists


def test_doctor_root_too_long_is_one_line(capsys) -> None:
    import argparse

    from perfdeck.commands import doctor

    parser = argparse.ArgumentParser()
    doctor.configure(parser)
    code = doctor.run(parser.parse_args(["--no-core", "--root", "/tmp/" + "x" * 300]))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "File name too long" in err
