"""Fake sysfs/procfs trees for top-down analysis, modelled on the kernel's layouts.

Intel core PMU event files are written by ``events_sysfs_show`` with a trailing newline; the
encodings are the kernel's (arch/x86/events/intel/core.c: ``slots`` event=0x00,umask=0x4 and the
``topdown-*`` metric events umask=0x80..0x87; Alder Lake's ``cpu_atom`` topdown events).
``/proc/cpuinfo`` carries vendor, family and model, which the formula paths need.
"""

from __future__ import annotations

from pathlib import Path

from fakes.sysfs_trees import add_pmu, add_software_pmus, add_topology, write

INTEL_FORMATS = {"event": "config:0-7", "umask": "config:8-15", "edge": "config:18", "pc": "config:19",
                 "any": "config:21", "inv": "config:23", "cmask": "config:24-31"}
AMD_FORMATS = {"event": "config:0-7,32-35", "umask": "config:8-15", "edge": "config:18",
               "inv": "config:23", "cmask": "config:24-31"}
TOPDOWN_L1 = {"slots": "event=0x00,umask=0x4", "topdown-retiring": "event=0x00,umask=0x80",
              "topdown-bad-spec": "event=0x00,umask=0x81", "topdown-fe-bound": "event=0x00,umask=0x82",
              "topdown-be-bound": "event=0x00,umask=0x83"}
TOPDOWN_L2 = {"topdown-heavy-ops": "event=0x00,umask=0x84", "topdown-br-mispredict": "event=0x00,umask=0x85",
              "topdown-fetch-lat": "event=0x00,umask=0x86", "topdown-mem-bound": "event=0x00,umask=0x87"}
GENERIC = {"cpu-cycles": "event=0x3c", "instructions": "event=0xc0", "branch-instructions": "event=0xc4",
           "branch-misses": "event=0xc5", "ref-cycles": "event=0x00,umask=0x03"}


def cpuinfo(root: Path, vendor: str, family: int, model: int, name: str, ncpus: int) -> None:
    blocks = [f"processor\t: {cpu}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
              f"model name\t: {name}\nflags\t\t: fpu tsc msr\n" for cpu in range(ncpus)]
    write(root, "proc/cpuinfo", "\n".join(blocks) + "\n")


def _base(root: Path, ncpus: int) -> None:
    add_software_pmus(root)
    add_topology(root, [range(ncpus)])


def make_icelake_server(root: Path) -> Path:
    """Ice Lake-SP (family 6 model 0x6A): slots and level-1 topdown events only."""
    _base(root, 8)
    add_pmu(root, "cpu", 4, formats=INTEL_FORMATS, events={**GENERIC, **TOPDOWN_L1})
    cpuinfo(root, "GenuineIntel", 6, 0x6A, "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", 8)
    return root


def make_sapphire_rapids(root: Path) -> Path:
    """Sapphire Rapids (family 6 model 0x8F): level 1 and level 2 topdown events."""
    _base(root, 8)
    add_pmu(root, "cpu", 4, formats=INTEL_FORMATS, events={**GENERIC, **TOPDOWN_L1, **TOPDOWN_L2})
    cpuinfo(root, "GenuineIntel", 6, 0x8F, "Intel(R) Xeon(R) Platinum 8480+", 8)
    return root


def make_alder_lake(root: Path) -> Path:
    """Alder Lake i7-12700 (family 6 model 0x97): cpu_core 0-15 (P-cores with SMT), cpu_atom 16-19."""
    _base(root, 20)
    add_pmu(root, "cpu_core", 8, cpus="0-15", formats=INTEL_FORMATS,
            events={**GENERIC, **TOPDOWN_L1, **TOPDOWN_L2})
    add_pmu(root, "cpu_atom", 9, cpus="16-19", formats=INTEL_FORMATS,
            events={**GENERIC, "topdown-retiring": "event=0xc2,umask=0x0",
                    "topdown-bad-spec": "event=0x73,umask=0x0", "topdown-fe-bound": "event=0x71,umask=0x0",
                    "topdown-be-bound": "event=0x74,umask=0x0"})
    cpuinfo(root, "GenuineIntel", 6, 0x97, "12th Gen Intel(R) Core(TM) i7-12700", 20)
    return root


def make_skylake_server(root: Path) -> Path:
    """Skylake-SP (family 6 model 0x55): no slots event, so the 4-wide formulas apply."""
    _base(root, 8)
    add_pmu(root, "cpu", 4, formats=INTEL_FORMATS, events=GENERIC)
    cpuinfo(root, "GenuineIntel", 6, 0x55, "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", 8)
    return root


def make_zen4_desktop(root: Path) -> Path:
    """Ryzen 9 7950X (family 0x19 = 25, model 0x61 = 97): no TMA events in sysfs, perf's JSON encodings."""
    _base(root, 8)
    add_pmu(root, "cpu", 4, formats=AMD_FORMATS)
    cpuinfo(root, "AuthenticAMD", 25, 97, "AMD Ryzen 9 7950X 16-Core Processor", 8)
    return root


def make_zen3_server(root: Path) -> Path:
    """EPYC 7313 (family 25, model 1: Zen 3)."""
    _base(root, 8)
    add_pmu(root, "cpu", 4, formats=AMD_FORMATS)
    cpuinfo(root, "AuthenticAMD", 25, 1, "AMD EPYC 7313 16-Core Processor", 8)
    return root
