"""Continuous recording of snapshots into a PerfDeck CSV file (pure Python, no Qt).

Used by ``perfdeck record`` and by the window's recording controller, so both write the same
file. Guarantees:

* **Whole rows only.** Rows are formatted in memory and written with ``os.write`` as complete
  lines; if a write fails part-way (disk full), the file is cut back to its last complete row, so
  it always parses.
* **Bounded loss.** Rows are buffered and written at least every ``flush_interval`` seconds
  (5 s by default): a SIGKILL loses at most the rows of the last few seconds (the kernel keeps
  what was written; only a power cut also needs fsync, done every ``fsync_interval`` seconds and
  on close).
* **Fixed columns.** The column set is fixed by the first snapshot. A series that appears later
  (a hot-plugged NIC) never shifts the existing columns: the recorder finishes the current file
  and continues in ``<name>.part2.csv`` (then ``part3``...) whose columns are the previous ones
  followed by the new series. ``elapsed_s`` keeps counting from the start of the recording.
  A series that disappears keeps its column, with empty cells.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from perfdeck.model.csvformat import Column, column_name, format_row, format_time, header_line
from perfdeck.model.series import SeriesSpec, Snapshot

log = logging.getLogger(__name__)

DEFAULT_FLUSH_INTERVAL = 5.0
DEFAULT_FSYNC_INTERVAL = 60.0
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class RecordingError(Exception):
    """The recording cannot start or had to stop. ``str()`` is a sentence for the user."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


class DiskFullError(RecordingError):
    """The disk (or quota) filled up; the file holds every complete row written before."""


def part_path(base: Path, number: int) -> Path:
    """``run.csv`` -> ``run.part2.csv`` (``number`` >= 2); ``run`` -> ``run.part2``."""
    if base.suffix.lower() == ".csv":
        return base.with_name(f"{base.stem}.part{number}{base.suffix}")
    return base.with_name(f"{base.name}.part{number}")


def existing_parts(base: Path) -> list[Path]:
    """The consecutive ``part2``, ``part3``... files present next to ``base``.

    A part whose name would be too long for the filesystem (ENAMETOOLONG) cannot exist, so the
    search ends there instead of raising.
    """
    parts = []
    number = 2
    while lexists(candidate := part_path(base, number)):
        parts.append(candidate)
        number += 1
    return parts


def lexists(path: Path) -> bool:
    """``os.path.lexists`` that says False for a name the filesystem cannot hold (never raises)."""
    try:
        os.lstat(path)
    except (OSError, ValueError):  # ENOENT, ENAMETOOLONG, ENOTDIR, EACCES; ValueError: NUL byte
        return False
    return True


def is_dir(path: Path) -> bool:
    """``Path.is_dir`` that never raises (Python 3.11 raises on ENAMETOOLONG)."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _mode(path: Path) -> int | None:
    """``st_mode`` of what ``path`` names (following links), or None when nothing is there."""
    try:
        return os.stat(path).st_mode
    except (OSError, ValueError):
        return None


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words ("a named pipe (FIFO)"): for the recorder's, the
    exporter's and the loader's refusals, which must all say the same thing."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def name_max(directory: Path) -> int:
    """The longest file name (in bytes) the filesystem of ``directory`` allows (255 if unknown)."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


# A recording may continue in run.part2.csv ... run.part99.csv; the base name must leave room for it.
PART_ROOM_NUMBER = 99


def check_part_names_fit(base: Path) -> str:
    """Empty when every continuation part of ``base`` can be named; else a sentence saying why not."""
    def size(name: str) -> int:
        return len(name.encode("utf-8", "surrogateescape"))

    longest = size(part_path(base, PART_ROOM_NUMBER).name)
    limit = name_max(base.parent)
    if longest <= limit:
        return ""
    room = max(1, limit - (longest - size(base.name)))
    return (f"the file name is too long ({size(base.name)} bytes): a recording continues in "
            f"'<name>.part2.csv' when a new series appears, and such names must fit in {limit} bytes "
            f"here; use a name of at most {room} bytes")


def describe_os_error(action: str, path: Path, exc: OSError) -> str:
    """'cannot create /x/run.csv: Permission denied' with the errno's own words."""
    reason = exc.strerror or str(exc)
    return f"cannot {action} {path}: {reason}"


class CsvRecorder:
    """Appends snapshots to a PerfDeck CSV file.

    Call ``open()`` first (it creates the file, so an unwritable path fails before sampling
    starts), then ``append()`` for every snapshot, ``flush_if_due()`` from a timer (so rows are
    written even when no snapshot arrives), and ``close()`` at the end. Not thread-safe: use it
    from one thread.

    Any failure to write raises ``RecordingError`` (``DiskFullError`` for ENOSPC/EDQUOT/EFBIG)
    and leaves the recorder ``failed``: the file is valid up to its last complete row and further
    appends are refused.
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False,
                 flush_interval: float = DEFAULT_FLUSH_INTERVAL,
                 fsync_interval: float | None = DEFAULT_FSYNC_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_path = Path(path)
        self.overwrite = overwrite
        self.flush_interval = flush_interval
        self.fsync_interval = fsync_interval
        self._clock = clock
        self.paths: list[Path] = []  # every file written, base first
        self.columns: list[Column] = []
        self.notes: list[str] = []  # things the user should know (parts started, series ignored)
        self.rows_written = 0  # rows on disk (all parts)
        self.bytes_written = 0  # bytes on disk (all parts)
        self.failed: RecordingError | None = None
        self._fd: int | None = None
        self._offset = 0  # bytes in the current part
        self._buffer: list[str] = []
        self._buffered_since: float | None = None  # clock() of the oldest buffered row
        self._last_fsync = clock()
        self._start_monotonic: float | None = None
        self._ignored: set[str] = set()
        # Series ids already recorded or refused (a superset check per row finds newcomers), and
        # the columns' ids in order, kept for the columns list they were made from.
        self._seen_ids: set[str] = set()
        self._column_ids_for: list[Column] | None = None
        self._column_ids: list[str] = []
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The file rows currently go to (the base file, or the latest part)."""
        return self.paths[-1] if self.paths else self.base_path

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    @property
    def rows(self) -> int:
        """Rows accepted so far, written or still buffered."""
        return self.rows_written + len(self._buffer)

    def open(self) -> None:
        """Create the file. Raises ``RecordingError`` with a clear message when it cannot."""
        if self._fd is not None:
            return
        if not self.base_path.name:
            raise RecordingError(f"{self.base_path} is not a file name; give one such as run.csv")
        too_long = check_part_names_fit(self.base_path)
        if too_long:
            raise RecordingError(too_long, errno.ENAMETOOLONG)
        stale = existing_parts(self.base_path)
        if stale and not self.overwrite:
            raise RecordingError(
                f"{stale[0]} already exists (a part of an earlier recording named {self.base_path.name}); "
                "choose another name or remove the old parts")
        self._fd = self._create(self.base_path)
        for old in stale:  # overwriting a recording replaces all of it, parts included
            try:
                old.unlink()
                self.notes.append(f"removed {old.name}, a part of the recording that was overwritten")
            except OSError as exc:
                log.warning("could not remove stale part %s: %s", old, exc)
        self.paths.append(self.base_path)

    def _create(self, path: Path) -> int:
        if is_dir(path):
            raise RecordingError(f"{path} is a directory; give a file name such as run.csv")
        existing = _mode(path)
        if existing is not None and not stat.S_ISREG(existing):
            # /dev/null, /dev/full, a FIFO: not a file that can hold a recording (fsync fails, a
            # FIFO blocks, and a failed recording removes its empty file: never a device node).
            raise RecordingError(f"{path} is {file_kind(existing)}; PerfDeck records to a regular file "
                                 "such as run.csv")
        # O_NONBLOCK: a FIFO swapped in since the check must fail (ENXIO), not block the open.
        flags = (os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
                 | (os.O_TRUNC if self.overwrite else os.O_EXCL))
        try:
            fd = os.open(path, flags, 0o666)
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                os.close(fd)
                raise RecordingError(f"{path} is {file_kind(mode)}; PerfDeck records to a regular file "
                                     "such as run.csv")
            os.set_blocking(fd, True)
            return fd
        except FileExistsError as exc:
            raise RecordingError(f"{path} already exists; choose another name or allow overwriting",
                                 exc.errno) from exc
        except IsADirectoryError as exc:
            raise RecordingError(f"{path} is a directory; give a file name such as run.csv",
                                 exc.errno) from exc
        except OSError as exc:
            raise RecordingError(describe_os_error("create", path, exc), exc.errno) from exc

    def close(self) -> None:
        """Write what is buffered, fsync and close. Safe to call twice and after a failure."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._fd is not None and self.failed is None:
                self.flush(sync=True)
        finally:
            self._close_fd()

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError as exc:
                log.warning("closing %s: %s", self.path, exc)
            self._fd = None

    # --- appending -------------------------------------------------------------------------------
    def append(self, snapshot: Snapshot) -> None:
        """Add a snapshot as one row (buffered). See ``append_values``."""
        self.append_values(snapshot.timestamp, snapshot.monotonic, snapshot.values, snapshot.specs)

    def append_values(self, timestamp: float, monotonic: float, values: Mapping[str, float | None],
                      specs: Mapping[str, SeriesSpec]) -> None:
        """Add one row. The first call fixes the columns (from ``specs``, in their order).

        Raises ``RecordingError`` if the recorder is closed or failed, or if a write fails.
        """
        if self.failed is not None:
            raise self.failed
        if self._closed or self._fd is None:
            raise RecordingError("the recording is not open")
        if self._start_monotonic is None:
            self._start_monotonic = monotonic
            self.columns = self._usable(specs.values())
            self._write_now(header_line(self.columns))
        elif not specs.keys() <= self._seen_ids:  # one C-level set test a row while nothing is new
            known, ignored = self._known, self._ignored
            newcomers = self._usable(s for s in specs.values() if s.id not in known and s.id not in ignored)
            if newcomers:
                self._start_next_part(timestamp, newcomers)
            self._seen_ids = known | self._known | ignored  # what this test need not look at again
        if self._column_ids_for is not self.columns:
            self._column_ids_for, self._column_ids = self.columns, [c.series_id for c in self.columns]
        row = format_row(timestamp, max(0.0, monotonic - self._start_monotonic),
                         list(map(values.get, self._column_ids)))
        if not self._buffer:
            self._buffered_since = self._clock()
        self._buffer.append(row)
        self.flush_if_due()

    @property
    def _known(self) -> set[str]:
        return {c.series_id for c in self.columns}

    def _usable(self, specs: Iterable[SeriesSpec]) -> list[Column]:
        columns = []
        for spec in specs:
            try:
                column_name(spec.id, spec.unit)
            except ValueError as exc:  # a collector bug must not stop the recording
                if spec.id not in self._ignored:
                    self._ignored.add(spec.id)
                    self.notes.append(f"series {spec.id!r} not recorded: {exc}")
                    log.warning("%s", exc)
                continue
            columns.append(Column(spec.id, spec.unit))
        return columns

    def _start_next_part(self, timestamp: float, newcomers: list[Column]) -> None:
        self.flush(sync=True)
        next_path = part_path(self.base_path, len(self.paths) + 1)
        fd = self._create(next_path)
        self._close_fd()
        self._fd = fd
        self._offset = 0
        self.paths.append(next_path)
        self.columns = [*self.columns, *newcomers]
        names = ", ".join(c.series_id for c in newcomers[:5]) + (" ..." if len(newcomers) > 5 else "")
        note = (f"new series appeared at {format_time(timestamp)} ({names}); "
                f"continuing in {next_path.name} so existing columns never shift")
        self.notes.append(note)
        log.info("%s", note)
        self._write_now(header_line(self.columns))

    # --- writing ---------------------------------------------------------------------------------
    def flush_deadline(self) -> float | None:
        """``clock()`` time by which the buffered rows must be written (None when none are)."""
        if self._buffered_since is None:
            return None
        return self._buffered_since + self.flush_interval

    def flush_if_due(self) -> None:
        """Write the buffered rows if the oldest has waited ``flush_interval`` seconds."""
        deadline = self.flush_deadline()
        if deadline is not None and self._clock() >= deadline:
            self.flush()

    def flush(self, sync: bool = False) -> None:
        """Write every buffered row now (and fsync if ``sync`` or the fsync interval passed)."""
        if self.failed is not None:
            raise self.failed
        if self._fd is None:
            return
        if self._buffer:
            data = "".join(self._buffer)
            rows = len(self._buffer)
            self._buffer.clear()
            self._buffered_since = None
            self._write_now(data, rows)
        now = self._clock()
        if sync or (self.fsync_interval is not None and now - self._last_fsync >= self.fsync_interval):
            self._last_fsync = now
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._fail(exc, "sync")

    def _write_now(self, text: str, rows: int = 0) -> None:
        """Write whole lines; on failure cut the file back to its last complete line."""
        assert self._fd is not None
        data = text.encode("utf-8")
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, view[written:])
        except OSError as exc:
            self._cut_back(data, written)
            self._fail(exc, "write to")
        self._offset += len(data)
        self.bytes_written += len(data)
        self.rows_written += rows

    def _cut_back(self, data: bytes, written: int) -> None:
        """Keep the complete lines of a partial write, drop the torn one."""
        assert self._fd is not None
        complete = data.rfind(b"\n", 0, written) + 1  # 0 when no full line got out
        kept_rows = data.count(b"\n", 0, complete)
        if self._offset == 0 and complete and data.startswith(b"time,"):
            kept_rows -= 1  # the header line is not a row
        try:
            os.ftruncate(self._fd, self._offset + complete)
        except OSError as exc:  # truncating never needs space, so this is unexpected
            log.error("could not cut %s back to its last complete row: %s", self.path, exc)
        self._offset += complete
        self.bytes_written += complete
        self.rows_written += max(0, kept_rows)

    def _fail(self, exc: OSError, action: str) -> None:
        path = self.path
        self._buffer.clear()
        self._buffered_since = None
        self._close_fd()
        if exc.errno in _DISK_FULL:
            what = f"disk full while writing {path} ({exc.strerror})"
        else:
            what = describe_os_error(action, path, exc)
        if self._offset == 0:
            # Not even the header got out: an empty file is no CSV (pandas refuses it), so remove it
            # (only the regular, empty file this recorder created).
            try:
                mode = os.lstat(path)
                if not stat.S_ISREG(mode.st_mode) or mode.st_size:
                    raise OSError(errno.EPERM, "not an empty regular file")
                path.unlink()
                outcome = f"nothing could be written, so the empty file {path.name} was removed"
            except OSError as unlink_exc:
                outcome = f"nothing could be written, and the empty file could not be removed " \
                          f"({unlink_exc.strerror})"
            if path in self.paths and len(self.paths) > 1:
                self.paths.remove(path)
            if self.rows_written:
                outcome += (f"; the {self.rows_written} rows recorded before are in "
                            f"{', '.join(p.name for p in self.paths)}")
        elif self.rows_written == 0:
            outcome = f"recording stopped before its first row; {path.name} holds only the header line"
        else:
            outcome = (f"recording stopped after {self.rows_written} rows; the file is valid up to its "
                       "last complete row")
        error_type = DiskFullError if exc.errno in _DISK_FULL else RecordingError
        error = error_type(f"{what}: {outcome}", exc.errno)
        self.failed = error
        raise error from exc
