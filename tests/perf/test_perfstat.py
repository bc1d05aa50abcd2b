"""``perfdeck doctor`` prints a perf stat line counting the same events, groups and CPUs."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from fakes import doctor_trees as trees
from perfdeck.perf.doctor import diagnose, render_text
from probes import system_wide_perf_allowed


def test_hybrid_paranoid_2_gets_per_process_user_space_groups_per_pmu(tmp_path: Path) -> None:
    report = diagnose(trees.make_intel_hybrid(tmp_path), include_core=False)
    cmd = report.perf_stat
    assert cmd.startswith("perf stat -p <PID> -I 1000 ")
    assert "'{cpu_core/instructions/,cpu_core/cycles/" in cmd
    assert "cpu_atom/cycles/" in cmd
    # Never a group mixing the two core PMUs, user space only like PerfDeck at paranoid 2.
    for group in [a for a in shlex.split(cmd.replace("<PID>", "1")) if a.startswith("{")]:
        assert not ("cpu_core/" in group and "cpu_atom/" in group)
        assert group.endswith("}:u")
    # The E-core PMU has no L1D read-miss event, so per process PerfDeck counts it on neither core
    # type (it would be extrapolated over E-core time), and the doctor says why.
    assert "L1-dcache-load-misses" not in cmd and "cpu_core/L1-dcache-loads/" in cmd
    atom_l1d = next(e for e in report.events() if e.name == "L1-dcache-load-misses" and e.pmu == "cpu_atom")
    assert not atom_l1d.available and "no L1D read-miss event" in atom_l1d.reason
    # Migrations and context switches read 0 under exclude_kernel: not counted, and unavailable.
    assert "cpu-migrations" not in cmd and "context-switches" not in cmd
    migrations = next(e for e in report.events() if e.name == "cpu-migrations")
    assert not migrations.available and "kernel" in migrations.reason
    assert f"Compare with perf stat (same events, groups and CPUs): {cmd}" in render_text(report)
    assert report.to_dict()["perf_stat"] == cmd



@pytest.mark.skipif(shutil.which("perf") is None or not system_wide_perf_allowed(),
                    reason="needs the perf tool and system-wide counting")
def test_the_printed_line_runs_with_real_perf_here() -> None:
    cmd = diagnose(include_core=False).perf_stat
    assert cmd.startswith("perf stat -a -C ")
    result = subprocess.run([*shlex.split(cmd), "--", "sleep", "0.3"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "LC_ALL": "C"})
    assert result.returncode == 0, result.stderr[-500:]
    assert "page-faults" in result.stderr and "task-clock" in result.stderr


def test_hybrid_system_wide_counts_l1d_misses_on_p_cores_only(tmp_path: Path) -> None:
    root = trees.make_intel_hybrid(tmp_path)
    (root / "proc/sys/kernel/perf_event_paranoid").write_text("0\n")
    cmd = diagnose(root, include_core=False).perf_stat
    assert cmd.startswith("perf stat -a -C 0-31 -I 1000 ")
    assert "cpu_core/L1-dcache-load-misses/" in cmd and "cpu_atom/L1-dcache-load-misses/" not in cmd
    assert "cpu-migrations" in cmd and ":u" not in cmd
