"""TMA: discovery and encodings on kernel-faithful fake trees; the arithmetic on replayed counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.sysfs_trees import make_vm
from fakes.topdown_trees import (
    make_alder_lake,
    make_icelake_server,
    make_sapphire_rapids,
    make_skylake_server,
    make_zen3_server,
    make_zen4_desktop,
)
from perfdeck.perf import abi
from perfdeck.perf.counters import GroupSample, scale_delta
from perfdeck.perf.topdown import LEVEL1, LEVEL2, SMT_CONTENTION, combine, compute, discover_topdown


def test_icelake_server_slots_led_level1_group(tmp_path: Path) -> None:
    found = discover_topdown(make_icelake_server(tmp_path))
    assert found.unavailable is None and len(found.plans) == 1
    plan = found.plans[0]
    assert plan.method == "intel-topdown" and not plan.level2
    assert [e.name for e in plan.events] == ["slots", "topdown-retiring", "topdown-bad-spec",
                                             "topdown-fe-bound", "topdown-be-bound"]
    assert [e.config for e in plan.events] == [0x400, 0x8000, 0x8100, 0x8200, 0x8300]
    assert all(e.type == abi.PERF_TYPE_RAW for e in plan.events)  # the cpu PMU's type is 4
    assert plan.cpus == tuple(range(8))
    assert plan.categories == LEVEL1


def test_sapphire_rapids_adds_level2(tmp_path: Path) -> None:
    plan = discover_topdown(make_sapphire_rapids(tmp_path)).plans[0]
    assert plan.level2 and plan.events[0].name == "slots"
    assert [e.config for e in plan.events[5:]] == [0x8400, 0x8500, 0x8600, 0x8700]
    assert plan.categories == LEVEL1 + LEVEL2


def test_alder_lake_hybrid_per_cpu_type(tmp_path: Path) -> None:
    found = discover_topdown(make_alder_lake(tmp_path))
    core, atom = found.plans
    assert (core.method, core.pmu, core.level2) == ("intel-topdown", "cpu_core", True)
    assert core.cpus == tuple(range(16))
    assert all(e.type == 8 for e in core.events)  # the cpu_core PMU's own type
    assert (atom.method, atom.pmu, atom.cpus) == ("intel-atom", "cpu_atom", (16, 17, 18, 19))
    assert {e.name: e.config for e in atom.events} == {
        "topdown-retiring": 0xC2, "topdown-bad-spec": 0x73, "topdown-fe-bound": 0x71,
        "topdown-be-bound": 0x74}
    assert found.plan_for(17) is atom and found.plan_for(3) is core
    assert "level 1 and 2" in found.notes["cpu_core"] and "no level 2" in found.notes["cpu_atom"]


def test_skylake_formula_path(tmp_path: Path) -> None:
    plan = discover_topdown(make_skylake_server(tmp_path)).plans[0]
    assert plan.method == "intel-skl-formula" and plan.width == 4
    configs = {e.name: (e.type, e.config) for e in plan.events}
    assert configs == {"cycles": (abi.PERF_TYPE_HARDWARE, abi.PERF_COUNT_HW_CPU_CYCLES),
                       "uops_issued.any": (4, 0x010E), "uops_retired.retire_slots": (4, 0x02C2),
                       "idq_uops_not_delivered.core": (4, 0x019C), "int_misc.recovery_cycles": (4, 0x010D)}


def test_zen4_encodings_with_the_extended_event_bits(tmp_path: Path) -> None:
    plan = discover_topdown(make_zen4_desktop(tmp_path)).plans[0]
    assert plan.method == "amd-zen4" and plan.width == 6
    configs = {e.name: e.config for e in plan.events}
    assert configs["ls_not_halted_cyc"] == 0x76
    assert configs["de_src_op_disp.all"] == 0x07AA
    assert configs["de_no_dispatch_per_slot.no_ops_from_frontend"] == (1 << 32) | 0x01A0
    assert configs["de_no_dispatch_per_slot.backend_stalls"] == (1 << 32) | 0x1EA0
    assert configs["de_no_dispatch_per_slot.smt_contention"] == (1 << 32) | 0x60A0
    assert plan.categories == (*LEVEL1, SMT_CONTENTION)


def test_zen3_and_vm_are_unavailable(tmp_path: Path) -> None:
    zen3 = discover_topdown(make_zen3_server(tmp_path / "zen3"))
    assert not zen3.plans and "Zen 3" in zen3.unavailable.reason
    assert "de_no_dispatch_per_slot" in zen3.unavailable.reason
    vm = discover_topdown(make_vm(tmp_path / "vm"))
    assert not vm.plans and "virtual PMU" in vm.unavailable.reason and "pmu=on" in vm.unavailable.fix


# --- arithmetic on replayed counts ---------------------------------------------------------------

def _sample(enabled: int, running: int, values: dict[str, int]) -> GroupSample:
    return GroupSample(enabled, running, values, 0.0)


def test_intel_level1_sums_to_100_with_multiplexing(tmp_path: Path) -> None:
    plan = discover_topdown(make_icelake_server(tmp_path)).plans[0]
    before = _sample(0, 0, {"slots": 0, "topdown-retiring": 0, "topdown-bad-spec": 0,
                            "topdown-fe-bound": 0, "topdown-be-bound": 0})
    # Counted half of the interval (multiplexed): the scaling doubles every count alike.
    after = _sample(2_000_000, 1_000_000, {"slots": 4_000_000, "topdown-retiring": 1_600_000,
                                           "topdown-bad-spec": 200_000, "topdown-fe-bound": 700_000,
                                           "topdown-be-bound": 1_500_000})
    delta = scale_delta(before, after)
    assert delta.values["slots"] == 8_000_000
    shares = compute(plan, delta.values)
    assert shares == pytest.approx({"retiring": 40.0, "bad_speculation": 5.0, "frontend_bound": 17.5,
                                    "backend_bound": 37.5})
    assert sum(shares.values()) == pytest.approx(100.0)
    # Not counted at all in the interval: no breakdown, never zeros.
    idle = scale_delta(after, _sample(3_000_000, 1_000_000, after.values))
    assert compute(plan, idle.values) is None


def test_sapphire_rapids_level2_splits_level1(tmp_path: Path) -> None:
    plan = discover_topdown(make_sapphire_rapids(tmp_path)).plans[0]
    counts = {"slots": 1000.0, "topdown-retiring": 400.0, "topdown-bad-spec": 100.0,
              "topdown-fe-bound": 200.0, "topdown-be-bound": 300.0, "topdown-heavy-ops": 50.0,
              "topdown-br-mispredict": 80.0,
              "topdown-fetch-lat": 120.0, "topdown-mem-bound": 210.0}
    shares = compute(plan, counts)
    assert sum(shares[c] for c in LEVEL1) == pytest.approx(100.0)
    assert sum(shares[c] for c in LEVEL2) == pytest.approx(100.0)
    assert shares["light_operations"] == pytest.approx(35.0)
    assert shares["heavy_operations"] == pytest.approx(5.0)
    assert shares["machine_clears"] == pytest.approx(2.0) and shares["fetch_bandwidth"] == pytest.approx(8.0)
    assert shares["core_bound"] == pytest.approx(9.0) and shares["memory_bound"] == pytest.approx(21.0)


def test_skylake_formulas() -> None:
    from perfdeck.perf.topdown import TmaPlan

    plan = TmaPlan("intel-skl-formula", "cpu", (0,), (), False, 4, "test")
    counts = {"cycles": 1000.0, "uops_issued.any": 2200.0, "uops_retired.retire_slots": 2000.0,
              "idq_uops_not_delivered.core": 600.0, "int_misc.recovery_cycles": 50.0}
    shares = compute(plan, counts)  # slots = 4000
    assert shares == pytest.approx({"retiring": 50.0, "bad_speculation": 10.0, "frontend_bound": 15.0,
                                    "backend_bound": 25.0})
    assert sum(shares.values()) == pytest.approx(100.0)


def test_zen4_shares_as_measured(tmp_path: Path) -> None:
    plan = discover_topdown(make_zen4_desktop(tmp_path)).plans[0]
    counts = {"ls_not_halted_cyc": 1000.0, "de_src_op_disp.all": 2700.0, "ex_ret_ops": 2400.0,
              "de_no_dispatch_per_slot.no_ops_from_frontend": 1200.0,
              "de_no_dispatch_per_slot.backend_stalls": 1800.0,
              "de_no_dispatch_per_slot.smt_contention": 300.0}
    shares = compute(plan, counts)  # slots = 6000
    assert shares == pytest.approx({"retiring": 40.0, "bad_speculation": 5.0, "frontend_bound": 20.0,
                                    "backend_bound": 30.0, SMT_CONTENTION: 5.0})
    assert sum(shares.values()) == pytest.approx(100.0)
    assert compute(plan, {**counts, "ex_ret_ops": None}) is None


def test_machine_total_weighs_cpus_by_slots(tmp_path: Path) -> None:
    found = discover_topdown(make_alder_lake(tmp_path))
    core, atom = found.plans
    busy_core = {"slots": 3000.0, "topdown-retiring": 1500.0, "topdown-bad-spec": 300.0,
                 "topdown-fe-bound": 300.0, "topdown-be-bound": 900.0, "topdown-heavy-ops": 100.0,
                 "topdown-br-mispredict": 200.0, "topdown-fetch-lat": 100.0, "topdown-mem-bound": 600.0}
    small_atom = {"topdown-retiring": 250.0, "topdown-bad-spec": 250.0, "topdown-fe-bound": 250.0,
                  "topdown-be-bound": 250.0}
    total = combine({0: (core, busy_core), 16: (atom, small_atom)})
    # (3000 slots x 50 % + 1000 slots x 25 %) / 4000 slots
    assert total["retiring"] == pytest.approx(43.75)
    assert sum(total[c] for c in LEVEL1) == pytest.approx(100.0)
    assert "memory_bound" not in total  # measured on the P-cores only: not a machine-wide figure
