"""The event catalogue: generic hardware, hardware-cache and software events with exact encodings.

Names follow ``perf list``. Each event says which derived metrics (``perfdeck.perf.derived``)
need it. On hybrid Intel parts the hardware and cache events are opened once per core PMU
(``cpu_core`` = P-cores, ``cpu_atom`` = E-cores) with the PMU type in config[63:32]; see
``core_pmus`` and ``specs_for_cpu`` / ``specs_for_thread``.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from perfdeck.perf import abi
from perfdeck.perf.abi import PerfOpenError
from perfdeck.perf.counters import EventSpec

HARDWARE = "hardware"
CACHE = "cache"
SOFTWARE = "software"


@dataclass(frozen=True, slots=True)
class CatalogEvent:
    """One generic event: perf-style name, encoding, description and the metrics that use it."""

    name: str
    type: int
    config: int
    kind: str  # HARDWARE, CACHE or SOFTWARE
    description: str
    needed_by: tuple[str, ...] = ()

    def spec(self, pmu: CorePmu | None = None) -> EventSpec:
        """The EventSpec to open, on a specific hybrid core PMU when ``pmu`` is given."""
        config = self.config
        pmu_name = ""
        if pmu is not None and self.kind in (HARDWARE, CACHE):
            if pmu.extended_type:
                config |= pmu.type << abi.PERF_PMU_TYPE_SHIFT
            pmu_name = pmu.name
        return EventSpec(self.name, self.type, config, pmu=pmu_name)


def _cache(cache: int, op: int, result: int) -> int:
    return abi.hw_cache_config(cache, op, result)


_R, _ACC, _MISS = abi.PERF_COUNT_HW_CACHE_OP_READ, abi.PERF_COUNT_HW_CACHE_RESULT_ACCESS, \
    abi.PERF_COUNT_HW_CACHE_RESULT_MISS
_HW, _HC, _SW = abi.PERF_TYPE_HARDWARE, abi.PERF_TYPE_HW_CACHE, abi.PERF_TYPE_SOFTWARE

CATALOGUE: tuple[CatalogEvent, ...] = (
    # Hardware (generic events mapped by the kernel to each CPU's own encoding).
    CatalogEvent("cycles", _HW, abi.PERF_COUNT_HW_CPU_CYCLES, HARDWARE,
                 "Core clock cycles while not halted",
                 ("ipc", "ghz", "active_ghz", "stall_frontend_pct", "stall_backend_pct")),
    CatalogEvent("instructions", _HW, abi.PERF_COUNT_HW_INSTRUCTIONS, HARDWARE,
                 "Instructions retired",
                 ("ipc", "l1d_mpki", "llc_mpki", "dtlb_mpki", "itlb_mpki")),
    CatalogEvent("ref-cycles", _HW, abi.PERF_COUNT_HW_REF_CPU_CYCLES, HARDWARE,
                 "Reference (constant-rate, unscaled by turbo) cycles while not halted", ("active_ghz",)),
    CatalogEvent("branches", _HW, abi.PERF_COUNT_HW_BRANCH_INSTRUCTIONS, HARDWARE,
                 "Branch instructions retired", ("branch_miss_pct",)),
    CatalogEvent("branch-misses", _HW, abi.PERF_COUNT_HW_BRANCH_MISSES, HARDWARE,
                 "Mispredicted branches retired", ("branch_miss_pct",)),
    CatalogEvent("stalled-cycles-frontend", _HW, abi.PERF_COUNT_HW_STALLED_CYCLES_FRONTEND, HARDWARE,
                 "Cycles the front end delivered no instructions", ("stall_frontend_pct",)),
    CatalogEvent("stalled-cycles-backend", _HW, abi.PERF_COUNT_HW_STALLED_CYCLES_BACKEND, HARDWARE,
                 "Cycles the back end could not accept instructions", ("stall_backend_pct",)),
    # Hardware cache: config = cache | op << 8 | result << 16.
    CatalogEvent("L1-dcache-loads", _HC, _cache(abi.PERF_COUNT_HW_CACHE_L1D, _R, _ACC), CACHE,
                 "Level-1 data cache read accesses", ("l1d_miss_pct",)),
    CatalogEvent("L1-dcache-load-misses", _HC, _cache(abi.PERF_COUNT_HW_CACHE_L1D, _R, _MISS), CACHE,
                 "Level-1 data cache read misses", ("l1d_miss_pct", "l1d_mpki")),
    CatalogEvent("LLC-loads", _HC, _cache(abi.PERF_COUNT_HW_CACHE_LL, _R, _ACC), CACHE,
                 "Last-level cache read accesses", ("llc_miss_pct",)),
    CatalogEvent("LLC-load-misses", _HC, _cache(abi.PERF_COUNT_HW_CACHE_LL, _R, _MISS), CACHE,
                 "Last-level cache read misses", ("llc_miss_pct", "llc_mpki")),
    CatalogEvent("dTLB-loads", _HC, _cache(abi.PERF_COUNT_HW_CACHE_DTLB, _R, _ACC), CACHE,
                 "Data TLB read lookups", ()),
    CatalogEvent("dTLB-load-misses", _HC, _cache(abi.PERF_COUNT_HW_CACHE_DTLB, _R, _MISS), CACHE,
                 "Data TLB read misses", ("dtlb_mpki",)),
    CatalogEvent("iTLB-load-misses", _HC, _cache(abi.PERF_COUNT_HW_CACHE_ITLB, _R, _MISS), CACHE,
                 "Instruction TLB misses", ("itlb_mpki",)),
    # Software (kernel-maintained; never multiplex, work in VMs).
    CatalogEvent("task-clock", _SW, abi.PERF_COUNT_SW_TASK_CLOCK, SOFTWARE,
                 "Time on CPU in ns (system-wide: wall time per CPU, idle included)", ("ghz",)),
    CatalogEvent("context-switches", _SW, abi.PERF_COUNT_SW_CONTEXT_SWITCHES, SOFTWARE,
                 "Context switches (always 0 when kernel counting is excluded)", ("ctx_switches",)),
    CatalogEvent("cpu-migrations", _SW, abi.PERF_COUNT_SW_CPU_MIGRATIONS, SOFTWARE,
                 "Moves of a task to another CPU", ("migrations",)),
    CatalogEvent("page-faults", _SW, abi.PERF_COUNT_SW_PAGE_FAULTS, SOFTWARE,
                 "Page faults (minor + major)", ("page_faults",)),
    CatalogEvent("minor-faults", _SW, abi.PERF_COUNT_SW_PAGE_FAULTS_MIN, SOFTWARE,
                 "Page faults served without I/O", ("minor_faults",)),
    CatalogEvent("major-faults", _SW, abi.PERF_COUNT_SW_PAGE_FAULTS_MAJ, SOFTWARE,
                 "Page faults that needed I/O", ("major_faults",)),
)

BY_NAME: dict[str, CatalogEvent] = {e.name: e for e in CATALOGUE}
HARDWARE_EVENTS = tuple(e for e in CATALOGUE if e.kind in (HARDWARE, CACHE))
SOFTWARE_EVENTS = tuple(e for e in CATALOGUE if e.kind == SOFTWARE)


def event(name: str) -> CatalogEvent:
    """A catalogue event by perf name; KeyError lists the known names."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown event {name!r}; known: {', '.join(BY_NAME)}") from None


# --- known quirks -----------------------------------------------------------------------------
# Why a generic event gives ENOENT on a CPU that does have a PMU. Sources: Linux
# arch/x86/events/amd/core.c (amd_zen*_perfmon_event_map: no ref-cycles before the Zen 4 map,
# no bus-cycles, stalled-cycles-backend removed for Zen 2+ in 2024) and the
# amd_hw_cache_event_ids_f17h table (every LL entry 0 -> ENOENT); arch/x86/events/intel/core.c
# (stalled-cycles-* mapped only on a few old cores such as Nehalem).
_AMD_QUIRKS: dict[str, str] = {
    "LLC-loads": "AMD Zen exposes no last-level-cache generic events (the L3 is counted by the amd_l3 PMU)",
    "LLC-load-misses": "AMD Zen exposes no last-level-cache generic events "
                       "(the L3 is counted by the amd_l3 PMU)",
    "ref-cycles": "AMD maps ref-cycles only from Zen 4 on, with a 2024 kernel",
    "stalled-cycles-backend": "AMD removed stalled-cycles-backend for Zen 2 and later",
}
_INTEL_QUIRKS: dict[str, str] = {
    "stalled-cycles-frontend": "Intel maps stalled-cycles-frontend only on a few old cores; "
                               "use TopDown metrics instead",
    "stalled-cycles-backend": "Intel maps stalled-cycles-backend only on a few old cores; "
                              "use TopDown metrics instead",
}


def known_quirk(name: str, vendor: str) -> str | None:
    """Why ``name`` is expected to be unsupported on this vendor's CPUs, or None."""
    if vendor in ("AuthenticAMD", "HygonGenuine"):
        return _AMD_QUIRKS.get(name)
    if vendor == "GenuineIntel":
        return _INTEL_QUIRKS.get(name)
    return None


# --- core PMUs (plain and hybrid) -------------------------------------------------------------

_HYBRID_LABELS = {"cpu_core": "P-cores", "cpu_atom": "E-cores", "cpu_lowpower": "LP E-cores"}


def pmu_label(pmu_name: str) -> str:
    """``cpu_atom`` -> "E-cores (cpu_atom)"; other names as they are."""
    label = _HYBRID_LABELS.get(pmu_name)
    return f"{label} ({pmu_name})" if label else pmu_name


@dataclass(frozen=True, slots=True)
class CorePmu:
    """A PMU that counts core events. ``extended_type`` means hybrid: put ``type`` in config[63:32]."""

    name: str
    type: int
    cpus: tuple[int, ...] | None
    extended_type: bool

    @property
    def label(self) -> str:
        base = _HYBRID_LABELS.get(self.name, "CPU")
        if self.cpus:
            return f"{base} ({_cpulist(self.cpus)})"
        return base


def _cpulist(cpus: Sequence[int]) -> str:
    """(0, 1, 2, 5) -> "0-2,5"."""
    parts: list[str] = []
    start = prev = None
    for cpu in sorted(cpus):
        if start is None:
            start = prev = cpu
        elif cpu == prev + 1:
            prev = cpu
        else:
            parts.append(f"{start}-{prev}" if start != prev else f"{start}")
            start = prev = cpu
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else f"{start}")
    return ",".join(parts)


def core_pmus(root: Path = Path("/")) -> list[CorePmu]:
    """The core PMUs here: hybrid ``cpu_core``/``cpu_atom``/``cpu_lowpower``, else plain ``cpu``.

    Empty when there is none (a VM without a virtual PMU). Uses ``perfdeck.perf.pmu`` for sysfs.
    """
    from perfdeck.perf.pmu import list_pmus  # local import: optional sysfs layer

    pmus = list_pmus(root)
    hybrid = [CorePmu(name, pmus[name].type, pmus[name].cpus, True)
              for name in ("cpu_core", "cpu_atom", "cpu_lowpower") if name in pmus]
    if hybrid:
        return hybrid
    if "cpu" in pmus:
        return [CorePmu("cpu", pmus["cpu"].type, pmus["cpu"].cpus, False)]
    # Arm and others register core PMUs under their own names; the generic encoding still works.
    return [CorePmu(name, p.type, p.cpus, False) for name, p in sorted(pmus.items())
            if name.startswith(("armv8_", "armv9_", "armv7_"))]


def specs_for_cpu(cpu: int, pmus: Sequence[CorePmu], events: Iterable[CatalogEvent] = CATALOGUE
                  ) -> list[EventSpec]:
    """EventSpecs for a per-CPU (system-wide) open: hardware events on the PMU owning ``cpu``."""
    owner: CorePmu | None = None
    for pmu in pmus:
        if pmu.cpus is None or cpu in pmu.cpus:
            owner = pmu
            break
    specs: list[EventSpec] = []
    for ev in events:
        if ev.kind == SOFTWARE:
            specs.append(ev.spec())
        elif owner is not None:
            specs.append(ev.spec(owner if owner.extended_type else None))
        else:
            specs.append(ev.spec())  # no PMU: open anyway so the kernel's ENOENT is reported
    return specs


def specs_for_thread(pmus: Sequence[CorePmu], events: Iterable[CatalogEvent] = CATALOGUE
                     ) -> list[EventSpec]:
    """EventSpecs for a per-thread open: on hybrid parts one copy per core PMU (summed later).

    Without the extended type a thread's hardware events would only count on the first PMU and
    miss all time spent on the other kind of core (reference §2.6).
    """
    specs: list[EventSpec] = []
    hybrid = [p for p in pmus if p.extended_type]
    for ev in events:
        if ev.kind != SOFTWARE and hybrid:
            specs.extend(ev.spec(p) for p in hybrid)
        else:
            specs.append(ev.spec())
    return specs


# --- try-open (used by the doctor) ------------------------------------------------------------

def try_open(spec: EventSpec, pid: int = 0, cpu: int = -1, *, exclude_kernel: bool = True
             ) -> PerfOpenError | None:
    """Open and immediately close one event; None when it works, else the error explaining why.

    Defaults count the calling thread in user space only, which every user may do at paranoid 2,
    so a failure means the event itself is unsupported (ENOENT) rather than a permission issue.
    """
    attr = abi.make_attr(spec.type, spec.config, spec.config1, spec.config2,
                         read_format=abi.PERF_FORMAT_TOTAL_TIME_ENABLED | abi.PERF_FORMAT_TOTAL_TIME_RUNNING,
                         exclude_kernel=exclude_kernel)
    try:
        fd = abi.perf_event_open(attr, pid, cpu)
    except PerfOpenError as exc:
        return exc
    abi.close_fd(fd)
    return None


def probe_catalogue(pmus: Sequence[CorePmu] | None = None, *, exclude_kernel: bool = True
                    ) -> dict[str, PerfOpenError | None]:
    """Try every catalogue event on the calling thread: {event name (+ "@pmu" if hybrid): error or None}."""
    pmus = list(pmus) if pmus is not None else []
    results: dict[str, PerfOpenError | None] = {}
    for spec in specs_for_thread(pmus):
        key = f"{spec.name}@{spec.pmu}" if spec.pmu else spec.name
        results[key] = try_open(spec, exclude_kernel=exclude_kernel)
    return results


def is_unsupported(err: PerfOpenError | None) -> bool:
    """True when the error means "this event does not exist here" rather than a permission issue."""
    return err is not None and err.errno in (errno.ENOENT, errno.EOPNOTSUPP)


# --- the reference clock behind ref-cycles -----------------------------------------------------

def reference_ghz(root: Path = Path("/")) -> tuple[float | None, str]:
    """The rate of ``ref-cycles`` in GHz, and where it comes from (or why it is unknown).

    Intel's ref-cycles is fixed counter 2, CPU_CLK_UNHALTED.REF_TSC: it ticks at the TSC rate,
    which is the nominal (base) clock, while the core is not halted. The base clock comes from
    cpufreq's ``base_frequency`` (intel_pstate, kHz), else from the "@ 2.60GHz" in the model name.
    Other vendors' ref-cycles rate is not documented here, so it is reported unknown.
    """
    from perfdeck.perf.counters import cpu_vendor  # counters imports this module's users only

    vendor = cpu_vendor(root)
    if vendor != "GenuineIntel":
        return None, (f"active GHz needs the rate of ref-cycles, which is known only for Intel "
                      f"(TSC rate); this CPU is {vendor or 'unknown'}")
    try:
        base = root / "sys/devices/system/cpu/cpu0/cpufreq/base_frequency"
        khz = int(base.read_text(encoding="utf-8", errors="replace").split()[0])
        return khz / 1e6, "cpufreq base_frequency"
    except (OSError, ValueError, IndexError):
        pass
    try:
        text = (root / "proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    match = re.search(r"model name\s*:.*@\s*([0-9.]+)\s*GHz", text)
    if match:
        return float(match.group(1)), "the model name"
    return None, ("active GHz needs the base clock (the rate of ref-cycles): neither "
                  "/sys/devices/system/cpu/cpu0/cpufreq/base_frequency nor the model name gives it")
