"""What the ``perfdeck-serve`` systemd service would be able to count here, for ``perfdeck doctor``.

The unit runs as a transient unprivileged user (``DynamicUser=yes``) with only ``CAP_PERFMON``
(packaging/systemd/perfdeck-serve.service). That differs from the user running the doctor: it has
CAP_PERFMON even when they do not (system-wide and uncore counting whatever perf_event_paranoid
says), but it is not root (root-only files such as RAPL's powercap energy_uj stay closed to it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from perfdeck.perf.doctor import DoctorReport, EventVerdict

PERMISSION_ERRNOS = {"EACCES", "EPERM"}
# How perf.doctor words a file-only verdict on a supported event that the current user may not count.
NOT_ALLOWED = "but no counting is allowed"
USER_SPACE_ONLY = "in user-space-only mode"


def _kernel_has_cap_perfmon(release: str) -> bool | None:
    match = re.match(r"(\d+)\.(\d+)", release or "")
    if not match:
        return None
    return (int(match.group(1)), int(match.group(2))) >= (5, 8)


def _refused_for_permission_only(event: EventVerdict) -> bool:
    """Refused for lack of permission, which CAP_PERFMON lifts (a missing PMU stays missing): the
    errno when the doctor opened it, or the doctor's file-only verdicts for a supported event."""
    if event.pmu is None:
        return False
    if event.errno in PERMISSION_ERRNOS:
        return True
    return event.checked == "files" and (NOT_ALLOWED in event.reason or USER_SPACE_ONLY in event.reason)


def _events_line(report: DoctorReport, key: str, title: str) -> str:
    try:
        family = report.family(key)
    except KeyError:
        return f"  ? {title}: not checked"
    countable = [e for e in family.events if e.available or _refused_for_permission_only(e)]
    if not family.events:
        return f"  ? {title}: not checked"
    if len(countable) == len(family.events):
        return f"  ✓ {title}: all {len(countable)} events, system-wide on every CPU"
    if countable:
        return (f"  ~ {title}: {len(countable)} of {len(family.events)} events "
                f"({', '.join(e.name for e in countable)})")
    return f"  ✗ {title}: {family.reason}"


def _powercap_readable(root: Path, details: dict[str, Any]) -> bool:
    """Whether the service user could read the powercap energy files (root-only on kernels since 2020)."""
    for candidate in details.get("candidates", []):
        for zone in candidate.get("zones", []):
            path = root / "sys/class/powercap" / str(zone.get("zone")) / "energy_uj"
            try:
                if not os.stat(path).st_mode & 0o004:
                    return False
            except OSError:
                return False
    return True


def service_lines(report: DoctorReport) -> list[str]:
    """The doctor's short section on the perfdeck-serve service."""
    lines = ["perfdeck-serve service (systemd, DynamicUser, CAP_PERFMON only): it would count"]
    cap = _kernel_has_cap_perfmon(str(report.system.get("kernel") or ""))
    if cap is False:
        lines.append(f"  ✗ kernel {report.system.get('kernel')} predates CAP_PERFMON (5.8): the service "
                     "gets no system-wide counters; add CAP_SYS_ADMIN to AmbientCapabilities= and "
                     "CapabilityBoundingSet= in a drop-in (systemctl edit perfdeck-serve), knowing it is "
                     "broad")
    if report.mode.scope == "none" and "EPERM" in report.mode.summary:
        lines.append(f"  ✗ perf_event_open is blocked here ({report.mode.summary}); "
                     "the service is blocked too")
    lines.append("  ✓ CPU, memory, disks, network, sensors, process counts: yes "
                 "(world-readable /proc and /sys)")
    lines.append(_events_line(report, "software", "Software events"))
    lines.append(_events_line(report, "hardware", "Hardware events"))
    lines.append(_events_line(report, "cache", "Cache and TLB events"))
    for key, title in (("membw", "Memory bandwidth"), ("power", "Power (RAPL)")):
        try:
            family = report.family(key)
        except KeyError:
            continue
        details = family.details or {}
        source = details.get("source") or {}
        if not family.available:
            lines.append(f"  ✗ {title}: {family.reason}")
        elif source.get("kind") == "powercap" and not _powercap_readable(Path(report.root), details):
            lines.append(f"  ✗ {title}: only powercap is available and its energy_uj files are readable by "
                         "root only; the service is not root. Load the RAPL perf driver (perf 'power' PMU) "
                         "so it can count energy with CAP_PERFMON")
        else:
            lines.append(f"  ✓ {title}: {family.reason}")
    lines.append("  Enable it: sudo systemctl enable --now perfdeck-serve (see docs/prometheus.md)")
    return lines
