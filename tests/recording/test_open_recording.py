"""Loading recordings: values as written, strict validation with line numbers, torn last lines,
bounded memory on huge files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from conftest import SPECS, T0, synthetic_value
from perfdeck.model.csvformat import CsvFormatError, format_row, header_line
from perfdeck.model.recorder import CsvRecorder
from perfdeck.model.recording_file import RecordingCancelledError, load_recording

HEADER = "time,elapsed_s,cpu.util.total [%],mem.used [B]\n"
ROW1 = "2026-11-18T11:06:40.000+00:00,0.000,12.5,4000000000\n"
ROW2 = "2026-11-18T11:06:41.000+00:00,1.000,,4000004096\n"


def _write(tmp_path: Path, text: str | bytes, name: str = "rec.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def test_values_and_times_are_loaded_as_written(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    recorder = CsvRecorder(path)
    recorder.open()
    for index in range(20):
        values = {s: synthetic_value(s, index) for s in SPECS}
        recorder.append_values(T0 + index * 0.5, 7.0 + index * 0.5, values, SPECS)
    recorder.close()
    recording = load_recording(path)
    assert len(recording) == 20
    assert [c.series_id for c in recording.columns] == list(SPECS)
    assert recording.columns[4].unit == "°C"
    assert recording.interval == pytest.approx(0.5)
    assert recording.duration == pytest.approx(9.5)
    assert recording.times[0] == T0 and recording.times[-1] == pytest.approx(T0 + 9.5)
    for sid in SPECS:
        for index in range(20):
            expected = synthetic_value(sid, index)
            got = recording.values[sid][index]
            if expected is None:
                assert math.isnan(got)
            else:
                assert got == pytest.approx(expected, rel=1e-11)
    assert recording.warnings == []
    # The loaded recording can feed code written for live data.
    history = recording.to_history()
    assert len(history) == 20
    assert history.specs["mem.used"].unit == "B"
    assert history.latest("cpu.util.total") == pytest.approx(synthetic_value("cpu.util.total", 19))


def test_a_torn_last_line_is_skipped_and_said(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + ROW1 + ROW2 + "2026-11-18T11:06:42.000+00:00,2.000,1")
    recording = load_recording(path)
    assert len(recording) == 2
    assert recording.warnings == [
        "rec.csv line 4 is incomplete (no line end: the recording was probably killed while writing); "
        "it was skipped and the 2 complete rows before it were loaded"]
    assert math.isnan(recording.values["cpu.util.total"][1])


def test_a_file_with_only_a_header_has_no_rows(tmp_path: Path) -> None:
    recording = load_recording(_write(tmp_path, HEADER))
    assert len(recording) == 0 and recording.interval is None


@pytest.mark.parametrize(("text", "line", "message"), [
    ("", 0, "the file is empty"),
    ("time,elapsed_s,cpu", 1, "the header line is incomplete"),
    ("name,age\nbob,3\n", 1, "not a PerfDeck recording: the first two columns must be 'time,elapsed_s', "
                            "found 'name,age'"),
    ("time,elapsed_s,cpu.util.total\n", 1, "column 3 'cpu.util.total' is not a series column"),
    (HEADER + ROW1 + "2026-11-18T11:06:41.000+00:00,1.000,12.5\n", 3,
     "3 cells where the header has 4 (missing"),
    (HEADER + ROW1 + "2026-11-18T11:06:41.000+00:00,1.000,1,2,3\n", 3,
     "5 cells where the header has 4 (extra"),
    (HEADER + ROW1 + "2026-11-18T11:06:41.000+00:00,1.000,12.x,5\n", 3,
     "column 3 'cpu.util.total [%]': '12.x' is not a number"),
    (HEADER + ROW1 + "2026-11-18T11:06:41.000+00:00,1.000,1,1e400\n", 3, "column 4 'mem.used [B]': '1e400'"),
    (HEADER + "2026-11-18 11:06:40,0.000,1,2\n", 2, "is not an ISO 8601 time with a UTC offset"),
    (HEADER + "yesterday,0.000,1,2\n", 2, "'yesterday' is not an ISO 8601 time"),
    (HEADER + "2026-11-18T11:06:40.000+00:00,,1,2\n", 2, "column 2 'elapsed_s' is empty"),
    (HEADER + ROW2 + ROW1, 3, "elapsed_s goes backwards (0 after 1)"),
    (HEADER + ROW1 + "\n" + ROW2, 3, "empty line inside the data"),
    (HEADER + ROW1 + '"unterminated,0,1,2\n' + ROW2, 3, "not valid CSV"),
])
def test_malformed_files_are_refused_with_the_line_and_the_problem(
        tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CsvFormatError) as info:
        load_recording(path)
    assert info.value.line == line
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_binary_garbage_is_refused_as_not_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER.encode() + b"\xff\xfe\x00garbage\n")
    with pytest.raises(CsvFormatError, match="not UTF-8 text"):
        load_recording(path)


def test_a_huge_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "blob.csv"
    with open(path, "wb") as handle:
        handle.write(HEADER.encode())
        chunk = b"x" * (1 << 20)
        for _ in range(40):  # 40 MiB with no line end
            handle.write(chunk)
    tracemalloc.start()
    try:
        with pytest.raises(CsvFormatError, match="line longer than") as info:
            load_recording(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.line == 2
    assert peak < 40 * 1024 * 1024  # a few MiB of buffer, not the 40 MiB line


def test_a_recording_too_large_for_memory_is_refused_early(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        for index in range(20_000):
            handle.write(format_row(T0 + index, float(index), [1.0, 2.0]))
    seen: list[int] = []
    expected = r"too large to open: about 2\d,\d{3} rows, more than 97.7 KiB of values"
    with pytest.raises(CsvFormatError, match=expected) as info:
        load_recording(path, max_bytes=100_000, progress=lambda done, total: seen.append(done))
    assert info.value.line == 201  # judged from the file size after 200 rows, not at the end
    assert not seen
    # Long early rows make the estimate low: the file is then refused when it crosses the limit.
    uneven = tmp_path / "uneven.csv"
    with open(uneven, "w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        for index in range(20_000):
            row = [1.23456789012, 4.56789012345] if index < 1000 else [1.0, 2.0]
            handle.write(format_row(T0 + index, float(index), row))
    with pytest.raises(CsvFormatError, match="too large to open: more than") as info:
        load_recording(uneven, max_bytes=15_000 * 32)
    assert info.value.line == 15_002


def test_loading_is_streamed_memory_stays_near_the_array_size(tmp_path: Path) -> None:
    """A 60,000 x 30 file (about 20 MiB of text) loads with about twice its arrays' size at peak:
    the text is never held whole (all lines and cells at once would take several times more).
    Measured as the growth of peak RSS in a fresh interpreter."""
    columns = 30
    path = tmp_path / "wide.csv"
    rng = np.random.default_rng(1)
    block = rng.random((60_000, columns)) * 100
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("time,elapsed_s," + ",".join(f"fake.series{i} [%]" for i in range(columns)) + "\n")
        for index, row in enumerate(block.tolist()):
            handle.write(format_row(T0 + index, float(index), row))
    code = (
        "import resource, sys, json\n"
        "from perfdeck.model.recording_file import load_recording\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "r = load_recording(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "arrays = sum(v.nbytes for v in r.values.values()) + 3 * r.times.nbytes\n"
        "print(json.dumps({'growth': (after - before) * 1024, 'arrays': arrays, 'rows': len(r),\n"
        "                  'value': r.values['fake.series7'][12345]}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                            check=True)
    report = json.loads(result.stdout)
    assert report["rows"] == 60_000
    assert report["value"] == pytest.approx(block[12345, 7], rel=1e-11)
    assert report["growth"] < 2 * report["arrays"] + 24 * 1024 * 1024, (report, path.stat().st_size)


def test_cancel_stops_loading(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        for index in range(60_000):
            handle.write(format_row(T0 + index, float(index), [1.0, 2.0]))
    with pytest.raises(RecordingCancelledError):
        load_recording(path, cancelled=lambda: True)


def test_a_part_that_does_not_continue_its_base_is_refused(tmp_path: Path) -> None:
    base = _write(tmp_path, HEADER + ROW1, "run.csv")
    _write(tmp_path, "time,elapsed_s,net.rx.eth0 [B/s]\n2026-11-18T11:06:42.000+00:00,2.000,1\n",
           "run.part2.csv")
    with pytest.raises(CsvFormatError, match=r"does not continue run\.csv"):
        load_recording(base)
    # Without parts, the base alone loads.
    assert len(load_recording(base, parts=False)) == 1


def test_header_line_helper_matches_the_loader(tmp_path: Path) -> None:
    from perfdeck.model.csvformat import columns_for

    path = _write(tmp_path, header_line(columns_for(SPECS.values())))
    assert [c.series_id for c in load_recording(path).columns] == list(SPECS)


def test_a_file_saved_again_by_a_spreadsheet_still_opens(tmp_path: Path) -> None:
    """LibreOffice may add a BOM, quote every cell and end lines with CRLF; it is the same data."""
    path = tmp_path / "calc.csv"
    rows = [["time", "elapsed_s", "cpu.util.total [%]", "mem.used [B]"],
            ["2026-11-18T11:06:40.000+00:00", "0.000", "12.5", "4000000000"],
            ["2026-11-18T11:06:41.000+00:00", "1.000", "", "4000004096"]]
    text = "\ufeff" + "".join(",".join(f'"{c}"' for c in row) + "\r\n" for row in rows)
    path.write_text(text, encoding="utf-8", newline="")
    recording = load_recording(path)
    assert len(recording) == 2
    assert recording.values["cpu.util.total"][0] == 12.5 and math.isnan(recording.values["cpu.util.total"][1])


def test_a_pandas_round_trip_keeps_the_values(tmp_path: Path) -> None:
    import pandas as pd

    original = _write(tmp_path, HEADER + ROW1 + ROW2, "orig.csv")
    frame = pd.read_csv(original)
    again = tmp_path / "again.csv"
    frame.to_csv(again, index=False)
    first, second = load_recording(original), load_recording(again)
    assert [c.header for c in second.columns] == [c.header for c in first.columns]
    for sid in first.values:
        np.testing.assert_array_equal(first.values[sid], second.values[sid])
