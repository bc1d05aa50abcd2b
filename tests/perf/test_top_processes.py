"""TopProcessCounters: top-N selection, fd budget, hysteresis, vanished pids, the one-time probe.

The selection/budget arithmetic is tested against a test double that replays counter values (this
machine has no PMU); the last tests run the real probe and real ProcessCounters on this machine.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field

import pytest

from perfdeck.model.series import Unavailable
from perfdeck.perf.abi import PerfOpenError
from perfdeck.perf.top_processes import (
    Candidate,
    HardwareProbe,
    ProcessMetrics,
    TopProcessCounters,
    probe_hardware,
)

EVENTS_PER_THREAD = 6


@dataclass
class FakeGroup:
    events: list[str]


@dataclass
class FakeSample:
    alive: bool
    threads: int
    metrics: dict[str, float | None]
    unavailable: dict[str, str] = field(default_factory=dict)


class FakeWorld:
    """Processes with thread counts, open errors and replayed metrics; records every open/close."""

    def __init__(self) -> None:
        self.threads: dict[int, int] = {}
        self.open_errors: dict[int, int] = {}
        self.metrics: dict[int, dict[str, float | None]] = {}
        self.unavailable: dict[int, dict[str, str]] = {}
        self.opened: list[int] = []
        self.closed: list[int] = []
        self.probes = 0

    def factory(self, pid: int, events) -> FakeCounters:
        assert len(events) == EVENTS_PER_THREAD
        return FakeCounters(self, pid)

    def probe_ok(self) -> HardwareProbe:
        self.probes += 1
        return HardwareProbe(tuple(range(EVENTS_PER_THREAD)), "LLC", EVENTS_PER_THREAD)  # type: ignore[arg-type]

    def manager(self, **kwargs) -> TopProcessCounters:
        return TopProcessCounters(factory=self.factory, probe=self.probe_ok,
                                  thread_count=lambda pid: self.threads.get(pid, 0), **kwargs)


class FakeCounters:
    def __init__(self, world: FakeWorld, pid: int) -> None:
        self.world, self.pid = world, pid
        self.groups: dict[int, list[FakeGroup]] = {}

    def open(self) -> None:
        if self.pid in self.world.open_errors:
            code = self.world.open_errors[self.pid]
            raise PerfOpenError(code, f"perf_event_open: {os.strerror(code)}")
        if self.pid not in self.world.threads:
            raise PerfOpenError(errno.ESRCH, "no such process")
        self.groups = {self.pid * 1000 + t: [FakeGroup(["e"] * EVENTS_PER_THREAD)]
                       for t in range(self.world.threads[self.pid])}
        self.world.opened.append(self.pid)

    def read(self) -> FakeSample:
        alive = self.pid in self.world.threads
        return FakeSample(alive, len(self.groups), self.world.metrics.get(self.pid, {}),
                          self.world.unavailable.get(self.pid, {}))

    def close(self) -> None:
        if self.groups:
            self.world.closed.append(self.pid)
        self.groups = {}


def _cands(cpu_by_pid: dict[int, float | None]) -> list[Candidate]:
    return [Candidate(pid, cpu) for pid, cpu in cpu_by_pid.items()]


def test_tracks_top_n_by_cpu_and_skips_idle_and_kernel_threads():
    world = FakeWorld()
    world.threads = {pid: 1 for pid in range(1, 21)}
    manager = world.manager(top_n=3, margin=1)
    idle_or_kernel = [Candidate(50, None), Candidate(51, 0.0), Candidate(52, 99.0, kernel_thread=True)]
    cands = [*_cands({pid: float(pid) for pid in range(1, 8)}), *idle_or_kernel]
    result = manager.update(cands)
    assert sorted(manager.tracked_pids) == [5, 6, 7]
    assert result.fds_open == 3 * EVENTS_PER_THREAD
    # Just opened: no interval yet, so no numbers, and a note says when they come.
    assert all(isinstance(v, ProcessMetrics) and v.ipc is None and v.note for v in result.values.values())
    assert not {50, 51, 52} & set(result.values)


def test_values_come_from_the_counters_and_missing_inputs_carry_their_reason():
    world = FakeWorld()
    world.threads = {1: 2, 2: 1}
    world.metrics = {1: {"ipc": 1.5, "llc_miss_pct": 12.5, "branch_miss_pct": 2.0},
                     2: {"ipc": 0.8, "llc_miss_pct": None, "branch_miss_pct": None}}
    world.unavailable = {2: {"LLC-loads": "not supported by this CPU (ENOENT)"}}
    manager = world.manager(top_n=2)
    manager.update(_cands({1: 50.0, 2: 40.0}))
    result = manager.update(_cands({1: 50.0, 2: 40.0}))
    one, two = result.values[1], result.values[2]
    assert isinstance(one, ProcessMetrics) and isinstance(two, ProcessMetrics)
    assert (one.ipc, one.cache_miss_pct, one.branch_miss_pct) == (1.5, 12.5, 2.0)
    assert one.threads == 2 and one.fds == 2 * EVENTS_PER_THREAD
    assert two.cache_miss_pct is None and "LLC-loads" in two.reasons["cache_miss_pct"]
    # branch misses were simply not counted this interval: None, with no invented reason.
    assert two.branch_miss_pct is None and "branch_miss_pct" not in two.reasons


def test_hysteresis_keeps_a_process_hovering_around_the_cut():
    world = FakeWorld()
    world.threads = {pid: 1 for pid in range(1, 10)}
    manager = world.manager(top_n=3, margin=2)
    manager.update(_cands({1: 90, 2: 80, 3: 70, 4: 60, 5: 50, 6: 40}))
    assert sorted(manager.tracked_pids) == [1, 2, 3]
    # 3 and 4 swap around the cut: 4 is opened, 3 (rank 3 < 3 + 2) stays open.
    manager.update(_cands({1: 90, 2: 80, 4: 75, 3: 70, 5: 50, 6: 40}))
    assert sorted(manager.tracked_pids) == [1, 2, 3, 4]
    # Swapping back costs nothing: no open, no close.
    opened, closed = len(world.opened), len(world.closed)
    manager.update(_cands({1: 90, 2: 80, 3: 75, 4: 70, 5: 50, 6: 40}))
    assert (len(world.opened), len(world.closed)) == (opened, closed)
    # Falling to rank >= top_n + margin closes it.
    manager.update(_cands({1: 90, 2: 80, 4: 75, 5: 74, 6: 73, 3: 1}))
    assert 3 not in manager.tracked_pids and world.closed[-1] == 3


def test_invariants_over_random_rankings():
    """Whatever the ranking: never more than top_n + margin tracked, never over the fd budget,
    every top-N process that fits is tracked, and each open is matched by a close at the end."""
    import random

    rng = random.Random(7)
    world = FakeWorld()
    world.threads = {pid: rng.choice((1, 1, 2, 4, 9)) for pid in range(1, 40)}
    budget = 20 * EVENTS_PER_THREAD
    manager = world.manager(top_n=5, margin=3, fd_budget=budget)
    for _ in range(200):
        cpu = {pid: rng.choice((0.0, rng.uniform(0, 100))) for pid in rng.sample(range(1, 40), 25)}
        result = manager.update(_cands(cpu))
        assert len(manager.tracked_pids) <= 8
        assert manager.fds_open <= budget and result.fds_open == manager.fds_open
        top = sorted((p for p, c in cpu.items() if c > 0), key=lambda p: -cpu[p])[:5]
        for pid in top:
            assert pid in manager.tracked_pids or isinstance(result.values.get(pid), Unavailable)
    manager.close()
    assert sorted(world.opened) == sorted(world.closed)


def test_fd_budget_skips_a_process_with_a_stated_reason():
    world = FakeWorld()
    world.threads = {1: 10, 2: 30, 3: 2}
    manager = world.manager(top_n=3, fd_budget=100)  # 10 threads = 60 fds; 30 threads = 180 fds
    result = manager.update(_cands({1: 90, 2: 80, 3: 70}))
    assert sorted(manager.tracked_pids) == [1, 3]
    assert manager.fds_open == 12 * EVENTS_PER_THREAD <= 100
    skipped = result.values[2]
    assert isinstance(skipped, Unavailable)
    assert "30 threads need 180 fds" in skipped.reason and "100-fd budget" in skipped.reason
    assert 2 not in world.opened  # never opened, so never over budget


def test_band_members_are_closed_to_fit_a_top_process_in_the_budget():
    world = FakeWorld()
    world.threads = {1: 5, 2: 5, 3: 5}
    manager = world.manager(top_n=2, margin=2, fd_budget=12 * EVENTS_PER_THREAD)
    manager.update(_cands({1: 90, 2: 80, 3: 1}))
    manager.update(_cands({3: 95, 1: 90, 2: 80}))  # 3 needs 5 threads; only 2 fit -> 2 (band) closes
    assert sorted(manager.tracked_pids) == [1, 3]
    assert 2 in world.closed


def test_vanished_pids_close_quietly_and_a_reused_pid_is_reopened():
    world = FakeWorld()
    world.threads = {1: 1, 2: 1}
    manager = world.manager(top_n=2)
    manager.update([Candidate(1, 50.0, 100.0), Candidate(2, 40.0)])
    del world.threads[2]  # exits between refreshes, still in this table
    result = manager.update([Candidate(1, 50.0, 100.0), Candidate(2, 40.0)])
    assert 2 not in result.values and 2 not in manager.tracked_pids and 2 in world.closed
    # PID 1 reused by a new process (another start time): old counters closed, new ones opened.
    manager.update([Candidate(1, 50.0, 200.0)])
    assert world.opened.count(1) == 2 and 1 in world.closed


def test_a_refusing_process_gets_its_reason_and_is_not_retried_every_refresh():
    world = FakeWorld()
    world.threads = {1: 1, 2: 1}
    world.open_errors = {2: errno.EACCES}
    attempts = []
    factory = world.factory
    world.factory = lambda pid, events: (attempts.append(pid), factory(pid, events))[1]  # type: ignore[method-assign]
    manager = world.manager(top_n=2)
    for _ in range(3):
        result = manager.update(_cands({1: 50.0, 2: 40.0}))
        assert isinstance(result.values[2], Unavailable) and "Permission denied" in result.values[2].reason
    assert attempts.count(2) == 1


def test_machine_wide_failure_is_one_reason_and_opens_nothing_more():
    world = FakeWorld()
    world.threads = {1: 1}
    calls = []
    reason = Unavailable("no hardware PMU: this is a virtual machine", "run on bare metal")
    manager = TopProcessCounters(factory=world.factory,
                                 probe=lambda: (calls.append(1), HardwareProbe((), "", 0, reason))[1],
                                 thread_count=lambda pid: 1)
    for _ in range(5):
        result = manager.update(_cands({1: 50.0}))
        assert result.unavailable == reason and result.values == {}
    assert calls == [1] and world.opened == []


def test_close_releases_everything():
    world = FakeWorld()
    world.threads = {1: 1, 2: 1}
    manager = world.manager(top_n=2)
    manager.update(_cands({1: 50.0, 2: 40.0}))
    manager.close()
    assert manager.tracked_pids == [] and sorted(world.closed) == [1, 2] and manager.fds_open == 0


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="top_n"):
        TopProcessCounters(0)


# --- this machine, real syscalls ----------------------------------------------------------------

def test_real_probe_and_manager_on_this_machine():
    probe = probe_hardware()
    manager = TopProcessCounters(top_n=2)
    result = manager.update([Candidate(os.getpid(), 50.0)])
    if probe.unavailable is not None:
        # A VM without a PMU (this CI machine): one reason, nothing opened, nothing measured.
        assert "PMU" in probe.unavailable.reason or "perf_event" in probe.unavailable.reason
        assert result.unavailable == probe.unavailable
        assert result.values == {} and manager.fds_open == 0
    else:
        assert os.getpid() in manager.tracked_pids and manager.fds_open > 0
        manager.update([Candidate(os.getpid(), 50.0)])
        manager.close()
        assert manager.fds_open == 0


def test_fd_estimate_is_what_the_planned_groups_open(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """fds per thread come from the real group plan (hybrid: one copy per core PMU)."""
    from fakes.sysfs_trees import add_pmu, write
    from perfdeck.perf import top_processes

    add_pmu(tmp_path, "cpu_core", 4, cpus="0-7")
    add_pmu(tmp_path, "cpu_atom", 8, cpus="8-15")
    write(tmp_path, "proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\n")
    write(tmp_path, "sys/devices/system/cpu/smt/active", "1\n")
    write(tmp_path, "proc/sys/kernel/nmi_watchdog", "1\n")
    monkeypatch.setattr(top_processes, "_opens", lambda names, pmus: None)
    probe = top_processes.probe_hardware(tmp_path)
    assert probe.cache_level == "LLC"
    # cycles, instructions, LLC-loads/misses, branches, branch-misses on each of the two PMUs.
    assert probe.fds_per_thread == 12
