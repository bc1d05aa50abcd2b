"""Derived metrics on replayed counter sequences: multiplexing, not-counted intervals and wrap."""

from __future__ import annotations

import itertools

import pytest

from perfdeck.perf import derived
from perfdeck.perf.counters import GroupSample, scale_delta

GHZ = 1e9


def test_basic_ratios() -> None:
    values = {
        "cycles": 2e9, "instructions": 3e9, "task-clock": 1e9, "L1-dcache-loads": 1e9,
        "L1-dcache-load-misses": 5e7, "LLC-loads": 1e7, "LLC-load-misses": 2.5e6, "branches": 4e8,
        "branch-misses": 4e6, "dTLB-load-misses": 3e6, "iTLB-load-misses": 3e5,
        "stalled-cycles-frontend": 2e8, "stalled-cycles-backend": 5e8, "context-switches": 100.0,
        "cpu-migrations": 4.0, "page-faults": 50.0, "minor-faults": 48.0, "major-faults": 2.0,
    }
    m = derived.derive(values, elapsed_s=2.0)
    assert m["ipc"] == pytest.approx(1.5)
    assert m["ghz"] == pytest.approx(2.0)  # 2e9 cycles in 1 s of task-clock
    assert m["l1d_miss_pct"] == pytest.approx(5.0)
    assert m["llc_miss_pct"] == pytest.approx(25.0)
    assert m["l1d_mpki"] == pytest.approx(5e7 / 3e9 * 1000)
    assert m["llc_mpki"] == pytest.approx(2.5e6 / 3e9 * 1000)
    assert m["branch_miss_pct"] == pytest.approx(1.0)
    assert m["dtlb_mpki"] == pytest.approx(1.0)
    assert m["itlb_mpki"] == pytest.approx(0.1)
    assert m["stall_frontend_pct"] == pytest.approx(10.0)
    assert m["stall_backend_pct"] == pytest.approx(25.0)
    assert m["ctx_switches"] == pytest.approx(50.0)
    assert m["migrations"] == pytest.approx(2.0)
    assert m["page_faults"] == pytest.approx(25.0)
    assert m["minor_faults"] == pytest.approx(24.0)
    assert m["major_faults"] == pytest.approx(1.0)


def test_missing_or_not_counted_inputs_give_none() -> None:
    m = derived.derive({"cycles": None, "instructions": 5.0, "branches": 0.0, "branch-misses": 0.0}, 1.0)
    assert m["ipc"] is None  # cycles not counted
    assert m["branch_miss_pct"] is None  # 0 branches: no ratio, not 0 %
    assert m["llc_miss_pct"] is None  # events absent entirely
    assert m["ctx_switches"] is None
    assert derived.derive({"page-faults": 5.0}, None)["page_faults"] is None  # first read: no interval


def test_ghz_without_task_clock_uses_cpu_seconds() -> None:
    values = {"cycles": 6e9}
    assert derived.derive(values, 1.0, cpu_seconds=2.0)["ghz"] == pytest.approx(3.0)
    assert derived.derive(values, 1.0)["ghz"] is None


def test_sum_values_none_poisons_the_event_only() -> None:
    total = derived.sum_values([{"a": 1.0, "b": 2.0}, {"a": None, "b": 3.0}, {"a": 4.0, "c": 1.0}])
    assert total == {"a": None, "b": 5.0, "c": 1.0}


def test_missing_inputs() -> None:
    ipc = derived.BY_NAME["ipc"]
    assert derived.missing_inputs(ipc, ["cycles"]) == ("instructions",)
    assert derived.missing_inputs(derived.BY_NAME["ghz"], ["cycles"]) == ()
    assert derived.missing_inputs(derived.BY_NAME["page_faults"], []) == ("page-faults",)


def s(enabled: int, running: int, **values: int) -> GroupSample:
    return GroupSample(enabled, running, dict(values), enabled / GHZ)


def replay(samples: list[GroupSample]) -> list[dict[str, float | None]]:
    """Per-interval derived metrics of a replayed cumulative counter sequence."""
    out = []
    for prev, cur in itertools.pairwise(samples):
        delta = scale_delta(prev, cur)
        out.append(derived.derive(delta.values, delta.elapsed_s, delta.enabled_ns / GHZ))
    return out


def test_replayed_sequence_with_multiplexing_not_counted_and_wrap() -> None:
    top = (1 << 64) - 1_000
    samples = [
        s(0, 0, cycles=0, instructions=0),
        # 1 s fully counted: 2e9 cycles, 4e9 instructions.
        s(1_000_000_000, 1_000_000_000, cycles=2_000_000_000, instructions=4_000_000_000),
        # 1 s, counted only a quarter of the time: raw 5e8 / 1e9, scaled ×4.
        s(2_000_000_000, 1_250_000_000, cycles=2_500_000_000, instructions=5_000_000_000),
        # 1 s never scheduled (running unchanged): not counted.
        s(3_000_000_000, 1_250_000_000, cycles=2_500_000_000, instructions=5_000_000_000),
        # Counters near the 64-bit limit (a replay of a wrap), then past it.
        s(4_000_000_000, 2_250_000_000, cycles=top, instructions=top),
        s(5_000_000_000, 3_250_000_000, cycles=3_000_000_000 - 1_000, instructions=6_000_000_000 - 1_000),
    ]
    metrics = replay(samples)
    assert metrics[0]["ipc"] == pytest.approx(2.0) and metrics[0]["ghz"] == pytest.approx(2.0)
    # Scaling preserves ratios, and restores the rate: 5e8 × 4 = 2e9 cycles in 1 s.
    assert metrics[1]["ipc"] == pytest.approx(2.0) and metrics[1]["ghz"] == pytest.approx(2.0)
    assert metrics[2]["ipc"] is None and metrics[2]["ghz"] is None
    # Interval 4 jumps backwards to near 2^64: treated as a reset, not as a huge count.
    assert metrics[3]["ipc"] is None
    # Interval 5 wraps past 2^64: a 3e9-cycle delta, 6e9 instructions.
    assert metrics[4]["ipc"] == pytest.approx(2.0) and metrics[4]["ghz"] == pytest.approx(3.0)
