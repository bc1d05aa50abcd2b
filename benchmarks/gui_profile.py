#!/usr/bin/env python3
"""Where the window's cost goes, counted: paint events per widget class, per-thread CPU, and a
deterministic profile of the GUI thread's redraws.

    DISPLAY=:81 PYTHONPATH=app python benchmarks/gui_profile.py --tab Overview --seconds 30 \
        [--interval 1] [--profile] [--size 1000x700]

Builds the real window in this process (``gui.app.build_window``: every family, the real sampler
thread), shows it at ``--size`` on the X server in $DISPLAY, selects ``--tab``, waits ``--settle``
seconds, then for ``--seconds``:

- counts ``QEvent.Paint`` per receiving widget class (an application-wide event filter), i.e. what
  Qt had to repaint, and the X server's work follows from it;
- reads CPU seconds and voluntary context switches (wake-ups) per thread from /proc/self/task/*
  (schedstat, status); the sampler thread is named ``perfdeck-sampler``, Qt's own helper threads
  are listed too;
- with ``--profile``, runs ``cProfile`` on the GUI thread while measuring (refreshes, timers and the
  Python that Qt calls while painting) and prints Python calls per refresh and the top functions
  (deterministic counts; the times include the profiler's overhead).

A measurement script, not a test; its numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import Counter

from PySide6.QtCore import QEvent, QObject, QTimer

from perfdeck.gui.app import build_window, ensure_application


class PaintCounter(QObject):
    """Counts Paint events by the class of the widget that receives them."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.active = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if self.active and event.type() == QEvent.Type.Paint:
            name = type(watched).__name__
            if name == "QWidget" and watched.parent() is not None:  # a viewport: name its view
                name = f"{type(watched.parent()).__name__}.viewport"
            self.counts[name] += 1
        return False


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread name of this process, from /proc/self/task/*/schedstat (ns precise,
    unlike the 10 ms ticks of stat's utime/stime)."""
    result: Counter[str] = Counter()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as handle:
                run_ns = int(handle.read().split()[0])
            with open(f"/proc/self/task/{tid}/comm") as handle:
                name = handle.read().strip()
        except (OSError, ValueError, IndexError):
            continue
        name = "main (GUI)" if tid == str(os.getpid()) else name
        result[name] += run_ns / 1e9
    return dict(result)


def thread_wakeups() -> dict[str, int]:
    """Voluntary context switches per thread name (each one is a sleep, so a wake-up follows)."""
    result: Counter[str] = Counter()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/status") as handle:
                status = handle.read()
            with open(f"/proc/self/task/{tid}/comm") as handle:
                name = handle.read().strip()
        except OSError:
            continue
        name = "main (GUI)" if tid == str(os.getpid()) else name
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                result[name] += int(line.split()[1])
    return dict(result)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tab", default="Overview")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--size", default="1000x700")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--hidden", action="store_true", help="hide the window after showing it")
    args = parser.parse_args()
    app = ensure_application()
    window = build_window(interval=args.interval, initial_tab=args.tab)
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    counter = PaintCounter()
    app.installEventFilter(counter)
    window.show()
    window.sampler.start()
    # The whole GUI thread is profiled while measuring (refreshes, paint events, timers), so the
    # Python calls Qt makes into pyqtgraph while painting (boundingRect, paint) count too.
    profile = cProfile.Profile()
    refreshes = [0]
    view_refreshed = window.view_refreshed

    def count_refresh(_title: str) -> None:
        if counter.active:
            refreshes[0] += 1

    view_refreshed.connect(count_refresh)
    state: dict[str, object] = {}

    def start_measuring() -> None:
        if args.hidden:
            window.hide()
        state["cpu"] = thread_cpu()
        state["wakeups"] = thread_wakeups()
        state["wall"] = time.monotonic()
        state["samples"] = window.sampler.samples
        counter.active = True
        if args.profile:
            profile.enable()
        QTimer.singleShot(int(args.seconds * 1000), stop_measuring)

    def stop_measuring() -> None:
        if args.profile:
            profile.disable()
        counter.active = False
        wall = time.monotonic() - state["wall"]  # type: ignore[operator]
        after = thread_cpu()
        before: dict[str, float] = state["cpu"]  # type: ignore[assignment]
        samples = window.sampler.samples - state["samples"]  # type: ignore[operator]
        print(f"tab {args.tab}, interval {args.interval:g} s, {wall:.1f} s, {samples} snapshots, "
              f"window {args.size}{' hidden' if args.hidden else ''}")
        total = 0.0
        for name in sorted(after):
            used = after[name] - before.get(name, 0.0)
            total += used
            if used > 0:
                print(f"  thread {name:18s} {100 * used / wall:6.2f} % of a core")
        print(f"  process total           {100 * total / wall:6.2f} %")
        woken: dict[str, int] = state["wakeups"]  # type: ignore[assignment]
        for name, count in sorted(thread_wakeups().items()):
            if count - woken.get(name, 0) > 0:
                print(f"  wake-ups/s {name:18s} {(count - woken.get(name, 0)) / wall:6.2f}")
        paints = sum(counter.counts.values())
        print(f"paint events: {paints / wall:.2f}/s")
        for name, count in counter.counts.most_common(15):
            print(f"  {count / wall:7.2f}/s  {name}")
        if args.profile and refreshes[0]:
            stats = pstats.Stats(profile)
            calls = stats.total_calls  # type: ignore[attr-defined]
            print(f"\nGUI thread: {refreshes[0]} tab refreshes; Python calls per refresh (paints and "
                  f"timers included): {calls / refreshes[0]:.0f}; per second: {calls / wall:.0f}")
            for title, column in (("own time", 2), ("calls", 1)):
                print(f"top by {title}, per refresh:")
                rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][column])  # type: ignore[attr-defined]
                for (filename, line, name), (_cc, nc, tt, ct, _callers) in rows[:args.top]:
                    print(f"  {tt / refreshes[0] * 1e6:8.1f} µs own {ct / refreshes[0] * 1e6:8.1f} µs cum "
                          f"{nc / refreshes[0]:7.1f} calls  {filename.rsplit('/', 2)[-1]}:{line} {name}")
        window.shutdown()
        app.quit()

    QTimer.singleShot(int(args.settle * 1000), start_measuring)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
