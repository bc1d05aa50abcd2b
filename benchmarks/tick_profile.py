#!/usr/bin/env python3
"""Where one sampling tick goes, counted rather than timed: Python calls, files opened, syscalls.

    PYTHONPATH=app python benchmarks/tick_profile.py [--families cpu,mem,...] [--ticks 20] [--top 25]

Runs the real ``SamplingEngine`` headless (what the GUI's sampling thread and ``perfdeck record``
run), warms it up, then over ``--ticks`` ticks counts:

- Python-level function calls per tick (``cProfile``, deterministic: the same code path gives the
  same count on a loaded machine), with the top functions by call count and by own time;
- files opened per tick (``sys.addaudithook`` "open" events: builtins ``open`` and ``os.open``);
- per family: calls and files opened per read.

Each tick is sampled at a ``now`` one interval later, so slow families (proc every 2 s, disk
filesystems every 5 s, sensors every 1 s) run at their real cadence. Numbers go to
docs/performance.md. A measurement script, not a test (tests/collectors/test_tick_budget*.py are
the guards that keep these counts down).

``--time SECONDS`` measures time instead, without the profiler: the engine runs on its own thread
at the real interval (as the GUI's sampling thread does: sleep, sample, sleep) for SECONDS, and
the script prints that thread's CPU time from /proc/self/task/TID/schedstat (ns, not 10 ms ticks)
as % of one core, and the median and mean wall time of one ``sample()``. Compare two trees back to
back (PYTHONPATH=old/app, then this one): the machine's load moves the numbers, not the code.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import Counter

from perfdeck.model.engine import SamplingEngine
from perfdeck.model.registry import create_collectors, family_names

_opened: Counter[str] = Counter()
_counting = False


def _audit(event: str, args: tuple) -> None:
    if _counting and event == "open":
        _opened[str(args[0])] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(family_names()))
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--per-family", action="store_true", help="also count each family alone")
    parser.add_argument("--no-tables", action="store_true",
                        help="no process table wanted (the window on any other tab, perfdeck record)")
    parser.add_argument("--time", type=float, default=0.0, metavar="SECONDS",
                        help="measure CPU time of the sampling thread over SECONDS instead of counting")
    args = parser.parse_args()
    if args.time > 0:
        return _timed(args)
    global _counting
    sys.addaudithook(_audit)
    families = args.families.split(",")
    engine = SamplingEngine(create_collectors(families))
    engine.set_tables_wanted(not args.no_tables)
    now = time.monotonic()
    for _ in range(3):  # warm-up: baselines, caches, first reads
        now += args.interval
        engine.sample(now=now)
    profile = cProfile.Profile()
    _counting = True
    profile.enable()
    for _ in range(args.ticks):
        now += args.interval
        engine.sample(now=now)
    profile.disable()
    _counting = False
    engine.close()
    stats = pstats.Stats(profile)
    total_calls = stats.total_calls  # type: ignore[attr-defined]
    print(f"families: {','.join(families)}; ticks: {args.ticks} at {args.interval:g} s")
    print(f"Python calls per tick: {total_calls / args.ticks:.0f}")
    print(f"files opened per tick: {sum(_opened.values()) / args.ticks:.1f}")
    by_dir: Counter[str] = Counter()
    for path, count in _opened.items():
        parts = path.split("/")
        key = "/".join("N" if p.isdigit() else p for p in parts[:4])
        by_dir[key] += count
    for key, count in by_dir.most_common(12):
        print(f"   {count / args.ticks:7.1f}  {key}")
    print("\ntop by calls (per tick, own time per tick in µs):")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][1])  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, nc, tt, _ct, _callers) in rows[:args.top]:
        print(f"  {nc / args.ticks:8.1f} calls {tt / args.ticks * 1e6:8.1f} µs  "
              f"{filename.rsplit('/', 2)[-1]}:{line} {name}")
    print("\ntop by own time (µs per tick; profiling overhead included):")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, nc, tt, _ct, _callers) in rows[:args.top]:
        print(f"  {tt / args.ticks * 1e6:8.1f} µs {nc / args.ticks:8.1f} calls  "
              f"{filename.rsplit('/', 2)[-1]}:{line} {name}")
    if args.per_family:
        print("\nper family (calls per tick, files opened per tick; each row is an engine running that"
              " family alone, so it includes the engine's own tick: the 'engine' row, no family)")
        for name in ["engine", *families]:
            sub = SamplingEngine(create_collectors([name]) if name != "engine" else [])
            sub.set_tables_wanted(not args.no_tables)
            t = time.monotonic()
            for _ in range(3):
                t += args.interval
                sub.sample(now=t)
            prof = cProfile.Profile()
            _opened.clear()
            _counting = True
            prof.enable()
            for _ in range(args.ticks):
                t += args.interval
                sub.sample(now=t)
            prof.disable()
            _counting = False
            sub.close()
            calls = pstats.Stats(prof).total_calls  # type: ignore[attr-defined]
            files = sum(_opened.values()) / args.ticks
            print(f"  {name:8s} {calls / args.ticks:8.0f} calls {files:6.1f} files")
    return 0


def _thread_cpu_ns() -> int:
    """This thread's CPU time in ns: the first field of /proc/thread-self/schedstat."""
    with open("/proc/thread-self/schedstat", "rb") as f:
        return int(f.read().split()[0])


def _timed(args: argparse.Namespace) -> int:
    import statistics
    import threading

    families = args.families.split(",")
    engine = SamplingEngine(create_collectors(families))
    engine.set_tables_wanted(not args.no_tables)
    durations: list[float] = []
    result: dict[str, float] = {}

    def run() -> None:
        for _ in range(max(3, int(1 / args.interval))):  # warm-up: about a second
            engine.sample()
            time.sleep(args.interval)
        cpu0, wall0 = _thread_cpu_ns(), time.monotonic()
        deadline = time.monotonic() + args.time
        next_tick = time.monotonic()
        while time.monotonic() < deadline:
            started = time.perf_counter()
            engine.sample()
            durations.append(time.perf_counter() - started)
            next_tick += args.interval
            time.sleep(max(0.0, next_tick - time.monotonic()))
        result["cpu_ns"] = _thread_cpu_ns() - cpu0
        result["wall"] = time.monotonic() - wall0

    thread = threading.Thread(target=run, name="sampling")
    thread.start()
    thread.join()
    engine.close()
    print(f"families: {','.join(families)}; {len(durations)} ticks at {args.interval:g} s over "
          f"{result['wall']:.1f} s")
    print(f"sampling thread CPU: {result['cpu_ns'] / 1e9 / result['wall'] * 100:.3f} % of one core")
    print(f"sample(): median {statistics.median(durations) * 1e6:.0f} µs, "
          f"mean {statistics.fmean(durations) * 1e6:.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
