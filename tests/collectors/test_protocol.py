"""The collector protocol on the core families: metric names and instance labels on every series,
raw cumulative counters (``counter_specs`` + ``Reading.totals``) in base units that never go down,
and the same counters checked against the real /proc/stat of this machine."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest
from psutil_fakes import (
    FakeProc,
    Script,
    cpu_times,
    disk_io,
    diskstats_text,
    make_block_tree,
    make_cpu_tree,
    make_net_tree,
    make_proc_tree,
    net_dev_text,
    net_io,
    proc_stat_text,
)

from perfdeck.collectors.cpu import COUNTER_MODES, CpuCollector
from perfdeck.collectors.disks import DiskCollector
from perfdeck.collectors.memory import MemoryCollector
from perfdeck.collectors.network import NetworkCollector
from perfdeck.collectors.processes import ProcessCollector, parse_io
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.rates import MonotonicTotals
from perfdeck.model.registry import create_collectors
from perfdeck.model.series import INSTANCE_LABELS

CORE = ["cpu", "mem", "disk", "net", "sensors", "proc"]
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def test_monotonic_totals_leave_out_a_step_back_until_it_catches_up() -> None:
    guard = MonotonicTotals()
    assert guard.accept({"a": 10.0, "b": 5.0}) == {"a": 10.0, "b": 5.0}
    assert guard.accept({"a": 9.0, "b": 6.0}) == {"b": 6.0}  # a stepped back: no value, never 9 or 10
    assert guard.accept({"a": 9.5, "b": 6.0}) == {"b": 6.0}  # still below what was reported
    assert guard.accept({"a": 10.5, "b": 7.0}) == {"a": 10.5, "b": 7.0}
    assert guard.accept({"b": 8.0}) == {"b": 8.0}  # a vanished: forgotten
    assert guard.accept({"a": 1.0, "b": 8.0}) == {"a": 1.0, "b": 8.0}  # a re-created device starts afresh


def test_cpu_seconds_by_mode_per_cpu_and_machine(tmp_path: Path) -> None:
    make_cpu_tree(tmp_path, online="0,2")  # CPU 1 offline: labels carry CPU numbers, not positions
    stat = tmp_path / "proc/stat"
    stat.write_text(proc_stat_text(
        cpu_times(user=10, nice=1, system=3, idle=50, iowait=4, irq=0.5, softirq=0.25, steal=2, guest=7),
        {0: cpu_times(user=6, idle=20), 2: cpu_times(user=4, idle=30, iowait=2)}, ctxt=1000, intr=500))
    collector = CpuCollector(root=tmp_path)
    collector.open()
    first = collector.read(0.0)
    counters = collector.counter_specs()
    assert set(first.totals) == set(counters)
    user2 = counters["cpu.seconds.user.core2"]
    assert (user2.metric, user2.unit, user2.labels) == ("cpu.seconds", "s", (("cpu", "2"), ("mode", "user")))
    assert counters["cpu.all.seconds.idle"].labels == (("mode", "idle"),)
    modes = {spec.labels[-1][1] for spec in counters.values() if spec.metric == "cpu.seconds"}
    assert modes == set(COUNTER_MODES)
    assert counters["cpu.context_switches"].unit == "" and counters["cpu.interrupts"].unit == ""
    # Raw kernel modes, in seconds: nice is not folded into user here, guest is not added again.
    assert first.totals["cpu.all.seconds.user"] == 10 and first.totals["cpu.all.seconds.nice"] == 1
    assert first.totals["cpu.all.seconds.softirq"] == 0.25
    assert first.totals["cpu.seconds.iowait.core2"] == 2
    assert first.totals["cpu.context_switches"] == 1000 and first.totals["cpu.interrupts"] == 500
    stat.write_text(proc_stat_text(
        cpu_times(user=20, nice=1, system=4, idle=60, iowait=3, irq=0.5, softirq=0.5, steal=2),
        {0: cpu_times(user=12, idle=25), 2: cpu_times(user=8, idle=35, iowait=3)}, ctxt=1500, intr=700))
    second = collector.read(1.0)
    # The machine's iowait stepped back 4 -> 3 (NO_HZ accounting): left out, never reported lower.
    assert "cpu.all.seconds.iowait" not in second.totals
    assert second.totals["cpu.all.seconds.user"] == 20 and second.totals["cpu.seconds.user.core0"] == 12
    assert second.totals["cpu.context_switches"] == 1500
    # The drawn rates are unchanged by this.
    assert second.values["cpu.ctx_switches"] == pytest.approx(500)


def test_cpu_series_metrics_and_labels(tmp_path: Path) -> None:
    make_cpu_tree(tmp_path, online="0-1", cpufreq_khz={0: 2_000_000, 1: 2_100_000})
    (tmp_path / "proc/stat").write_text(proc_stat_text(cpu_times(idle=1), [cpu_times(idle=1)] * 2))
    collector = CpuCollector(root=tmp_path)
    collector.open()
    specs = collector.specs()

    def named(series_id: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return specs[series_id].metric, specs[series_id].labels

    assert named("cpu.util.total") == ("cpu.util", ())
    assert named("cpu.util.iowait") == ("cpu.util.part", (("mode", "iowait"),))
    assert named("cpu.util.core1") == ("cpu.util.core", (("cpu", "1"),))
    assert named("cpu.util.steal.core0") == ("cpu.util.part.core", (("cpu", "0"), ("mode", "steal")))
    assert named("cpu.freq.core1") == ("cpu.freq.core", (("cpu", "1"),))
    assert specs["cpu.load.5"].metric_name == "cpu.load.5" and specs["cpu.load.5"].labels == ()


def test_memory_swap_bytes(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/meminfo").write_text("MemTotal: 8000 kB\nMemAvailable: 4000 kB\nSwapTotal: 1000 kB\n"
                                           "SwapFree: 1000 kB\n")
    vmstat = tmp_path / "proc/vmstat"
    vmstat.write_text("pgpgin 1\npswpin 1\npswpout 2\n")
    collector = MemoryCollector(tmp_path)
    assert collector.read(0.0).totals == {"mem.swap.in_bytes": PAGE, "mem.swap.out_bytes": 2 * PAGE}
    vmstat.write_text("pgpgin 1\npswpin 3\npswpout 2\n")
    second = collector.read(1.0)
    assert second.totals["mem.swap.in_bytes"] == 3 * PAGE
    assert collector.counter_specs()["mem.swap.out_bytes"].unit == "B"
    assert second.values["mem.swap.in"] == pytest.approx(2 * PAGE)


def test_disk_counters_and_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_block_tree(tmp_path, {"sda": "hw", "dm-0": "dm:vg0-root", "loop0": "virtual"})
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/diskstats").write_text(diskstats_text(
        {"sda": disk_io(10, 20, 4096, 8192, busy_time=1500), "dm-0": disk_io(1, 2, 512, 1024, 10),
         "loop0": disk_io(1, 1, 512, 512, 1)}))
    monkeypatch.setattr(psutil, "disk_partitions", Script([[]]))
    collector = DiskCollector(root=tmp_path)
    reading = collector.read(0.0)
    assert reading.totals == {
        "disk.read_bytes.sda": 4096, "disk.written_bytes.sda": 8192, "disk.reads_completed.sda": 10,
        "disk.writes_completed.sda": 20, "disk.io_time.sda": 1.5,  # io_ticks ms -> s
        "disk.read_bytes.dm-0": 512, "disk.written_bytes.dm-0": 1024, "disk.reads_completed.dm-0": 1,
        "disk.writes_completed.dm-0": 2, "disk.io_time.dm-0": 0.01,
    }
    counters = collector.counter_specs()
    assert set(counters) == set(reading.totals)
    assert (counters["disk.io_time.sda"].metric, counters["disk.io_time.sda"].unit) == ("disk.io_time", "s")
    assert counters["disk.read_bytes.dm-0"].labels == (("device", "dm-0"),)
    assert collector.specs()["disk.busy.sda"].labels == (("device", "sda"),)
    assert collector.specs()["disk.busy.sda"].metric == "disk.busy"


def test_network_counters_and_labels(tmp_path: Path) -> None:
    make_net_tree(tmp_path, {"eth0.100": False, "lo": True})
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/dev").write_text(net_dev_text(
        {"eth0.100": net_io(100, 200, 3, 4, 5, 6, 7, 8), "lo": net_io(9, 9, 1, 1)}))
    collector = NetworkCollector(root=tmp_path)
    reading = collector.read(0.0)
    assert reading.totals["net.receive_bytes.eth0_100"] == 200
    assert reading.totals["net.transmit_bytes.eth0_100"] == 100
    assert reading.totals["net.receive_packets.eth0_100"] == 4
    assert reading.totals["net.receive_errors.eth0_100"] == 5
    assert reading.totals["net.transmit_drops.eth0_100"] == 8
    assert reading.totals["net.receive_bytes.lo"] == 9
    spec = collector.counter_specs()["net.receive_bytes.eth0_100"]
    assert (spec.metric, spec.unit, spec.labels) == ("net.receive_bytes", "B", (("interface", "eth0.100"),))
    series = collector.specs()["net.rx.eth0_100"]
    assert (series.metric, series.labels) == ("net.rx", (("interface", "eth0.100"),))  # the real name
    assert collector.specs()["net.rx.total"].labels == ()


def test_process_io_rates_and_kernel_threads(tmp_path: Path) -> None:
    procs = [FakeProc(1, comm="init", io=(0, 0)),
             FakeProc(2, comm="kthreadd", ppid=0, kernel_thread=True, io=(0, 0)),
             FakeProc(50, comm="kworker/0:0", ppid=2, kernel_thread=True, io=(0, 0)),
             FakeProc(300, comm="dd", io=(1000, 2000)),
             FakeProc(301, comm="secret")]  # no io file: unreadable (another user's process)
    make_proc_tree(tmp_path, procs)
    collector = ProcessCollector(tmp_path)
    first = {row.pid: row for row in collector.read(0.0).tables["processes"]}
    assert first[300].io_read_bps is None and first[300].io_write_bps is None  # first sight
    assert first[2].kernel_thread and first[50].kernel_thread and not first[300].kernel_thread
    assert first[50].rss == 0  # no address space (statm is not even read)
    make_proc_tree(tmp_path, [FakeProc(300, comm="dd", io=(5000, 2000))])
    second = {row.pid: row for row in collector.read(2.0).tables["processes"]}
    assert second[300].io_read_bps == pytest.approx(2000) and second[300].io_write_bps == 0
    assert second[301].io_read_bps is None  # unknown stays unknown, never 0
    assert second[1].io_read_bps == 0  # measured zero


def test_parse_io_without_fields() -> None:
    assert parse_io(b"rchar: 1\nwchar: 2\n") is None
    assert parse_io(b"read_bytes: 7\nwrite_bytes: 9") == (7, 9)


def test_real_engine_labels_and_counters() -> None:
    engine = SamplingEngine(create_collectors(CORE))
    try:
        first = engine.sample()
        time.sleep(0.2)
        second = engine.sample()
    finally:
        engine.close()
    for spec in second.specs.values():
        for name, value in spec.labels:
            assert name in INSTANCE_LABELS and value, spec.id
        if spec.labels:
            assert spec.metric and spec.metric != spec.id, spec.id
    assert second.totals and set(second.totals) <= set(second.counter_specs)
    for key, spec in second.counter_specs.items():
        assert spec.unit in ("s", "B", ""), key
        assert all(name in INSTANCE_LABELS for name, _ in spec.labels), key
        if key in first.totals and key in second.totals:
            assert second.totals[key] >= first.totals[key], key
    assert {"cpu.all.seconds.user", "cpu.context_switches", "mem.swap.in_bytes"} <= set(second.totals)


def _proc_stat_seconds() -> dict[str, list[float]]:
    lines = Path("/proc/stat").read_text().splitlines()
    return {line.split()[0]: [int(v) / TICKS for v in line.split()[1:9]] for line in lines
            if line.startswith("cpu")}


def test_real_cpu_seconds_match_proc_stat() -> None:
    collector = CpuCollector()
    collector.open()
    before = _proc_stat_seconds()
    reading = collector.read(time.monotonic())
    after = _proc_stat_seconds()
    for position, mode in enumerate(COUNTER_MODES):
        key = f"cpu.all.seconds.{mode}"
        if key not in reading.totals:
            continue  # a step back on this very read: left out, as it should be
        # Between two reads of /proc/stat taken around the collector's own read.
        assert before["cpu"][position] - 0.02 <= reading.totals[key] <= after["cpu"][position] + 0.02, mode
    for n in (int(name[3:]) for name in before if name != "cpu"):
        key = f"cpu.seconds.user.core{n}"
        assert key in reading.totals
        assert before[f"cpu{n}"][0] - 0.02 <= reading.totals[key] <= after[f"cpu{n}"][0] + 0.02
