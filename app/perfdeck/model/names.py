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
    (re.compile(r"(uncore|\bimc|\bumc|resctrl|bandwidth).*virtual machine"
                r"|virtual machine.*(uncore|\bimc|\bumc)", re.I | re.S),
     "DRAM bandwidth cannot be measured inside this virtual machine"),
    (re.compile(r"uncore|\bimc|\bumc|resctrl|\bmbm", re.I), "DRAM bandwidth counters are not available here"),
    (re.compile(r"rapl|powercap", re.I), "Power readings (RAPL) are not available here"),
)
_FIRST_CLAUSE = re.compile(r": |; |, so |\. ")
# Asides such as "(family 0x19, model 0x1: Zen 3)" are detail: dropped before the first clause is
# taken, so that the clause is a sentence ("AMD EPYC 7313 has no ...") and not cut inside the aside.
_ASIDE = re.compile(r"\s*\([^()]*\)")


def plain_reason(reason: str) -> str:
    """One short sentence for a collector's reason, e.g. "no hardware PMU: this is a virtual
    machine (...)" -> "Hardware counters are off in this virtual machine"."""
    for pattern, words in _PLAIN_REASONS:
        if pattern.search(reason):
            return words
    first = _FIRST_CLAUSE.split(_ASIDE.sub("", reason.strip()), maxsplit=1)[0].rstrip(".")
    return first[:1].upper() + first[1:] if first else "Not available here"


def is_fact(reason: str) -> bool:
    """A reason that states how the machine is set up (no swap, no battery), not a fault to fix."""
    return bool(re.search(r"no swap|no battery|reports no (fans|temperatures|battery)", reason, re.I))


# Series a person knows by another name than the collector's label.
_NAMES = {
    "cpu.util.total": "CPU busy", "cpu.util.user": "CPU user time", "cpu.util.system": "CPU system time",
    "cpu.util.iowait": "CPU waiting for I/O", "cpu.util.irq": "CPU interrupts", "cpu.util.softirq":
    "CPU soft interrupts", "cpu.util.steal": "CPU stolen by the hypervisor", "cpu.util.idle": "CPU idle",
    "cpu.freq.avg": "CPU clock (average)", "cpu.load.1": "Load average (1 min)",
    "cpu.load.5": "Load average (5 min)", "cpu.load.15": "Load average (15 min)",
    "cpu.ctx_switches": "Context switches", "cpu.interrupts": "Interrupts",
    "mem.used": "Memory used", "mem.used_pct": "Memory used", "mem.available": "Memory available",
    "mem.available_pct": "Memory available", "mem.cached": "Page cache", "mem.buffers": "Buffers",
    "mem.shared": "Shared memory", "mem.total": "Memory installed", "mem.swap.used": "Swap used",
    "mem.swap.used_pct": "Swap used", "mem.swap.total": "Swap size", "mem.swap.in": "Swap in",
    "mem.swap.out": "Swap out", "net.rx.total": "Network received (all)",
    "net.tx.total": "Network sent (all)",
    "proc.count": "Processes", "proc.threads": "Threads", "sensors.battery.percent": "Battery charge",
    "membw.read.total": "DRAM read bandwidth", "membw.write.total": "DRAM write bandwidth",
    "membw.total": "DRAM bandwidth", "perf.ipc.total": "IPC (all CPUs)",
}
# metric (id without its instance) -> "{instance} ..." wording.
_INSTANCE_NAMES = {
    "cpu.util": "CPU {} busy", "cpu.freq": "CPU {} clock", "disk.read": "{} read", "disk.write": "{} write",
    "disk.read_iops": "{} read operations", "disk.write_iops": "{} write operations", "disk.busy": "{} busy",
    "disk.fs_used_pct": "{} full", "disk.fs_used": "{} used", "disk.fs_total": "{} size",
    "net.rx": "{} received", "net.tx": "{} sent", "net.rx_packets": "{} packets received",
    "net.tx_packets": "{} packets sent", "net.rx_errors": "{} receive errors",
    "net.tx_errors": "{} send errors",
    "net.rx_drops": "{} receive drops", "net.tx_drops": "{} send drops",
}
# The family part of an id, as the export tree and pickers group series.
FAMILY_NAMES = {
    "cpu": "CPU", "mem": "Memory", "disk": "Disks", "net": "Network", "sensors": "Sensors",
    "proc": "Processes", "perf": "Hardware counters", "membw": "Memory bandwidth", "power": "Power",
}


def human_name(series_id: str, label: str = "") -> str:
    """What a person calls a series: "CPU busy" for ``cpu.util.total``, "sda read" for
    ``disk.read.sda``, "CPU 3 busy" for ``cpu.util.core3``; else the collector's label, else the id."""
    if series_id in _NAMES:
        return _NAMES[series_id]
    metric, _, instance = series_id.rpartition(".")
    if metric.startswith("cpu.util.") and instance.startswith("core") and metric in _NAMES:
        # cpu.util.user.core3 -> "CPU 3 user time"
        return f"CPU {instance[4:]} {_NAMES[metric].removeprefix('CPU ')}"
    pattern = _INSTANCE_NAMES.get(metric)
    if pattern is not None and instance:
        if metric in ("cpu.util", "cpu.freq") and instance.startswith("core"):
            instance = instance[4:]
        elif instance == "root" and metric.startswith("disk.fs"):
            instance = "/"
        return pattern.format(instance)
    return label or series_id


def family_name(series_id: str) -> str:
    """The human name of a series' family ("Disks" for ``disk.read.sda``)."""
    family = series_id.split(".", 1)[0]
    return FAMILY_NAMES.get(family, family)
