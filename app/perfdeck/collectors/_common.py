"""Small helpers shared by the psutil-based collectors: instance ids and sysfs/procfs reads."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def instance_id(name: str) -> str:
    """A device, interface or mount name made safe for a series id (``[A-Za-z0-9_-]``).

    ``eth0.100`` -> ``eth0_100``, ``/`` -> ``root``, ``/mnt/my data`` -> ``mnt_my_data``.
    """
    cleaned = _UNSAFE.sub("_", name).strip("_")
    return cleaned or "root"


class InstanceIds:
    """Stable, unique series-id instances for names that may collide once sanitised.

    ``/a_b`` and ``/a/b`` both sanitise to ``a_b``; the second one seen gets ``a_b-2``. A name
    keeps its instance for the life of the collector, so a series id never moves to another
    device while the program runs.
    """

    __slots__ = ("_by_name", "_taken")

    def __init__(self) -> None:
        self._by_name: dict[str, str] = {}
        self._taken: set[str] = set()

    def __call__(self, name: str) -> str:
        known = self._by_name.get(name)
        if known is not None:
            return known
        base = instance_id(name)
        candidate, n = base, 1
        while candidate in self._taken:
            n += 1
            candidate = f"{base}-{n}"
        self._by_name[name] = candidate
        self._taken.add(candidate)
        return candidate


def read_text(path: Path) -> str | None:
    """The stripped content of a small sysfs/procfs file, or None when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def parse_cpu_list(text: str) -> list[int]:
    """Parse a kernel CPU list such as ``0-3,8,10-11`` (the format of ``cpu/online``)."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            first, last = part.split("-", 1)
            cpus.extend(range(int(first), int(last) + 1))
        else:
            cpus.append(int(part))
    return cpus


def is_virtual_machine(root: Path) -> bool:
    """True when /proc/cpuinfo carries the x86 ``hypervisor`` flag (the kernel runs as a guest)."""
    cpuinfo = read_text(root / "proc/cpuinfo") or ""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return "hypervisor" in line.split(":", 1)[-1].split()
    return False


class KeptFile:
    """A procfs or sysfs file opened once and re-read with ``pread`` at offset 0 on every tick.

    An open/read/close of /proc/stat costs three system calls and a path walk; ``pread`` at 0 is
    one call, and the kernel regenerates the content for it (seq_file restarts at offset 0;
    sysfs attributes call their ``show`` again), so every read is fresh. The buffer grows until
    one read returns the whole file (/proc/stat on a 256-CPU machine is tens of KiB).
    The descriptor is opened lazily and re-opened after an error (a file that went away and
    came back); ``read`` returns None while it cannot be read. Close it with ``close``.
    """

    __slots__ = ("_fd", "_size", "path")

    def __init__(self, path: str | Path, size: int = 4096) -> None:
        self.path = str(path)
        self._fd: int | None = None
        self._size = size

    def read(self) -> bytes | None:
        fd = self._fd
        try:
            if fd is None:
                fd = self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            data = os.pread(fd, self._size, 0)
            while len(data) >= self._size:  # maybe more: read it all again with room to spare
                self._size *= 4
                data = os.pread(fd, self._size, 0)
        except OSError:
            self.close()
            return None
        return data

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        # A collector dropped without close() (a test, a one-off doctor read) must not leak fds.
        self.close()
