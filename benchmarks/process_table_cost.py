#!/usr/bin/env python3
"""What one process-list update costs the GUI thread in the Processes tab, counted.

    DISPLAY=:95 PYTHONPATH=app python benchmarks/process_table_cost.py [--updates 200] \
        [--processes 400] [--changed 20] [--size 1000x700] [--profile-updates 50]

Builds the real ``ProcessesView`` at ``--size`` on the X server in $DISPLAY, reads the real process
list once with the project's collector (topped up to ``--processes`` rows with copies under new
PIDs), then feeds it ``--updates`` snapshots like an idle desktop's: every row a new, equal object
(as the collector makes them), ``--changed`` rows with a new CPU % and RSS, drawn from a fixed set
of ``--active`` user processes (on an idle desktop the same few processes use the CPU and trade
places at the top; seeded, so both runs see the same sequence). ``--sort pid`` sorts by PID
instead of CPU % (descending, the default), so that no row moves and only the changed rows have to
be repainted. For each update it measures ``view.refresh(snapshot)`` plus
``processEvents()`` (the repaint that follows):

- GUI-thread CPU (``time.thread_time``) per update: median and mean;
- Paint events on the table's viewport and the painted area (sum of the region's rectangles) as a
  fraction of the viewport;
- with ``--profile-updates`` more updates under ``cProfile``: Python calls per update, and the calls
  Qt makes into the model (``data``, ``index``, ``filterAcceptsRow``...) per update.

Runs against whatever ``perfdeck`` PYTHONPATH selects, so the old and new code can be compared.
A measurement script, not a test; its numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import random
import statistics
import sys
import time

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication

from perfdeck.collectors.processes import ProcessCollector
from perfdeck.gui.views.base import ViewContext
from perfdeck.gui.views.processes import COLUMN_INDEX, ProcessesView
from perfdeck.model.history import History
from perfdeck.model.series import Snapshot


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.events = 0
        self.area = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.events += 1
            self.area += sum(r.width() * r.height() for r in event.region())
        return False


def real_rows(count: int) -> list:
    collector = ProcessCollector()
    collector.open()
    collector.read(time.monotonic())
    time.sleep(0.5)
    rows = list(collector.read(time.monotonic()).tables["processes"])
    collector.close()
    base = list(rows)
    copy = 1
    while len(rows) < count:
        for row in base:
            if len(rows) >= count:
                break
            rows.append(dataclasses.replace(row, pid=row.pid + 100_000 * copy))
        copy += 1
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--processes", type=int, default=400)
    parser.add_argument("--changed", type=int, default=20)
    parser.add_argument("--active", type=int, default=40)
    parser.add_argument("--sort", choices=("cpu", "pid"), default="cpu")
    parser.add_argument("--size", default="1000x700")
    parser.add_argument("--profile-updates", type=int, default=50)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    view = ProcessesView(ViewContext(history=History(10)))
    width, height = (int(v) for v in args.size.split("x"))
    view.resize(width, height)
    view.show()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    rows = real_rows(args.processes)
    rng = random.Random(args.seed)
    users = [i for i, row in enumerate(rows) if not row.kernel_thread]
    active = rng.sample(users, min(args.active, len(users)))
    if args.sort == "pid":
        view.table.sortByColumn(COLUMN_INDEX["pid"], Qt.SortOrder.AscendingOrder)

    def snapshot() -> Snapshot:
        nonlocal rows
        changed = set(rng.sample(active, min(args.changed, len(active))))
        new = []
        for i, row in enumerate(rows):
            if i in changed:
                cpu = rng.choice((0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 6.0))
                rss = (row.rss or 0) + rng.randint(-64, 64) * 4096
                row = dataclasses.replace(row, cpu_percent=cpu, rss=max(rss, 0))
            else:
                row = dataclasses.replace(row)  # a new, equal object, as each read makes
            new.append(row)
        rows = new
        return Snapshot(timestamp=time.time(), monotonic=time.monotonic(),
                        values={"mem.total": 16 * 2**30}, specs={}, tables={"processes": tuple(new)})

    def update(snap: Snapshot) -> None:
        view.refresh(snap)
        app.processEvents()

    for _ in range(10):  # warm up: first paint, caches
        update(snapshot())
    viewport = view.table.viewport()
    counter = PaintCounter()
    viewport.installEventFilter(counter)
    cpu: list[float] = []
    for _ in range(args.updates):
        snap = snapshot()
        start = time.thread_time()
        update(snap)
        cpu.append(time.thread_time() - start)
    full = viewport.width() * viewport.height()
    print(f"{len(rows)} processes ({view.count_label.text()} shown), {args.changed} of {len(active)} "
          f"active ones changed per update, sorted by {args.sort}, view {args.size}, "
          f"viewport {viewport.width()}x{viewport.height()}")
    print(f"GUI thread CPU per update: median {1e6 * statistics.median(cpu):.0f} µs, "
          f"mean {1e6 * statistics.fmean(cpu):.0f} µs over {args.updates} updates")
    print(f"viewport paint events per update: {counter.events / args.updates:.2f}; painted area per "
          f"update: {counter.area / args.updates / full:.2f} viewports")
    if args.profile_updates:
        profile = cProfile.Profile()
        for _ in range(args.profile_updates):
            snap = snapshot()
            profile.enable()
            update(snap)
            profile.disable()
        stats = pstats.Stats(profile)
        n = args.profile_updates
        print(f"Python calls per update: {stats.total_calls / n:.0f}")  # type: ignore[attr-defined]
        for (filename, _line, name), (_cc, nc, _tt, _ct, _callers) in sorted(
                stats.stats.items(), key=lambda kv: -kv[1][1])[:12]:  # type: ignore[attr-defined]
            print(f"  {nc / n:8.1f} calls  {filename.rsplit('/', 1)[-1]} {name}")
    view.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
