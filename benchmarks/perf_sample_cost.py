"""What one perf-counter sample costs: µs per CPU for reading every group on every CPU.

Run as a user allowed to count system-wide (root, CAP_PERFMON or perf_event_paranoid <= 0):

    .venv/bin/python benchmarks/perf_sample_cost.py [--iterations N]

Measures, with ``time.perf_counter_ns`` over many iterations (median and 95th percentile):
1. ``CounterSet.read()``: the raw syscalls (one read() per group per CPU), per CPU;
2. ``PerfCollector.read()``: the same plus scaling, derived metrics and the Reading, per CPU;
3. ``ProcessCounters.read()`` on this process: per thread (includes listing /proc/PID/task).
This is a script, not a test: the numbers depend on the machine and its load. Results are
recorded in docs/perf-counters.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

from perfdeck.collectors.perfcounters import PerfCollector
from perfdeck.perf import events
from perfdeck.perf.counters import CounterSet, counter_budget, split_into_groups
from perfdeck.perf.process import ProcessCounters


def measure(fn: Callable[[], object], iterations: int) -> tuple[float, float]:
    """Median and p95 of one call, in µs."""
    for _ in range(min(100, iterations)):
        fn()  # warm caches and the first-read path
    times = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return statistics.median(times) / 1000, times[int(len(times) * 0.95)] / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=5000)
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, kernel {platform.release()}, "
          f"Python {platform.python_version()}")
    pmus = events.core_pmus()
    print(f"core PMU: {', '.join(p.label for p in pmus) or 'none (software events only)'}")

    collector = PerfCollector()
    try:
        collector.open()
    except Exception as exc:  # a benchmark reports, it does not crash
        print(f"system-wide counting unavailable: {exc}")
        return 1
    sets = collector._sets  # the same groups the collector reads
    ncpu = len(collector._cpus)
    groups = sum(len(s.groups) for s in sets)
    fds = sum(s.fd_count() for s in sets)
    print(f"system-wide: {groups} groups in all on {ncpu} CPUs, {fds} fds "
          f"({', '.join(str(len(g)) for g in sets[0].group_specs)} events per group)")

    def raw() -> None:
        for counter_set in sets:
            counter_set.read()

    med, p95 = measure(raw, args.iterations)
    print(f"CounterSet.read (syscalls only): {med / ncpu:.2f} µs per CPU median, {p95 / ncpu:.2f} p95 "
          f"({med:.1f} µs per sample)")
    med, p95 = measure(lambda: collector.read(time.monotonic()), args.iterations)
    print(f"PerfCollector.read (+ scaling, metrics): {med / ncpu:.2f} µs per CPU median, "
          f"{p95 / ncpu:.2f} p95 ({med:.1f} µs per sample)")
    collector.close()

    # A bigger software-only group set, to see how cost grows with events per group.
    specs = [e.spec() for e in events.SOFTWARE_EVENTS]
    big = CounterSet(split_into_groups(specs, counter_budget().per_group))
    big.open()
    big.enable()
    med, _ = measure(big.read, args.iterations)
    print(f"{len(specs)} software events in 1 group: {med / max(1, len(big.cpus)):.2f} µs per CPU")
    big.close()

    with ProcessCounters(os.getpid(), events=events.SOFTWARE_EVENTS) as proc:
        threads = len(proc.groups)
        med, p95 = measure(proc.read, max(1, args.iterations // 5))
    print(f"ProcessCounters.read (this process, {threads} thread(s)): {med / threads:.2f} µs per thread "
          f"median, {p95 / threads:.2f} p95")
    return 0


if __name__ == "__main__":
    sys.exit(main())
