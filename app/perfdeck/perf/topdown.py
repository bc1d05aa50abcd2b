"""Top-down microarchitecture analysis (TMA): which share of the pipeline's slots retired useful
work, and where the rest went. Discovery per CPU type, event groups, and the arithmetic.

Level 1 (% of pipeline slots): **retiring** (useful work), **bad speculation** (work thrown away
after a mispredicted branch or a machine clear), **frontend bound** (the front end delivered no
instruction for a free slot), **backend bound** (the back end had no room: waiting for memory or
for execution units). Level 2 splits each one (Intel Sapphire Rapids and later).

Sources, per CPU (the first that matches):

- ``intel-topdown``: Ice Lake and later (and ``cpu_core`` of hybrid parts). The kernel publishes
  ``slots`` and the ``topdown-*`` metric events in ``<pmu>/events/``; encodings are taken from
  there. Rules of the kernel (tools/perf/Documentation/topdown.txt): ``slots`` must lead the
  group, the metric events may only join a slots-led group, and reading resets the hardware
  metrics, so the whole group is read at once with ``PERF_FORMAT_GROUP`` (one read on the leader)
  and deltas of the kernel's accumulated counts are used. Each category is its count divided by
  the sum of the level 1 counts, as perf's ``tma_*`` metrics do, so level 1 adds up to 100 %.
- ``intel-atom``: the ``cpu_atom`` PMU of hybrid parts publishes ``topdown-retiring``,
  ``topdown-bad-spec``, ``topdown-fe-bound`` and ``topdown-be-bound`` as plain counters of slots;
  the share of each is its count over their sum.
- ``intel-skl-formula``: Skylake to Cascade Lake (no ``slots`` event): the classic 4-wide
  formulas from Intel's TMA method, with encodings from Intel's perfmon event files (as in perf's
  ``pmu-events/arch/x86/skylake*/*.json``): slots = 4 × cycles; frontend = IDQ_UOPS_NOT_DELIVERED.CORE
  / slots; bad speculation = (UOPS_ISSUED.ANY − UOPS_RETIRED.RETIRE_SLOTS + 4 ×
  INT_MISC.RECOVERY_CYCLES) / slots; retiring = UOPS_RETIRED.RETIRE_SLOTS / slots; backend = the rest.
  With SMT on, Intel's own formulas use per-core cycles; these per-thread ones are an approximation,
  and the doctor says so.
- ``amd-zen4``: Zen 4 and Zen 5, perf's ``amdzen4``/``amdzen5`` pipeline metrics
  (``pmu-events/arch/x86/amdzen4/recommended.json``): slots = 6 (Zen 5: 8) × ls_not_halted_cyc;
  frontend = de_no_dispatch_per_slot.no_ops_from_frontend, backend = ...backend_stalls, SMT
  contention = ...smt_contention, bad speculation = de_src_op_disp.all − ex_ret_ops, retiring =
  ex_ret_ops, each over slots. These come from independent counters, so they add up to about, not
  exactly, 100 %; the remainder is shown as it is, never forced.
- Zen 2 and Zen 3, other CPUs and VMs without a PMU: unavailable, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from perfdeck.model.series import Unavailable
from perfdeck.perf import abi
from perfdeck.perf.counters import EventSpec
from perfdeck.perf.pmu import Pmu, PmuError, list_pmus, online_cpus

LEVEL1 = ("retiring", "bad_speculation", "frontend_bound", "backend_bound")
LEVEL2 = ("light_operations", "heavy_operations", "branch_mispredicts", "machine_clears",
          "fetch_latency", "fetch_bandwidth", "core_bound", "memory_bound")
SMT_CONTENTION = "smt_contention"  # AMD only: slots lost to the other thread of the core
TITLES = {
    "retiring": "Retiring", "bad_speculation": "Bad speculation", "frontend_bound": "Frontend bound",
    "backend_bound": "Backend bound", SMT_CONTENTION: "SMT contention",
    "light_operations": "Light operations", "heavy_operations": "Heavy operations",
    "branch_mispredicts": "Branch mispredicts", "machine_clears": "Machine clears",
    "fetch_latency": "Fetch latency", "fetch_bandwidth": "Fetch bandwidth",
    "core_bound": "Core bound", "memory_bound": "Memory bound",
}
# One sentence each, shown next to the plot.
MEANINGS = {
    "retiring": "slots that did useful work: instructions that completed. High is good, but check the "
                "work itself (vectorise, better algorithms).",
    "bad_speculation": "slots spent on work thrown away: mispredicted branches and machine clears.",
    "frontend_bound": "slots the front end left empty: instruction cache or TLB misses, decoding limits.",
    "backend_bound": "slots the back end could not accept: waiting for memory (cache misses) or for "
                     "busy execution units.",
    SMT_CONTENTION: "slots lost because the other hardware thread of the same core was dispatching.",
}

# Intel's TMA level-1 and level-2 metric events, as named in sysfs (arch/x86/events/intel/core.c).
_INTEL_L1 = {"retiring": "topdown-retiring", "bad_speculation": "topdown-bad-spec",
             "frontend_bound": "topdown-fe-bound", "backend_bound": "topdown-be-bound"}
_INTEL_L2 = {"heavy_operations": "topdown-heavy-ops", "branch_mispredicts": "topdown-br-mispredict",
             "fetch_latency": "topdown-fetch-lat", "memory_bound": "topdown-mem-bound"}

# Skylake, Kaby/Coffee/Comet Lake, Skylake-SP and Cascade Lake (family 6); source: Intel perfmon
# SKL/SKX event files (perf: pmu-events/arch/x86/skylake/pipeline.json, frontend.json).
SKYLAKE_MODELS = frozenset({0x4E, 0x5E, 0x55, 0x8E, 0x9E, 0xA5, 0xA6})
SKYLAKE_EVENTS: dict[str, dict[str, int]] = {
    "uops_issued.any": {"event": 0x0E, "umask": 0x01},
    "uops_retired.retire_slots": {"event": 0xC2, "umask": 0x02},
    "idq_uops_not_delivered.core": {"event": 0x9C, "umask": 0x01},
    "int_misc.recovery_cycles": {"event": 0x0D, "umask": 0x01},
}
# AMD family 19h Zen 4 models (PPR for family 19h models 10h-1Fh, 60h-7Fh, A0h-AFh); family 1Ah is
# Zen 5. Source: perf pmu-events/arch/x86/amdzen4/pipeline.json and amdzen5/pipeline.json.
ZEN4_MODEL_RANGES = ((0x10, 0x1F), (0x60, 0x7F), (0xA0, 0xAF))
AMD_EVENTS: dict[str, dict[str, int]] = {
    "ls_not_halted_cyc": {"event": 0x76},
    "de_src_op_disp.all": {"event": 0xAA, "umask": 0x07},
    "ex_ret_ops": {"event": 0xC1},
    "de_no_dispatch_per_slot.no_ops_from_frontend": {"event": 0x1A0, "umask": 0x01},
    "de_no_dispatch_per_slot.backend_stalls": {"event": 0x1A0, "umask": 0x1E},
    "de_no_dispatch_per_slot.smt_contention": {"event": 0x1A0, "umask": 0x60},
}

VM_REASON = Unavailable("no hardware PMU here (a virtual machine without a virtual PMU), so pipeline slots "
                        "cannot be counted", "give the VM a virtual PMU (QEMU/KVM: -cpu host,pmu=on) or "
                        "run on bare metal")


@dataclass(frozen=True, slots=True)
class CpuId:
    vendor: str
    family: int
    model: int
    name: str


def read_cpuid(root: Path = Path("/")) -> CpuId | None:
    """Vendor, family and model of the first processor in ``/proc/cpuinfo``."""
    try:
        text = (Path(root) / "proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    try:
        return CpuId(fields.get("vendor_id", ""), int(fields.get("cpu family", "0")),
                     int(fields.get("model", "0")), fields.get("model name", ""))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class TmaPlan:
    """How TMA is measured on one set of CPUs: the events of one group (leader first), and how."""

    method: str  # "intel-topdown", "intel-atom", "intel-skl-formula", "amd-zen4"
    pmu: str
    cpus: tuple[int, ...]
    events: tuple[EventSpec, ...]
    level2: bool
    width: int  # dispatch slots per cycle, where the method needs it
    source: str  # where the encodings come from, for the doctor and the docs
    note: str = ""

    @property
    def categories(self) -> tuple[str, ...]:
        extra = (SMT_CONTENTION,) if self.method == "amd-zen4" else ()
        return LEVEL1 + extra + (LEVEL2 if self.level2 else ())


@dataclass(frozen=True, slots=True)
class TmaDiscovery:
    """The plans that cover this machine's CPUs, and why anything is not measured."""

    plans: tuple[TmaPlan, ...]
    unavailable: Unavailable | None  # the whole family
    notes: Mapping[str, str] = field(default_factory=dict)  # per CPU type: what is measured

    def plan_for(self, cpu: int) -> TmaPlan | None:
        return next((p for p in self.plans if cpu in p.cpus), None)


def _spec(pmu: Pmu, name: str, terms: Mapping[str, int] | None = None) -> EventSpec:
    encoded = pmu.encode(terms) if terms is not None else pmu.encode_event(name)
    return EventSpec(name, pmu.type, encoded.config, encoded.config1, encoded.config2, pmu=pmu.name)


def _cpus(pmu: Pmu, root: Path) -> tuple[int, ...]:
    return pmu.cpus if pmu.cpus else online_cpus(root)


def _intel_topdown(pmu: Pmu, root: Path) -> TmaPlan | None:
    if "slots" not in pmu.events or not all(e in pmu.events for e in _INTEL_L1.values()):
        return None
    level2 = all(e in pmu.events for e in _INTEL_L2.values())
    names = ["slots", *_INTEL_L1.values(), *(_INTEL_L2.values() if level2 else ())]
    events = tuple(_spec(pmu, name) for name in names)
    return TmaPlan("intel-topdown", pmu.name, _cpus(pmu, root), events, level2, 0,
                   f"{pmu.name}/events/ (kernel): slots-led group of {len(events)} events")


def _intel_atom(pmu: Pmu, root: Path) -> TmaPlan | None:
    if not all(e in pmu.events for e in _INTEL_L1.values()):
        return None
    events = tuple(_spec(pmu, name) for name in _INTEL_L1.values())
    return TmaPlan("intel-atom", pmu.name, _cpus(pmu, root), events, False, 0,
                   f"{pmu.name}/events/ (kernel): the four topdown-* slot counters",
                   "E-cores: level 1 from their own topdown events; no level 2")


def _cycles(pmu: Pmu) -> EventSpec:
    # The generic cycles event on this PMU (hybrid: its type in config[63:32] of a HARDWARE event).
    config = abi.PERF_COUNT_HW_CPU_CYCLES
    if pmu.name.startswith("cpu_"):
        config |= pmu.type << abi.PERF_PMU_TYPE_SHIFT
    return EventSpec("cycles", abi.PERF_TYPE_HARDWARE, config, pmu=pmu.name)


def _skylake(pmu: Pmu, root: Path) -> TmaPlan:
    events = (_cycles(pmu), *(_spec(pmu, name, terms) for name, terms in SKYLAKE_EVENTS.items()))
    return TmaPlan("intel-skl-formula", pmu.name, _cpus(pmu, root), events, False, 4,
                   "Intel perfmon SKL/SKX event files (perf pmu-events/arch/x86/skylake*): 4-wide formulas",
                   "per-thread formulas: with SMT on Intel uses per-core cycles, so shares are approximate")


def _amd(pmu: Pmu, root: Path, zen5: bool) -> TmaPlan:
    events = tuple(_spec(pmu, name, terms) for name, terms in AMD_EVENTS.items())
    generation = "amdzen5" if zen5 else "amdzen4"
    return TmaPlan("amd-zen4", pmu.name, _cpus(pmu, root), events, False, 8 if zen5 else 6,
                   f"perf pmu-events/arch/x86/{generation}/pipeline.json and recommended.json",
                   "AMD's categories come from separate counters and add up to about 100 %")


def discover_topdown(root: Path = Path("/")) -> TmaDiscovery:
    """Which TMA method works on which CPUs here, from sysfs and /proc/cpuinfo."""
    root = Path(root)
    pmus = list_pmus(root)
    cpuid = read_cpuid(root)
    hybrid = [pmus[n] for n in ("cpu_core", "cpu_atom") if n in pmus]
    try:
        if hybrid:
            plans: list[TmaPlan] = []
            notes: dict[str, str] = {}
            for pmu in hybrid:
                plan = _intel_topdown(pmu, root) or _intel_atom(pmu, root)
                if plan is None:
                    notes[pmu.name] = f"{pmu.name} publishes no topdown events in sysfs: not measured"
                    continue
                plans.append(plan)
                notes[pmu.name] = (f"{pmu.name}: level 1{' and 2' if plan.level2 else ''} from "
                                   f"{plan.source}" + (f"; {plan.note}" if plan.note else ""))
            if not plans:
                return TmaDiscovery((), Unavailable("no core PMU of this hybrid CPU publishes topdown events "
                                                    "(kernel too old?)", "Linux 5.16 or later"), notes)
            return TmaDiscovery(tuple(plans), None, notes)
        core = pmus.get("cpu")
        if core is None:
            return TmaDiscovery((), VM_REASON)
        plan = _intel_topdown(core, root)
        if plan is not None:
            return TmaDiscovery((plan,), None, {"cpu": f"level 1{' and 2' if plan.level2 else ''} from "
                                                       f"{plan.source}"})
        if cpuid is None:
            return TmaDiscovery((), Unavailable("/proc/cpuinfo cannot be read, so the CPU model is unknown"))
        if cpuid.vendor == "GenuineIntel" and cpuid.family == 6 and cpuid.model in SKYLAKE_MODELS:
            plan = _skylake(core, root)
            return TmaDiscovery((plan,), None, {"cpu": f"level 1 from {plan.source}; {plan.note}"})
        if cpuid.vendor == "AuthenticAMD":
            zen4 = cpuid.family == 0x19 and any(lo <= cpuid.model <= hi for lo, hi in ZEN4_MODEL_RANGES)
            zen5 = cpuid.family == 0x1A
            if zen4 or zen5:
                plan = _amd(core, root, zen5)
                return TmaDiscovery((plan,), None, {"cpu": f"level 1 and SMT contention from {plan.source}"})
            if cpuid.family in (0x17, 0x19):
                return TmaDiscovery((), Unavailable(
                    f"{cpuid.name or 'this AMD CPU'} (family {cpuid.family:#x}, model {cpuid.model:#x}: "
                    "Zen 2 or Zen 3) has no per-slot dispatch-stall events (de_no_dispatch_per_slot came "
                    "with Zen 4), so the top-down breakdown cannot be measured"))
        return TmaDiscovery((), Unavailable(
            f"no top-down method is known for {cpuid.name or 'this CPU'} (vendor {cpuid.vendor}, family "
            f"{cpuid.family:#x}, model {cpuid.model:#x}): the kernel publishes no slots event and no "
            "vendor table covers it"))
    except PmuError as exc:
        return TmaDiscovery((), Unavailable(f"the CPU's sysfs event files cannot be encoded: {exc}"))


def level1_events(plan: TmaPlan) -> tuple[EventSpec, ...]:
    """The events level 1 needs (the leader first): Intel's group without the level-2 metrics."""
    if plan.method == "intel-topdown":
        return plan.events[:1 + len(_INTEL_L1)]
    return plan.events


# --- arithmetic --------------------------------------------------------------------------------

def _share(part: float | None, whole: float) -> float | None:
    return None if part is None else 100.0 * part / whole


def compute(plan: TmaPlan, counts: Mapping[str, float | None]) -> dict[str, float] | None:
    """Category -> % of slots from the (multiplexing-scaled) event deltas of one interval.

    None when the interval has no slots (the CPU was idle, or the group was never scheduled in):
    there is nothing to break down, and 0 % everywhere would be invented.
    """
    if plan.method in ("intel-topdown", "intel-atom"):
        parts = {cat: counts.get(event) for cat, event in _INTEL_L1.items()}
        if any(v is None for v in parts.values()):
            return None
        total = sum(v for v in parts.values() if v is not None)
        if total <= 0:
            return None
        shares = {cat: 100.0 * (v or 0.0) / total for cat, v in parts.items()}
        if plan.level2:
            l2 = {cat: counts.get(event) for cat, event in _INTEL_L2.items()}
            if all(v is not None for v in l2.values()):
                heavy, mispredicts = l2["heavy_operations"] or 0.0, l2["branch_mispredicts"] or 0.0
                fetch_latency, memory = l2["fetch_latency"] or 0.0, l2["memory_bound"] or 0.0
                # Each level-2 pair splits its level-1 parent (perf's tma_* metrics); clamp at 0
                # because the 8-bit metric fractions can round a child above its parent.
                for name, value in (("heavy_operations", heavy), ("branch_mispredicts", mispredicts),
                                    ("fetch_latency", fetch_latency), ("memory_bound", memory)):
                    shares[name] = 100.0 * value / total
                shares["light_operations"] = max(0.0, shares["retiring"] - shares["heavy_operations"])
                shares["machine_clears"] = max(0.0, shares["bad_speculation"] - shares["branch_mispredicts"])
                shares["fetch_bandwidth"] = max(0.0, shares["frontend_bound"] - shares["fetch_latency"])
                shares["core_bound"] = max(0.0, shares["backend_bound"] - shares["memory_bound"])
        return shares
    if plan.method == "intel-skl-formula":
        cycles = counts.get("cycles")
        issued, retired = counts.get("uops_issued.any"), counts.get("uops_retired.retire_slots")
        not_delivered = counts.get("idq_uops_not_delivered.core")
        recovery = counts.get("int_misc.recovery_cycles")
        if cycles is None or cycles <= 0 or None in (issued, retired, not_delivered, recovery):
            return None
        slots = plan.width * cycles
        frontend = 100.0 * not_delivered / slots
        bad = 100.0 * max(0.0, issued - retired + plan.width * recovery) / slots
        retiring = 100.0 * retired / slots
        backend = max(0.0, 100.0 - frontend - bad - retiring)
        return {"retiring": retiring, "bad_speculation": bad, "frontend_bound": frontend,
                "backend_bound": backend}
    if plan.method == "amd-zen4":
        cycles = counts.get("ls_not_halted_cyc")
        needed = ("de_src_op_disp.all", "ex_ret_ops", "de_no_dispatch_per_slot.no_ops_from_frontend",
                  "de_no_dispatch_per_slot.backend_stalls", "de_no_dispatch_per_slot.smt_contention")
        if cycles is None or cycles <= 0 or any(counts.get(n) is None for n in needed):
            return None
        slots = plan.width * cycles
        retired = counts["ex_ret_ops"] or 0.0
        return {
            "retiring": 100.0 * retired / slots,
            "bad_speculation": 100.0 * max(0.0, (counts["de_src_op_disp.all"] or 0.0) - retired) / slots,
            "frontend_bound": 100.0 * (counts["de_no_dispatch_per_slot.no_ops_from_frontend"] or 0.0) / slots,
            "backend_bound": 100.0 * (counts["de_no_dispatch_per_slot.backend_stalls"] or 0.0) / slots,
            SMT_CONTENTION: 100.0 * (counts["de_no_dispatch_per_slot.smt_contention"] or 0.0) / slots,
        }
    return None


def combine(per_cpu: Mapping[int, tuple[TmaPlan, Mapping[str, float | None]]]) -> dict[str, float] | None:
    """Machine-wide shares: every CPU's category slots added up, over all slots.

    CPUs weigh by their slots (a busy CPU counts more than an idle one), as ``perf stat -a`` does.
    Categories measured on only some CPU types (level 2 on P-cores) are left out of the total.
    """
    weighted: dict[str, float] = {}
    seen: dict[str, int] = {}
    total_slots = 0.0
    for plan, counts in per_cpu.values():
        shares = compute(plan, counts)
        if shares is None:
            continue
        slots = slots_of(plan, counts)
        if not slots:
            continue
        total_slots += slots
        for category, share in shares.items():
            weighted[category] = weighted.get(category, 0.0) + share * slots
            seen[category] = seen.get(category, 0) + 1
    if total_slots <= 0:
        return None
    everywhere = max(seen.values())
    return {c: v / total_slots for c, v in weighted.items() if seen[c] == everywhere}


def slots_of(plan: TmaPlan, counts: Mapping[str, float | None]) -> float:
    """The pipeline slots of one interval (the denominator of every share)."""
    if plan.method in ("intel-topdown", "intel-atom"):
        return sum(counts.get(event) or 0.0 for event in _INTEL_L1.values())
    cycles = counts.get("cycles" if plan.method == "intel-skl-formula" else "ls_not_halted_cyc") or 0.0
    return plan.width * cycles
