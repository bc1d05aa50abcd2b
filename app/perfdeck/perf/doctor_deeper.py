"""The doctor's sections for pressure stalls and cgroups, hooked into ``perf.doctor.diagnose``.

Each source reports a JSON-ready dict (``available``, ``reason``, ``fix`` and details) that the
doctor wraps as a family verdict, like memory bandwidth and power.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# (key, title, module, function): each function takes the filesystem root.
SOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("psi_files", "Pressure stall files (/proc/pressure, also from snapshots)", "perfdeck.collectors.psi",
     "psi_report"),
    ("cgroup_layout", "cgroup v2 (services and containers)", "perfdeck.collectors.cgroups", "cgroup_report"),
    ("tma_method", "Top-down analysis: method per CPU type", "perfdeck.collectors.topdown", "topdown_report"),
)


def deeper_families(root: Path, report_family: Callable[[str, str, str, str, Path], Any]) -> list[Any]:
    """One verdict per source, built by the doctor's own ``_report_family`` wrapper."""
    return [report_family(key, title, module, function, root) for key, title, module, function in SOURCES]
