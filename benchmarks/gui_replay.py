#!/usr/bin/env python3
"""GUI-thread CPU per sample of one tab, replaying real snapshots at a fixed spacing.

    DISPLAY=:81 PYTHONPATH=app python benchmarks/gui_replay.py --tab Overview [--samples 30] \
        [--spacing 1.0] [--instrument]

Builds the real window (every family), samples this machine at 0.1 s for a few seconds to get
real snapshots, stops sampling, then feeds those snapshots back (with timestamps one spacing
apart, so the plots scroll as they do live) one every ``--spacing`` seconds from a timer, each
followed by the normal redraw. It prints the GUI thread's CPU time per sample
(``time.thread_time``) and as % of a core.

Why replay: at 1 s the window runs cold (caches evicted between samples), so the same refresh
costs 2-3 times what a tight loop shows; this measures the cold cost without the sampling thread
in the number. ``--spacing 0`` runs the samples back to back (hot), for comparison.

``--instrument`` also prints where the time goes: CPU time per sample inside the main methods of
the Overview and its strip charts (wrappers measuring ``time.thread_time_ns``).

A measurement script, not a test; its numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
import time
from collections.abc import Callable

from PySide6.QtCore import QTimer

from perfdeck.gui.app import build_window, ensure_application

Spent = collections.Counter[str]
# Strip-chart methods timed with --instrument, and their labels (indented: inside the refresh).
CHART_METHODS = (("set_arrays", "  chart set_arrays"), ("paintEvent", "chart paintEvent"),
                 ("_draw_data", "    chart _draw_data"), ("_legend_runs", "    chart legend"))


def instrument(obj: object, name: str, label: str, spent: Spent, calls: Spent) -> None:
    """Replace ``obj.name`` by a wrapper adding its CPU time to ``spent[label]``."""
    original: Callable[..., object] = getattr(obj, name)

    def timed(*args: object, **kwargs: object) -> object:
        start = time.thread_time_ns()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.thread_time_ns() - start
            calls[label] += 1

    setattr(obj, name, timed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tab", default="Overview")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--spacing", type=float, default=1.0)
    parser.add_argument("--size", default="1000x700")
    parser.add_argument("--instrument", action="store_true")
    args = parser.parse_args()
    app = ensure_application()
    window = build_window(interval=0.1, initial_tab=args.tab)
    window.resize(*(int(v) for v in args.size.split("x")))
    window.show()
    collected = []
    window.sampler.snapshot.connect(collected.append)
    window.sampler.start()
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    window.sampler.pause()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    window._self_timer.stop()  # its own cost, not this tab's
    snapshots = collected[-60:]
    base_time, base_monotonic = collected[-1].timestamp, collected[-1].monotonic
    fed = [0]

    def feed() -> None:
        fed[0] += 1
        snapshot = snapshots[fed[0] % len(snapshots)]
        window.on_snapshot(dataclasses.replace(snapshot, timestamp=base_time + fed[0],
                                               monotonic=base_monotonic + fed[0]))

    for _ in range(120):  # fill the plots' window first
        feed()
        window._refresh_current(force=True)
        app.processEvents()
    spent: Spent = collections.Counter()
    calls: Spent = collections.Counter()
    view = window.current_view()
    if args.instrument and view is not None:
        instrument(view, "refresh", "tab refresh", spent, calls)
        instrument(window, "on_snapshot", "storing the snapshot", spent, calls)
        for name in ("cpu", "mem", "disk", "net"):
            panel = getattr(view, name, None)
            if panel is None:
                continue
            for method, label in CHART_METHODS:
                if hasattr(panel.plot, method):
                    instrument(panel.plot, method, label, spent, calls)
    window._self_timer.stop()
    state: dict[str, float] = {}

    def report() -> None:
        used = time.thread_time() - state["cpu"]
        wall = time.monotonic() - state["wall"]
        print(f"{args.tab}: {1e3 * used / args.samples:.3f} ms GUI-thread CPU per sample, "
              f"{args.samples} samples {args.spacing:g} s apart ({100 * used / wall:.3f} % of a core)")
        for label in sorted(spent):
            print(f"  {label:24s} {spent[label] / args.samples / 1e3:8.1f} µs per sample "
                  f"({calls[label] / args.samples:.1f} calls)")
        window.shutdown()
        app.quit()

    def start() -> None:
        spent.clear()
        calls.clear()
        state["cpu"], state["wall"] = time.thread_time(), time.monotonic()
        if args.spacing <= 0:
            for _ in range(args.samples):
                feed()
                window._refresh_current(force=True)
                app.processEvents()
            report()
        else:
            timer.start()

    def tick() -> None:
        feed()  # the redraw follows through the window's own redraw timer, as live
        if fed[0] - state["first"] >= args.samples:
            timer.stop()
            QTimer.singleShot(round(args.spacing * 1000), report)

    timer = QTimer()
    timer.setInterval(round(max(args.spacing, 0.001) * 1000))
    timer.timeout.connect(tick)
    state["first"] = fed[0]
    QTimer.singleShot(500, start)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
