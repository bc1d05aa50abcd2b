"""Regression guard for the sampling cost, counted rather than timed: files opened and Python calls
per tick of the fast families (cpu, mem, disk, net) on a fake machine of fixed size, and files
opened by the process family while no table is wanted.

The kernel's files are read through kept descriptors (``KeptFile``: one ``pread`` each), so after
the first read no tick opens a file. Python calls are counted with ``cProfile`` (the same code path
gives the same count on a loaded machine). Numbers when the guard was written, for this fake
machine (4 CPUs with cpufreq, 2 disks + 1 partition, 3 interfaces): 0 files and 576 calls per
tick (4 CPUs take the per-CPU loop, cheaper than arrays for few CPUs when caches are cold); 489
since /proc/stat's CPU lines are parsed without a generator and processes counted with ``map``.
On this project's 2-CPU VM the same families took 9.2 files and 966 calls per tick with psutil,
and 0.2 files (the filesystem list every 5 s) after (docs/performance.md).
"""

from __future__ import annotations

import cProfile
import os
import pstats
from pathlib import Path

from psutil_fakes import (
    cpu_times,
    disk_io,
    diskstats_text,
    make_block_tree,
    make_cpu_tree,
    make_net_tree,
    net_dev_text,
    net_io,
    proc_stat_text,
)

from perfdeck.collectors.cpu import CpuCollector
from perfdeck.collectors.disks import DiskCollector
from perfdeck.collectors.memory import MemoryCollector
from perfdeck.collectors.network import NetworkCollector
from perfdeck.collectors.processes import ProcessCollector
from perfdeck.model.engine import SamplingEngine
from probes import opened_files

CALLS_PER_TICK = 540


def _fake_machine(root: Path, tick: int) -> None:
    """The kernel's files of a small machine, with counters that move with ``tick``."""
    make_cpu_tree(root, online="0-3", cpufreq_khz={n: 2_000_000 + 1000 * tick for n in range(4)})
    (root / "proc/net").mkdir(parents=True, exist_ok=True)
    busy = cpu_times(user=10 + tick, system=5, idle=100 + tick)
    (root / "proc/stat").write_text(proc_stat_text(busy, [busy] * 4, ctxt=1000 + tick, intr=500 + tick))
    (root / "proc/loadavg").write_text("0.10 0.20 0.30 1/150 999\n")
    (root / "proc/meminfo").write_text(
        "MemTotal: 8000000 kB\nMemFree: 1000000 kB\nMemAvailable: 6000000 kB\nBuffers: 1000 kB\n"
        "Cached: 100000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\nShmem: 10 kB\nSReclaimable: 5 kB\n")
    (root / "proc/vmstat").write_text(f"nr_free_pages 1\npswpin {tick}\npswpout 0\n")
    io = disk_io(10 + tick, 20, 512 * tick, 1024, busy_time=tick)
    (root / "proc/diskstats").write_text(diskstats_text({"sda": io, "sda1": io, "vda": io}))
    (root / "proc/net/dev").write_text(net_dev_text({"lo": net_io(1, 1), "eth0": net_io(tick, tick),
                                                     "wlan0": net_io(2 * tick, tick)}))


def test_fast_families_open_no_file_and_stay_within_their_call_budget(tmp_path: Path) -> None:
    make_block_tree(tmp_path, {"sda": "hw", "vda": "hw"})
    make_net_tree(tmp_path, {"eth0": False, "wlan0": False, "lo": True})
    _fake_machine(tmp_path, 0)
    collectors = [CpuCollector(tmp_path), MemoryCollector(tmp_path),
                  DiskCollector(tmp_path, fs_interval=1e9),  # filesystems: the real machine's, once
                  NetworkCollector(tmp_path)]
    engine = SamplingEngine(collectors)
    for tick in range(3):  # warm-up: descriptors opened, baselines, specs
        _fake_machine(tmp_path, tick)
        engine.sample(now=100.0 + tick)
    ticks = 10
    profile = cProfile.Profile()
    try:
        for tick in range(3, 3 + ticks):
            _fake_machine(tmp_path, tick)  # the kernel moving on (not counted)
            with opened_files() as opened:
                profile.enable()
                snapshot = engine.sample(now=100.0 + tick)
                profile.disable()
            assert opened == [], opened  # every file read through a kept descriptor
    finally:
        engine.close()
    assert snapshot.value("cpu.util.core3") is not None and snapshot.value("net.rx.eth0") is not None
    assert snapshot.value("disk.read.sda") == 512 and snapshot.value("cpu.freq.avg") is not None
    calls = pstats.Stats(profile).total_calls / ticks  # type: ignore[attr-defined]
    assert calls <= CALLS_PER_TICK, f"{calls:.0f} Python calls per tick"


def test_process_counts_without_a_table_open_no_file_per_process() -> None:
    collector = ProcessCollector(table=False)
    collector.open()
    try:
        if not collector.counts_cheaply:  # a container: the walk is needed for the thread count
            return
        collector.read(0.0)
        with opened_files() as opened:
            reading = collector.read(2.0)
        assert opened == []  # the listing and a kept /proc/loadavg: no /proc/PID file at all
        assert reading.values["proc.count"] >= 1 and reading.values["proc.threads"] >= 1
    finally:
        collector.close()


def test_kept_files_are_fresh_and_released(tmp_path: Path) -> None:
    from perfdeck.collectors._common import KeptFile

    path = tmp_path / "counter"
    path.write_text("1\n")
    kept = KeptFile(path, size=4)
    assert kept.read() == b"1\n"
    path.write_text("12345678901234567890\n")  # rewritten in place, longer than the buffer
    assert kept.read() == b"12345678901234567890\n"
    fds = len(os.listdir("/proc/self/fd"))
    del kept  # dropped without close(): the descriptor goes with it
    assert len(os.listdir("/proc/self/fd")) == fds - 1
    assert KeptFile(tmp_path / "missing").read() is None  # unreadable: None, never b""


def test_process_table_reopens_no_file_of_a_known_process() -> None:
    """With the table wanted, a process already seen is re-read through its kept stat, statm and io
    (pread): the files a read opens are those of newcomers (and their first pread-less read), the
    staggered command-line refreshes (about a fifth of the processes) and /proc/stat's btime."""
    collector = ProcessCollector(table=True, keep_files=True)
    collector.open()
    try:
        for now in (0.0, 2.0):  # first read, then the one that opens the files to keep
            collector.read(now)
        known_before = set(collector._known)
        profile = cProfile.Profile()
        with opened_files() as opened:
            profile.enable()
            reading = collector.read(4.0)
            profile.disable()
        rows = reading.tables["processes"]
        newcomers = {row.pid for row in rows} - known_before
        per_process = [p for p in opened if p.rsplit("/", 1)[-1] in ("stat", "statm", "io")
                       and p.rsplit("/", 2)[-2].isdigit()]
        # Newcomers take up to 3 opens each on this read; a known process opens none (budget
        # allowing: a few hundred processes at the default RLIMIT_NOFILE of 1024).
        known_rows = len(rows) - len(newcomers)
        budget_left = collector._kept_limit // 3
        assert len(per_process) <= 3 * len(newcomers) + 3 * max(0, known_rows - budget_left), per_process
        # Python calls per process (cProfile; the old open/read/close walk took ~23 with its engine).
        calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
        assert calls / max(1, len(rows)) <= 20, f"{calls / len(rows):.1f} calls per process"
    finally:
        collector.close()
