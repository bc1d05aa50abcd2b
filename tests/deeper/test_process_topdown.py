"""TMA level 1 of one process (``perfdeck.perf.process_topdown``).

The top-down PMUs are not here (a VM), so the groups are real ``CounterGroup``s whose opener checks
the attrs the kernel would get (pid=TID, cpu=-1, inherit, slots leading, sysfs encodings) and then
opens real software events on this thread; the reader replays counter values as the kernel's
``PERF_FORMAT_GROUP`` bytes with those fds' real ids, parsed by ``abi.parse_group_read``. The
process's threads are a fake ``/proc/PID/task``. The real machine's answer is checked last.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from fakes.sysfs_trees import make_vm
from fakes.topdown_replay import ICELAKE, PID, Replay, add_threads
from fakes.topdown_trees import (
    make_alder_lake,
    make_icelake_server,
    make_skylake_server,
    make_zen3_server,
    make_zen4_desktop,
)
from perfdeck.perf import abi
from perfdeck.perf.abi import PerfOpenError
from perfdeck.perf.process_topdown import ProcessTopdown
from perfdeck.perf.topdown import LEVEL1, SMT_CONTENTION


def run(counter: ProcessTopdown, replay: Replay, ticks: int = 2):
    counter.open()
    try:
        sample = None
        for _ in range(ticks):
            replay.tick += 1
            sample = counter.read()
        return sample
    finally:
        counter.close()


def test_icelake_per_thread_slots_groups_scaled_and_summed(tmp_path: Path) -> None:
    root = make_icelake_server(tmp_path)
    add_threads(root, [4242, 4243])
    # Thread 4243 has twice the slots of 4242 and only a backend-bound profile, counted half the time.
    other = {"slots": 2000, "topdown-retiring": 0, "topdown-bad-spec": 0, "topdown-fe-bound": 0,
             "topdown-be-bound": 2000}
    replay = Replay(lambda tid, pmu, name: ((ICELAKE if tid == 4242 else other)[name],
                                            1.0 if tid == 4242 else 0.5))
    counter = ProcessTopdown(PID, root=root, exclude_kernel=True, inherit=True, group_factory=replay)
    sample = run(counter, replay)
    # The kernel's view: one group per thread, slots leading, pid=TID, cpu=-1, inherit, sysfs encodings.
    leaders = [(name, pid, cpu) for name, pid, cpu, group_fd, _ in replay.attrs if group_fd == -1]
    assert leaders == [("slots", 4242, -1), ("slots", 4243, -1)]
    slots_attr = replay.attrs[0][4]
    assert (slots_attr.type, slots_attr.config) == (4, 0x0400)
    assert slots_attr.flags & abi.ATTR_INHERIT and slots_attr.flags & abi.ATTR_EXCLUDE_KERNEL
    assert [a[0] for a in replay.attrs[:5]] == ["slots", "topdown-retiring", "topdown-bad-spec",
                                                  "topdown-fe-bound", "topdown-be-bound"]
    assert counter.fd_count == 0  # closed
    # Raw counts merged over threads then scaled once: 4243's half-time counts add up to 1000 of
    # backend per tick, its enabled time dilutes the scaling (1 + 0.5 of 2 ms ran = 75 %).
    assert sample.unavailable is None
    assert sample.counted_ratio == pytest.approx(0.75)
    # retiring 400, bad 100, frontend 200, backend 300 + 1000 of 2000 counted slots per tick
    assert sample.shares == pytest.approx({"retiring": 20.0, "bad_speculation": 5.0, "frontend_bound": 10.0,
                                           "backend_bound": 65.0})
    assert sum(sample.shares[c] for c in LEVEL1) == pytest.approx(100.0)
    assert sample.slots == pytest.approx(2000 / 0.75)  # the counted slots, scaled for multiplexing


def test_idle_interval_has_no_shares(tmp_path: Path) -> None:
    root = make_icelake_server(tmp_path)
    add_threads(root, [4242])
    replay = Replay(lambda tid, pmu, name: (0, 1.0))
    sample = run(ProcessTopdown(PID, root=root, group_factory=replay), replay)
    assert sample.shares is None and sample.unavailable is None  # no slots: nothing, never 0 %


def test_zen4_per_process_with_smt_contention(tmp_path: Path) -> None:
    root = make_zen4_desktop(tmp_path)
    add_threads(root, [4242])
    counts = {"ls_not_halted_cyc": 1000, "de_src_op_disp.all": 3000, "ex_ret_ops": 2400,
              "de_no_dispatch_per_slot.no_ops_from_frontend": 1200,
              "de_no_dispatch_per_slot.backend_stalls": 1800, "de_no_dispatch_per_slot.smt_contention": 300}
    replay = Replay(lambda tid, pmu, name: (counts[name], 0.5))
    sample = run(ProcessTopdown(PID, root=root, group_factory=replay), replay)
    assert replay.attrs[0][4].config == 0x76  # ls_not_halted_cyc leads
    assert sample.shares == pytest.approx({"retiring": 40.0, "bad_speculation": 10.0, "frontend_bound": 20.0,
                                           "backend_bound": 30.0, SMT_CONTENTION: 5.0})
    assert sample.counted_ratio == pytest.approx(0.5)


def test_skylake_formulas_per_process(tmp_path: Path) -> None:
    root = make_skylake_server(tmp_path)
    add_threads(root, [4242])
    counts = {"cycles": 1000, "uops_issued.any": 2000, "uops_retired.retire_slots": 1600,
              "idq_uops_not_delivered.core": 800, "int_misc.recovery_cycles": 50}
    replay = Replay(lambda tid, pmu, name: (counts[name], 1.0))
    sample = run(ProcessTopdown(PID, root=root, group_factory=replay), replay)
    assert sample.shares == pytest.approx({"retiring": 40.0, "bad_speculation": 15.0, "frontend_bound": 20.0,
                                           "backend_bound": 25.0})


def test_alder_lake_weighs_core_types_by_counted_slots(tmp_path: Path) -> None:
    root = make_alder_lake(tmp_path)
    add_threads(root, [4242])
    # The thread spends 3/4 of its time on P-cores (cpu_core group running) and 1/4 on E-cores.
    core = {"slots": 4000, "topdown-retiring": 2000, "topdown-bad-spec": 0, "topdown-fe-bound": 1000,
            "topdown-be-bound": 1000}
    atom = {"topdown-retiring": 0, "topdown-bad-spec": 0, "topdown-fe-bound": 0, "topdown-be-bound": 4000}
    replay = Replay(lambda tid, pmu, name: (core[name], 0.75) if pmu == "cpu_core" else (atom[name], 0.25))
    sample = run(ProcessTopdown(PID, root=root, group_factory=replay), replay)
    assert {a[4].type for a in replay.attrs} == {8, 9}  # one group per core PMU, on its own type
    # Counted slots: 3000 on P-cores (50/25/25/0 %), 1000 on E-cores (all backend).
    assert sample.shares == pytest.approx({"retiring": 37.5, "bad_speculation": 0.0, "frontend_bound": 18.75,
                                           "backend_bound": 43.75})
    assert sample.counted_ratio is None and "hybrid" in sample.notes[0]


def test_refusals_give_the_kernel_reason(tmp_path: Path) -> None:
    root = make_icelake_server(tmp_path / "icl")
    add_threads(root, [4242])
    replay = Replay(lambda tid, pmu, name: (1, 1.0),
                    refuse=lambda spec, tid: errno.EINVAL if spec.name == "topdown-bad-spec" else None)
    counter = ProcessTopdown(PID, root=root, group_factory=replay)
    counter.open()
    assert counter.fd_count == 0  # the slots and retiring fds were closed again
    assert "slots-led topdown group" in counter.unavailable.reason and "EINVAL" in counter.unavailable.reason
    assert counter.read().unavailable is counter.unavailable

    denied = Replay(lambda tid, pmu, name: (1, 1.0), refuse=lambda spec, tid: errno.EACCES)
    counter = ProcessTopdown(PID, root=root, group_factory=denied)
    counter.open()
    assert "refused" in counter.unavailable.reason and "EACCES" in counter.unavailable.reason
    assert "perf_event_paranoid" in counter.unavailable.fix

    # Hybrid: E-core group refused -> a P-core-only total would be partial, so none at all.
    hybrid = make_alder_lake(tmp_path / "adl")
    add_threads(hybrid, [4242])
    partial = Replay(lambda tid, pmu, name: (1, 1.0),
                     refuse=lambda spec, tid: errno.ENOENT if spec.pmu == "cpu_atom" else None)
    counter = ProcessTopdown(PID, root=hybrid, group_factory=partial)
    counter.open()
    assert counter.unavailable is not None and "cpu_atom" in counter.unavailable.reason
    assert counter.fd_count == 0


def test_vanished_process_raises_esrch(tmp_path: Path) -> None:
    root = make_icelake_server(tmp_path)  # no /proc/4242
    replay = Replay(lambda tid, pmu, name: (1, 1.0))
    with pytest.raises(PerfOpenError) as info:
        ProcessTopdown(PID, root=root, group_factory=replay).open()
    assert info.value.errno == errno.ESRCH


def test_zen3_and_vm_are_unavailable_before_any_open(tmp_path: Path) -> None:
    replay = Replay(lambda tid, pmu, name: (1, 1.0))
    for make, words in ((make_zen3_server, "Zen 3"), (make_vm, "no hardware PMU")):
        root = make(tmp_path / make.__name__)
        add_threads(root, [4242])
        counter = ProcessTopdown(PID, root=root, group_factory=replay)
        counter.open()
        assert words in counter.unavailable.reason
    assert replay.attrs == []


def test_this_machine_says_why() -> None:
    counter = ProcessTopdown(os.getpid())
    counter.open()
    try:
        if counter.unavailable is None:
            pytest.skip("this machine counts TMA per process; the replayed tests cover the arithmetic")
        sample = counter.read()
        assert sample.shares is None and sample.unavailable.reason
        if not Path("/sys/bus/event_source/devices/cpu").exists():
            assert "no hardware PMU" in sample.unavailable.reason  # this VM
    finally:
        counter.close()
