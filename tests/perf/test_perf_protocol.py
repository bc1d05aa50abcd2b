"""Exporter protocol of the families this layer owns: metric + instance labels, raw cumulative totals."""

from __future__ import annotations

import mmap
import time
from pathlib import Path

import pytest

from fakes.sysfs_trees import make_rapl_only, make_skx_server, write
from perfdeck.collectors.membw import MemoryBandwidthCollector
from perfdeck.collectors.perfcounters import PerfCollector
from perfdeck.collectors.power import PowerCollector
from perfdeck.model.series import INSTANCE_LABELS
from perfdeck.perf.counters import GroupSample, online_cpus
from probes import system_wide_perf_allowed


def _labels_ok(labels: tuple[tuple[str, str], ...]) -> bool:
    return all(name in INSTANCE_LABELS for name, _ in labels)



@pytest.mark.skipif(not system_wide_perf_allowed(), reason="system-wide counting not permitted")
def test_perf_series_labels_and_raw_totals_from_real_software_counters() -> None:
    collector = PerfCollector()
    collector.open()
    try:
        specs = collector.specs()
        spec = specs["perf.page_faults.cpu0"]
        assert spec.metric == "perf.page_faults.cpu" and spec.labels == (("cpu", "0"),)
        assert specs["perf.page_faults.total"].metric_name == "perf.page_faults.total"
        assert specs["perf.page_faults.total"].labels == ()
        assert all(_labels_ok(s.labels) for s in specs.values())
        counters = collector.counter_specs()
        assert counters["perf.count.page-faults.cpu0"].metric == "perf.count.page-faults.cpu"
        assert counters["perf.count.task-clock.total"].unit == "s"
        collector.read(time.monotonic())
        area = mmap.mmap(-1, 300 * mmap.PAGESIZE)
        for offset in range(0, 300 * mmap.PAGESIZE, mmap.PAGESIZE):
            area[offset] = 1
        area.close()
        second = collector.read(time.monotonic())
        third = collector.read(time.monotonic())
    finally:
        collector.close()
    faults = second.totals["perf.count.page-faults.total"]
    assert faults >= 300  # the pages touched above, counted by the kernel
    assert third.totals["perf.count.page-faults.total"] >= faults  # monotonic
    per_cpu = sum(second.totals[f"perf.count.page-faults.cpu{c}"] for c in online_cpus())
    assert per_cpu == pytest.approx(faults)
    # System-wide task-clock is wall time per CPU: about one second per second per CPU.
    assert second.totals["perf.count.task-clock.total"] > 0
    assert set(second.totals) <= set(counters)
    # Hardware events that are not counted here have no total at all (never 0).
    for cid in second.totals:
        event = cid.split(".")[2]
        assert event not in collector.event_unavailable_everywhere()


class _Group:
    def __init__(self, events, cpu) -> None:
        self.names = [e.name for e in events]
        self.errors: dict = {}
        self.n = 0

    def open(self):
        return {}

    def enable(self) -> None:
        pass

    def read(self) -> GroupSample:
        self.n += 1
        return GroupSample(self.n * 10**9, self.n * 10**9, {n: self.n * 1_000_000 for n in self.names},
                           float(self.n))

    def close(self) -> None:
        pass


def test_membw_labels_and_byte_totals(tmp_path: Path) -> None:
    collector = MemoryBandwidthCollector(make_skx_server(tmp_path), group_factory=_Group)
    collector.open()
    specs = collector.specs()
    assert specs["membw.read.socket1"].metric == "membw.read.socket"
    assert specs["membw.read.socket1"].labels == (("socket", "1"),)
    channel = next(s for s in specs.values() if s.group == "membw.channel")
    assert channel.metric in ("membw.read.channel", "membw.write.channel")
    assert dict(channel.labels)["pmu"].startswith("uncore_imc_")
    assert all(_labels_ok(s.labels) for s in specs.values())
    counters = collector.counter_specs()
    assert counters["membw.bytes.read.total"].unit == "B"
    assert counters["membw.bytes.read.socket0"].labels == (("socket", "0"),)
    assert collector.read(1.0).totals == {}
    collector.read(2.0)
    third = collector.read(3.0)
    # 6 channels x 2 sockets, 1e6 CAS per second each, 64 B per CAS, two intervals.
    assert third.totals["membw.bytes.read.total"] == pytest.approx(2 * 12 * 1e6 * 64)
    assert third.totals["membw.bytes.total"] == pytest.approx(2 * 2 * 12 * 1e6 * 64)
    assert set(third.totals) <= set(counters)


def test_power_labels_and_joule_totals(tmp_path: Path) -> None:
    make_rapl_only(tmp_path)
    collector = PowerCollector(tmp_path)
    collector.open()
    specs = collector.specs()
    assert specs["power.package.socket0"].metric == "power.package"
    assert specs["power.package.socket0"].labels == (("socket", "0"),)
    assert specs["power.psys"].labels == ()
    counters = collector.counter_specs()
    assert counters["power.energy.package.socket0"].unit == "J"
    collector.read(10.0)
    write(tmp_path, "sys/class/powercap/intel-rapl:0/energy_uj", f"{1_000_000 + 30_000_000}\n")
    second = collector.read(12.0)
    assert second.totals["power.energy.package.socket0"] == pytest.approx(30.0)
    assert set(second.totals) <= set(counters)
