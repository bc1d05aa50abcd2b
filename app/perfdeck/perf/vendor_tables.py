"""Vendor knowledge as data: which PMU names and event names mean DRAM traffic or energy.

Only names and terms live here, each with its source; the code in ``bandwidth.py`` and
``power.py`` is generic. Where the kernel names an event in sysfs, only its NAME is listed and
the encoding always comes from the running kernel (umasks and scales have been wrong in older
kernels, e.g. ICX IMC umasks and the ICX free-running scale). Terms appear only for PMUs that
have no ``events/`` directory (AMD UMC and DF), where perf itself takes them from its JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

# One CAS command / one "request with data" moves one 64-byte cache line.
CACHE_LINE_BYTES = 64
MIB = 1 << 20


@dataclass(frozen=True)
class NamedEventSource:
    """A bandwidth source whose events the kernel names in ``<pmu>/events/``."""

    kind: str
    title: str
    pmu_pattern: str  # regular expression matched against the whole PMU name
    read_events: tuple[str, ...]  # first one present wins
    write_events: tuple[str, ...]
    accuracy: str
    source: str


# Order = preference when several are present.
INTEL_NAMED_SOURCES: tuple[NamedEventSource, ...] = (
    NamedEventSource(
        kind="intel_imc",
        title="Intel server IMC CAS counts",
        pmu_pattern=r"uncore_imc_\d+",
        read_events=("cas_count_read",),
        write_events=("cas_count_write",),
        accuracy=("exact: CAS commands counted per memory channel by the memory controller "
                  "(includes IO/DMA traffic); 64 bytes per CAS"),
        # arch/x86/events/intel/uncore_snbep.c: snbep/hswep/snr/spr_uncore_imc_events
        source="kernel uncore_snbep.c *_uncore_imc_events (SNB-EP ... SPR/EMR)",
    ),
    NamedEventSource(
        kind="intel_imc_free_running",
        title="Intel client IMC free-running counters",
        pmu_pattern=r"uncore_imc_free_running(_\d+)?",
        # TGL and later clients: data_read/data_write; ICX/SNR server free-running: read/write.
        read_events=("data_read", "read"),
        write_events=("data_write", "write"),
        accuracy=("exact: free-running memory-controller data counters (all requesters: cores, "
                  "GPU, IO); 64 bytes per count"),
        # arch/x86/events/intel/uncore_snb.c tgl_uncore_imc_events;
        # arch/x86/events/intel/uncore_snbep.c icx_uncore_imc_freerunning_events
        source="kernel uncore_snb.c tgl_uncore_imc_events; uncore_snbep.c icx_uncore_imc_freerunning_events",
    ),
    NamedEventSource(
        kind="intel_imc_client",
        title="Intel client IMC counters",
        pmu_pattern=r"uncore_imc",
        read_events=("data_reads",),
        write_events=("data_writes",),
        accuracy=("exact: memory-controller request counters of SNB..CFL clients (all requesters: "
                  "cores, GPU, IO); 64 bytes per request"),
        # arch/x86/events/intel/uncore_snb.c snb_uncore_imc_events
        source="kernel uncore_snb.c snb_uncore_imc_events",
    ),
)


@dataclass(frozen=True)
class TermsEvent:
    """An event built from a PMU's format/ files because sysfs does not name it."""

    name: str
    terms: tuple[tuple[str, int], ...]
    source: str

    def as_dict(self) -> dict[str, int]:
        return dict(self.terms)


# ICX/SNR free-running IMC: kernels before the fix shipped .scale 3.814697266e-6 MiB (4 bytes) for
# read/write although each count is one 64-byte line (the fix changed it to 6.103515625e-5). A
# kernel .scale worth exactly 4 bytes on these PMUs is that bug, not a different unit.
OLD_FREE_RUNNING_BYTES_PER_COUNT = 4.0

# Alder Lake / Raptor Lake clients: arch/x86/events/intel/uncore_snb.c adl_uncore_imc registers
# uncore_imc_0/1 with format files but no events/ (its counters need programming perf does not
# name), next to adl_uncore_imc_free_running (uncore_imc_free_running_0/1, tgl_uncore_imc_events).
CLIENT_IMC_PMU_PATTERN = r"uncore_imc_\d+"

# AMD Zen 4/5 Unified Memory Controller, PMUs amd_umc_<n> (Linux >= 6.7), no events/ directory.
AMD_UMC_PMU_PATTERN = r"amd_umc_\d+"
AMD_UMC_READ = TermsEvent(
    "umc_cas_cmd.rd", (("event", 0x0A), ("rdwrmask", 1)),
    source="tools/perf/pmu-events/arch/x86/amdzen4/memory-controller.json (same in amdzen5)")
AMD_UMC_WRITE = TermsEvent(
    "umc_cas_cmd.wr", (("event", 0x0A), ("rdwrmask", 2)),
    source="tools/perf/pmu-events/arch/x86/amdzen4/memory-controller.json (same in amdzen5)")
AMD_UMC_ACCURACY = "exact: CAS read/write commands per UMC channel; 64 bytes per CAS"
AMD_UMC_MIN_KERNEL = "6.7"

# AMD Zen 2/3 Data Fabric, PMU amd_df: "DRAM Channel Controller Request Types: Requests with
# Data (64B)", reads and writes together. EventCode 0x07 + 0x40*N, UMask 0x38, N = 0..7.
AMD_DF_PMU = "amd_df"
AMD_DF_CHANNEL_EVENTS: tuple[TermsEvent, ...] = tuple(
    TermsEvent(
        f"dram_channel_data_controller_{channel}",
        (("event", 0x07 + 0x40 * channel), ("umask", 0x38)),
        source="tools/perf/pmu-events/arch/x86/amdzen3/data-fabric.json (and amdzen2)")
    for channel in range(8)
)
# The legacy (Zen 1-3) DF event format; Zen 4+ PerfMonV2 uses config:0-7,32-37 and other events.
AMD_DF_LEGACY_EVENT_FORMAT = "config:0-7,32-35,59-60"
AMD_DF_COUNTERS = 4  # NUM_COUNTERS_NB in arch/x86/events/amd/uncore.c
AMD_DF_ACCURACY = ("approximate: DF channel requests with data, reads and writes together; "
                   "8 channel events share 4 counters so each is multiplexed and scaled by "
                   "time_enabled/time_running")

# resctrl Memory Bandwidth Monitoring (Documentation/filesystems/resctrl.rst).
RESCTRL_MOUNT = "sys/fs/resctrl"
RESCTRL_MOUNT_COMMAND = "sudo mount -t resctrl resctrl /sys/fs/resctrl"
RESCTRL_CPU_FLAGS = ("cqm_mbm_total", "cqm_mbm_local")
RESCTRL_TOTAL_FILE = "mbm_total_bytes"
RESCTRL_LOCAL_FILE = "mbm_local_bytes"
RESCTRL_ACCURACY = ("per-task attribution: L3-external traffic of every resctrl group's RMIDs, "
                    "summed over groups and L3 domains; no read/write split; device DMA not included")

# RAPL energy counters.
# perf "power" PMU: arch/x86/events/rapl.c (Intel and AMD); event name -> series domain.
RAPL_PERF_EVENTS: tuple[tuple[str, str], ...] = (
    ("energy-pkg", "package"),
    ("energy-cores", "cores"),
    ("energy-ram", "dram"),
    ("energy-psys", "psys"),
    ("energy-gpu", "gpu"),
)
# powercap: drivers/powercap/intel_rapl_common.c zone names -> series domain.
# Package zones are named "package-N"; sub-zones "core", "uncore", "dram"; platform zone "psys".
POWERCAP_ZONE_DOMAINS: tuple[tuple[str, str], ...] = (
    ("package", "package"),
    ("core", "cores"),
    ("uncore", "gpu"),
    ("dram", "dram"),
    ("psys", "psys"),
)
POWERCAP_DIR = "sys/class/powercap"
POWERCAP_ZONE_PATTERN = r"intel-rapl(-mmio)?:\d+(:\d+)?"
# CVE-2020-8694 (PLATYPUS) made energy_uj readable by root only.
POWERCAP_PERMISSION_FIX = ("run PerfDeck as root, or allow reading the counters: "
                           "`sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj "
                           "/sys/class/powercap/intel-rapl:*:*/energy_uj` (resets at boot; "
                           "a udev rule makes it permanent; this re-opens CVE-2020-8694)")

# How each source kind is named in messages ("<name>: <why not>").
SOURCE_NAMES = {
    "uncore": "memory-controller PMUs",
    "intel_imc": "Intel server IMC",
    "intel_imc_free_running": "Intel client IMC (free-running)",
    "intel_imc_client": "Intel client IMC",
    "intel_imc_adl": "Intel client IMC (Alder/Raptor Lake uncore_imc_N)",
    "amd_umc": "AMD UMC",
    "amd_df": "AMD data fabric",
    "resctrl": "resctrl MBM",
    "perf_rapl": "perf power PMU",
    "powercap": "powercap",
}


def source_name(kind: str) -> str:
    return SOURCE_NAMES.get(kind, kind)
