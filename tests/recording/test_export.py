"""Export from History: series selection, ranges, averages, atomic replacement, cancellation."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import SPECS, T0, synthetic_value
from perfdeck.model import export as export_module
from perfdeck.model.export import (
    CsvExport,
    ExportCancelledError,
    ExportError,
    ExportRequest,
    export_history,
    series_for_families,
)
from perfdeck.model.history import History
from perfdeck.model.recording_file import load_recording


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_raw_export_round_trips_every_value(tmp_path: Path, make_history) -> None:
    history = make_history(rows=50)
    path = tmp_path / "all.csv"
    result = export_history(history, path, ExportRequest(tuple(SPECS)))
    assert result.rows == 50 and result.columns == 5 and result.bytes == path.stat().st_size
    recording = load_recording(path)
    assert len(recording) == 50
    assert recording.times[0] == T0 and recording.elapsed[-1] == pytest.approx(49.0)
    for sid in SPECS:
        for index in range(50):
            expected = synthetic_value(sid, index)
            got = recording.values[sid][index]
            assert math.isnan(got) if expected is None else got == pytest.approx(expected, rel=1e-11)
    frame = pd.read_csv(path)  # pandas reads it as it is
    assert list(frame.columns)[:3] == ["time", "elapsed_s", "cpu.util.total [%]"]
    assert _leftovers(tmp_path) == []


def test_family_selection_and_single_series(tmp_path: Path, make_history) -> None:
    history = make_history(rows=5)
    assert series_for_families(history, ["cpu"]) == ["cpu.util.total", "cpu.util.core0"]
    assert series_for_families(history, ["net", "sensors"]) == [
        "net.rx.eth0", "sensors.temp.coretemp_package"]
    path = tmp_path / "mem.csv"
    export_history(history, path, ExportRequest(("mem.used",)))
    assert path.read_text(encoding="utf-8").splitlines()[0] == "time,elapsed_s,mem.used [B]"


def test_range_start_and_end_are_inclusive(tmp_path: Path, make_history) -> None:
    history = make_history(rows=100)
    path = tmp_path / "range.csv"
    result = export_history(history, path, ExportRequest(("cpu.util.total",), start=T0 + 10, end=T0 + 19))
    assert result.rows == 10
    recording = load_recording(path)
    assert recording.times[0] == T0 + 10 and recording.times[-1] == T0 + 19
    assert recording.elapsed[0] == 0.0  # elapsed counts from the first exported row
    assert recording.values["cpu.util.total"][0] == pytest.approx(synthetic_value("cpu.util.total", 10))


def test_chunks_split_rows_exactly_once(tmp_path: Path, make_history) -> None:
    """Tiny steps (one row each) give the same file as one big step, duplicates included."""
    history = make_history(rows=30, interval=0.5, capacity=40)
    history.append(T0 + 14.5, {"cpu.util.total": 99.0}, None)  # a duplicate timestamp at the end
    request = ExportRequest(tuple(SPECS))
    small = CsvExport(history, tmp_path / "small.csv", request, cells_per_step=1)
    small.run()
    big = CsvExport(history, tmp_path / "big.csv", request, cells_per_step=10**9)
    big.run()
    assert (tmp_path / "small.csv").read_bytes() == (tmp_path / "big.csv").read_bytes()
    assert small.total_rows == small.done_rows == small.rows_written == 31


def test_averages_over_bins_aligned_to_the_epoch(tmp_path: Path) -> None:
    history = History(100)
    start = 1_795_000_020.0  # 20 s past a minute
    for index in range(100):  # 0.5 s ticks over 50 s
        value = None if 40 <= index < 60 else float(index)  # 10 s with no value at all
        history.append(start + index * 0.5, {"cpu.util.total": value}, SPECS)
    path = tmp_path / "avg.csv"
    result = export_history(history, path, ExportRequest(("cpu.util.total",), average_seconds=10))
    recording = load_recording(path)
    # Bins start on multiples of 10 s since the epoch: :20, :30, :40, :50, :00 (5 bins of 20 ticks).
    assert result.rows == 5
    assert list(recording.wall_times - start) == [0, 10, 20, 30, 40]
    values = recording.values["cpu.util.total"]
    assert values[0] == pytest.approx(np.mean(range(0, 20)))
    assert values[1] == pytest.approx(np.mean(range(20, 40)))
    assert math.isnan(values[2])  # no sample had a value: empty, not 0
    assert values[4] == pytest.approx(np.mean(range(80, 100)))


def test_average_bins_are_not_split_between_steps(tmp_path: Path, make_history) -> None:
    history = make_history(rows=200, interval=0.25)
    request = ExportRequest(tuple(SPECS), average_seconds=3)
    CsvExport(history, tmp_path / "a.csv", request, cells_per_step=7).run()
    CsvExport(history, tmp_path / "b.csv", request, cells_per_step=10**9).run()
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    times = load_recording(tmp_path / "a.csv").wall_times
    assert np.all(np.diff(times) == 3)


def test_partial_edge_bin_averages_only_samples_in_range(tmp_path: Path, make_history) -> None:
    history = make_history(rows=40)
    path = tmp_path / "edge.csv"
    export_history(history, path, ExportRequest(("cpu.util.total",), start=T0 + 5, end=T0 + 24,
                                                average_seconds=10))
    recording = load_recording(path)
    first_bin = math.floor((T0 + 5) / 10) * 10
    assert recording.wall_times[0] == first_bin
    in_first = [i for i in range(5, 25) if first_bin <= T0 + i < first_bin + 10]
    expected = np.mean([synthetic_value("cpu.util.total", i) for i in in_first])
    assert recording.values["cpu.util.total"][0] == pytest.approx(expected)


def test_a_failure_mid_export_leaves_the_old_file_untouched(tmp_path: Path, make_history,
                                                            monkeypatch) -> None:
    history = make_history(rows=200)
    path = tmp_path / "out.csv"
    path.write_text("the previous export\n")
    export = CsvExport(history, path, ExportRequest(tuple(SPECS)), cells_per_step=50)
    export.step()
    export.step()
    assert _leftovers(tmp_path)  # the temporary file exists while exporting
    calls = {"n": 0}
    real = export_module.format_time

    def failing(timestamp: float) -> str:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(28, "No space left on device")
        return real(timestamp)

    monkeypatch.setattr(export_module, "format_time", failing)
    with pytest.raises(ExportError, match=r"disk full while exporting .*the existing file is unchanged"):
        while not export.step():
            pass
    assert path.read_text() == "the previous export\n"
    assert _leftovers(tmp_path) == []


def test_cancel_leaves_no_file(tmp_path: Path, make_history) -> None:
    history = make_history(rows=500)
    path = tmp_path / "cancelled.csv"
    seen: list[tuple[int, int]] = []
    with pytest.raises(ExportCancelledError):
        CsvExport(history, path, ExportRequest(tuple(SPECS)), cells_per_step=100).run(
            progress=lambda done, total: seen.append((done, total)), cancelled=lambda: len(seen) >= 3)
    assert not path.exists() and _leftovers(tmp_path) == []
    assert seen[0] == (20, 500) and seen[-1][0] < 500


@pytest.mark.parametrize(("target", "message"), [
    (lambda d: d / "missing" / "x.csv", "the folder .* does not exist"),
    (lambda d: d, "is a directory"),
    (lambda d: Path("/proc/version/x.csv"), "does not exist|Not a directory"),
])
def test_unwritable_targets_give_a_clear_message(tmp_path: Path, make_history, target, message) -> None:
    with pytest.raises(ExportError, match=message):
        export_history(make_history(rows=3), target(tmp_path), ExportRequest(tuple(SPECS)))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_is_reported(tmp_path: Path, make_history) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ExportError, match=r"cannot write in .*Permission denied"):
            export_history(make_history(rows=3), tmp_path / "x.csv", ExportRequest(tuple(SPECS)))
    finally:
        tmp_path.chmod(0o700)


def test_an_empty_history_exports_a_header(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    result = export_history(History(10), path, ExportRequest(()))
    assert result.rows == 0
    assert path.read_text() == "time,elapsed_s\n"


def test_exported_file_gets_normal_permissions(tmp_path: Path, make_history) -> None:
    path = tmp_path / "perm.csv"
    export_history(make_history(rows=3), path, ExportRequest(tuple(SPECS)))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
