"""The system-wide read path gives exactly the values and totals of the straightforward one.

``PerfCollector.read`` was rewritten for cost (issue 15, sampcost): counts scaled once, series
and counter ids laid out per rescan, ``select``/``merge_selections`` written out, plain ratios
through ``_ratio`` directly, no multiplexing ratio without hardware events. ``_Reference`` below
is the previous read path, line for line, built on the reference forms kept for this purpose
(``scale_delta``, ``GroupPlan.select_reference``, ``merge_selections_reference``,
``derive_counts``, and the former ``counted_ratio``). Both run on the same group samples, on the
real software counters of this machine and on every system-wide replay fixture (hardware,
multiplexing, hybrid, the Zen 4 zero-load check), and must agree to the bit: ``==`` on floats,
not approx.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from counter_replay.kernel import FakeKernel, build_root, load

from perfdeck.collectors.perfcounters import MODE_SYSTEM, MULTIPLEX, PerfCollector, counter_id
from perfdeck.perf import derived
from perfdeck.perf.counters import CounterSet, DeltaTracker, GroupSample
from perfdeck.perf.derived import merge_selections_reference
from perfdeck.perf.events import BY_NAME
from probes import system_wide_perf_allowed


def _counted_ratio(counts: Any, names: Any) -> float | None:
    """``derived.counted_ratio`` as it was before the rewrite."""
    ratios = [c.ratio for n in names if (c := counts.get(n)) is not None and c.ratio is not None]
    return min(ratios) if ratios else None


class _Reference:
    """The read path before the rewrite, fed the samples the collector's sets really returned."""

    def __init__(self, collector: PerfCollector) -> None:
        self.collector = collector
        self.tracker = DeltaTracker()
        self.totals: dict[str, float] = {}
        self.live = collector._live_metrics
        self.unavailable = dict(collector._series_unavailable)
        self.l1d_broken = "l1d_miss_pct" in collector._metric_unavailable

    def _accumulate(self, instance: str, deltas: dict[str, float | None]) -> None:
        for event, delta in deltas.items():
            if delta is None:
                continue
            cid = counter_id(event, instance)
            self.totals[cid] = self.totals.get(cid, 0.0) + (delta / 1e9 if event == "task-clock" else delta)

    def _zero_loads(self, counts: dict[str, float | None]) -> None:
        loads, instructions = counts.get("L1-dcache-loads"), counts.get("instructions")
        if loads != 0 or instructions is None or instructions < 1e6 or self.l1d_broken:
            return
        self.l1d_broken = True
        self.live = tuple(m for m in self.live if m.name != "l1d_miss_pct")
        for sid in self.collector.specs():
            if sid.startswith("perf.l1d_miss_pct."):
                self.unavailable[sid] = self.collector._series_unavailable[sid]

    def read(self, set_samples: list[dict[tuple[int, int], GroupSample]]
             ) -> tuple[dict[str, float | None], dict[str, float]]:
        c = self.collector
        per_cpu: dict[int, Any] = {}
        seconds: dict[int, float] = {}
        for set_index, samples in enumerate(set_samples):
            by_cpu: dict[int, dict[int, Any]] = {}
            for (group_index, cpu), sample in samples.items():
                delta = self.tracker.update((set_index, group_index, cpu), sample)
                if delta is None:
                    continue
                by_cpu.setdefault(cpu, {})[group_index] = delta.counts
                seconds[cpu] = max(seconds.get(cpu, 0.0), delta.enabled_ns / 1e9)
            for cpu, group_counts in by_cpu.items():
                per_cpu[cpu] = c._plans[set_index].select_reference(group_counts)
        hardware = c._hardware_names()
        values: dict[str, float | None] = {}
        for cpu, counts in per_cpu.items():
            self._accumulate(f"cpu{cpu}", derived.scaled(counts))
        for cpu in c._cpus:
            counts = per_cpu.get(cpu)
            elapsed = seconds.get(cpu)
            metrics = derived.derive_counts(counts, elapsed, elapsed, self.live, c._ref_ghz) if counts else {}
            for metric in self.live:
                values[f"perf.{metric.name}.cpu{cpu}"] = metrics.get(metric.name)
            ratio = _counted_ratio(counts, hardware) if counts else None
            values[f"perf.{MULTIPLEX}.cpu{cpu}"] = None if ratio is None else ratio * 100
        if per_cpu and len(per_cpu) == len(c._cpus):
            total = merge_selections_reference([per_cpu[cpu] for cpu in c._cpus])
            self._accumulate("total", derived.scaled(total))
            self._zero_loads(derived.scaled(total))
            interval = sum(seconds.values()) / len(seconds)
            metrics = derived.derive_counts(total, interval, interval * len(per_cpu), self.live, c._ref_ghz)
            ratio = _counted_ratio(total, hardware)
        else:
            metrics, ratio = {}, None
        for metric in self.live:
            values[f"perf.{metric.name}.total"] = metrics.get(metric.name)
        values[f"perf.{MULTIPLEX}.total"] = None if ratio is None else ratio * 100
        for sid in self.unavailable:
            values.pop(sid, None)
        totals = {cid: v for cid, v in self.totals.items() if cid in c.counter_specs()}
        return values, totals


def _record_set_reads(collector: PerfCollector, monkeypatch: pytest.MonkeyPatch
                      ) -> list[list[dict[tuple[int, int], GroupSample]]]:
    """Every tick's samples of every set, as ``CounterSet.read`` returned them to the collector."""
    ticks: list[list[dict[tuple[int, int], GroupSample]]] = []
    real_read = CounterSet.read

    def recording_read(self: CounterSet) -> dict[tuple[int, int], GroupSample]:
        samples = real_read(self)
        if self is collector._sets[0]:
            ticks.append([])
        ticks[-1].append(samples)
        return samples

    monkeypatch.setattr(CounterSet, "read", recording_read)
    return ticks


def _compare(collector: PerfCollector, read_tick: Any, ticks: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run ``ticks`` reads; after each, the reference on the same samples must agree exactly."""
    recorded = _record_set_reads(collector, monkeypatch)
    reference = _Reference(collector)
    compared = 0
    for tick in range(ticks):
        reading = read_tick(tick)
        values, totals = reference.read(recorded[-1])
        assert dict(reading.values) == values, f"tick {tick}"
        assert list(reading.values) == list(values), f"tick {tick}: the same series, in the same order"
        assert dict(reading.totals) == totals, f"tick {tick}"
        assert set(reading.unavailable) == set(reference.unavailable)
        compared += sum(v is not None for v in values.values())
    return compared


@pytest.mark.skipif(not system_wide_perf_allowed(), reason="system-wide counting not permitted for this user")
def test_real_software_counters_identical_to_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    collector = PerfCollector()
    collector.open()
    try:
        assert collector.mode == MODE_SYSTEM

        def read_tick(_tick: int) -> Any:
            sum(range(20_000))  # a little work between reads, so the counts move
            time.sleep(0.01)
            return collector.read(time.monotonic())

        compared = _compare(collector, read_tick, 6, monkeypatch)
    finally:
        collector.close()
    assert compared > 0, "some values were really compared"


@pytest.mark.parametrize("name", ["multiplexed_groups", "watchdog_fixed_counter", "hybrid_l1d_system",
                                  "active_clock", "zen4_zero_l1d_loads"])
def test_replayed_kernels_identical_to_the_reference(name: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = load(name)
    root = build_root(tmp_path, fixture)
    kernel = FakeKernel(fixture)
    kernel.install(monkeypatch)
    collector = PerfCollector(root, events=[BY_NAME[e] for e in fixture["events"]])
    collector.open()
    try:
        assert collector.mode == MODE_SYSTEM

        def read_tick(tick: int) -> Any:
            kernel.tick = tick
            return collector.read(time.monotonic())

        compared = _compare(collector, read_tick, len(fixture["ticks"]), monkeypatch)
    finally:
        collector.close()
    assert compared > 0
