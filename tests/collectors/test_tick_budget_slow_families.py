"""Regression guard for the sampling cost of the perf and psi families, counted rather than timed.

Sibling of test_tick_budget.py (the fast families). Python calls per engine tick are counted with
``cProfile`` (deterministic: the same code path gives the same count on a loaded machine), files
opened with an audit hook.

- perf: the real kernel's software counters (perf_event_open works for them without a PMU),
  system-wide on two CPUs (a fake ``online`` file fixes the count; the counters are the real
  ones). Before the second pass (issue 15, sampcost) a tick cost 570 calls and opened the online
  file; after it 160 calls and no file. Budget: 184 (15 % headroom).
- psi: a fake /proc/pressure tree laid out as the kernel's (cpu, memory and io with "some" and
  "full" lines, irq with "full" only), read on every tick. Before: 165 calls and 4 files opened
  per tick; after: 112 calls and none (the files are kept open and re-read with pread). Budget: 129.
- gpu without a GPU: a read returns the kept "no GPU" reading at once (the PCI bus is listed again
  only every few seconds for a card plugged in later).
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from pathlib import Path

import pytest

from perfdeck.collectors.gpu import GpuCollector
from perfdeck.collectors.perfcounters import MODE_SYSTEM, PerfCollector
from perfdeck.collectors.psi import PsiCollector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.series import Snapshot
from perfdeck.perf.counters import online_cpus
from perfdeck.perf.events import SOFTWARE_EVENTS
from probes import opened_files, system_wide_perf_allowed

PERF_CALLS_PER_TICK = 184
PSI_CALLS_PER_TICK = 129
GPU_ABSENT_CALLS_PER_READ = 3


def _count_ticks(engine: SamplingEngine, step: float, ticks: int,
                 between: Callable[[int], None] | None = None) -> tuple[float, Snapshot]:
    """Calls per ``engine.sample`` over ``ticks`` ticks after a warm-up; asserts no file is opened."""
    now = 1000.0
    for tick in range(3):  # warm-up: descriptors opened, baselines
        if between is not None:
            between(tick)
        now += step
        engine.sample(now=now)
    profile = cProfile.Profile()
    snapshot = None
    try:
        for tick in range(3, 3 + ticks):
            if between is not None:
                between(tick)  # the kernel moving on: not counted
            now += step
            with opened_files() as opened:
                profile.enable()
                snapshot = engine.sample(now=now)
                profile.disable()
            assert opened == [], opened  # every file read through a kept descriptor
    finally:
        engine.close()
    assert snapshot is not None
    return pstats.Stats(profile).total_calls / ticks, snapshot  # type: ignore[attr-defined]



@pytest.mark.skipif(not system_wide_perf_allowed(), reason="system-wide counting not permitted for this user")
@pytest.mark.skipif(not {0, 1} <= set(online_cpus()), reason="needs CPUs 0 and 1 online")
def test_perf_software_counters_open_no_file_and_stay_within_budget(tmp_path: Path) -> None:
    online = tmp_path / "sys/devices/system/cpu/online"
    online.parent.mkdir(parents=True)
    online.write_text("0-1\n")
    collector = PerfCollector(root=tmp_path, events=SOFTWARE_EVENTS)
    engine = SamplingEngine([collector])
    calls, snapshot = _count_ticks(engine, 0.1, 10, lambda _tick: sum(range(5000)))
    assert collector.mode == MODE_SYSTEM
    for instance in ("total", "cpu0", "cpu1"):  # real counts, not a path that skipped the work
        assert snapshot.value(f"perf.ctx_switches.{instance}") is not None
        assert snapshot.totals[f"perf.count.task-clock.{instance}"] > 0
    assert "perf.ipc.total" in snapshot.unavailable  # no hardware event opened: said, not 0
    assert calls <= PERF_CALLS_PER_TICK, f"{calls:.0f} Python calls per tick"


def _pressure(root: Path, tick: int) -> None:
    """/proc/pressure as a 6.x kernel lays it out, with totals that move with ``tick``."""
    line = "{kind} avg10=0.12 avg60=0.05 avg300=0.01 total={total}\n"
    for resource, kinds in (("cpu", ("some", "full")), ("memory", ("some", "full")),
                            ("io", ("some", "full")), ("irq", ("full",))):
        path = root / "proc/pressure" / resource
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line.format(kind=k, total=1_000_000 + 1000 * tick * (2 if k == "some" else 1))
                                for k in kinds))


def test_psi_opens_no_file_per_tick_and_stays_within_budget(tmp_path: Path) -> None:
    _pressure(tmp_path, 0)
    engine = SamplingEngine([PsiCollector(root=tmp_path)])
    # 0.5 s apart: psi's min_interval, so it is read on every counted tick.
    calls, snapshot = _count_ticks(engine, 0.5, 10, lambda tick: _pressure(tmp_path, tick))
    assert snapshot.value("psi.memory.some") == pytest.approx(0.4)  # 2000 µs per 0.5 s: fresh content
    assert snapshot.value("psi.irq.full") == pytest.approx(0.2)
    assert snapshot.totals["psi.stall_seconds.io.full"] == pytest.approx(1.012)
    assert calls <= PSI_CALLS_PER_TICK, f"{calls:.0f} Python calls per tick"


def test_gpu_family_without_a_gpu_returns_at_once(tmp_path: Path) -> None:
    collector = GpuCollector(root=tmp_path)  # an empty PCI bus
    collector.open()
    first = collector.read(1.0)
    assert "gpu" in first.unavailable  # said, with its reason
    profile = cProfile.Profile()
    with opened_files() as opened:
        profile.enable()
        for second in range(2, 4):  # within the rediscovery period: nothing listed, nothing opened
            assert collector.read(float(second)) is first
        profile.disable()
    assert opened == []
    calls = pstats.Stats(profile).total_calls / 2  # type: ignore[attr-defined]
    assert calls <= GPU_ABSENT_CALLS_PER_READ, f"{calls:.0f} Python calls per read"


CGROUP_CALLS_PER_READ = 4900  # 21 cgroups of fake_unified: 4639 when written (4748 with open/read/close)


def test_cgroup_reads_open_no_file_and_stay_within_their_call_budget(tmp_path: Path) -> None:
    """The cgroup family on a fake systemd host of 21 cgroups: after the first read every interface
    file is re-read through a kept descriptor (the 5th read's memory.max and cgroup.procs are
    opened once, then kept), and files the directory listing does not show are never opened."""
    from fakes.cgroup_trees import make_unified
    from perfdeck.collectors.cgroups import CgroupCollector

    cgroups = make_unified(tmp_path)
    collector = CgroupCollector(tmp_path, counters=False)
    collector.open()
    for step in range(6):  # warm-up, including one slow (memory.max, cgroup.procs) read
        collector.read(2.0 * step)
    profile = cProfile.Profile()
    reads = 8
    opened: list[str] = []
    try:
        for step in range(6, 6 + reads):
            for cgroup in cgroups.values():
                cgroup.advance(usage_usec=1000)  # the kernel moving on (not counted)
            with opened_files() as paths:
                profile.enable()
                collector.read(2.0 * step)
                profile.disable()
            opened += paths
    finally:
        collector.close()
    assert opened == []
    calls = pstats.Stats(profile).total_calls / reads  # type: ignore[attr-defined]
    assert calls <= CGROUP_CALLS_PER_READ, f"{calls:.0f} Python calls per read"
