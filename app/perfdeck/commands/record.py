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
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TextIO

from perfdeck.model import registry
from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.recorder import CsvRecorder, RecordingError
from perfdeck.model.series import Snapshot, Unavailable
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
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="explain every series that cannot be read here, with the reason and the fix "
                        "(by default: one short line per metric family)")


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
    verbose = getattr(args, "verbose", False) and not quiet
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
    reporter = _Reporter(quiet=quiet, verbose=verbose, progress=progress)
    error: str | None = None
    schedule = _Schedule(interval, duration)
    try:
        engine = SamplingEngine(_create_collectors(families, notes))
        engine.set_tables_wanted(False)  # a recording keeps series only: no process walk for counts
        engine.open()
        for note in notes:
            reporter.say(note)
        if len(engine.family_unavailable) >= len(engine.collectors):
            reporter.families_unavailable(engine.family_unavailable)
            error = "none of the requested metric families can be read here" + (
                "" if quiet else " (see above)")
        else:
            _loop(engine, recorder, progress, stop, schedule, reporter)
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
    series = len(recorder.columns)  # known as soon as the first row fixed them, failure or not
    elapsed = schedule.elapsed()
    if recorder.bytes_written == 0 and recorder.failed is None:
        # Nothing was ever written (stopped before the first sample): leave no empty file behind
        # (the recorder only ever creates regular files, so this removes nothing else).
        if output.is_file() and not output.is_symlink():
            output.unlink(missing_ok=True)
        if not quiet and error is None:
            print(f"No sample was taken; {output} was not kept.")
    elif not quiet and recorder.rows_written:
        files = ", ".join(str(p) for p in recorder.paths)
        how = f"; stopped by {stopped_by[0]}" if stopped_by else ""
        print(f"Recorded {recorder.rows_written} rows of {series} series over {elapsed:.1f} s to {files} "
              f"({format_bytes(recorder.bytes_written)}){how}")
        for note in recorder.notes:
            print(f"  note: {note}")
    if error is not None:
        return _fail(error, 1)
    return 0


def short_reason(reason: str, limit: int = 80) -> str:
    """The head of a reason, for one-line notes: "no hardware PMU: this is ..." -> "no hardware PMU"."""
    def cut_at(text: str, marks: tuple[str, ...]) -> str:
        cut = len(text)
        for mark in marks:
            at = text.find(mark)
            if 0 < at < cut:
                cut = at
        return text[:cut]

    head = cut_at(reason, (": ", "; ", ". ")).rstrip(".")
    if len(head) > limit:  # a long first clause: drop its parenthesis, e.g. a sysfs path
        head = cut_at(head, (" (",))
    return head if len(head) <= limit else head[:limit - 1].rstrip() + "…"


class _Reporter:
    """What ``perfdeck record`` says on stderr about what cannot be read.

    By default one short line per metric family ("perf: 17 of 40 series have no values here (no
    hardware PMU)"), and one hint that ``--verbose`` gives the reasons and fixes; with ``--verbose``
    every reason with its fix. Nothing with ``--quiet``.
    """

    def __init__(self, quiet: bool, verbose: bool, progress: _Progress) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.progress = progress
        self._hinted = False
        self._said: set[str] = set()

    def say(self, line: str) -> None:
        if self.quiet:
            return
        self.progress.clear()
        print(f"perfdeck record: {line}", file=sys.stderr)

    def hint(self) -> None:
        if not self._hinted and not self.verbose and not self.quiet:
            self._hinted = True
            self.say("(run with --verbose for the reasons and fixes, or see 'perfdeck doctor')")

    def families_unavailable(self, unavailable: Mapping[str, Unavailable]) -> None:
        for family, reason in unavailable.items():
            if family in self._said:
                continue
            self._said.add(family)
            self.say(f"{family}: unavailable: {reason}" if self.verbose
                     else f"{family}: unavailable ({short_reason(reason.reason)})")

    def ready(self, recorder: CsvRecorder, interval: float, duration: float | None) -> None:
        """One line once the first row is written: a script (or a service manager's log) can
        wait for it instead of polling the file."""
        until = "Ctrl+C or SIGTERM stops" if duration is None else f"for {duration:g} s; Ctrl+C stops early"
        self.say(f"ready: recording {len(recorder.columns)} series every {interval:g} s to "
                 f"{recorder.path} ({until})")

    def first_snapshot(self, snapshot: Snapshot, family_unavailable: Mapping[str, Unavailable]) -> None:
        self.families_unavailable(family_unavailable)
        if self.verbose:
            for line in describe_unavailable(snapshot, set(family_unavailable), max_lines=1000):
                self.say(f"note: {line}")
        else:
            by_family: dict[str, list[Unavailable]] = {}
            for key, reason in snapshot.unavailable.items():
                family = key.split(".", 1)[0]
                if key in family_unavailable or family in family_unavailable:
                    continue
                by_family.setdefault(family, []).append(reason)
            for family, reasons in by_family.items():
                total = sum(1 for sid in snapshot.specs if sid.split(".", 1)[0] == family)
                distinct = list(dict.fromkeys(short_reason(r.reason) for r in reasons))
                others = len(distinct) - 1
                more = f" and {others} other reason{'s' if others > 1 else ''}" if others else ""
                of = f" of {total}" if total >= len(reasons) else ""
                self.say(f"{family}: {len(reasons)}{of} series have no values here ({distinct[0]}{more})")
        if family_unavailable or snapshot.unavailable:
            self.hint()

    def failure(self, family: str, message: str) -> None:
        key = f"failed:{family}"
        if key not in self._said:
            self._said.add(key)
            self.say(f"note: {family} failed: {message}" if self.verbose
                     else f"{family} failed: {short_reason(message, 120)}")
            self.hint()


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


class _Schedule:
    """The sampling grid: sample k is due at ``start + k * interval``, where ``start`` is the time
    of the first sample (taken as soon as the collectors are open, so opening them never shortens
    the first interval). With a duration D the last sample is the last one at or before D:
    ``floor(D / interval) + 1`` samples. Ticks missed because sampling ran late are skipped, not
    bunched up."""

    def __init__(self, interval: float, duration: float | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.duration = duration
        self.clock = clock
        self.start: float | None = None
        self.tick = 0

    def first(self) -> float:
        self.start = self.clock()
        return self.start

    def elapsed(self) -> float:
        return 0.0 if self.start is None else self.clock() - self.start

    def advance(self) -> float | None:
        """After a sample: the clock time of the next one, or None when the duration is done."""
        assert self.start is not None
        late = math.floor((self.clock() - self.start) / self.interval + 1e-9)
        self.tick = max(self.tick + 1, late + 1)
        if self.duration is not None and self.tick * self.interval > self.duration + 1e-9:
            return None
        return self.start + self.tick * self.interval


def _loop(engine: SamplingEngine, recorder: CsvRecorder, progress: _Progress, stop: threading.Event,
          schedule: _Schedule, reporter: _Reporter,
          wall_clock: Callable[[], float] = time.time) -> None:
    """Sample on the schedule's grid until its duration or a stop signal."""
    clock = schedule.clock
    now = schedule.first()
    while not stop.is_set():
        snapshot = engine.sample(now=now, timestamp=wall_clock())
        recorder.append(snapshot)
        if schedule.tick == 0:
            reporter.ready(recorder, schedule.interval, schedule.duration)
            reporter.first_snapshot(snapshot, engine.family_unavailable)
        for family, message in snapshot.failures.items():
            reporter.failure(family, message)
        progress.update(schedule.elapsed(), recorder.rows, recorder.bytes_written)
        next_at = schedule.advance()
        if next_at is None:
            return
        while True:
            deadline = recorder.flush_deadline()
            wake = next_at if deadline is None else min(next_at, deadline)
            if stop.wait(max(0.0, wake - clock())):
                return
            recorder.flush_if_due()
            now = clock()
            if now >= next_at:
                break
