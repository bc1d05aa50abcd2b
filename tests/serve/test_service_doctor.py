"""The doctor's section on what the perfdeck-serve service (DynamicUser + CAP_PERFMON) could count,
judged on fake /sys and /proc trees modelled on real machines."""

from __future__ import annotations

from pathlib import Path

from fakes import doctor_trees as trees
from fakes.sysfs_trees import write
from perfdeck.exporter.service import service_lines
from perfdeck.perf.doctor import diagnose


def _lines(root: Path) -> dict[str, str]:
    report = diagnose(root, confirm=False, include_core=False)
    out = {}
    for line in service_lines(report)[1:]:
        title = line[4:].split(":", 1)[0]
        out[title] = line
    return out


def test_a_server_with_uncore_pmus(tmp_path: Path) -> None:
    lines = _lines(trees.make_intel_server(tmp_path))
    # Skylake-SP lists no stalled-cycles events: the other five are counted
    assert lines["Hardware events"].startswith("  ~ Hardware events: 5 of 7 events (cycles, instructions")
    assert lines["Memory bandwidth"].startswith("  ✓")


def test_a_vm_without_pmu(tmp_path: Path) -> None:
    lines = _lines(trees.make_vm_no_pmu(tmp_path))
    assert lines["Hardware events"].startswith("  ✗") and "no hardware PMU" in lines["Hardware events"]
    assert lines["Memory bandwidth"].startswith("  ✗")


def test_paranoid_4_does_not_stop_the_service(tmp_path: Path) -> None:
    """An unprivileged user at Debian's paranoid 4 can count nothing; the service, with CAP_PERFMON, can."""
    root = trees.make_paranoid(tmp_path, 4)
    report = diagnose(root, confirm=False, include_core=False)
    assert not any(e.available for e in report.family("hardware").events)
    assert _lines(root)["Hardware events"][2] in "✓~"


def test_a_kernel_older_than_cap_perfmon(tmp_path: Path) -> None:
    root = trees.make_intel_server(tmp_path)
    write(root, "proc/sys/kernel/osrelease", "5.4.0-150-generic\n")
    text = "\n".join(service_lines(diagnose(root, confirm=False, include_core=False)))
    assert "predates CAP_PERFMON" in text and "CAP_SYS_ADMIN" in text
