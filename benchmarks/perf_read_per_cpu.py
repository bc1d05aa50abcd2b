#!/usr/bin/env python3
"""What one CPU adds to a read of the perf family: its group read and the arithmetic on it.

    PYTHONPATH=app python benchmarks/perf_read_per_cpu.py [--reads 400] [--rounds 3]

Opens the system-wide perf collector on the real kernel's software counters (every machine has
them; no PMU needed) twice, on CPU 0 alone and on CPUs 0-1 (a fake ``online`` file fixes the set;
the counters are real), times ``read()`` back to back (warm caches: a lower bound of a tick's cost)
and prints the medians and their difference, the cost of one more CPU. Run it on two trees
(PYTHONPATH=old/app, then this one) back to back; numbers go to docs/performance.md.
A measurement script, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from perfdeck.collectors.perfcounters import PerfCollector
from perfdeck.perf.events import SOFTWARE_EVENTS


def median_read_us(online: str, reads: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sys/devices/system/cpu/online"
        path.parent.mkdir(parents=True)
        path.write_text(online)
        collector = PerfCollector(root=Path(directory), events=SOFTWARE_EVENTS)
        collector.open()
        try:
            now = time.monotonic()
            collector.read(now)
            durations = []
            for i in range(reads):
                started = time.perf_counter()
                collector.read(now + i + 1)
                durations.append(time.perf_counter() - started)
        finally:
            collector.close()
    return statistics.median(durations) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.rounds):
        one, two = median_read_us("0\n", args.reads), median_read_us("0-1\n", args.reads)
        print(f"read(): 1 CPU {one:.1f} µs, 2 CPUs {two:.1f} µs; one more CPU {two - one:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
