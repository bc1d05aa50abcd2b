#!/usr/bin/env python3
"""What the window's history costs in memory at a given interval, after 70 s and after the full
history, without waiting an hour: the series are this machine's (one real tick of every family),
the samples are appended as fast as they go with timestamps ``interval`` apart.

    PYTHONPATH=app python benchmarks/history_memory.py [--interval 0.1] [--history 3600]

Each layout runs in a fresh subprocess, so its resident-memory growth (RssAnon of
/proc/self/status, what numpy's pages add) is its own:

- ``grown``: the rings as the window builds them (``History(capacity, float32)``: 600 slots first,
  doubling up to the capacity);
- ``full``: the same rings allocated at full capacity on the first sample (``first_slots =
  capacity``), which is what ``History`` did before.

Prints History.nbytes, the RSS growth and the slowest single append (a growth's copy) after 70 s
of samples, after the whole history, and after as many samples again (flat: the ring wraps).
A measurement script, not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

MIB = 1024 * 1024


def _rss_anon() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def measure(layout: str, interval: float, history_seconds: float) -> dict[str, object]:
    import numpy as np

    from perfdeck.gui.app import load_engine
    from perfdeck.model.history import History, capacity_for

    engine = load_engine()
    engine.open()
    try:
        engine.sample()
        snapshot = engine.sample()  # the second tick: rates have values
    finally:
        engine.close()
    values = dict(snapshot.values)
    capacity = capacity_for(history_seconds, interval)
    first = capacity if layout == "full" else None
    base = _rss_anon()
    history = History(capacity, dtype=np.float32) if first is None else History(
        capacity, dtype=np.float32, first_slots=first)
    rows: list[dict[str, float]] = []
    appended = 0
    longest = 0.0  # the slowest single append: a growth copies every ring once
    for label, until in (("70 s", round(70 / interval)), ("full history", capacity),
                         ("twice the history", 2 * capacity)):
        while appended < until:
            started = time.perf_counter()
            history.append(appended * interval, values, snapshot.specs if appended == 0 else None)
            longest = max(longest, time.perf_counter() - started)
            appended += 1
        rows.append({"after": label, "samples": appended, "nbytes_mib": history.nbytes / MIB,
                     "rss_growth_mib": (_rss_anon() - base) / MIB, "longest_append_ms": longest * 1000})
    return {"layout": layout, "series": len(values), "capacity": capacity, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--history", type=float, default=3600.0, help="seconds of history kept")
    parser.add_argument("--layout", choices=("grown", "full"), help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.layout:
        print(json.dumps(measure(args.layout, args.interval, args.history)))
        return 0
    for layout in ("full", "grown"):
        done = subprocess.run([sys.executable, __file__, "--layout", layout, "--interval", str(args.interval),
                               "--history", str(args.history)], capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{layout}: {result['series']} series, {result['capacity']} slots, "
              f"interval {args.interval:g} s")
        for row in result["rows"]:
            print(f"  after {row['after']:18s} ({row['samples']:6d} samples): History.nbytes "
                  f"{row['nbytes_mib']:6.2f} MiB, RSS grew {row['rss_growth_mib']:6.2f} MiB, "
                  f"slowest append so far {row['longest_append_ms']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
