"""The PerfDeck CSV format, shared by recordings (``perfdeck record``, File > Record) and exports.

One format, documented in ``docs/csv-format.md``::

    time,elapsed_s,cpu.util.total [%],mem.used [B],net.rx.eth0 [B/s]
    2026-11-25T22:03:21.123+00:00,0.000,12.5,4123456512,
    2026-11-25T22:03:22.124+00:00,1.001,9.75,4123492352,18432.5

* ``time``: wall-clock time of the sample, ISO 8601 with milliseconds and a UTC offset (always
  written in UTC, ``+00:00``; any offset is accepted when reading).
* ``elapsed_s``: seconds since the first row, from the monotonic clock when recording (so it never
  jumps when the wall clock is adjusted), with millisecond resolution.
* one column per series, named ``<series id> [<unit>]``. A value that could not be read is an
  empty cell, never 0. Values use up to 12 significant digits (exact for integers below 10^12).
* UTF-8 without a byte-order mark, ``\\n`` line ends, a single header line and no comments, so
  pandas, LibreOffice and Python's ``csv`` module read it as it is.

A file is recognised as PerfDeck's by its first two column names (exactly ``time,elapsed_s``) and
by every further column matching ``<id> [<unit>]``; no comment line is needed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from perfdeck.model.series import SeriesSpec

TIME_COLUMN = "time"
ELAPSED_COLUMN = "elapsed_s"
FIXED_COLUMNS = (TIME_COLUMN, ELAPSED_COLUMN)
# Series ids are dotted, each part [A-Za-z0-9_-] (instance names are sanitised to that set).
# Units are free text without brackets or commas ("%", "B/s", "°C", "" for dimensionless).
_SERIES_ID = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*"
SERIES_COLUMN_RE = re.compile(rf"^(?P<id>{_SERIES_ID}) \[(?P<unit>[^\[\],\"\r\n]*)\]$")
# Significant digits: integers below 10^12 (a terabyte in bytes) stay exact, and float noise such as
# 0.999999999999801 is written 1. Far finer than any sampled value is precise.
VALUE_DIGITS = 12
_VALUE_SPEC = f".{VALUE_DIGITS}g"


class CsvFormatError(ValueError):
    """A file, a header or a row that is not valid PerfDeck CSV.

    ``line`` is the 1-based line number in the file (0 when unknown); ``str()`` names it.
    """

    def __init__(self, message: str, line: int = 0, path: str = "") -> None:
        self.message = message
        self.line = line
        self.path = path
        where = path
        if line:
            where = f"{where} line {line}" if where else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True, slots=True)
class Column:
    """A series column: its id and unit, as in the header cell ``<id> [<unit>]``."""

    series_id: str
    unit: str

    @property
    def header(self) -> str:
        return column_name(self.series_id, self.unit)


def column_name(series_id: str, unit: str) -> str:
    """The header cell for a series: ``cpu.util.total [%]``.

    Raises ``ValueError`` for an id or unit the format cannot carry (so a bad spec is caught when
    the file is written, not when someone tries to read it).
    """
    name = f"{series_id} [{unit}]"
    if not SERIES_COLUMN_RE.match(name):
        raise ValueError(f"series {series_id!r} with unit {unit!r} cannot be a PerfDeck CSV column")
    return name


def columns_for(specs: Iterable[SeriesSpec]) -> list[Column]:
    """The series columns for ``specs``, in the given order."""
    return [Column(spec.id, spec.unit) for spec in specs]


def header_line(columns: Sequence[Column]) -> str:
    """The header line, newline included."""
    return ",".join([*FIXED_COLUMNS, *(c.header for c in columns)]) + "\n"


def parse_header(cells: Sequence[str], path: str = "") -> list[Column]:
    """Validate a header row (already split into cells) and return its series columns.

    Raises ``CsvFormatError`` (line 1) naming what is wrong: a file whose first two columns are
    not ``time,elapsed_s`` is "not a PerfDeck recording"; a bad series column is named.
    """
    if not cells or (len(cells) == 1 and not cells[0].strip()):
        raise CsvFormatError("the header line is empty; a PerfDeck CSV starts with 'time,elapsed_s,...'",
                             1, path)
    first = [c.lstrip("\ufeff") if i == 0 else c for i, c in enumerate(cells[:2])]
    if tuple(first) != FIXED_COLUMNS:
        found = ",".join(cells[:2])
        raise CsvFormatError(
            f"not a PerfDeck recording: the first two columns must be 'time,elapsed_s', found {found!r}",
            1, path)
    columns: list[Column] = []
    seen: set[str] = set()
    for index, cell in enumerate(cells[2:], start=3):
        match = SERIES_COLUMN_RE.match(cell)
        if not match:
            raise CsvFormatError(
                f"column {index} {cell!r} is not a series column; expected '<series id> [<unit>]', "
                "e.g. 'cpu.util.total [%]'", 1, path)
        series_id = match["id"]
        if series_id in seen:
            raise CsvFormatError(f"column {index}: series {series_id!r} appears twice", 1, path)
        seen.add(series_id)
        columns.append(Column(series_id, match["unit"]))
    return columns


def format_time(timestamp: float) -> str:
    """Epoch seconds -> ``2026-11-25T22:03:21.123+00:00`` (UTC, milliseconds)."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def parse_time(text: str) -> float:
    """ISO 8601 with a UTC offset -> epoch seconds. Raises ``ValueError`` without an offset."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset (expected e.g. 2026-11-25T22:03:21.123+00:00)")
    return moment.timestamp()


def format_value(value: float | None) -> str:
    """A cell: empty for a missing value (None, NaN or infinite), else up to 12 significant digits."""
    if value is None or not math.isfinite(value):
        return ""
    return format(value, _VALUE_SPEC)


def parse_value(text: str) -> float | None:
    """A cell -> float, or None for a missing value. Raises ``ValueError`` for anything else.

    Missing: an empty or blank cell (what PerfDeck writes), or ``NaN``/``nan`` (what pandas writes
    with ``na_rep='NaN'``), so a file re-saved by pandas still opens. Infinities (``inf``, or
    ``1e400``, which overflows) are refused: the format never holds them.
    """
    text = text.strip()
    if not text:
        return None
    if "_" in text:  # float() would take "1_000"; no CSV reader does
        raise ValueError(f"{text!r} is not a plain number")
    if text.lower() in _NAN_WORDS:
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number (a missing value is an empty cell)")
    return value


# What common tools write for a missing value (pandas na_rep='NaN', numpy's str(nan)); never "inf".
_NAN_WORDS = frozenset({"nan", "-nan", "+nan"})


def format_row(timestamp: float, elapsed: float, values: Sequence[float | None]) -> str:
    """One data line, newline included. ``values`` are in column order; each cell is what
    ``format_value`` writes (inlined: a recorder formats every series once a second, and a call
    per cell was most of that)."""
    isfinite, spec = math.isfinite, _VALUE_SPEC
    cells = [format_time(timestamp), f"{elapsed:.3f}"]
    cells += ["" if v is None or not isfinite(v) else format(v, spec) for v in values]
    return ",".join(cells) + "\n"


def row_values(columns: Sequence[Column], values: Mapping[str, float | None]) -> list[float | None]:
    """Pick ``values`` in column order (None where a series has no value)."""
    return [values.get(c.series_id) for c in columns]


def looks_like_perfdeck_header(first_line: str) -> bool:
    """Cheap check on a raw first line, for file pickers and error messages."""
    cells = first_line.rstrip("\r\n").split(",")
    try:
        parse_header(cells)
    except CsvFormatError:
        return False
    return True
