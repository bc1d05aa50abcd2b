"""What one process-table read costs: µs of CPU per process, old psutil walk vs direct /proc reads.

    .venv/bin/python benchmarks/process_scan_cost.py [--processes 300] [--repeats 21] [--pause 0.5]

Tops the machine up to ``--processes`` processes with idle ``sleep`` children (killed at the end),
then times each read with ``time.thread_time_ns``: CPU time of this thread, user + kernel (the
kernel work of generating /proc files is charged to the reader), far less disturbed by other load
on a shared machine than wall time. The old and new reads are interleaved, ``--repeats`` of each,
so both see the same load, and each follows ``--pause`` idle seconds: in PerfDeck reads are 2 s
apart, so CPU caches and the kernel's dentry cache lines are cold, which costs about 1.6x a
back-to-back read (``--pause 0`` shows the hot figure):

1. ``psutil``: the previous collector's loop, ``psutil.process_iter()`` + ``as_dict`` of the same
   fields inside ``oneshot`` (kept here, verbatim in substance, as the baseline);
2. ``/proc steady``: ``ProcessCollector.read()`` after a warm-up, i.e. reads of stat and statm
   and a stat() of /proc/PID per process, plus the staggered cmdline refresh of ~1/5 of them;
3. ``/proc first read``: a fresh collector's first read (every file of every process).

Prints the median (and min/max) µs per process and the process count. A script, not a test: the
numbers depend on the machine and its load. Results are recorded in docs/performance-collectors.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import pwd
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import psutil

from perfdeck.collectors.processes import ProcessCollector

_ATTRS = ("pid", "name", "uids", "cpu_times", "memory_info", "num_threads", "status", "cmdline",
          "create_time")


class PsutilWalk:
    """The previous collector's read loop (psutil.process_iter + as_dict), for the baseline."""

    def __init__(self) -> None:
        self._cpu: dict[int, tuple[float | None, float, float]] = {}
        self._users: dict[int, str] = {}

    def read(self, now: float) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = []
        seen: dict[int, tuple[float | None, float, float]] = {}
        for process in psutil.process_iter():
            try:
                info = process.as_dict(attrs=_ATTRS, ad_value=None)
            except psutil.NoSuchProcess:
                continue
            pid, create_time, times = info["pid"], info["create_time"], info["cpu_times"]
            cpu = None
            if times is not None:
                used = times.user + times.system
                seen[pid] = (create_time, used, now)
                last = self._cpu.get(pid)
                if last is not None and last[0] == create_time and now > last[2]:
                    cpu = 100.0 * (used - last[1]) / (now - last[2])
            user = None
            if info["uids"] is not None:
                uid = info["uids"].real
                user = self._users.get(uid)
                if user is None:
                    try:
                        user = pwd.getpwuid(uid).pw_name
                    except KeyError:
                        user = str(uid)
                    self._users[uid] = user
            memory, cmdline = info["memory_info"], info["cmdline"]
            rows.append((pid, info["name"], user, cpu, memory.rss if memory else None,
                         info["num_threads"], info["status"],
                         tuple(cmdline) if cmdline is not None else None, create_time))
        self._cpu = seen
        rows.sort(key=lambda row: row[0])  # type: ignore[arg-type, return-value]
        return rows


def timed(read: Callable[[float], int]) -> float:
    """CPU µs per process of one read (``read`` returns how many processes it listed)."""
    start = time.thread_time_ns()
    count = read(time.monotonic())
    return (time.thread_time_ns() - start) / 1000 / count


def summary(costs: list[float]) -> str:
    return f"{statistics.median(costs):6.1f} µs/process median (min {min(costs):.1f}, max {max(costs):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=300, help="top the machine up to this many")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--pause", type=float, default=0.5,
                        help="idle seconds before each timed read (0: back-to-back, hot caches)")
    args = parser.parse_args()

    children: list[subprocess.Popen[bytes]] = []
    try:
        missing = args.processes - len(psutil.pids())
        for _ in range(max(0, missing)):
            children.append(subprocess.Popen(["sleep", "600"]))
        time.sleep(0.5)
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, kernel {platform.release()}, "
              f"Python {platform.python_version()}, psutil {psutil.__version__}")
        print(f"processes: {len(psutil.pids())} ({len(children)} idle sleep children added)")

        walk = PsutilWalk()
        collector = ProcessCollector()

        def read_old(now: float) -> int:
            return len(walk.read(now))

        def read_new(now: float) -> int:
            return len(collector.read(now).tables["processes"])

        for _ in range(10):  # warm: psutil's Process cache, and past our first refresh round
            read_old(time.monotonic())
            read_new(time.monotonic())
        old: list[float] = []
        new: list[float] = []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            time.sleep(args.pause)  # idle first, as between real reads 2 s apart: caches go cold
            old.append(timed(read_old))
            time.sleep(args.pause)
            new.append(timed(read_new))

        first = []
        for _ in range(max(3, args.repeats // 3)):
            collector = ProcessCollector()
            time.sleep(args.pause)
            first.append(timed(read_new))
        count = read_new(time.monotonic())

        print(f"psutil walk (old):     {summary(old)}")
        print(f"/proc steady (new):    {summary(new)}")
        print(f"/proc first read:      {summary(first)}")
        print(f"speed-up (steady): {statistics.median(old) / statistics.median(new):.1f}x; at "
              f"{count} processes one read costs {statistics.median(new) * count / 1000:.1f} ms "
              f"(old {statistics.median(old) * count / 1000:.1f} ms)")
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
