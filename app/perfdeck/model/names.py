"""Human words for what PerfDeck shows: plain one-line reasons and human series names.

Pure Python (no Qt), so the window, the tray, notifications and exports all say the same thing.
Series ids (``cpu.util.total``) stay the stable keys in files and settings; people read the names.
"""

from __future__ import annotations

import re

# (pattern in the collector's reason, the plain words a person reads first). The full reason and
# its fix stay one click away ("Details") and in the Diagnostics tab.
_PLAIN_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"no hardware PMU.*virtual machine", re.I | re.S),
     "Hardware counters are off in this virtual machine"),
    (re.compile(r"no hardware PMU", re.I), "This machine exposes no hardware counters"),
    (re.compile(r"perf_event_paranoid", re.I), "Hardware counters need permission on this machine"),
    (re.compile(r"virtual machine.*cpufreq|cpufreq.*missing", re.I | re.S),
     "This virtual machine does not report CPU clock speeds"),
    (re.compile(r"no swap", re.I), "No swap is configured"),
    (re.compile(r"(uncore|\bimc|\bumc|resctrl|bandwidth).*virtual machine|virtual machine.*(uncore|\bimc|\bumc)",
                re.I | re.S), "DRAM bandwidth cannot be measured inside this virtual machine"),
    (re.compile(r"uncore|\bimc|\bumc|resctrl|\bmbm", re.I), "DRAM bandwidth counters are not available here"),
    (re.compile(r"rapl|powercap", re.I), "Power readings (RAPL) are not available here"),
)
_FIRST_CLAUSE = re.compile(r"\s\(|: |; |, so |\. ")


def plain_reason(reason: str) -> str:
    """One short sentence for a collector's reason, e.g. "no hardware PMU: this is a virtual
    machine (...)" -> "Hardware counters are off in this virtual machine"."""
    for pattern, words in _PLAIN_REASONS:
        if pattern.search(reason):
            return words
    first = _FIRST_CLAUSE.split(reason.strip(), maxsplit=1)[0].rstrip(".")
    return first[:1].upper() + first[1:] if first else "Not available here"


def is_fact(reason: str) -> bool:
    """A reason that states how the machine is set up (no swap, no battery), not a fault to fix."""
    return bool(re.search(r"no swap|no battery|reports no (fans|temperatures|battery)", reason, re.I))
