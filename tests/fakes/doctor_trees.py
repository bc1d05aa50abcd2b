"""Whole-machine fake trees for the environment probe and the doctor.

They build on ``tests.fakes.sysfs_trees`` (PMUs, topology, paranoid) and add what the doctor also
reads: ``proc/self/status`` (Uid, CapEff, Seccomp), ``proc/sys/kernel/nmi_watchdog``, a full
``proc/cpuinfo`` (with ``cpu family``/``model``), DMI vendor files and container hints, and the
generic-event aliases a core PMU lists in ``events/``.

About those aliases: x86 lists ``cpu/events/<generic>`` only for generic events the CPU maps
(``is_visible`` hides map entries of 0, the ones that give ENOENT), so an Intel core lists no
``stalled-cycles-*`` and AMD Zen 2+ no ``stalled-cycles-backend``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from fakes.sysfs_trees import (
    DEVICES,
    add_filesystems,
    add_paranoid,
    add_pmu,
    add_software_pmus,
    add_topology,
    make_skx_server,
    make_vm,
    make_zen4,
    write,
)

ALL_CAPS = 0x1FFFFFFFFFF  # CapEff of root on a 6.x kernel (bits 0-40)
CAP_PERFMON_ONLY = 1 << 38

# Generic-event aliases as the kernel writes them (arch/x86/events/intel/core.c, amd/core.c).
INTEL_CORE_EVENTS = {
    "cpu-cycles": "event=0x3c", "instructions": "event=0xc0", "ref-cycles": "event=0x00,umask=0x03",
    "branch-instructions": "event=0xc4", "branch-misses": "event=0xc5", "bus-cycles": "event=0x3c,umask=0x01",
    "cache-references": "event=0x2e,umask=0x4f", "cache-misses": "event=0x2e,umask=0x41",
}
INTEL_CORE_FORMATS = {"event": "config:0-7", "umask": "config:8-15", "edge": "config:18",
                      "inv": "config:23", "cmask": "config:24-31"}
AMD_ZEN4_EVENTS = {
    "cpu-cycles": "event=0x76", "instructions": "event=0xc0", "branch-instructions": "event=0xc2",
    "branch-misses": "event=0xc3", "cache-references": "event=0x60,umask=0xff",
    "cache-misses": "event=0x64,umask=0x09", "stalled-cycles-frontend": "event=0xa9",
    "ref-cycles": "event=0x120",
}


def add_status(root: Path, uid: int = 1000, cap_eff: int = 0, seccomp: int = 0) -> None:
    """``proc/self/status`` lines the probe reads (Uid real/effective/saved/fs, CapEff, Seccomp)."""
    write(root, "proc/self/status",
          f"Name:\tpython3\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nCapInh:\t0000000000000000\n"
          f"CapPrm:\t{cap_eff:016x}\nCapEff:\t{cap_eff:016x}\nCapBnd:\t{ALL_CAPS:016x}\n"
          f"CapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t{seccomp}\nSeccomp_filters:\t"
          f"{1 if seccomp == 2 else 0}\n")


def add_nmi_watchdog(root: Path, on: bool) -> None:
    write(root, "proc/sys/kernel/nmi_watchdog", "1\n" if on else "0\n")


def add_full_cpuinfo(root: Path, vendor: str, model_name: str, family: int, model: int,
                     flags: Iterable[str], ncpus: int) -> None:
    """``proc/cpuinfo`` with vendor, family and model per processor (as x86 prints them, decimal)."""
    blocks = [f"processor\t: {cpu}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
              f"model name\t: {model_name}\nflags\t\t: {' '.join(flags)}\n" for cpu in range(ncpus)]
    write(root, "proc/cpuinfo", "\n".join(blocks) + "\n")


def add_dmi(root: Path, vendor: str, product: str) -> None:
    write(root, "sys/class/dmi/id/sys_vendor", f"{vendor}\n")
    write(root, "sys/class/dmi/id/product_name", f"{product}\n")


def set_core_events(root: Path, pmu: str, events: Mapping[str, str]) -> None:
    """Replace a core PMU's ``events/`` with exactly ``events``."""
    events_dir = Path(root) / DEVICES / pmu / "events"
    if events_dir.is_dir():
        for entry in events_dir.iterdir():
            entry.unlink()
    for name, terms in events.items():
        write(root, DEVICES / pmu / "events" / name, f"{terms}\n")


_INTEL_FLAGS = ("fpu", "tsc", "msr", "constant_tsc", "rdtscp", "ht")


# ---------------------------------------------------------------- machines


def make_intel_hybrid(root: Path) -> Path:
    """Raptor Lake i9-14900K: cpu_core (type 4, CPUs 0-15) + cpu_atom (type 8, CPUs 16-31).

    An unprivileged desktop user at the mainline default paranoid 2, NMI watchdog off.
    """
    add_software_pmus(root)
    add_pmu(root, "cpu_core", 4, cpus="0-15", formats=INTEL_CORE_FORMATS,
            events={**INTEL_CORE_EVENTS, "topdown-retiring": "event=0x00,umask=0x80"})
    add_pmu(root, "cpu_atom", 8, cpus="16-31", formats=INTEL_CORE_FORMATS, events=INTEL_CORE_EVENTS)
    add_topology(root, [range(32)])
    add_full_cpuinfo(root, "GenuineIntel", "13th Gen Intel(R) Core(TM) i9-14900K", 6, 183,
                     _INTEL_FLAGS, 32)
    add_paranoid(root, 2)
    add_filesystems(root, resctrl=False)
    add_status(root, uid=1000, cap_eff=0)
    add_nmi_watchdog(root, on=False)
    add_dmi(root, "Micro-Star International Co., Ltd.", "MS-7D91")
    return root


def make_amd_zen4(root: Path) -> Path:
    """EPYC 9124 (Zen 4, family 0x19 model 0x11) at paranoid 0, run by a normal user."""
    make_zen4(root)
    set_core_events(root, "cpu", AMD_ZEN4_EVENTS)
    add_full_cpuinfo(root, "AuthenticAMD", "AMD EPYC 9124 16-Core Processor", 25, 17,
                     ("fpu", "tsc", "rapl", "ht"), 16)
    add_status(root, uid=1000, cap_eff=0)
    add_nmi_watchdog(root, on=False)
    add_dmi(root, "Supermicro", "AS -1115CS-TNR")
    return root


def make_intel_server(root: Path) -> Path:
    """Skylake-SP, 2 x 28 CPUs, run as root (CAP_SYS_ADMIN), paranoid 2, NMI watchdog off."""
    make_skx_server(root)
    set_core_events(root, "cpu", INTEL_CORE_EVENTS)
    add_full_cpuinfo(root, "GenuineIntel", "Intel(R) Xeon(R) Gold 6132 CPU @ 2.60GHz", 6, 85,
                     _INTEL_FLAGS, 56)
    add_paranoid(root, 2)
    add_status(root, uid=0, cap_eff=ALL_CAPS)
    add_nmi_watchdog(root, on=False)
    add_dmi(root, "Dell Inc.", "PowerEdge R740")
    return root


def make_vm_no_pmu(root: Path) -> Path:
    """A QEMU/KVM guest without a virtual PMU (software PMUs and msr only), normal user, paranoid 2."""
    make_vm(root)
    add_full_cpuinfo(root, "AuthenticAMD", "AMD EPYC", 25, 1, ("fpu", "tsc", "msr", "hypervisor"), 2)
    add_status(root, uid=1000, cap_eff=0)
    add_nmi_watchdog(root, on=False)
    add_dmi(root, "QEMU", "Standard PC (Q35 + ICH9, 2009)")
    return root


def make_intel_desktop(root: Path, *, paranoid: int, nmi_watchdog: bool = False,
                       uid: int = 1000, cap_eff: int = 0, seccomp: int = 0) -> Path:
    """Bare-metal Coffee Lake desktop (``cpu`` PMU, 8 CPUs) with the given policy."""
    add_software_pmus(root)
    add_pmu(root, "cpu", 4, formats=INTEL_CORE_FORMATS, events=INTEL_CORE_EVENTS)
    add_topology(root, [range(8)])
    add_full_cpuinfo(root, "GenuineIntel", "Intel(R) Core(TM) i7-8700", 6, 158, _INTEL_FLAGS, 8)
    write(root, "sys/devices/system/cpu/smt/active", "1\n")
    add_paranoid(root, paranoid)
    add_filesystems(root, resctrl=False)
    add_status(root, uid=uid, cap_eff=cap_eff, seccomp=seccomp)
    add_nmi_watchdog(root, on=nmi_watchdog)
    add_dmi(root, "Dell Inc.", "OptiPlex 7060")
    return root


def make_paranoid(root: Path, level: int) -> Path:
    """An unprivileged user on a bare-metal Intel desktop at perf_event_paranoid ``level``."""
    return make_intel_desktop(root, paranoid=level)


def make_nmi_watchdog_on(root: Path) -> Path:
    """A desktop at paranoid 0 whose NMI watchdog holds a counter (SMT on: 4 per thread, minus 1)."""
    return make_intel_desktop(root, paranoid=0, nmi_watchdog=True)


def make_docker_on_host(root: Path) -> Path:
    """A Docker container (default seccomp filter) on a bare-metal desktop at paranoid 2."""
    make_intel_desktop(root, paranoid=2, seccomp=2)
    write(root, ".dockerenv", "")
    write(root, "proc/1/cgroup", "0::/system.slice/docker-0123abcd.scope\n")
    return root
