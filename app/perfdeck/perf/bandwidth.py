"""DRAM bandwidth: find the best source on this machine, and turn its counts into GB/s.

Sources, best first (see docs/memory-bandwidth.md):

1. Intel server IMC ``uncore_imc_N`` (``cas_count_read``/``cas_count_write`` per channel);
2. Intel client free-running ``uncore_imc_free_running_N`` (``data_read``/``data_write``);
3. Intel client ``uncore_imc`` (``data_reads``/``data_writes``);
4. AMD Zen 4+ ``amd_umc_N`` (CAS rd/wr built from format/ files);
5. AMD Zen 2/3 ``amd_df`` DRAM channel events (reads + writes together, multiplexed: approximate);
6. resctrl MBM (``/sys/fs/resctrl/.../mon_data/mon_L3_*/mbm_total_bytes``), per-task attribution.

Discovery (``discover_bandwidth``) only reads files. The arithmetic is pure: ``PerfBandwidthMath``
takes cumulative group samples (``perfdeck.perf.counters.GroupSample``) and ``ResctrlMath`` takes
file contents, so both are tested on replayed sequences. ``bandwidth_report`` is the JSON-ready
summary ``perfdeck doctor --json`` prints. GB/s here is DECIMAL (1e9 bytes/s), as perf, PCM and
likwid report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from perfdeck.model.series import CounterSpec, Kind, SeriesSpec, Unavailable
from perfdeck.perf import vendor_tables as vt
from perfdeck.perf.counters import DeltaTracker, EventSpec, GroupSample
from perfdeck.perf.pmu import EncodedConfig, Pmu, PmuError, package_of_cpu
from perfdeck.perf.system import SystemProbe, probe

Direction = Literal["read", "write", "total"]
GB = 1e9

_UNIT_BYTES = {"B": 1.0, "Bytes": 1.0, "KiB": 1024.0, "MiB": float(vt.MIB), "GiB": float(1 << 30),
               "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}

PRIVILEGE_FIX = ("`sudo sysctl kernel.perf_event_paranoid=0` (or run PerfDeck with CAP_PERFMON, "
                 "Linux >= 5.8)")


# ---------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class UncoreCounter:
    """One uncore event opened on one CPU (pid=-1), and what one count of it means."""

    pmu: str
    pmu_type: int
    event: str  # the sysfs event name, or the perf-JSON name for format-built events
    terms: tuple[tuple[str, int], ...]
    config: EncodedConfig
    cpu: int
    socket: int | None
    channel: str  # series instance, e.g. "socket1-imc3", "umc7", "socket0-df-ch5"
    direction: Direction
    bytes_per_count: float
    group: str  # counters with the same group key are opened as one kernel group

    @property
    def spec_name(self) -> str:
        """Unique name inside its group."""
        return f"{self.direction}:{self.event}"

    def event_spec(self) -> EventSpec:
        return EventSpec(self.spec_name, self.pmu_type, self.config.config, self.config.config1,
                         self.config.config2, pmu=self.pmu)


@dataclass(frozen=True)
class PerfBandwidthSource:
    """A perf_event uncore source: every counter to open, and how accurate the result is."""

    kind: str
    title: str
    accuracy: str
    approximate: bool
    split: bool  # True when reads and writes are measured separately
    counters: tuple[UncoreCounter, ...]
    notes: tuple[str, ...] = ()
    origin: str = ""  # where the vendor knowledge comes from

    @property
    def pmus(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.pmu for c in self.counters))

    @property
    def label(self) -> str:
        names = self.pmus
        shown = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]} ({len(names)} PMUs)"
        return f"{self.title} ({shown})"

    def groups(self) -> dict[str, list[UncoreCounter]]:
        """Counters by kernel group, in a stable order."""
        grouped: dict[str, list[UncoreCounter]] = {}
        for counter in self.counters:
            grouped.setdefault(counter.group, []).append(counter)
        return grouped


@dataclass(frozen=True)
class ResctrlSource:
    """resctrl MBM: the mount, its CTRL_MON groups and L3 domains found now."""

    mount: Path
    groups: tuple[str, ...]  # "" is the root group
    domains: tuple[str, ...]  # "mon_L3_00", ...
    has_local: bool
    kind: str = "resctrl"
    title: str = "resctrl memory bandwidth monitoring (MBM)"
    accuracy: str = vt.RESCTRL_ACCURACY
    approximate: bool = True
    split: bool = False
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.title} ({len(self.groups)} groups x {len(self.domains)} L3 domains)"


Source = PerfBandwidthSource | ResctrlSource


@dataclass(frozen=True)
class BandwidthDiscovery:
    """Every usable source, best first, and why the others are not usable."""

    sources: tuple[Source, ...]
    rejected: tuple[tuple[str, Unavailable], ...]
    privileged: bool  # perf uncore events can be opened (paranoid <= 0 or CAP_PERFMON/SYS_ADMIN)
    privilege_reason: Unavailable | None
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def usable(self) -> tuple[Source, ...]:
        """Sources this process can use, best first (perf sources only when privileged)."""
        return tuple(s for s in self.sources
                     if isinstance(s, ResctrlSource) or self.privileged)

    @property
    def best(self) -> Source | None:
        usable = self.usable
        return usable[0] if usable else None

    def unavailable(self) -> Unavailable:
        """Why no source can be used, with the most useful fix first."""
        if self.sources and not self.usable and self.privilege_reason is not None:
            present = ", ".join(s.label for s in self.sources)
            return Unavailable(f"{present} found, but {self.privilege_reason.reason}",
                               self.privilege_reason.fix)
        reasons = [f"{vt.source_name(kind)}: {why.reason}" for kind, why in self.rejected]
        fixes = [why.fix for _, why in self.rejected if why.fix]
        reason = "no DRAM bandwidth source here. " + ("; ".join(reasons) if reasons else "none found")
        return Unavailable(reason, "; or ".join(dict.fromkeys(fixes)))


# ---------------------------------------------------------------------------------- discovery


def bytes_per_count(scale: float | None, unit: str | None) -> float:
    """Bytes represented by one count: ``.scale`` in ``.unit`` (MiB for Intel), else one 64 B line."""
    if scale is None:
        return float(vt.CACHE_LINE_BYTES)
    factor = _UNIT_BYTES.get(unit or "")
    if factor is None:
        raise PmuError(f"unknown .unit {unit!r} for a bandwidth event")
    return scale * factor


def _pmu_index(name: str) -> str:
    match = re.search(r"_(\d+)$", name)
    return match.group(1) if match else "0"


def _short(name: str) -> str:
    return name.removeprefix("uncore_").removeprefix("amd_")


def _socket_prefix(socket: int | None, cpu: int) -> str:
    return f"socket{socket}" if socket is not None else f"cpu{cpu}"


def _matching(pmus: Mapping[str, Pmu], pattern: str) -> list[Pmu]:
    compiled = re.compile(pattern)
    found = [p for name, p in pmus.items() if compiled.fullmatch(name)]
    return sorted(found, key=lambda p: (len(p.name), p.name))


def _cpus_or_reason(pmu: Pmu) -> tuple[int, ...] | Unavailable:
    if pmu.cpus is None:
        return Unavailable(f"{pmu.name} has no cpumask file, so the CPU to open it on is unknown")
    if not pmu.cpus:
        return Unavailable(f"{pmu.name} has an empty cpumask: every CPU of its package is offline",
                           "bring a CPU of that package online (`echo 1 | sudo tee "
                           "/sys/devices/system/cpu/cpuN/online`)")
    return pmu.cpus


def _named_source(spec: vt.NamedEventSource, pmus: list[Pmu], root: Path
                  ) -> PerfBandwidthSource | Unavailable:
    counters: list[UncoreCounter] = []
    notes: list[str] = []
    for pmu in pmus:
        cpus = _cpus_or_reason(pmu)
        if isinstance(cpus, Unavailable):
            return cpus
        chosen: list[tuple[Direction, str]] = []
        for direction, names in (("read", spec.read_events), ("write", spec.write_events)):
            name = next((n for n in names if n in pmu.events), None)
            if name is None:
                have = ", ".join(sorted(pmu.events)) or "no events"
                return Unavailable(
                    f"{pmu.name} names no {'/'.join(names)} event (it has: {have}); this kernel "
                    "predates the named memory-controller events for this CPU",
                    "upgrade the kernel (named SPR/EMR IMC events need a recent one)")
            chosen.append((direction, name))
        for direction, name in chosen:
            event = pmu.events[name]
            try:
                config = pmu.encode_event(name)
                per_count = bytes_per_count(event.scale, event.unit)
            except PmuError as exc:
                return Unavailable(f"cannot encode {pmu.name}/{name}: {exc}")
            if abs(per_count - vt.CACHE_LINE_BYTES) > 1e-6:
                notes.append(f"{pmu.name}/{name}: the kernel's .scale means {per_count:g} bytes per count, "
                             "not 64 (older kernels had a wrong ICX/SNR scale)")
            for cpu in cpus:
                socket = package_of_cpu(cpu, root)
                counters.append(UncoreCounter(
                    pmu=pmu.name, pmu_type=pmu.type, event=name,
                    terms=tuple((k, v) for k, v in event.terms.items() if isinstance(v, int)),
                    config=config, cpu=cpu, socket=socket,
                    channel=f"{_socket_prefix(socket, cpu)}-{_short(pmu.name)}",
                    direction=direction, bytes_per_count=per_count, group=f"{pmu.name}@{cpu}"))
    return PerfBandwidthSource(spec.kind, spec.title, spec.accuracy, approximate=False, split=True,
                               counters=tuple(counters), notes=tuple(notes), origin=spec.source)


def _umc_source(pmus: list[Pmu], root: Path) -> PerfBandwidthSource | Unavailable:
    counters: list[UncoreCounter] = []
    for pmu in pmus:
        cpus = _cpus_or_reason(pmu)
        if isinstance(cpus, Unavailable):
            return cpus
        for direction, table_event in (("read", vt.AMD_UMC_READ), ("write", vt.AMD_UMC_WRITE)):
            try:
                config = pmu.encode(table_event.as_dict())
            except PmuError as exc:
                return Unavailable(f"cannot build {table_event.name} from {pmu.name}/format: {exc}")
            for cpu in cpus:
                socket = package_of_cpu(cpu, root)
                counters.append(UncoreCounter(
                    pmu=pmu.name, pmu_type=pmu.type, event=table_event.name, terms=table_event.terms,
                    config=config, cpu=cpu, socket=socket, channel=f"umc{_pmu_index(pmu.name)}",
                    direction=direction, bytes_per_count=float(vt.CACHE_LINE_BYTES),
                    group=f"{pmu.name}@{cpu}"))
    return PerfBandwidthSource("amd_umc", "AMD Unified Memory Controller CAS counts", vt.AMD_UMC_ACCURACY,
                               approximate=False, split=True, counters=tuple(counters),
                               origin=vt.AMD_UMC_READ.source)


def _df_source(pmu: Pmu, root: Path) -> PerfBandwidthSource | Unavailable:
    cpus = _cpus_or_reason(pmu)
    if isinstance(cpus, Unavailable):
        return cpus
    event_format = pmu.formats.get("event")
    if event_format is None or event_format.spec() != vt.AMD_DF_LEGACY_EVENT_FORMAT:
        shown = event_format.spec() if event_format else "missing"
        return Unavailable(
            f"amd_df has the event format {shown}, not the Zen 2/3 layout {vt.AMD_DF_LEGACY_EVENT_FORMAT}: "
            "this is a Zen 4+ data fabric, whose DRAM events differ; Zen 4+ bandwidth comes from amd_umc",
            f"use Linux >= {vt.AMD_UMC_MIN_KERNEL}, which adds the amd_umc_N PMUs")
    counters: list[UncoreCounter] = []
    for channel, table_event in enumerate(vt.AMD_DF_CHANNEL_EVENTS):
        try:
            config = pmu.encode(table_event.as_dict())
        except PmuError as exc:
            return Unavailable(f"cannot build {table_event.name} from amd_df/format: {exc}")
        for cpu in cpus:
            socket = package_of_cpu(cpu, root)
            counters.append(UncoreCounter(
                pmu=pmu.name, pmu_type=pmu.type, event=table_event.name, terms=table_event.terms,
                config=config, cpu=cpu, socket=socket,
                channel=f"{_socket_prefix(socket, cpu)}-df-ch{channel}", direction="total",
                bytes_per_count=float(vt.CACHE_LINE_BYTES),
                # One group per event: 8 events on 4 counters must rotate individually.
                group=f"{pmu.name}@{cpu}/{table_event.name}"))
    note = (f"{len(vt.AMD_DF_CHANNEL_EVENTS)} channel events share {vt.AMD_DF_COUNTERS} DF counters: "
            "each is counted part of the time and scaled")
    return PerfBandwidthSource("amd_df", "AMD Data Fabric DRAM channel requests", vt.AMD_DF_ACCURACY,
                               approximate=True, split=False, counters=tuple(counters), notes=(note,),
                               origin=vt.AMD_DF_CHANNEL_EVENTS[0].source)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def resctrl_groups(mount: Path) -> tuple[str, ...]:
    """The root group ("") and every CTRL_MON group that has mon_data.

    MON groups (``<group>/mon_groups/<name>``) are not listed: the kernel already adds their
    counts into their CTRL_MON group's files (``mon_event_count`` sums child RMIDs), so summing
    them again would double-count.
    """
    groups = [""] if (mount / "mon_data").is_dir() else []
    try:
        entries = sorted(mount.iterdir())
    except OSError:
        return tuple(groups)
    for entry in entries:
        if entry.name in ("info", "mon_data", "mon_groups") or not entry.is_dir():
            continue
        if (entry / "mon_data").is_dir():
            groups.append(entry.name)
    return tuple(groups)


def resctrl_domains(mount: Path) -> tuple[str, ...]:
    try:
        return tuple(sorted(p.name for p in (mount / "mon_data").iterdir() if p.name.startswith("mon_L3_")))
    except OSError:
        return ()


def _resctrl_source(root: Path, system: SystemProbe) -> ResctrlSource | Unavailable:
    mount = Path(root) / vt.RESCTRL_MOUNT
    features = _read(mount / "info/L3_MON/mon_features")
    if features is None:
        cpu_support = [f for f in vt.RESCTRL_CPU_FLAGS if f in system.cpu.flags]
        filesystems = _read(Path(root) / "proc/filesystems") or ""
        kernel_support = "resctrl" in filesystems.split()
        if cpu_support and kernel_support:
            return Unavailable("resctrl is supported by this CPU and kernel but not mounted",
                               vt.RESCTRL_MOUNT_COMMAND)
        if cpu_support:
            return Unavailable("the CPU supports memory bandwidth monitoring but the kernel has no "
                               "resctrl filesystem", "use a kernel built with CONFIG_X86_CPU_RESCTRL")
        return Unavailable("this CPU does not report memory bandwidth monitoring "
                           "(no cqm_mbm_total/cqm_mbm_local flag in /proc/cpuinfo)")
    if vt.RESCTRL_TOTAL_FILE not in features.split():
        return Unavailable("resctrl is mounted but info/L3_MON/mon_features does not list mbm_total_bytes")
    domains = resctrl_domains(mount)
    if not domains:
        return Unavailable("resctrl is mounted but mon_data has no mon_L3_* domains")
    return ResctrlSource(mount=mount, groups=resctrl_groups(mount), domains=domains,
                         has_local=vt.RESCTRL_LOCAL_FILE in features.split())


def _privilege(system: SystemProbe) -> tuple[bool, Unavailable | None]:
    """Whether uncore events can be opened: they are system-wide, so paranoid <= 0 or CAP_PERFMON."""
    if system.perfmon_capable or (system.euid == 0 and system.cap_eff is None):
        return True, None
    if system.paranoid is not None and system.paranoid <= 0:
        return True, None
    level = "unknown" if system.paranoid is None else str(system.paranoid)
    return False, Unavailable(
        f"uncore memory-controller counters are system-wide and kernel.perf_event_paranoid is {level} "
        "(they need <= 0, CAP_PERFMON or root)", PRIVILEGE_FIX)


def _no_uncore_reason(system: SystemProbe) -> Unavailable:
    if system.virt.vm:
        evidence = system.virt.vm_evidence[0] if system.virt.vm_evidence else system.virt.vm
        return Unavailable(f"none, because this is a virtual machine ({evidence}) and hypervisors "
                           "do not virtualise the uncore IMC/DF/UMC PMUs",
                           "measure on the host (bare metal), where the uncore PMUs exist")
    if system.cpu.is_amd:
        zen = system.cpu.amd_zen_generation
        if zen is not None and zen >= 4:
            return Unavailable(f"no amd_umc PMU: Zen {zen} memory-controller counters need Linux >= "
                               f"{vt.AMD_UMC_MIN_KERNEL}", f"upgrade to Linux >= {vt.AMD_UMC_MIN_KERNEL}")
        return Unavailable("no amd_df or amd_umc PMU: the kernel's AMD uncore driver is not loaded",
                           "`sudo modprobe amd-uncore`")
    if system.cpu.is_intel:
        return Unavailable("no uncore_imc PMU: the intel_uncore driver is not loaded or does not know "
                           "this CPU", "`sudo modprobe intel_uncore` (or upgrade the kernel)")
    return Unavailable("no known memory-controller PMU for this CPU")


def discover_bandwidth(root: Path = Path("/"), system: SystemProbe | None = None) -> BandwidthDiscovery:
    """Find every DRAM bandwidth source under ``root``, best first. Reads files only."""
    root = Path(root)
    system = system if system is not None else probe(root)
    pmus = system.pmus
    sources: list[Source] = []
    rejected: list[tuple[str, Unavailable]] = []
    for spec in vt.INTEL_NAMED_SOURCES:
        found = _matching(pmus, spec.pmu_pattern)
        if found:
            result = _named_source(spec, found, root)
            (rejected.append((spec.kind, result)) if isinstance(result, Unavailable)
             else sources.append(result))
    umcs = _matching(pmus, vt.AMD_UMC_PMU_PATTERN)
    if umcs:
        result = _umc_source(umcs, root)
        rejected.append(("amd_umc", result)) if isinstance(result, Unavailable) else sources.append(result)
    if vt.AMD_DF_PMU in pmus and not umcs:
        result = _df_source(pmus[vt.AMD_DF_PMU], root)
        rejected.append(("amd_df", result)) if isinstance(result, Unavailable) else sources.append(result)
    if not sources and not rejected:
        rejected.append(("uncore", _no_uncore_reason(system)))
    resctrl = _resctrl_source(root, system)
    rejected.append(("resctrl", resctrl)) if isinstance(resctrl, Unavailable) else sources.append(resctrl)
    privileged, privilege_reason = _privilege(system)
    facts = {"paranoid": system.paranoid, "perfmon_capable": system.perfmon_capable,
             "euid": system.euid, "virtual_machine": system.virt.vm}
    return BandwidthDiscovery(tuple(sources), tuple(rejected), privileged, privilege_reason, facts)


# ---------------------------------------------------------------------------------- series


Labels = tuple[tuple[str, str], ...]


def _spec(series_id: str, label: str, group: str, metric: str = "", labels: Labels = ()) -> SeriesSpec:
    return SeriesSpec(series_id, label, "GB/s", Kind.RATE, group=group, metric=metric, labels=labels)


def _channel_labels(counter: UncoreCounter) -> Labels:
    socket = (("socket", str(counter.socket)),) if counter.socket is not None else ()
    return (*socket, ("channel", counter.channel), ("pmu", counter.pmu))


def series_for(source: Source) -> dict[str, SeriesSpec]:
    """Every series a source produces (ids per docs/architecture.md).

    Exporter metrics (``SeriesSpec.metric``) are one per level, so a sum never mixes levels:
    ``membw.read.total``; ``membw.read.socket`` (label socket); ``membw.read.channel`` (labels
    socket, channel, pmu); resctrl ``membw.total.domain`` (label domain) and ``membw.group``.
    """
    specs: dict[str, SeriesSpec] = {}
    directions: tuple[Direction, ...] = ("read", "write") if source.split else ()

    def add(series_id: str, label: str, group: str, metric: str = "", labels: Labels = ()) -> None:
        specs[series_id] = _spec(series_id, label, group, metric, labels)

    for direction in directions:
        add(f"membw.{direction}.total", f"DRAM {direction} (all)", "membw.total")
    add("membw.total", "DRAM read+write (all)" if source.split else "DRAM traffic (all)", "membw.total")
    if isinstance(source, PerfBandwidthSource):
        sockets = sorted({c.socket for c in source.counters if c.socket is not None})
        for socket in sockets:
            where = (("socket", str(socket)),)
            for direction in directions:
                add(f"membw.{direction}.socket{socket}", f"DRAM {direction} socket {socket}", "membw.socket",
                    f"membw.{direction}.socket", where)
            add(f"membw.total.socket{socket}", f"DRAM total socket {socket}", "membw.socket",
                "membw.total.socket", where)
        for counter in {c.channel: c for c in source.counters}.values():
            channel = counter.channel
            for direction in directions or ("total",):
                add(f"membw.{direction}.{channel}", f"DRAM {direction} {channel}", "membw.channel",
                    f"membw.{direction}.channel", _channel_labels(counter))
        specs["membw.counted_pct"] = SeriesSpec("membw.counted_pct", "Counters running (multiplexing)",
                                                "%", Kind.GAUGE, group="membw.quality",
                                                value_range=(0.0, 100.0))
    else:
        for domain in source.domains:
            add(f"membw.total.{domain.lower()}", f"MBM {domain}", "membw.domain", "membw.total.domain",
                (("domain", domain.lower()),))
        for group in source.groups:
            name = group or "root"
            add(f"membw.group.{_safe(name)}", f"resctrl group {name}", "membw.group", "membw.group",
                (("resource", _safe(name)),))
        if source.has_local:
            add("membw.local.total", "DRAM local-node traffic (all)", "membw.total")
    return specs


def counter_specs_for(source: Source) -> dict[str, CounterSpec]:
    """Raw cumulative DRAM bytes behind the GB/s series (``membw.bytes.<direction>.<instance>``)."""
    specs: dict[str, CounterSpec] = {}
    for sid, spec in series_for(source).items():
        if spec.unit != "GB/s":
            continue
        cid = bytes_counter_id(sid)
        metric = bytes_counter_id(spec.metric_name)
        specs[cid] = CounterSpec(cid, metric, "B", f"{spec.label}: bytes since PerfDeck started counting",
                                 spec.labels)
    return specs


def bytes_counter_id(series_id: str) -> str:
    """``membw.read.socket0`` -> ``membw.bytes.read.socket0``; ``membw.total`` -> ``membw.bytes.total``."""
    return "membw.bytes." + series_id.removeprefix("membw.")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "root"


# ---------------------------------------------------------------------------------- arithmetic


class PerfBandwidthMath:
    """Cumulative uncore group samples -> GB/s per channel, per socket and in total.

    Each group's deltas are scaled by Δenabled/Δrunning (``counters.scale_delta``). bytes =
    scaled Δcount x bytes_per_count; GB/s = bytes / Δt / 1e9, Δt from the group's read times. An
    aggregate is None when any of its counters has no value this tick (first read, not counted,
    counter went backwards): a partial sum would be silently low.
    """

    def __init__(self, source: PerfBandwidthSource) -> None:
        self.source = source
        self._groups = source.groups()
        self._deltas = DeltaTracker()
        # Cumulative DRAM bytes per ``membw.bytes.*`` counter id (scaled counts x bytes per count).
        self.totals: dict[str, float] = {}

    def reset(self) -> None:
        self._deltas.clear()

    def update(self, samples: Mapping[str, GroupSample]) -> dict[str, float | None]:
        """``samples`` maps group key -> its latest sample; a missing group gives None values.

        Also adds this interval's bytes to ``totals`` (``membw.bytes.*`` counter ids), only for
        aggregates whose every counter has a value.
        """
        moved: dict[UncoreCounter, tuple[float, float] | None] = {}  # counter -> (bytes, seconds)
        ratios: list[float] = []
        for key, counters in self._groups.items():
            sample = samples.get(key)
            delta = self._deltas.update(key, sample) if sample is not None else None
            if sample is None:
                self._deltas.forget(key)
            if delta is not None and delta.ratio is not None:
                ratios.append(delta.ratio)
            for counter in counters:
                value = None if delta is None else delta.values.get(counter.spec_name)
                if value is None or delta is None or delta.elapsed_s <= 0:
                    moved[counter] = None
                else:
                    moved[counter] = (value * counter.bytes_per_count, delta.elapsed_s)
        out: dict[str, float | None] = {}
        by_key: dict[str, list[tuple[float, float] | None]] = {}
        for counter, item in moved.items():
            direction = counter.direction
            keys = [f"membw.{direction}.{counter.channel}"]
            if counter.socket is not None:
                keys.append(f"membw.{direction}.socket{counter.socket}")
            keys.append("membw.total" if direction == "total" else f"membw.{direction}.total")
            if direction != "total" and counter.socket is not None:
                keys.append(f"membw.total.socket{counter.socket}")
            if direction != "total":
                keys.append("membw.total")
            for key in keys:
                by_key.setdefault(key, []).append(item)
        for key, items in by_key.items():
            if not items or any(v is None for v in items):
                out[key] = None  # a partial sum would be silently low
                continue
            nbytes = sum(v[0] for v in items if v is not None)
            # Each counter's rate uses its own group's read interval; they are summed as rates.
            out[key] = sum(v[0] / v[1] for v in items if v is not None) / GB
            cid = bytes_counter_id(key)
            self.totals[cid] = self.totals.get(cid, 0.0) + nbytes
        out["membw.counted_pct"] = 100.0 * min(ratios) if ratios else None
        return out


def parse_resctrl_value(text: str | None) -> int | str:
    """An MBM file's content: an int, or the kernel's state word (``Unavailable``, ``Error``...)."""
    if text is None:
        return "unreadable"
    text = text.strip()
    if text.isdigit():
        return int(text)
    return text or "empty"


class ResctrlMath:
    """MBM byte counters -> GB/s, keyed by (group, domain, file).

    - A file that reads ``Unavailable``/``Error`` (or any non-number) is left out and reported.
    - A counter that goes backwards (group re-created, RMID reused) drops that tick for its
      aggregates and re-bases.
    - A group that appeared since the previous read contributes its whole count (the kernel
      starts a new group's counters at creation, which is inside the interval).
    - A group that disappeared loses its last interval, so that tick's totals are None.
    """

    def __init__(self, domains: Sequence[str]) -> None:
        self.domains = tuple(domains)
        self._last: dict[tuple[str, str, str], int] = {}
        self._last_time: float | None = None
        self._groups: set[str] | None = None
        self.problems: dict[str, str] = {}
        self.totals: dict[str, float] = {}  # cumulative bytes per ``membw.bytes.*`` counter id

    def update(self, now: float, values: Mapping[tuple[str, str, str], int | str]
               ) -> dict[str, float | None]:
        """``values`` maps (group, domain, file) to ``parse_resctrl_value`` results."""
        elapsed = None if self._last_time is None else now - self._last_time
        groups_now = {g for g, _, _ in values}
        new_groups = groups_now - self._groups if self._groups is not None else set()
        gone = (self._groups - groups_now) if self._groups is not None else set()
        self.problems = {}
        deltas: dict[tuple[str, str, str], int | None] = {}
        for key, value in values.items():
            group, domain, name = key
            if isinstance(value, str):
                self.problems[f"{group or 'root'}/{domain}/{name}"] = value
                self._last.pop(key, None)
                continue
            previous = self._last.get(key)
            self._last[key] = value
            if previous is None:
                deltas[key] = value if group in new_groups else None
            elif value < previous:
                self.problems[f"{group or 'root'}/{domain}/{name}"] = "counter went backwards (reset)"
                deltas[key] = None
            else:
                deltas[key] = value - previous
        for key in [k for k in self._last if k not in values]:
            del self._last[key]
        self._last_time = now
        self._groups = groups_now
        out: dict[str, float | None] = {}
        if elapsed is None or elapsed <= 0:
            return out

        def rate(items: list[int | None], key: str) -> float | None:
            if not items or any(v is None for v in items):
                return None
            nbytes = sum(v for v in items if v is not None)
            cid = bytes_counter_id(key)
            self.totals[cid] = self.totals.get(cid, 0) + nbytes
            return nbytes / elapsed / GB

        totals: list[int | None] = []
        local: list[int | None] = []
        per_domain: dict[str, list[int | None]] = {}
        per_group: dict[str, list[int | None]] = {}
        for (group, domain, name), delta in deltas.items():
            if name == vt.RESCTRL_TOTAL_FILE:
                totals.append(delta)
                per_domain.setdefault(domain, []).append(delta)
                per_group.setdefault(group, []).append(delta)
            elif name == vt.RESCTRL_LOCAL_FILE:
                local.append(delta)
        out["membw.total"] = None if gone else rate(totals, "membw.total")
        for domain, items in per_domain.items():
            key = f"membw.total.{domain.lower()}"
            out[key] = None if gone else rate(items, key)
        for group, items in per_group.items():
            key = f"membw.group.{_safe(group or 'root')}"
            out[key] = rate(items, key)
        if local:
            out["membw.local.total"] = None if gone else rate(local, "membw.local.total")
        return out


def read_resctrl(source: ResctrlSource) -> dict[tuple[str, str, str], int | str]:
    """Read every MBM file of every CTRL_MON group now present (groups come and go)."""
    files = [vt.RESCTRL_TOTAL_FILE] + ([vt.RESCTRL_LOCAL_FILE] if source.has_local else [])
    values: dict[tuple[str, str, str], int | str] = {}
    for group in resctrl_groups(source.mount):
        base = source.mount / group / "mon_data" if group else source.mount / "mon_data"
        for domain in resctrl_domains(source.mount):
            for name in files:
                path = base / domain / name
                if group and not (base / domain).is_dir():
                    continue
                values[(group, domain, name)] = parse_resctrl_value(_read(path))
    return values


# ---------------------------------------------------------------------------------- report


def _source_dict(source: Source) -> dict[str, Any]:
    info: dict[str, Any] = {"kind": source.kind, "title": source.title, "label": source.label,
                            "accuracy": source.accuracy, "approximate": source.approximate,
                            "read_write_split": source.split, "notes": list(source.notes)}
    if isinstance(source, PerfBandwidthSource):
        info["origin"] = source.origin
        pmus: dict[str, dict[str, Any]] = {}
        for counter in source.counters:
            entry = pmus.setdefault(counter.pmu, {"name": counter.pmu, "type": counter.pmu_type,
                                                  "cpus": [], "sockets": [], "events": {}})
            if counter.cpu not in entry["cpus"]:
                entry["cpus"].append(counter.cpu)
                entry["sockets"].append(counter.socket)
            entry["events"].setdefault(counter.event, {
                "name": counter.event, "direction": counter.direction, "terms": dict(counter.terms),
                "config": hex(counter.config.config), "config1": hex(counter.config.config1),
                "config2": hex(counter.config.config2), "bytes_per_count": counter.bytes_per_count,
            })
        info["pmus"] = [dict(p, events=list(p["events"].values())) for p in pmus.values()]
        info["fds"] = len(source.counters)
    else:
        info["mount"] = str(source.mount)
        info["groups"] = [g or "(root)" for g in source.groups]
        info["domains"] = list(source.domains)
        info["mbm_local"] = source.has_local
    return info


def bandwidth_report(root: Path = Path("/"), system: SystemProbe | None = None) -> dict[str, Any]:
    """JSON-serialisable summary for ``perfdeck doctor --json``. Reads files only, opens nothing.

    Keys: ``available`` (bool), ``source`` (the one that would be used, or None), ``candidates``
    (every source found, best first, each with PMU names/types, encoded configs in hex, CPUs and
    sockets), ``rejected`` (kind, reason, fix), ``privileged``, ``facts``, and ``reason``/``fix``
    when unavailable.
    """
    discovery = discover_bandwidth(root, system)
    best = discovery.best
    report: dict[str, Any] = {
        "available": best is not None,
        "source": _source_dict(best) if best is not None else None,
        "candidates": [_source_dict(s) for s in discovery.sources],
        "rejected": [{"kind": kind, "reason": why.reason, "fix": why.fix}
                     for kind, why in discovery.rejected],
        "privileged": discovery.privileged,
        "facts": dict(discovery.facts),
        "units": "GB/s = bytes / s / 1e9 (decimal); bytes = count x 64",
    }
    if best is None:
        why = discovery.unavailable()
        report["reason"] = why.reason
        report["fix"] = why.fix
    else:
        report["summary"] = f"{best.label}; accuracy: {best.accuracy}"
    if best is not None and discovery.privilege_reason is not None:
        report["note"] = ("perf uncore sources were skipped: " + discovery.privilege_reason.reason
                          + f" (fix: {discovery.privilege_reason.fix})")
    return report
