"""The tma family through the engine, with replayed group counts on fake Sapphire Rapids and Alder
Lake trees (arithmetic only; no PMU here), and the real machine's answer."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path

import pytest

from fakes.topdown_trees import make_alder_lake, make_sapphire_rapids
from perfdeck.collectors.topdown import TopdownCollector, topdown_report
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.series import INSTANCE_LABELS, CollectorUnavailableError
from perfdeck.perf.abi import PerfOpenError
from perfdeck.perf.counters import EventSpec, GroupSample

# Slots per second per CPU and the share of each topdown event (level 1 adds to 1, level 2 splits).
SHARES = {"slots": 1.0, "topdown-retiring": 0.40, "topdown-bad-spec": 0.10, "topdown-fe-bound": 0.20,
          "topdown-be-bound": 0.30, "topdown-heavy-ops": 0.05, "topdown-br-mispredict": 0.08,
          "topdown-fetch-lat": 0.12, "topdown-mem-bound": 0.21}


class ReplayGroup:
    """Cumulative counts for a fixed profile, counted half the time (multiplexed) on odd CPUs."""

    def __init__(self, events: Sequence[EventSpec], cpu: int, clock: list[float], fail: bool = False) -> None:
        self.names = [e.name for e in events]
        self.cpu, self.clock, self.fail = cpu, clock, fail
        self.leader = self.names[0]

    def open(self):
        if self.fail:
            return {self.leader: PerfOpenError(errno.EACCES, "denied")}
        return {}

    def enable(self) -> None:
        pass

    def close(self) -> None:
        pass

    def read(self) -> GroupSample:
        t = self.clock[0]
        rate = 1e9 * (1 + self.cpu)  # busier CPUs have more slots
        running = 0.5 if self.cpu % 2 else 1.0
        values = {n: int(SHARES.get(n, 0.25) * rate * t * running) for n in self.names}
        ns = int(t * 1e9)
        return GroupSample(ns, int(ns * running), values, t)


def run(root: Path, ticks: int, fail_cpus: set[int] = frozenset()):
    clock = [0.0]
    collector = TopdownCollector(root, group_factory=lambda events, cpu: ReplayGroup(
        events, cpu, clock, cpu in fail_cpus))
    engine = SamplingEngine([collector])
    engine.open()
    snapshot = None
    for tick in range(ticks):
        clock[0] = float(tick + 1)
        snapshot = engine.sample(now=clock[0], timestamp=1e9 + tick)
    engine.close()
    return collector, snapshot


def test_sapphire_rapids_per_cpu_and_total(tmp_path: Path) -> None:
    collector, snapshot = run(make_sapphire_rapids(tmp_path), 3, fail_cpus={7})
    assert snapshot.value("tma.retiring.total") == pytest.approx(40.0)
    assert snapshot.value("tma.memory_bound.cpu3") == pytest.approx(21.0)  # multiplexed CPU, scaled
    assert snapshot.value("tma.core_bound.total") == pytest.approx(9.0)
    level1 = [snapshot.value(f"tma.{c}.cpu2") for c in ("retiring", "bad_speculation", "frontend_bound",
                                                         "backend_bound")]
    assert sum(level1) == pytest.approx(100.0)
    assert "EACCES" in snapshot.unavailable["tma.cpu7"].reason
    assert snapshot.value("tma.multiplex_pct.cpu3") == pytest.approx(50.0)  # odd CPUs count half the time
    assert snapshot.value("tma.multiplex_pct.cpu2") == pytest.approx(100.0)
    assert snapshot.value("tma.multiplex_pct.total") == pytest.approx(50.0)
    spec = snapshot.specs["tma.retiring.cpu3"]
    assert spec.metric == "tma.retiring.cpu" and spec.labels == (("cpu", "3"),) and spec.unit == "%"
    assert {name for s in snapshot.specs.values() for name, _ in s.labels} <= INSTANCE_LABELS
    assert snapshot.totals["tma.slots.retiring.cpu0"] == pytest.approx(0.4 * 1e9 * 2, rel=1e-6)
    assert set(snapshot.totals) <= set(snapshot.counter_specs)
    assert "one group of 9 events per CPU" in collector.static_facts()["TMA cost"]


def test_alder_lake_total_has_only_shared_categories(tmp_path: Path) -> None:
    _collector, snapshot = run(make_alder_lake(tmp_path), 2)
    assert "tma.memory_bound.cpu0" in snapshot.specs and "tma.memory_bound.cpu16" not in snapshot.specs
    assert "tma.memory_bound.total" not in snapshot.specs and "tma.retiring.total" in snapshot.specs
    assert snapshot.value("tma.retiring.cpu17") == pytest.approx(40.0)  # atom: count over the sum of four
    assert snapshot.value("tma.retiring.total") == pytest.approx(40.0)


def test_no_group_opens(tmp_path: Path) -> None:
    _collector, snapshot = run(make_sapphire_rapids(tmp_path), 1, fail_cpus=set(range(8)))
    reason = snapshot.unavailable["tma"]
    assert "cannot open the top-down group" in reason.reason and "EACCES" in reason.reason
    assert not any(sid.startswith("tma.") for sid in snapshot.values)


def test_this_machine() -> None:
    report = topdown_report()
    collector = TopdownCollector()
    try:
        collector.open()
    except CollectorUnavailableError as exc:
        assert report["available"] is False or "cannot open" in exc.unavailable.reason
        assert exc.unavailable.reason  # a reason, never an empty failure
        return
    try:
        collector.read(0.0)
    finally:
        collector.close()
    assert report["available"] is True
