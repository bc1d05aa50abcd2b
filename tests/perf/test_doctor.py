"""The doctor's verdicts, fixes and encodings on fake machines, and live on this one."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from fakes import doctor_trees as trees
from perfdeck.perf import abi
from perfdeck.perf.doctor import (
    STATUS_NO,
    STATUS_OK,
    DoctorReport,
    EventVerdict,
    diagnose,
    render_text,
)
from perfdeck.perf.system import probe


def _event(report: DoctorReport, name: str, pmu: str | None = "any") -> EventVerdict:
    matches = [e for e in report.events() if e.name == name and (pmu == "any" or e.pmu == pmu)]
    assert len(matches) == 1, [(e.name, e.pmu) for e in matches]
    return matches[0]


def _finding(report: DoctorReport, key: str):
    return next(f for f in report.findings if f.key == key)


def _commands(fixes) -> list[str]:
    return [f.command for f in fixes]


def _files_only(root: Path) -> DoctorReport:
    report = diagnose(root, include_core=False)
    assert not report.live
    return report


# --- Intel hybrid -------------------------------------------------------------------------------

def test_hybrid_opens_each_event_once_per_core_pmu_with_the_extended_type(tmp_path: Path) -> None:
    report = _files_only(trees.make_intel_hybrid(tmp_path))
    core_cycles = _event(report, "cycles", "cpu_core")
    atom_cycles = _event(report, "cycles", "cpu_atom")
    assert core_cycles.config == 0x400000000  # type 4 << 32 | PERF_COUNT_HW_CPU_CYCLES
    assert atom_cycles.config == 0x800000000  # type 8 << 32
    assert core_cycles.cpus == tuple(range(16)) and atom_cycles.cpus == tuple(range(16, 32))
    assert core_cycles.pmu_type == 4 and atom_cycles.pmu_type == 8
    assert core_cycles.label == "cpu_core/cycles"
    assert _event(report, "L1-dcache-load-misses", "cpu_core").config == 0x400010000
    assert _event(report, "dTLB-load-misses", "cpu_atom").config == 0x800010003
    assert core_cycles.available and core_cycles.checked == "files"
    # No Intel core maps the generic stall events: not listed in events/, so ENOENT is predicted.
    assert not _event(report, "stalled-cycles-frontend", "cpu_core").available
    assert report.system["hybrid"] is True


def test_hybrid_at_paranoid_2_counts_per_process_user_space_only(tmp_path: Path) -> None:
    report = _files_only(trees.make_intel_hybrid(tmp_path))
    assert report.mode.scope == "per-process" and report.mode.exclude_kernel
    assert report.family("system_wide").status == STATUS_NO
    assert report.family("per_process").status == STATUS_OK
    assert "user space only" in report.family("per_process").reason
    ctx = _event(report, "context-switches")
    assert not ctx.available and "kernel" in ctx.reason  # would read 0 with exclude_kernel
    assert _event(report, "page-faults").available
    paranoid = _finding(report, "paranoid")
    assert not paranoid.ok
    commands = _commands(paranoid.fixes)
    assert "sudo sysctl kernel.perf_event_paranoid=0" in commands
    assert ("echo 'kernel.perf_event_paranoid = 0' | sudo tee /etc/sysctl.d/60-perfdeck.conf "
            "&& sudo sysctl --system") in commands
    assert any("setcap cap_perfmon+ep" in c for c in commands)
    assert all(f.note for f in paranoid.fixes)  # every fix states its scope and trade-off
    setcap = next(f for f in paranoid.fixes if "setcap" in f.command)
    assert "every Python program" in setcap.note and "setcap on a .py" in setcap.note
    assert "until reboot" in paranoid.fixes[0].note


# --- AMD Zen 4 ------------------------------------------------------------------------------------

def test_zen4_quirks_and_encodings(tmp_path: Path) -> None:
    report = _files_only(trees.make_amd_zen4(tmp_path))
    assert report.system["amd_zen"] == 4
    assert report.mode.scope == "system-wide"  # paranoid 0
    l1 = _event(report, "L1-dcache-load-misses")
    assert l1.available and l1.config == 0x10000 and l1.type == abi.PERF_TYPE_HW_CACHE
    assert l1.pmu == "cpu" and l1.cpus == tuple(range(16))
    dtlb = _event(report, "dTLB-load-misses")
    assert dtlb.available and dtlb.config == 0x10003
    llc = _event(report, "LLC-loads")
    assert not llc.available and llc.config == 0x2 and "AMD" in llc.reason
    backend = _event(report, "stalled-cycles-backend")
    assert not backend.available and "Zen 2" in backend.reason
    assert _event(report, "stalled-cycles-frontend").available
    assert _event(report, "cycles").config == 0  # not hybrid: no extended type
    assert report.family("cache").status == "partial"


# --- Intel server -------------------------------------------------------------------------------

def test_intel_server_as_root_is_system_wide_with_all_cache_events(tmp_path: Path) -> None:
    report = _files_only(trees.make_intel_server(tmp_path))
    assert report.mode.scope == "system-wide"
    assert "CAP_SYS_ADMIN" in report.mode.summary
    llc = _event(report, "LLC-loads")
    assert llc.available and llc.config == 0x2 and llc.cpus == tuple(range(56))
    assert _finding(report, "paranoid").ok  # paranoid 2 does not apply to root
    assert report.family("system_wide").status == STATUS_OK
    assert report.family("membw").details  # D's bandwidth report is embedded
    assert _finding(report, "virtualization").ok


# --- VM without PMU ------------------------------------------------------------------------------

def test_vm_without_pmu_explains_and_keeps_software_events(tmp_path: Path) -> None:
    report = _files_only(trees.make_vm_no_pmu(tmp_path))
    cycles = _event(report, "cycles")
    assert not cycles.available and cycles.pmu is None
    assert "no hardware PMU: this is a virtual machine (QEMU)" in cycles.reason
    assert any("pmu=on" in f.note for f in cycles.fixes)
    assert report.family("hardware").status == STATUS_NO
    assert report.family("cache").status == STATUS_NO
    assert _event(report, "page-faults").available
    # Paranoid 2 here: migrations, like context switches, read 0 in user-space-only counting.
    migrations = _event(report, "cpu-migrations")
    assert not migrations.available and "kernel" in migrations.reason
    assert not _finding(report, "virtualization").ok
    assert report.multiplexing["ratio"] is None


# --- paranoid levels -----------------------------------------------------------------------------

def test_paranoid_2_refuses_system_wide_with_fixes(tmp_path: Path) -> None:
    report = _files_only(trees.make_paranoid(tmp_path, 2))
    system_wide = report.family("system_wide")
    assert system_wide.status == STATUS_NO and "perf_event_paranoid is 2" in system_wide.reason
    assert "sudo sysctl kernel.perf_event_paranoid=0" in _commands(system_wide.fixes)
    # Hardware events are supported by the CPU and usable per process.
    assert _event(report, "cycles").available


def test_paranoid_4_blocks_everything_and_offers_the_mainline_default(tmp_path: Path) -> None:
    report = _files_only(trees.make_paranoid(tmp_path, 4))
    assert report.mode.scope == "none"
    assert "Debian/Ubuntu" in report.mode.summary
    paranoid = _finding(report, "paranoid")
    assert not paranoid.ok and "refuses every" in paranoid.detail
    assert _commands(paranoid.fixes)[0] == "sudo sysctl kernel.perf_event_paranoid=2"
    assert report.family("per_process").status == STATUS_NO
    for name in ("page-faults", "cycles", "L1-dcache-load-misses"):
        event = _event(report, name)
        assert not event.available and "no counting is allowed" in event.reason


def test_paranoid_1_allows_kernel_counting_per_process(tmp_path: Path) -> None:
    report = _files_only(trees.make_paranoid(tmp_path, 1))
    assert report.mode.scope == "per-process" and not report.mode.exclude_kernel
    assert _event(report, "context-switches").available


def test_cap_perfmon_overrides_paranoid(tmp_path: Path) -> None:
    root = trees.make_intel_desktop(tmp_path, paranoid=2, cap_eff=trees.CAP_PERFMON_ONLY)
    report = _files_only(root)
    assert report.mode.scope == "system-wide" and "CAP_PERFMON" in report.mode.summary


# --- NMI watchdog and multiplexing ---------------------------------------------------------------

def test_nmi_watchdog_costs_a_counter_and_offers_the_sysctl(tmp_path: Path) -> None:
    report = _files_only(trees.make_nmi_watchdog_on(tmp_path))
    nmi = _finding(report, "nmi_watchdog")
    assert not nmi.ok
    assert nmi.fixes[0].command == "sudo sysctl kernel.nmi_watchdog=0"
    assert "hard lockups" in nmi.fixes[0].note
    mux = report.multiplexing
    # SMT on: 4 general counters per thread. The watchdog holds fixed counter 1 (cycles), so our
    # cycles needs a general one; instructions/ref-cycles stay on fixed counters; branches +
    # branch-misses + the 7 cache events need general ones (Intel lists no stalled-cycles-*).
    assert mux["counters"] == 4 and mux["events"] == 10
    assert mux["ratio"] == pytest.approx(4 / 10, abs=1e-3)
    assert not _finding(report, "multiplexing").ok


# --- sandbox ------------------------------------------------------------------------------------

def test_seccomp_eperm_on_a_real_open_is_reported_as_a_sandbox(tmp_path: Path) -> None:
    root = trees.make_docker_on_host(tmp_path)

    def refuse(attr: abi.PerfEventAttr, pid: int, cpu: int) -> int:
        raise abi.PerfOpenError(errno.EPERM, "blocked")

    report = diagnose(root, confirm=True, opener=refuse, include_core=False)
    seccomp = _finding(report, "seccomp")
    assert not seccomp.ok and "EPERM" in seccomp.detail
    assert any("--cap-add PERFMON" in f.note for f in seccomp.fixes)
    assert report.mode.scope == "none"
    assert report.system["container"] == "Docker"
    assert _event(report, "page-faults").errno == "EPERM"


def test_opened_verdicts_follow_the_errno(tmp_path: Path) -> None:
    root = trees.make_intel_desktop(tmp_path, paranoid=0)
    opened: list[tuple[int, int, int, int]] = []

    def fake(attr: abi.PerfEventAttr, pid: int, cpu: int) -> int:
        opened.append((attr.type, attr.config, pid, cpu))
        if attr.type == abi.PERF_TYPE_HW_CACHE:
            raise abi.PerfOpenError(errno.ENOENT, "no")
        return 0

    report = diagnose(root, confirm=True, opener=fake, include_core=False)
    l1 = _event(report, "L1-dcache-load-misses")
    assert not l1.available and l1.errno == "ENOENT" and l1.checked == "opened"
    assert "not supported by this CPU" in l1.reason
    assert _event(report, "cycles").available
    # System-wide mode (paranoid 0): every event is tried with pid=-1 on the first CPU; only the
    # per-process check opens task-clock on this process (pid 0, any CPU).
    places = [(pid, cpu) for _, _, pid, cpu in opened]
    assert places.count((0, -1)) == 1
    assert set(places) == {(-1, 0), (0, -1)}


def test_report_json_round_trip(tmp_path: Path) -> None:
    report = _files_only(trees.make_intel_hybrid(tmp_path))
    data = json.loads(json.dumps(report.to_dict()))
    cycles = next(e for f in data["families"] for e in f["events"]
                  if e["name"] == "cycles" and e["pmu"] == "cpu_core")
    assert cycles["config"] == "0x400000000" and cycles["pmu_type"] == 4 and cycles["cpus"][-1] == 15
    assert "files only" in data["checked_by"]


# --- live -------------------------------------------------------------------------------------

@pytest.mark.skipif(bool(probe().core_pmus), reason="this machine has a hardware PMU")
def test_live_doctor_on_a_machine_without_pmu() -> None:
    report = diagnose(include_core=False)
    assert report.live and "opened" in report.checked_by
    cycles = _event(report, "cycles")
    assert not cycles.available and cycles.checked == "opened"
    assert cycles.errno in ("ENOENT", "EACCES")
    if cycles.errno == "ENOENT":
        assert "no hardware PMU" in cycles.reason
    software = report.family("software")
    assert any(e.available and e.checked == "opened" for e in software.events)
    text = render_text(report)
    assert "✗ cycles" in text and "✓ page-faults" in text
