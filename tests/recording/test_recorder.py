"""The continuous CSV writer: whole rows, flush policy, fixed columns and part files."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from conftest import SPECS, T0, synthetic_value
from perfdeck.model.recorder import CsvRecorder, RecordingError, part_path
from perfdeck.model.recording_file import load_recording
from perfdeck.model.series import SeriesSpec


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _values(index: int) -> dict[str, float | None]:
    return {sid: synthetic_value(sid, index) for sid in SPECS}


def _record(path: Path, rows: int, clock: FakeClock | None = None, **kwargs) -> CsvRecorder:
    recorder = CsvRecorder(path, clock=clock or FakeClock(), **kwargs)
    recorder.open()
    for index in range(rows):
        recorder.append_values(T0 + index, 50.0 + index, _values(index), SPECS)
    return recorder


def test_rows_are_written_with_empty_cells_for_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    recorder = _record(path, 10)
    recorder.close()
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["time", "elapsed_s", "cpu.util.total [%]", "cpu.util.core0 [%]", "mem.used [B]",
                       "net.rx.eth0 [B/s]", "sensors.temp.coretemp_package [°C]"]
    assert len(rows) == 11
    assert rows[1][0] == "2026-11-18T11:06:40.000+00:00"
    assert rows[1][1] == "0.000" and rows[4][1] == "3.000"  # elapsed from the monotonic clock
    assert rows[1][5] == ""  # the rate's first tick has no value: empty, not 0
    assert rows[4][3] == ""  # a gap
    assert float(rows[3][4]) == synthetic_value("mem.used", 2)
    frame = pd.read_csv(path)
    assert frame.shape == (10, 7)
    assert frame["net.rx.eth0 [B/s]"].isna().sum() == 1
    assert frame["sensors.temp.coretemp_package [°C]"].iloc[9] == pytest.approx(
        synthetic_value("sensors.temp.coretemp_package", 9))


def test_elapsed_follows_the_monotonic_clock_not_the_wall_clock(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    recorder = CsvRecorder(path, clock=FakeClock())
    recorder.open()
    recorder.append_values(T0, 10.0, _values(0), SPECS)
    recorder.append_values(T0 - 3600, 11.0, _values(1), SPECS)  # the wall clock was set back an hour
    recorder.close()
    recording = load_recording(path)
    assert list(recording.elapsed) == [0.0, 1.0]
    assert list(recording.times) == [T0, T0 + 1]  # the timeline stays monotonic


def test_rows_wait_in_memory_at_most_the_flush_interval(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    clock = FakeClock()
    recorder = _record(path, 3, clock)
    header_only = path.read_text(encoding="utf-8")
    assert header_only.count("\n") == 1  # header written at once, rows buffered
    assert recorder.rows == 3 and recorder.rows_written == 0
    assert recorder.flush_deadline() == pytest.approx(105.0)
    clock.now = 104.9
    recorder.flush_if_due()
    assert recorder.rows_written == 0
    clock.now = 105.0
    recorder.flush_if_due()
    assert recorder.rows_written == 3
    assert path.read_text(encoding="utf-8").count("\n") == 4
    assert recorder.flush_deadline() is None
    recorder.close()


def test_append_flushes_when_the_oldest_row_is_due(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    clock = FakeClock()
    recorder = CsvRecorder(path, clock=clock)
    recorder.open()
    for index in range(11):
        clock.now = 100.0 + index
        recorder.append_values(T0 + index, float(index), _values(index), SPECS)
    # Rows 0-5 went out when row 5 arrived (row 0 had waited 5 s); rows 6-10 wait.
    assert recorder.rows_written == 6
    recorder.close()
    assert recorder.rows_written == 11
    assert len(load_recording(path)) == 11


def test_existing_file_is_refused_unless_overwriting(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    path.write_text("precious\n")
    with pytest.raises(RecordingError, match="already exists"):
        CsvRecorder(path).open()
    assert path.read_text() == "precious\n"
    recorder = CsvRecorder(path, overwrite=True)
    recorder.open()
    recorder.close()
    assert path.read_text() == ""


@pytest.mark.parametrize(("make_target", "message"), [
    (lambda d: d / "missing" / "run.csv", "No such file or directory"),
    (lambda d: d, "is a directory"),
])
def test_unwritable_paths_fail_on_open_with_a_clear_message(tmp_path: Path, make_target, message) -> None:
    with pytest.raises(RecordingError, match=message):
        CsvRecorder(make_target(tmp_path)).open()


def test_new_series_continue_in_a_part_file_and_columns_never_shift(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    clock = FakeClock()
    recorder = _record(path, 3, clock)
    more = dict(SPECS)
    more["net.rx.wlan0"] = SeriesSpec("net.rx.wlan0", "wlan0 rx", "B/s")
    for index in range(3, 6):
        values = _values(index) | {"net.rx.wlan0": 7.0 * index}
        recorder.append_values(T0 + index, 50.0 + index, values, more)
    recorder.close()
    part2 = tmp_path / "run.part2.csv"
    assert recorder.paths == [path, part2]
    base_header = path.read_text(encoding="utf-8").splitlines()[0]
    part_header = part2.read_text(encoding="utf-8").splitlines()[0]
    assert part_header == base_header + ",net.rx.wlan0 [B/s]"
    assert len(path.read_text().splitlines()) == 4  # header + rows 0-2, untouched by the newcomer
    assert any("continuing in run.part2.csv" in note for note in recorder.notes)
    # Opening the base file loads both as one timeline; the new series is empty before it appeared.
    recording = load_recording(path)
    assert len(recording) == 6
    assert list(recording.elapsed) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    wlan = recording.values["net.rx.wlan0"]
    assert all(v != v for v in wlan[:3]) and list(wlan[3:]) == [21.0, 28.0, 35.0]
    assert any("continuation" in w for w in recording.warnings)


def test_series_that_disappear_keep_their_column_with_empty_cells(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    recorder = _record(path, 2)
    fewer = {k: v for k, v in SPECS.items() if k != "net.rx.eth0"}
    recorder.append_values(T0 + 2, 52.0, {k: 1.0 for k in fewer}, fewer)
    recorder.close()
    assert recorder.paths == [path]
    last = path.read_text(encoding="utf-8").splitlines()[-1].split(",")
    assert last[5] == ""


def test_stale_parts_of_an_old_recording(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    stale = part_path(path, 2)
    stale.write_text("old\n")
    with pytest.raises(RecordingError, match="part of an earlier recording"):
        CsvRecorder(path).open()
    recorder = CsvRecorder(path, overwrite=True)
    recorder.open()
    assert not stale.exists()  # overwriting a recording replaces its parts too
    recorder.close()


def test_close_is_idempotent_and_appends_after_close_fail(tmp_path: Path) -> None:
    recorder = _record(tmp_path / "run.csv", 2)
    recorder.close()
    recorder.close()
    with pytest.raises(RecordingError, match="not open"):
        recorder.append_values(T0, 1.0, {}, SPECS)


def test_part_path_naming() -> None:
    assert part_path(Path("/x/run.csv"), 2) == Path("/x/run.part2.csv")
    assert part_path(Path("/x/run.CSV"), 3) == Path("/x/run.part3.CSV")
    assert part_path(Path("/x/run"), 2) == Path("/x/run.part2")
