"""``perfdeck record``: sample without a window and write a PerfDeck CSV file.

Runs the same collectors (``model.registry``) and sampling engine (``model.engine``) as the
window, and writes the same format (``model.csvformat``, via ``model.recorder``), so a recording
made on a server opens in the window on a laptop. Imports no Qt.

Stopping: ``--duration`` ends it; otherwise SIGINT (Ctrl+C), SIGTERM or SIGHUP finish the file
cleanly (buffered rows written, fsynced, closed). A SIGKILL loses at most the last few seconds
of rows, never the file's validity.
"""

from __future__ import annotations

import argparse
import math
import shutil
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TextIO

from perfdeck.model import registry
from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.recorder import CsvRecorder, RecordingError
from perfdeck.model.series import Snapshot
from perfdeck.model.units import format_bytes

HELP = "record metrics to a CSV file without opening a window"
MIN_INTERVAL = 0.1
MAX_INTERVAL = 3600.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Example: perfdeck record --interval 1 --duration 60 --metrics cpu,mem "
                     "--output run.csv. Without --duration it records until Ctrl+C (or SIGTERM), "
                     "which finishes the file cleanly. Open the file in the window with "
                     "'perfdeck --open run.csv' or File > Open recording; the format is described in "
                     "docs/csv-format.md.")
    parser.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                        help=f"sampling interval in seconds, {MIN_INTERVAL:g} to {MAX_INTERVAL:g} "
                        "(default 1)")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="stop after this many seconds (default: until interrupted)")
    parser.add_argument("--metrics", default=None, metavar="FAMILIES",
                        help="comma-separated metric families, e.g. cpu,memory,perf "
                        f"(default: all; known: {', '.join(registry.family_names())})")
    parser.add_argument("--output", "-o", default=None, metavar="FILE.csv",
                        help="the CSV file to write (default: perfdeck-YYYYMMDD-HHMMSS.csv here)")
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print nothing except errors")


def _fail(message: str, code: int = 2) -> int:
    print(f"perfdeck record: error: {message}", file=sys.stderr)
    return code


def parse_families(text: str | None) -> list[str]:
    """``"cpu,memory"`` -> ``["cpu", "mem"]`` (registry names, deduplicated, in the given order).

    Raises ``ValueError`` naming an unknown family and listing the known ones.
    """
    if text is None:
        return registry.family_names()
    names: list[str] = []
    for raw in text.split(","):
        raw = raw.strip()
        if not raw:
            continue
        try:
            name = registry.family(raw.lower()).name
        except KeyError:
            known = ", ".join(registry.family_names())
            aliases = ", ".join(f"{a} = {n}" for a, n in sorted(registry.ALIASES.items()))
            raise ValueError(f"unknown metric family {raw!r}; known families: {known} "
                             f"(aliases: {aliases})") from None
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError("--metrics lists no family; known families: " + ", ".join(registry.family_names()))
    return names


def _create_collectors(families: list[str], notes: list[str]) -> list[Collector]:
    collectors: list[Collector] = []
    for name in families:
        try:
            collectors.extend(registry.create_collectors([name]))
        except Exception as exc:  # a family that fails to load must not stop the others
            notes.append(f"{name}: cannot be loaded ({type(exc).__name__}: {exc})")
    return collectors


class _Progress:
    """The terminal progress display: a bar with --duration, a live line without."""

    def __init__(self, stream: TextIO, enabled: bool, path: Path, duration: float | None) -> None:
        self.stream = stream
        self.enabled = enabled
        self.path = path
        self.duration = duration
        self._shown = False

    def update(self, elapsed: float, rows: int, nbytes: int) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((80, 24)).columns
        size = format_bytes(nbytes)
        if self.duration:
            fraction = min(1.0, elapsed / self.duration)
            bar_width = max(10, min(40, width - 60))
            filled = round(fraction * bar_width)
            line = (f"[{'#' * filled}{'-' * (bar_width - filled)}] {fraction * 100:3.0f}%  "
                    f"{elapsed:.0f}/{self.duration:g} s  {rows} rows  {size}  {self.path.name}")
        else:
            line = (f"recording {self.path.name}: {rows} rows, {_clock(elapsed)} elapsed, {size} "
                    "(Ctrl+C to stop)")
        self.stream.write("\r\x1b[K" + line[: max(20, width - 1)])
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def run(args: argparse.Namespace) -> int:
    interval = args.interval
    if not (math.isfinite(interval) and MIN_INTERVAL <= interval <= MAX_INTERVAL):
        return _fail(f"--interval {interval:g} is out of range; "
                     f"use {MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds")
    duration = args.duration
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        return _fail(f"--duration {duration:g} must be a positive number of seconds")
    try:
        families = parse_families(args.metrics)
    except ValueError as exc:
        return _fail(str(exc))
    output = Path(args.output or datetime.now().strftime("perfdeck-%Y%m%d-%H%M%S.csv"))
    quiet = args.quiet
    out = sys.stdout

    # The output is created before any collector is opened: an unwritable path fails at once.
    recorder = CsvRecorder(output, overwrite=args.force)
    try:
        recorder.open()
    except RecordingError as exc:
        return _fail(str(exc))

    stop = threading.Event()
    stopped_by: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopped_by.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    notes: list[str] = []
    engine: SamplingEngine | None = None
    progress = _Progress(out, out.isatty() and not quiet, output, duration)
    error: str | None = None
    series = 0
    start = time.monotonic()
    try:
        engine = SamplingEngine(_create_collectors(families, notes))
        engine.set_tables_wanted(False)  # a recording keeps series only: no process walk for counts
        engine.open()
        for family, reason in engine.family_unavailable.items():
            notes.append(f"{family}: unavailable: {reason}")
        if not quiet:
            for note in notes:
                print(f"perfdeck record: note: {note}", file=sys.stderr)
        if len(engine.family_unavailable) >= len(engine.collectors):
            error = "none of the requested metric families can be read here (see the notes above)"
        else:
            _loop(engine, recorder, progress, stop, interval, duration, start, quiet)
        series = len(recorder.columns)
    except RecordingError as exc:
        error = str(exc)
    finally:
        progress.clear()
        if engine is not None:
            engine.close()
        try:
            recorder.close()
        except RecordingError as exc:
            error = error or str(exc)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    elapsed = time.monotonic() - start
    if recorder.bytes_written == 0 and recorder.failed is None:
        # Nothing was ever written (stopped before the first sample): leave no empty file behind.
        output.unlink(missing_ok=True)
        if not quiet and error is None:
            print(f"No sample was taken; {output} was not kept.")
    elif not quiet:
        files = ", ".join(str(p) for p in recorder.paths)
        how = f"; stopped by {stopped_by[0]}" if stopped_by else ""
        print(f"Recorded {recorder.rows_written} rows of {series} series over {elapsed:.1f} s to {files} "
              f"({format_bytes(recorder.bytes_written)}){how}")
        for note in recorder.notes:
            print(f"  note: {note}")
    if error is not None:
        return _fail(error, 1)
    return 0


def describe_unavailable(snapshot: Snapshot, skip: set[str], max_lines: int = 8) -> list[str]:
    """Series recorded as empty cells because they cannot be read here, grouped by reason."""
    by_reason: dict[str, list[str]] = {}
    for key, reason in snapshot.unavailable.items():
        if key in skip:
            continue  # whole families were reported when they failed to open
        by_reason.setdefault(str(reason), []).append(key)
    lines = []
    for reason, keys in by_reason.items():
        shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        lines.append(f"no values (empty cells) for {shown}: {reason}")
    if len(lines) > max_lines:
        extra = len(lines) - max_lines
        lines = [*lines[:max_lines], f"... and {extra} more reasons; 'perfdeck doctor' explains them all"]
    return lines


def _loop(engine: SamplingEngine, recorder: CsvRecorder, progress: _Progress, stop: threading.Event,
          interval: float, duration: float | None, start: float, quiet: bool) -> None:
    """Sample every ``interval`` s (drift-free) until ``duration`` or a stop signal."""
    tick = 0
    reported: set[str] = set()
    while not stop.is_set():
        snapshot = engine.sample(now=time.monotonic(), timestamp=time.time())
        recorder.append(snapshot)
        if tick == 0 and not quiet:
            for line in describe_unavailable(snapshot, set(engine.family_unavailable)):
                print(f"perfdeck record: note: {line}", file=sys.stderr)
        for family, message in snapshot.failures.items():
            if family not in reported and not quiet:
                reported.add(family)
                progress.clear()
                print(f"perfdeck record: note: {family} failed: {message}", file=sys.stderr)
        progress.update(time.monotonic() - start, recorder.rows, recorder.bytes_written)
        # Next tick on the fixed grid start + k * interval; ticks missed while sampling are skipped.
        tick = max(tick + 1, math.ceil((time.monotonic() - start) / interval))
        if duration is not None and tick * interval > duration + 1e-9:
            return
        next_at = start + tick * interval
        while True:
            deadline = recorder.flush_deadline()
            wake = next_at if deadline is None else min(next_at, deadline)
            if stop.wait(max(0.0, wake - time.monotonic())):
                return
            recorder.flush_if_due()
            if time.monotonic() >= next_at:
                break
