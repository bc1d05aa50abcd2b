"""Reading and writing the settings file (QSettings, INI format) with backups of bad files.

The file is ``$XDG_CONFIG_HOME/perfdeck/perfdeck.ini`` (``~/.config/perfdeck/perfdeck.ini``; found
with platformdirs). The schema, defaults and validation live in ``perfdeck.model.settings``; this
module only moves the flat mapping between the file and the schema.

Loading never raises. A file that cannot be read (permissions, a folder in its place, an I/O
error), that is not a valid INI file, or that holds out-of-range values gives defaults for what
was bad, a one-line note for the status bar, and the original file is kept next to it as
``perfdeck.ini.bad-YYYYmmdd-HHMMSS`` before the repaired settings are written back. A file from an
older schema is kept as ``perfdeck.ini.v0-YYYYmmdd-HHMMSS`` before the migrated one replaces it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings

from perfdeck.model.settings import LoadResult, Settings, from_mapping, to_mapping
from perfdeck.model.units import format_bytes

log = logging.getLogger(__name__)

FILE_NAME = "perfdeck.ini"
# A real settings file is a few KiB (100 alert rules are about 40 KiB). Anything much bigger is
# not read at all: parsing a 15 MB file of junk keys took 668 MB of memory.
MAX_FILE_BYTES = 1024 * 1024


def default_path() -> Path:
    """``<XDG config dir>/perfdeck/perfdeck.ini``."""
    return Path(platformdirs.user_config_dir("perfdeck", appauthor=False)) / FILE_NAME


@dataclass(frozen=True, slots=True)
class StoreResult:
    """The loaded settings, the one-line note (empty when all was well) and the backup made."""

    settings: Settings
    note: str = ""
    backup: Path | None = None
    problems: tuple[str, ...] = ()


def _read_capped(path: Path) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes, without blocking on a FIFO swapped in after the check."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read(MAX_FILE_BYTES + 1)


class SettingsStore:
    """Loads and saves ``Settings`` in one INI file.

    ``read_bytes`` is the function used to read the file (tests inject one that raises OSError to
    simulate an unreadable file, since root can read any file whatever its mode).
    """

    def __init__(self, path: Path | None = None,
                 read_bytes: Callable[[Path], bytes] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._read_bytes = read_bytes or _read_capped

    def load(self) -> StoreResult:
        """Read the file; see the module docstring for what happens when it is bad."""
        if not os.path.lexists(self.path):
            return StoreResult(Settings())  # first run: defaults, nothing to say
        problems: list[str] = []
        raw: dict[str, object] = {}
        try:
            status = os.stat(self.path)
            size = status.st_size
            if not stat.S_ISREG(status.st_mode) and not stat.S_ISDIR(status.st_mode):
                # A FIFO would block the start-up forever, /dev/zero would fill memory.
                problems.append("the settings file is not a regular file (a device, a pipe or a socket); "
                                "all values reset to defaults")
                return self._repair(LoadResult(Settings(), tuple(problems)), kind="bad")
        except OSError:
            size = 0  # the read below says why
        if size > MAX_FILE_BYTES:
            problems.append(f"the settings file is {format_bytes(size)}, more than the "
                            f"{format_bytes(MAX_FILE_BYTES)} a settings file can be, so it was not read; "
                            "all values reset to defaults")
            return self._repair(LoadResult(Settings(), tuple(problems)), kind="bad")
        try:
            data = self._read_bytes(self.path)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            problems.append(f"the settings file could not be read ({reason}); all values reset to defaults")
            return self._repair(LoadResult(Settings(), tuple(problems)), kind="bad")
        if len(data) > MAX_FILE_BYTES:  # it grew after the stat, or its size was not told
            problems.append(f"the settings file is more than the {format_bytes(MAX_FILE_BYTES)} a settings "
                            "file can be, so it was not read; all values reset to defaults")
            return self._repair(LoadResult(Settings(), tuple(problems)), kind="bad")
        try:
            if b"\0" in data:
                raise UnicodeDecodeError("utf-8", data, data.index(b"\0"), data.index(b"\0") + 1, "NUL byte")
            data.decode("utf-8")
        except UnicodeDecodeError:
            problems.append("the settings file is not a text INI file (damaged); "
                            "all values reset to defaults")
            return self._repair(LoadResult(Settings(), tuple(problems)), kind="bad")
        qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)
        status = qsettings.status()
        if status == QSettings.Status.AccessError:
            problems.append("the settings file could not be read (access error); "
                            "all values reset to defaults")
            return self._repair(LoadResult(Settings(), tuple(problems)), kind="bad")
        if status == QSettings.Status.FormatError:
            problems.append("the settings file has lines that are not valid INI; they were ignored")
        for key in qsettings.allKeys():
            if key:  # QSettings reports a stray line as an empty key
                raw[key] = qsettings.value(key)
        result = from_mapping(raw)
        result = LoadResult(result.settings, (*problems, *result.problems), result.migrated_from)
        if result.problems:
            return self._repair(result, kind="bad")
        if result.migrated_from is not None:
            return self._repair(result, kind=f"v{result.migrated_from}")
        return StoreResult(result.settings)

    def _repair(self, result: LoadResult, kind: str) -> StoreResult:
        """Keep the original file as a backup, write the repaired settings, build the note."""
        backup = self._backup(kind)
        note = result.note
        if result.migrated_from is not None and not note:
            note = f"Settings: upgraded from schema version {result.migrated_from}"
        if backup is not None:
            note += f"; the old file is kept as {backup.name}"
            with contextlib.suppress(OSError):
                self.path.unlink()  # backed up: start the repaired file from scratch
            error = self.save(result.settings)
            if error:
                note += f"; {error}"
        else:
            note += "; the old file could not be backed up, so it was left as it is"
        log.warning("%s", note)
        return StoreResult(result.settings, note, backup, result.problems)

    def _backup(self, kind: str) -> Path | None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = self.path.with_name(f"{self.path.name}.{kind}-{stamp}")
        counter = 1
        while os.path.lexists(backup):  # two repairs in one second must not overwrite the first
            backup = self.path.with_name(f"{self.path.name}.{kind}-{stamp}-{counter}")
            counter += 1
        try:
            if self.path.is_file():
                try:
                    shutil.copy2(self.path, backup)
                    return backup
                except OSError:
                    pass  # unreadable: move it aside instead
            os.replace(self.path, backup)  # a folder in the file's place, or an unreadable file
            return backup
        except OSError as exc:
            log.error("could not back up %s: %s", self.path, exc)
            return None

    def save(self, settings: Settings) -> str:
        """Write every setting. Returns an error message (empty on success); never raises."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"settings could not be saved: {self.path.parent}: {exc.strerror or exc}"
        qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)
        qsettings.clear()  # removes keys from older schemas and alert rules that were deleted
        for key, value in to_mapping(settings).items():
            qsettings.setValue(key, value)
        qsettings.sync()  # QSettings writes through a temporary file and renames it: atomic
        # FormatError can only come from reading an old file; writing fails with AccessError.
        if qsettings.status() == QSettings.Status.AccessError:
            return f"settings could not be saved to {self.path} ({qsettings.status().name})"
        return ""
