"""What one read of the ``cgroup`` and ``psi`` families costs per tick, in µs of CPU.

    .venv/bin/python benchmarks/cgroup_cost.py [--cgroups 300] [--repeats 21] [--pause 0.2]

Measures with ``time.thread_time_ns`` (CPU time of this thread, user + kernel: generating the
cgroupfs/procfs text is charged to the reader), so other load on a shared machine disturbs it little:

1. ``fake N``: ``CgroupCollector.read()`` over a fake cgroup v2 tree of N cgroups on tmpfs/disk
   (tests/fakes/cgroup_trees.make_many: every interface file of a systemd host), counters off;
2. ``real tree``: the same over this machine's cgroup v2 mount (counters off), with its cgroup count;
3. ``real tree + counters``: with perf cgroup-mode counters for the busiest cgroups (root only);
4. ``psi``: ``PsiCollector.read()`` on /proc/pressure.

Each read follows ``--pause`` idle seconds (in PerfDeck reads are 1 s apart, so caches are cold).
Prints the median (min-max). A script, not a test; results are in docs/services-and-containers.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes.cgroup_trees import make_many
from perfdeck.collectors.cgroup_tree import detect_layout
from perfdeck.collectors.cgroups import TABLE, CgroupCollector
from perfdeck.collectors.psi import PsiCollector


def cost(read, repeats: int, pause: float) -> list[float]:
    read(time.monotonic())  # the first read has no rates; not counted
    samples = []
    for _ in range(repeats):
        time.sleep(pause)
        start = time.thread_time_ns()
        read(time.monotonic())
        samples.append((time.thread_time_ns() - start) / 1000)
    return samples


def report(name: str, samples: list[float], count: int | None = None) -> None:
    per = f", {statistics.median(samples) / count:.1f} µs per cgroup" if count else ""
    print(f"{name:<28} median {statistics.median(samples):8.0f} µs (min {min(samples):.0f}, "
          f"max {max(samples):.0f}){per}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cgroups", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--pause", type=float, default=0.2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        make_many(Path(tmp), args.cgroups)
        collector = CgroupCollector(Path(tmp), counters=False)
        collector.open()
        count = len(collector.read(0.0).tables[TABLE].rows)
        report(f"fake {count} cgroups", cost(collector.read, args.repeats, args.pause), count)

    layout = detect_layout(Path("/"))
    if layout.v2_mount is None:
        print(f"real tree: none ({layout.summary()})")
    else:
        collector = CgroupCollector(counters=False)
        collector.open()
        count = len(collector.read(0.0).tables[TABLE].rows)
        report(f"real tree ({count} cgroups)", cost(collector.read, args.repeats, args.pause), count)
        if os.geteuid() == 0:
            collector = CgroupCollector(counters=True)
            collector.open()
            table = collector.read(0.0).tables[TABLE]
            report("real tree + counters", cost(collector.read, args.repeats, args.pause), len(table.rows))
            print(f"  {table.counters}")
            collector.close()
    psi = PsiCollector()
    try:
        psi.open()
        report("psi (/proc/pressure)", cost(psi.read, args.repeats, args.pause))
    except Exception as exc:
        print(f"psi: unavailable ({exc})")
    print(f"layout: {layout.summary()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
