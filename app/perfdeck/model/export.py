"""Export series from a ``History`` to a PerfDeck CSV file (pure Python, no Qt).

* Choose series (``series_for_families`` expands family names), a time range, and raw samples or
  averages over N-second bins.
* The file appears complete or not at all: rows go to a temporary file in the same directory,
  which is fsynced and then renamed over the target with ``os.replace``. A failure (unwritable
  directory, full disk) or a cancellation removes the temporary file and leaves any existing file
  with that name untouched.
* The work is done in steps of a bounded number of cells (``CsvExport.step``), so the window can
  run it from its event loop with a progress dialog without freezing, reading the ``History``
  only from the GUI thread that owns it. ``export_history`` runs all steps at once.

Averages: bins are aligned to multiples of N seconds since the Unix epoch (60 s bins start on
the minute), each row's ``time`` is the start of its bin, and a value is the mean of the samples
that have one (an empty cell when none has); bins at the edges of the range average only the
samples inside the range.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perfdeck.model.csvformat import Column, column_name, format_time, format_value, header_line
from perfdeck.model.history import History
from perfdeck.model.recorder import _mode, file_kind, is_dir, lexists

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
GUI_STEP_CELLS = 20_000  # about 20-40 ms of formatting per step on a slow core
BATCH_STEP_CELLS = 400_000


class ExportError(Exception):
    """The export failed; ``str()`` is a sentence for the user. No partial file was left."""


class ExportCancelledError(ExportError):
    """The export was cancelled; no file was written."""


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What to export.

    ``start``/``end`` are epoch seconds (None: the oldest / the latest sample, inclusive).
    ``average_seconds`` > 0 exports one row per N-second bin instead of every sample.
    """

    series_ids: tuple[str, ...]
    start: float | None = None
    end: float | None = None
    average_seconds: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "series_ids", tuple(self.series_ids))
        if self.average_seconds is not None and not self.average_seconds > 0:
            raise ValueError(f"average_seconds must be positive, got {self.average_seconds!r}")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError("the export range starts after it ends")


@dataclass
class ExportResult:
    path: Path
    rows: int
    columns: int
    bytes: int
    notes: list[str] = field(default_factory=list)


def series_for_families(history: History, families: Iterable[str]) -> list[str]:
    """Every series id of the given families (``cpu``, ``mem``...) present in ``history``."""
    wanted = set(families)
    return [sid for sid in history.series_ids() if sid.split(".", 1)[0] in wanted]


class CsvExport:
    """One export, run in steps. See the module docstring.

    ``total_rows`` is the number of samples in the range (what progress counts);
    ``done_rows`` how many have been processed. ``step()`` returns True once the file is in place.
    """

    def __init__(self, history: History, path: str | os.PathLike[str], request: ExportRequest,
                 *, cells_per_step: int = GUI_STEP_CELLS) -> None:
        self.history = history
        self.path = Path(path)
        self.request = request
        self.notes: list[str] = []
        self.columns = self._columns(request.series_ids)
        times, _ = history.window([], seconds=None, end=request.end)
        if request.start is not None:
            times = times[times >= request.start]
        self._times = times
        self.total_rows = len(times)
        self.done_rows = 0
        self.rows_written = 0
        rows_per_step = max(1, cells_per_step // max(1, len(self.columns)))
        self._chunks = self._chunk_edges(times, rows_per_step)
        self._chunk_index = 0
        self._file = None
        self._temp: Path | None = None
        self._first_time: float | None = None
        self.finished = False

    # --- set-up ----------------------------------------------------------------------------------
    def _columns(self, series_ids: Sequence[str]) -> list[Column]:
        columns = []
        for sid in series_ids:
            spec = self.history.specs.get(sid)
            unit = spec.unit if spec is not None else ""
            try:
                column_name(sid, unit)
            except ValueError as exc:
                self.notes.append(f"{sid} not exported: {exc}")
                continue
            if spec is None:
                self.notes.append(f"{sid} has no unit on record; its column says [{unit}]")
            columns.append(Column(sid, unit))
        return columns

    def _chunk_edges(self, times: np.ndarray, rows_per_step: int) -> list[tuple[float, float, bool]]:
        """(lo, hi, last) time intervals: [lo, hi) for each chunk, the last one [lo, hi]."""
        if not len(times):
            return []
        edges = [float(t) for t in times[::rows_per_step]]
        size = self.request.average_seconds
        if size:
            # Snap to bin boundaries so no bin is split between two chunks.
            snapped = [math.floor(e / size) * size for e in edges]
            edges = sorted(set(snapped))
        chunks = []
        for index, lo in enumerate(edges):
            last = index == len(edges) - 1
            hi = float(times[-1]) if last else edges[index + 1]
            chunks.append((lo, hi, last))
        return chunks

    # --- running ---------------------------------------------------------------------------------
    def run(self, progress: Callable[[int, int], None] | None = None,
            cancelled: Callable[[], bool] | None = None) -> ExportResult:
        """Run every step. ``progress(done, total)`` after each; ``cancelled()`` polled before each."""
        while True:
            if cancelled is not None and cancelled():
                self.cancel()
                raise ExportCancelledError("export cancelled; no file was written")
            finished = self.step()
            if progress is not None:
                progress(self.done_rows, self.total_rows)
            if finished:
                return self.result()

    def step(self) -> bool:
        """Do one bounded piece of work. Returns True when the file is complete and in place.

        Raises ``ExportError`` on failure, after removing the temporary file.
        """
        if self.finished:
            return True
        try:
            if self._file is None:
                self._open()
            if self._chunk_index < len(self._chunks):
                lo, hi, last = self._chunks[self._chunk_index]
                self._chunk_index += 1
                self._write_chunk(lo, hi, last)
            if self._chunk_index >= len(self._chunks):
                self._commit()
                self.finished = True
        except OSError as exc:
            self.cancel()
            raise ExportError(self._describe(exc)) from exc
        except BaseException:
            self.cancel()
            raise
        return self.finished

    def cancel(self) -> None:
        """Stop and remove the temporary file. The target file (if any) is untouched."""
        if self._file is not None:
            with contextlib.suppress(OSError):  # closing may flush into a full disk; removed anyway
                self._file.close()
            self._file = None
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()
            self._temp = None

    def result(self) -> ExportResult:
        size = self.path.stat().st_size if self.finished else 0
        return ExportResult(self.path, self.rows_written, len(self.columns), size, list(self.notes))

    def _open(self) -> None:
        mode = _mode(self.path)
        if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            # The export replaces its target with os.replace: over /dev/null that would swap the
            # device node for a file. Only a regular file (or a new name) can be a target.
            raise ExportError(f"{self.path} is {file_kind(mode)}, not a regular file; choose a file name "
                              "such as export.csv")
        if is_dir(self.path):
            raise ExportError(f"{self.path} is a directory; give a file name such as export.csv")
        directory = self.path.parent
        if not is_dir(directory):
            raise ExportError(f"cannot write {self.path}: the folder {directory} does not exist")
        try:
            # The temporary name must fit the filesystem's name limit whatever the target's length.
            fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name[:64]}.", suffix=".tmp")
        except OSError as exc:
            raise ExportError(f"cannot write in {directory}: {exc.strerror or exc}") from exc
        self._temp = Path(temp)
        self._file = os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=1 << 20)
        self._file.write(header_line(self.columns))

    def _write_chunk(self, lo: float, hi: float, last: bool) -> None:
        ids = [c.series_id for c in self.columns]
        # window() returns copies of the samples in [end - seconds, end]; the interval is then cut
        # exactly by value, so duplicate timestamps at an edge land in exactly one chunk.
        times, values = self.history.window(ids, seconds=(hi - lo) * (1 + 1e-9) + 1e-6, end=hi)
        keep = (times >= lo) & ((times <= hi) if last else (times < hi))
        if self.request.start is not None:
            keep &= times >= self.request.start
        times = times[keep]
        self.done_rows += len(times)
        if not len(times):
            return
        matrix = np.column_stack([values[sid][keep] for sid in ids]) if ids else np.empty((len(times), 0))
        if self.request.average_seconds:
            times, matrix = _average(times, matrix, self.request.average_seconds)
        if self._first_time is None:
            self._first_time = float(times[0])
        first = self._first_time
        lines = []
        for timestamp, row in zip(times.tolist(), matrix.tolist(), strict=True):
            cells = [format_time(timestamp), f"{timestamp - first:.3f}"]
            cells.extend([format_value(v) for v in row])
            lines.append(",".join(cells))
        lines.append("")
        assert self._file is not None
        self._file.write("\n".join(lines))
        self.rows_written += len(times)

    def _commit(self) -> None:
        assert self._file is not None and self._temp is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._temp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(self._temp, self.path)
        self._temp = None

    def _describe(self, exc: OSError) -> str:
        existed = "the existing file is unchanged" if lexists(self.path) else "no file was written"
        if exc.errno in _DISK_FULL:
            return f"disk full while exporting to {self.path} ({exc.strerror}); {existed}"
        return f"cannot write {self.path}: {exc.strerror or exc}; {existed}"


def _average(times: np.ndarray, matrix: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each column over ``size``-second bins aligned to the epoch, ignoring NaNs."""
    bins = np.floor(times / size)
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    finite = np.isfinite(matrix)
    sums = np.add.reduceat(np.where(finite, matrix, 0.0), starts, axis=0)
    counts = np.add.reduceat(finite.astype(np.int64), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return bins[starts] * size, means


def export_history(history: History, path: str | os.PathLike[str], request: ExportRequest,
                   progress: Callable[[int, int], None] | None = None,
                   cancelled: Callable[[], bool] | None = None) -> ExportResult:
    """Export ``request`` from ``history`` to ``path`` atomically. Raises ``ExportError``."""
    export = CsvExport(history, path, request, cells_per_step=BATCH_STEP_CELLS)
    return export.run(progress, cancelled)
