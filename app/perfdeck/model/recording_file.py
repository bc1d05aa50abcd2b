"""Load a PerfDeck CSV recording into numpy arrays (pure Python, no Qt).

The loader is strict, because a chart of a half-read file would be a half-truth:

* anything that is not PerfDeck CSV, a row with the wrong number of cells, a cell that is not a
  number, a time without a UTC offset or an ``elapsed_s`` that goes backwards is a
  ``CsvFormatError`` naming the file, the line and the problem, and nothing is loaded;
* the one tolerated defect is a torn last line (no line end: the recorder was killed while
  writing). Its complete rows are loaded and ``Recording.warnings`` says that line N was
  incomplete and skipped.

The file is streamed: text is parsed in blocks of rows into float64 arrays, so memory is about
the size of the resulting arrays (8 bytes per cell) however long the lines are, and a file whose
arrays would exceed ``max_bytes`` is refused before it exhausts memory.

Parts written after a column-set change (``run.part2.csv``, ...; see ``model.recorder``) are
loaded with their base file as one timeline when ``parts=True``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perfdeck.model.csvformat import Column, CsvFormatError, parse_header, parse_time, parse_value
from perfdeck.model.history import History
from perfdeck.model.recorder import existing_parts, file_kind
from perfdeck.model.series import SeriesSpec
from perfdeck.model.units import format_bytes

# Cells converted per block: bounds the transient text arrays (about 80 bytes a cell) whatever
# the number of columns.
BLOCK_CELLS = 50_000
ESTIMATE_AFTER_ROWS = 200  # rows read before judging the whole file's size
# Longer lines are refused without reading them whole (a binary file may have no line end at all).
# 4 MiB is room for about 100,000 series in one header.
MAX_LINE_CHARS = 4 * 1024 * 1024
DEFAULT_MAX_BYTES = 2 * 1024**3  # 2 GiB of arrays: e.g. 24 h at 1 Hz of 1,200 series


_SUSPECT = re.compile(r"[^0-9eE+\-.,]")


class RecordingCancelledError(Exception):
    """Loading was cancelled by the caller."""


@dataclass
class Recording:
    """A loaded recording.

    ``times`` are epoch seconds of each row, computed as the first row's wall-clock time plus
    ``elapsed_s`` (monotonic, so the timeline never runs backwards even if the clock was changed
    during the recording); ``wall_times`` are the ``time`` cells as written.
    ``values`` maps series id -> float64 array (NaN where the cell was empty).
    """

    paths: list[Path]
    columns: list[Column]
    times: np.ndarray
    elapsed: np.ndarray
    wall_times: np.ndarray
    values: dict[str, np.ndarray]
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)

    @property
    def path(self) -> Path:
        return self.paths[0]

    @property
    def duration(self) -> float:
        return float(self.elapsed[-1] - self.elapsed[0]) if len(self.elapsed) else 0.0

    @property
    def interval(self) -> float | None:
        """The median sampling interval in seconds (None with fewer than two rows)."""
        if len(self.elapsed) < 2:
            return None
        return float(np.median(np.diff(self.elapsed)))

    def specs(self) -> dict[str, SeriesSpec]:
        """Specs rebuilt from the header (id and unit; label = id, group = id without its last part)."""
        specs = {}
        for column in self.columns:
            sid = column.series_id
            group = sid.rsplit(".", 1)[0] if sid.count(".") >= 2 else sid
            specs[sid] = SeriesSpec(id=sid, label=sid, unit=column.unit, group=group)
        return specs

    def to_history(self) -> History:
        """A ``History`` holding every row, for code that reads data the way live views do."""
        history = History(max(2, len(self)))
        specs = self.specs()
        ids = list(self.values)
        for index, timestamp in enumerate(self.times):
            row = {}
            for sid in ids:
                value = self.values[sid][index]
                row[sid] = None if math.isnan(value) else float(value)
            history.append(float(timestamp), row, specs if index == 0 else None)
        return history


def load_recording(path: str | os.PathLike[str], *, parts: bool = True,
                   max_bytes: int = DEFAULT_MAX_BYTES,
                   progress: Callable[[int, int], None] | None = None,
                   cancelled: Callable[[], bool] | None = None) -> Recording:
    """Load a PerfDeck CSV file (and its ``.partN`` continuations when ``parts``).

    Parameters
    ----------
    path: the CSV file.
    parts: also load ``<name>.part2.csv``... written after a column-set change.
    max_bytes: refuse (``CsvFormatError``) a file whose arrays would exceed this many bytes.
    progress: called with (bytes read, total bytes) after each block.
    cancelled: polled after each block; when it returns True, ``RecordingCancelledError``.

    Raises
    ------
    CsvFormatError: the file is not valid PerfDeck CSV (the message names the line).
    OSError: the file cannot be read.
    """
    base = Path(path)
    refuse_unreadable_kind(base)
    files = [base, *existing_parts(base)] if parts else [base]
    for file in files[1:]:
        refuse_unreadable_kind(file)
    total = sum(f.stat().st_size for f in files)
    done = 0
    warnings: list[str] = []
    loaded: list[_Part] = []
    for index, file in enumerate(files):
        budget = max_bytes - sum(p.nbytes for p in loaded)

        def part_progress(nbytes: int, _offset: int = done) -> None:
            if progress is not None:
                progress(_offset + nbytes, total)

        part = _load_part(file, budget, part_progress, cancelled, warnings)
        done += file.stat().st_size
        if part.torn_line:
            warnings.append(
                f"{file.name} line {part.torn_line} is incomplete (no line end: the recording was "
                f"probably killed while writing); it was skipped and the {part.rows} complete rows "
                "before it were loaded")
        if index and loaded:
            previous = loaded[-1]
            head = [c.series_id for c in part.columns[:len(previous.columns)]]
            if head != [c.series_id for c in previous.columns]:
                raise CsvFormatError(
                    f"{file.name} does not continue {previous.path.name}: its first columns differ, "
                    "so it is not a part of the same recording (open it on its own)", 1, str(file))
            if part.rows and previous.rows and part.elapsed[0] < previous.elapsed[-1]:
                raise CsvFormatError(
                    f"{file.name} starts before {previous.path.name} ends (elapsed_s {part.elapsed[0]:g} "
                    f"< {previous.elapsed[-1]:g}); it is not a continuation of the same recording",
                    2, str(file))
        if not part.rows and index:
            warnings.append(f"{file.name} holds no rows")
        loaded.append(part)
        if index and files[0] == base:
            warnings.append(f"{file.name} was loaded as a continuation of {base.name}")
    return _merge(files, loaded, warnings)


# Kernel pseudo-filesystems: their files say size 0 or lie about it, and some block when read.
_PSEUDO_ROOTS = (Path("/proc"), Path("/sys"))


def refuse_unreadable_kind(path: Path) -> None:
    """Raise ``CsvFormatError`` for anything but a regular file outside /proc and /sys.

    A FIFO, a device or a /proc file can block a reader forever (and a blocked read keeps even
    SIGTERM's Python handler from running), so they are refused before they are opened.
    ``OSError`` (missing file, no permission, a name too long) passes through.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise CsvFormatError(f"this is {file_kind(mode)}, not a regular file; a recording is a .csv file",
                             0, str(path))
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        return
    for root in _PSEUDO_ROOTS:
        if resolved == root or root in resolved.parents:
            raise CsvFormatError(f"this is a kernel file under {root}, not a recording", 0, str(path))


def _open_regular(path: Path) -> io.BufferedReader:
    """Open for reading without ever blocking: O_NONBLOCK, then check the opened file is regular
    (the path may have been swapped for a FIFO since ``refuse_unreadable_kind`` looked at it)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise CsvFormatError(f"this is {file_kind(mode)}, not a regular file; a recording is a .csv file",
                                 0, str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@dataclass
class _Part:
    path: Path
    columns: list[Column]
    wall: np.ndarray
    elapsed: np.ndarray
    data: np.ndarray  # rows x columns
    rows: int
    torn_line: int  # line number of a torn last line, 0 if none

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + self.wall.nbytes + self.elapsed.nbytes


def _load_part(path: Path, max_bytes: int, progress: Callable[[int], None] | None,
               cancelled: Callable[[], bool] | None, notes: list[str]) -> _Part:
    name = str(path)
    with _open_regular(path) as raw:
        size = os.fstat(raw.fileno()).st_size
        if size == 0:
            raise CsvFormatError("the file is empty (no header line): the recording stopped before "
                                 "its first sample", 0, name)
        lines = _numbered_lines(raw, name)
        first = next(lines, None)
        if first is None:
            raise CsvFormatError("the file is empty (no header line)", 0, name)
        number, line = first
        if not line.endswith("\n"):
            raise CsvFormatError("the header line is incomplete (no line end): the recording stopped "
                                 "while writing it", 1, name)
        header_cells = _split(line, 1, name)
        # pandas' default to_csv() adds its index as a first column with an empty name: skip it.
        skip = 1 if len(header_cells) > 2 and header_cells[0] == "" and header_cells[1] == "time" else 0
        if skip:
            notes.append(f"{path.name}: the first column (an unnamed index, as pandas writes) was ignored")
        columns = parse_header(header_cells[skip:], name)
        width = 2 + len(columns) + skip
        row_bytes = 8 * (len(columns) + 2)
        block_rows = max(16, BLOCK_CELLS // width)
        blocks_data: list[np.ndarray] = []
        blocks_wall: list[np.ndarray] = []
        blocks_elapsed: list[np.ndarray] = []
        rows = 0
        data_chars = 0
        torn_line = 0
        last_elapsed = -math.inf
        pending: list[tuple[int, list[str]]] = []

        def flush_block() -> None:
            nonlocal last_elapsed
            if not pending:
                return
            wall, elapsed, data = _convert(pending, columns, name, last_elapsed)
            last_elapsed = float(elapsed[-1])
            blocks_wall.append(wall)
            blocks_elapsed.append(elapsed)
            blocks_data.append(data)
            pending.clear()
            if progress is not None:
                progress(raw.tell())
            if cancelled is not None and cancelled():
                raise RecordingCancelledError(f"loading {path.name} was cancelled")

        for number, line in lines:
            if not line.endswith("\n"):
                torn_line = number  # only the last line can lack its end
                break
            body = line.rstrip("\r\n")
            if not body:
                raise CsvFormatError("empty line inside the data", number, name)
            # PerfDeck rows never need quoting, so a plain split is exact; anything quoted goes
            # through the csv module so that a file from elsewhere is judged by real CSV rules.
            cells = _split(line, number, name) if '"' in body else body.split(",")
            if len(cells) != width:
                raise CsvFormatError(
                    f"{len(cells)} cells where the header has {width} "
                    f"({'missing cells' if len(cells) < width else 'extra cells'})", number, name)
            pending.append((number, cells[skip:] if skip else cells))
            rows += 1
            data_chars += len(line)
            if rows == ESTIMATE_AFTER_ROWS:
                # Refuse a file that cannot fit at once, from its size and its first rows' length,
                # instead of after parsing gigabytes of it.
                estimated_rows = int(rows * (size - len(first[1])) / max(1, data_chars))
                if estimated_rows * row_bytes > max_bytes:
                    raise _too_large(max_bytes, len(columns), name, number, estimated_rows)
            if rows * row_bytes > max_bytes:
                raise _too_large(max_bytes, len(columns), name, number)
            if len(pending) >= block_rows:
                flush_block()
        flush_block()
    if blocks_data:
        data = np.concatenate(blocks_data) if len(blocks_data) > 1 else blocks_data[0]
        wall = np.concatenate(blocks_wall)
        elapsed = np.concatenate(blocks_elapsed)
    else:
        data = np.empty((0, len(columns)))
        wall = np.empty(0)
        elapsed = np.empty(0)
    return _Part(path, columns, wall, elapsed, data, rows, torn_line)


def _too_large(max_bytes: int, series: int, name: str, line: int, estimated_rows: int = 0) -> CsvFormatError:
    about = f"about {estimated_rows:,} rows, " if estimated_rows else ""
    return CsvFormatError(
        f"the recording is too large to open: {about}more than {format_bytes(max_bytes)} of values "
        f"({series} series); open a shorter part, or export fewer series", line, name)


def _numbered_lines(raw: io.BufferedReader, name: str):
    """Yield (line number, line) from a binary file. Each line is decoded on its own, so a bad byte
    is reported on its own line (a text wrapper decodes 8 KiB ahead and blames an earlier line)."""
    number = 0
    while True:
        data = raw.readline(MAX_LINE_CHARS + 1)
        if not data:
            return
        number += 1
        if len(data) > MAX_LINE_CHARS:
            raise CsvFormatError(f"line longer than {MAX_LINE_CHARS} characters: not a PerfDeck CSV line",
                                 number, name)
        if data.endswith(b"\r\n"):
            data = data[:-2] + b"\n"
        try:
            line = data.decode("utf-8-sig" if number == 1 else "utf-8")  # -sig: drops a BOM
        except UnicodeDecodeError as exc:
            raise CsvFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start + 1} of the line); "
                                 "a PerfDeck CSV is UTF-8", number, name) from exc
        yield number, line


def _split(line: str, number: int, name: str) -> list[str]:
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error as exc:
        raise CsvFormatError(f"not valid CSV: {exc}", number, name) from exc
    except StopIteration:
        return []


def _convert(pending: list[tuple[int, list[str]]], columns: list[Column], name: str,
             last_elapsed: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn a block of split rows into arrays, with a precise error for the first bad cell."""
    wall = np.empty(len(pending))
    elapsed = np.empty(len(pending))
    for index, (number, cells) in enumerate(pending):
        try:
            wall[index] = parse_time(cells[0])
        except ValueError as exc:
            raise CsvFormatError(f"column 1 'time': {cells[0]!r} is not an ISO 8601 time with a UTC "
                                 f"offset ({exc})", number, name) from exc
        try:
            value = parse_value(cells[1])
        except ValueError as exc:
            raise CsvFormatError(f"column 2 'elapsed_s': {cells[1]!r} is not a number", number, name) from exc
        if value is None:
            raise CsvFormatError("column 2 'elapsed_s' is empty", number, name)
        if value < last_elapsed:
            raise CsvFormatError(f"elapsed_s goes backwards ({value:g} after {last_elapsed:g})", number, name)
        elapsed[index] = last_elapsed = value
    # Fast path: float() on each cell. Rows with letters other than the exponent's (nan, inf),
    # blanks or underscores ("1_000") take the strict path (parse_value), which names the column.
    nan = math.nan
    rows = []
    try:
        for _number, cells in pending:
            values = cells[2:]
            if _SUSPECT.search(",".join(values)):
                rows.append([_strict(v) for v in values])
            else:
                rows.append([float(v) if v else nan for v in values])
        data = np.array(rows, dtype=np.float64).reshape(len(pending), len(columns))
    except ValueError:
        _raise_first_bad_cell(pending, columns, name)
        raise
    if np.isinf(data).any():  # "1e400" overflows float() to inf, which the format never holds
        _raise_first_bad_cell(pending, columns, name)
    return wall, elapsed, data


def _strict(text: str) -> float:
    value = parse_value(text)
    return math.nan if value is None else value


def _raise_first_bad_cell(pending: list[tuple[int, list[str]]], columns: list[Column], name: str) -> None:
    for number, cells in pending:
        for index, cell in enumerate(cells[2:]):
            try:
                parse_value(cell)
            except ValueError as exc:
                header = columns[index].header
                raise CsvFormatError(f"column {index + 3} {header!r}: {cell!r} is not a number ({exc})",
                                     number, name) from exc


def _merge(files: list[Path], parts: list[_Part], warnings: list[str]) -> Recording:
    columns = parts[-1].columns  # each part's columns extend the previous part's
    width = len(columns)
    rows = sum(p.rows for p in parts)
    data = np.full((rows, width), np.nan) if len(parts) > 1 else parts[0].data
    if len(parts) > 1:
        offset = 0
        for part in parts:
            data[offset:offset + part.rows, :len(part.columns)] = part.data
            offset += part.rows
    wall = np.concatenate([p.wall for p in parts])
    elapsed = np.concatenate([p.elapsed for p in parts])
    times = wall[0] + (elapsed - elapsed[0]) if rows else wall.copy()
    # Columns as contiguous arrays, so plots and slices do not drag the whole matrix along.
    values = {c.series_id: np.ascontiguousarray(data[:, i]) for i, c in enumerate(columns)}
    return Recording(paths=files, columns=columns, times=times, elapsed=elapsed, wall_times=wall,
                     values=values, warnings=warnings)
