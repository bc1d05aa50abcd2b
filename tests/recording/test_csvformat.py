"""The CSV format: column names, header validation, time and value cells."""

from __future__ import annotations

import math

import pytest

from perfdeck.model.csvformat import (
    Column,
    CsvFormatError,
    column_name,
    format_row,
    format_time,
    format_value,
    header_line,
    looks_like_perfdeck_header,
    parse_header,
    parse_time,
    parse_value,
)


def test_column_names_carry_id_and_unit() -> None:
    assert column_name("cpu.util.total", "%") == "cpu.util.total [%]"
    assert column_name("membw.read.total", "GB/s") == "membw.read.total [GB/s]"
    assert column_name("sensors.temp.k10temp_Tctl", "°C") == "sensors.temp.k10temp_Tctl [°C]"
    assert column_name("perf.ipc.total", "") == "perf.ipc.total []"


@pytest.mark.parametrize(("series_id", "unit"), [
    ("cpu util", "%"), ("cpu.util", "a,b"), ("cpu.util", "[x]"), ("", "%"), ("cpu.", "%"), ("a", 'q"')])
def test_column_name_refuses_what_the_format_cannot_carry(series_id: str, unit: str) -> None:
    with pytest.raises(ValueError, match="cannot be a PerfDeck CSV column"):
        column_name(series_id, unit)


def test_header_round_trip() -> None:
    columns = [Column("cpu.util.total", "%"), Column("net.rx.eth0", "B/s"),
               Column("sensors.fan.it87_fan1", "RPM")]
    line = header_line(columns)
    assert line == "time,elapsed_s,cpu.util.total [%],net.rx.eth0 [B/s],sensors.fan.it87_fan1 [RPM]\n"
    assert parse_header(line.rstrip("\n").split(",")) == columns
    assert looks_like_perfdeck_header(line)


def test_header_with_byte_order_mark_is_accepted() -> None:
    # LibreOffice can save UTF-8 with a BOM; the columns are still PerfDeck's.
    assert parse_header(["\ufefftime", "elapsed_s", "cpu.util.total [%]"]) == [Column("cpu.util.total", "%")]


@pytest.mark.parametrize(("cells", "message"), [
    (["date", "value"], "not a PerfDeck recording: the first two columns must be 'time,elapsed_s'"),
    (["elapsed_s", "time", "cpu.util.total [%]"], "not a PerfDeck recording"),
    (["time"], "not a PerfDeck recording"),
    ([""], "the header line is empty"),
    (["time", "elapsed_s", "cpu.util.total"], "column 3 'cpu.util.total' is not a series column"),
    (["time", "elapsed_s", "cpu.util.total [%]", "cpu.util.total [%]"],
     "column 4: series 'cpu.util.total' appears twice"),
])
def test_bad_headers_are_named(cells: list[str], message: str) -> None:
    with pytest.raises(CsvFormatError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        parse_header(cells, "x.csv")
    assert info.value.line == 1
    assert str(info.value).startswith("x.csv line 1: ")


def test_time_cells_are_iso_8601_with_offset_and_milliseconds() -> None:
    text = format_time(1_795_000_000.1234)
    assert text == "2026-11-18T11:06:40.123+00:00"
    assert parse_time(text) == pytest.approx(1_795_000_000.123)
    # Any offset is read, and Z too; a time without an offset is ambiguous and refused.
    assert parse_time("2026-11-18T12:06:40.123+01:00") == pytest.approx(1_795_000_000.123)
    assert parse_time("2026-11-18T11:06:40Z") == 1_795_000_000.0
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_time("2026-11-18T11:06:40")


def test_missing_values_are_empty_cells_never_zero() -> None:
    assert format_value(None) == ""
    assert format_value(math.nan) == ""
    assert format_value(math.inf) == ""
    assert format_value(0.0) == "0"
    assert parse_value("") is None
    assert parse_value("0") == 0.0


def test_values_keep_integers_exact_and_drop_float_noise() -> None:
    assert format_value(25_276_514_304.0) == "25276514304"
    assert format_value(0.1 + 0.2) == "0.3"
    assert format_value(0.999999999999801) == "1"
    assert format_value(1.5e-7) == "1.5e-07"
    assert parse_value("1.5e-07") == 1.5e-7
    assert format_value(12.345678) == "12.345678"


@pytest.mark.parametrize("text", ["abc", "inf", "-inf", "1e400", "-1e999", "Infinity", "1,5", "0x10"])
def test_bad_value_cells_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_value(text)


def test_row_layout() -> None:
    row = format_row(1_795_000_000.0, 1.0004, [12.5, None, 3.0])
    assert row == "2026-11-18T11:06:40.000+00:00,1.000,12.5,,3\n"


@pytest.mark.parametrize("text", ["", "   ", "nan", "NaN", "-nan"])
def test_missing_value_spellings_read_as_missing(text: str) -> None:
    # Empty is what PerfDeck writes; blank and NaN are what spreadsheets and pandas (na_rep="NaN") write.
    assert parse_value(text) is None


def test_row_cells_are_exactly_what_format_value_writes() -> None:
    """``format_row`` inlines ``format_value``: every kind of value gives the same cell."""
    values = [None, math.nan, math.inf, -math.inf, 0, 0.0, -0.0, 7, 2**53 + 1, 1e-300, 1e300, 1 / 3,
              -123456.789012345, 99.99999999999, 1e12, 1e15 + 0.5, 5e-324, True]
    cells = format_row(0.0, 0.0, values).rstrip("\n").split(",")[2:]
    assert cells == [format_value(v) for v in values]
