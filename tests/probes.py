"""Helpers shared by tests that check what the code does to the machine: files it opens, and
whether this user may open system-wide perf counters."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from perfdeck.perf import abi

_recording: list[list[str]] = []
_hooked = False


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _recording:
        for paths in _recording:
            paths.append(str(args[0]))


@contextlib.contextmanager
def opened_files() -> Iterator[list[str]]:
    """The paths opened (builtins ``open``, ``os.open``, ``io.open``) while the block runs.

    One audit hook for the whole test session (audit hooks cannot be removed); it records only
    inside these blocks.
    """
    global _hooked
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked = True
    paths: list[str] = []
    _recording.append(paths)
    try:
        yield paths
    finally:
        _recording.remove(paths)


def system_wide_perf_allowed() -> bool:
    """Whether a system-wide software counter (cpu-clock on CPU 0) opens for this user."""
    attr = abi.make_attr(abi.PERF_TYPE_SOFTWARE, abi.PERF_COUNT_SW_CPU_CLOCK, read_format=0)
    try:
        abi.close_fd(abi.perf_event_open(attr, -1, 0))
    except abi.PerfOpenError:
        return False
    return True
