"""RAPL power: the perf ``power`` PMU first, ``/sys/class/powercap`` zones as the fallback.

perf ``power`` PMU (arch/x86/events/rapl.c, Intel and AMD)
    events ``energy-pkg``, ``energy-cores``, ``energy-ram``, ``energy-psys`` (``energy-gpu``)
    with ``.scale`` in Joules per count (2^-32 J) and ``.unit`` ``Joules``; opened system-wide
    (pid=-1) on the ``cpumask`` CPUs, one per package. The kernel extends the 32-bit MSRs to 64
    bits, so there is no wrap to handle. Needs perf_event_paranoid <= 0 or CAP_PERFMON.
powercap (drivers/powercap/intel_rapl_common.c, also used for AMD)
    ``intel-rapl:N/energy_uj`` (package-N), ``intel-rapl:N:M`` (core, uncore, dram),
    ``intel-rapl:1`` (psys on many laptops); cumulative micro-joules that wrap at
    ``max_energy_range_uj``. Mode 0400 since CVE-2020-8694: root only, unless an admin relaxes it.

Watts = ΔJoules / Δt. Discovery reads files only; ``EnergyMath`` is pure and is tested on
replayed sequences (including wrap).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfdeck.model.series import CounterSpec, Kind, SeriesSpec, Unavailable
from perfdeck.perf import vendor_tables as vt
from perfdeck.perf.counters import EventSpec
from perfdeck.perf.pmu import EncodedConfig, Pmu, PmuError, package_of_cpu
from perfdeck.perf.system import SystemProbe, probe

POWER_PMU = "power"


@dataclass(frozen=True)
class RaplEvent:
    """One perf RAPL event on one CPU (one package)."""

    event: str  # energy-pkg ...
    domain: str  # package, cores, dram, psys, gpu
    pmu_type: int
    config: EncodedConfig
    cpu: int
    socket: int | None
    joules_per_count: float

    @property
    def series_id(self) -> str:
        return series_id(self.domain, self.socket)

    def event_spec(self) -> EventSpec:
        return EventSpec(self.event, self.pmu_type, self.config.config, self.config.config1,
                         self.config.config2, pmu=POWER_PMU)


@dataclass(frozen=True)
class PowercapZone:
    """One powercap RAPL zone directory."""

    path: Path
    name: str  # as in the ``name`` file: package-0, core, uncore, dram, psys
    domain: str
    socket: int | None
    max_range_uj: int | None

    @property
    def series_id(self) -> str:
        return series_id(self.domain, self.socket)


@dataclass(frozen=True)
class PerfRaplSource:
    events: tuple[RaplEvent, ...]
    kind: str = "perf_rapl"
    title: str = "RAPL energy counters via the perf power PMU"

    @property
    def label(self) -> str:
        return f"{self.title} ({', '.join(dict.fromkeys(e.event for e in self.events))})"


@dataclass(frozen=True)
class PowercapSource:
    zones: tuple[PowercapZone, ...]
    kind: str = "powercap"
    title: str = "RAPL energy counters via /sys/class/powercap"

    @property
    def label(self) -> str:
        return f"{self.title} ({', '.join(z.path.name for z in self.zones)})"


PowerSource = PerfRaplSource | PowercapSource


@dataclass(frozen=True)
class PowerDiscovery:
    sources: tuple[PowerSource, ...]  # usable here, best first
    rejected: tuple[tuple[str, Unavailable], ...]
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> PowerSource | None:
        return self.sources[0] if self.sources else None

    def unavailable(self) -> Unavailable:
        return unavailable_from(self.rejected)


def unavailable_from(rejected: list[tuple[str, Unavailable]] | tuple[tuple[str, Unavailable], ...]
                     ) -> Unavailable:
    """One message for every RAPL source that could not be used, with every fix."""
    reasons = "; ".join(f"{vt.source_name(kind)}: {why.reason}" for kind, why in rejected) or "none found"
    fixes = list(dict.fromkeys(why.fix for _, why in rejected if why.fix))
    return Unavailable(f"no power (RAPL) readings. {reasons}", "; or ".join(fixes))


def series_id(domain: str, socket: int | None) -> str:
    if domain == "psys":
        return "power.psys"
    return f"power.{domain}.socket{socket if socket is not None else 0}"


def _labels(domain: str, socket: int | None) -> tuple[tuple[str, str], ...]:
    return () if domain == "psys" else (("socket", str(socket if socket is not None else 0)),)


def series_for(source: PowerSource) -> dict[str, SeriesSpec]:
    specs: dict[str, SeriesSpec] = {}
    items = source.events if isinstance(source, PerfRaplSource) else source.zones
    labels = {"package": "Package", "cores": "Cores", "dram": "DRAM", "psys": "Platform (psys)",
              "gpu": "Integrated GPU / uncore"}
    for item in items:
        sid = item.series_id
        where = "" if item.domain == "psys" else f" socket {item.socket or 0}"
        metric = sid if item.domain == "psys" else f"power.{item.domain}"
        specs[sid] = SeriesSpec(sid, f"{labels.get(item.domain, item.domain)}{where}", "W", Kind.RATE,
                                group=f"power.{item.domain}", metric=metric,
                                labels=_labels(item.domain, item.socket))
    return specs


def energy_counter_id(series_id: str) -> str:
    """``power.package.socket0`` -> ``power.energy.package.socket0`` (Joules)."""
    return "power.energy." + series_id.removeprefix("power.")


def counter_specs_for(source: PowerSource) -> dict[str, CounterSpec]:
    """Energy in Joules behind each Watts series."""
    out: dict[str, CounterSpec] = {}
    for sid, spec in series_for(source).items():
        cid = energy_counter_id(sid)
        out[cid] = CounterSpec(cid, energy_counter_id(spec.metric_name), "J",
                               f"{spec.label} energy since PerfDeck started counting (RAPL)", spec.labels)
    return out


# ---------------------------------------------------------------------------------- discovery


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def _perf_source(pmu: Pmu, root: Path) -> PerfRaplSource | Unavailable:
    present = [(name, domain) for name, domain in vt.RAPL_PERF_EVENTS if name in pmu.events]
    if not present:
        return Unavailable("the perf power PMU lists no energy-* events: the CPU (or the hypervisor) "
                           "does not expose RAPL energy counters")
    if not pmu.cpus:
        return Unavailable("the perf power PMU has no CPU in its cpumask")
    events: list[RaplEvent] = []
    for name, domain in present:
        event = pmu.events[name]
        if event.unit not in (None, "Joules"):
            return Unavailable(f"power/{name} has unit {event.unit!r}, not Joules")
        try:
            config = pmu.encode_event(name)
        except PmuError as exc:
            return Unavailable(f"cannot encode power/{name}: {exc}")
        for cpu in pmu.cpus:
            events.append(RaplEvent(name, domain, pmu.type, config, cpu, package_of_cpu(cpu, root),
                                    event.effective_scale))
            if domain == "psys":
                break  # platform-wide: one reading is the whole system
    return PerfRaplSource(tuple(events))


def powercap_zones(root: Path) -> list[PowercapZone]:
    """Every RAPL zone under ``sys/class/powercap`` with its domain and socket."""
    base = Path(root) / vt.POWERCAP_DIR
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return []
    zones: list[PowercapZone] = []
    pattern = re.compile(vt.POWERCAP_ZONE_PATTERN)
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        name = _read(entry / "name")
        if name is None:
            continue
        domain = next((d for prefix, d in vt.POWERCAP_ZONE_DOMAINS if name.startswith(prefix)), None)
        if domain is None:
            continue
        # intel-rapl:N[:M]: the package zone's name carries the package id ("package-1").
        package_name = name if ":" not in entry.name.split(":", 1)[1] else _read(
            base / ":".join(entry.name.split(":")[:2]) / "name")
        match = re.search(r"package-(\d+)", package_name or "")
        socket = int(match.group(1)) if match else None
        max_range = _read(entry / "max_energy_range_uj")
        zones.append(PowercapZone(entry, name, domain, socket if domain != "psys" else None,
                                  int(max_range) if max_range and max_range.isdigit() else None))
    return zones


def _powercap_source(root: Path, system: SystemProbe) -> PowercapSource | Unavailable:
    zones = powercap_zones(root)
    if not zones:
        if system.virt.vm:
            return Unavailable("no RAPL zones in /sys/class/powercap: this is a virtual machine and "
                               "the hypervisor does not expose RAPL", "measure on the host (bare metal)")
        return Unavailable("no RAPL zones in /sys/class/powercap",
                           "`sudo modprobe intel_rapl_msr` (Intel and AMD)")
    readable: list[PowercapZone] = []
    denied: list[str] = []
    for zone in zones:
        try:
            (zone.path / "energy_uj").read_text()
        except PermissionError:
            denied.append(zone.path.name)
            continue
        except OSError:
            continue
        readable.append(zone)
    if not readable:
        if denied:
            return Unavailable(f"permission denied reading energy_uj of {', '.join(denied)} "
                               "(root-only since CVE-2020-8694)", vt.POWERCAP_PERMISSION_FIX)
        return Unavailable("the powercap RAPL zones have no readable energy_uj")
    return PowercapSource(tuple(readable))


def _privileged(system: SystemProbe) -> bool:
    return (system.perfmon_capable or (system.euid == 0 and system.cap_eff is None)
            or (system.paranoid is not None and system.paranoid <= 0))


def discover_power(root: Path = Path("/"), system: SystemProbe | None = None) -> PowerDiscovery:
    """Find the RAPL sources usable here, best first. Reads files only."""
    root = Path(root)
    system = system if system is not None else probe(root)
    sources: list[PowerSource] = []
    rejected: list[tuple[str, Unavailable]] = []
    pmu = system.pmus.get(POWER_PMU)
    if pmu is None:
        rejected.append(("perf_rapl", Unavailable("absent (the kernel's RAPL perf driver is not loaded "
                                                   "or the CPU has no RAPL)")))
    else:
        perf = _perf_source(pmu, root)
        if isinstance(perf, Unavailable):
            rejected.append(("perf_rapl", perf))
        elif not _privileged(system):
            level = "unknown" if system.paranoid is None else str(system.paranoid)
            rejected.append(("perf_rapl", Unavailable(
                f"the perf power PMU is system-wide and kernel.perf_event_paranoid is {level}",
                "`sudo sysctl kernel.perf_event_paranoid=0` or run with CAP_PERFMON")))
        else:
            sources.append(perf)
    powercap = _powercap_source(root, system)
    (rejected.append(("powercap", powercap)) if isinstance(powercap, Unavailable)
     else sources.append(powercap))
    facts = {"paranoid": system.paranoid, "virtual_machine": system.virt.vm}
    return PowerDiscovery(tuple(sources), tuple(rejected), facts)


# ---------------------------------------------------------------------------------- arithmetic


class EnergyMath:
    """Cumulative energy (Joules, or micro-joules with a wrap range) -> Watts per key.

    The first read of a key gives None. A powercap counter that is lower than before wrapped
    at ``max_energy_range_uj``: Δ = max_range - previous + current. Without a known range a
    decrease cannot be interpreted, so that tick gives None and the key re-bases.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}
        self.joules: dict[str, float] = {}  # cumulative Joules per key since the first read

    def update(self, key: str, energy: float, now: float, wrap_range: float | None = None,
               to_joules: float = 1.0) -> float | None:
        previous = self._last.get(key)
        self._last[key] = (energy, now)
        if previous is None:
            return None
        last_energy, last_time = previous
        elapsed = now - last_time
        if elapsed <= 0:
            return None
        delta = energy - last_energy
        if delta < 0:
            if wrap_range is None or energy > wrap_range:
                return None
            delta = wrap_range - last_energy + energy
        self.joules[key] = self.joules.get(key, 0.0) + delta * to_joules
        return delta * to_joules / elapsed

    def forget(self, key: str) -> None:
        self._last.pop(key, None)


# ---------------------------------------------------------------------------------- report


def _source_dict(source: PowerSource) -> dict[str, Any]:
    if isinstance(source, PerfRaplSource):
        events = [{"event": e.event, "domain": e.domain, "series": e.series_id, "pmu": POWER_PMU,
                   "type": e.pmu_type, "config": hex(e.config.config), "cpu": e.cpu, "socket": e.socket,
                   "joules_per_count": e.joules_per_count} for e in source.events]
        return {"kind": source.kind, "title": source.title, "label": source.label, "events": events}
    zones = [{"zone": z.path.name, "name": z.name, "domain": z.domain, "series": z.series_id,
              "socket": z.socket, "max_energy_range_uj": z.max_range_uj} for z in source.zones]
    return {"kind": source.kind, "title": source.title, "label": source.label, "zones": zones}


def power_report(root: Path = Path("/"), system: SystemProbe | None = None) -> dict[str, Any]:
    """JSON-serialisable RAPL summary for ``perfdeck doctor --json``. Reads files only.

    Keys: ``available``, ``source`` (the one that would be used, or None), ``candidates``,
    ``rejected`` (kind, reason, fix), ``facts``, and ``reason``/``fix`` when unavailable.
    """
    discovery = discover_power(root, system)
    best = discovery.best
    report: dict[str, Any] = {
        "available": best is not None,
        "source": _source_dict(best) if best is not None else None,
        "candidates": [_source_dict(s) for s in discovery.sources],
        "rejected": [{"kind": k, "reason": w.reason, "fix": w.fix} for k, w in discovery.rejected],
        "facts": dict(discovery.facts),
        "units": "W = ΔJoules / Δs",
    }
    if best is None:
        why = discovery.unavailable()
        report["reason"] = why.reason
        report["fix"] = why.fix
    else:
        report["summary"] = best.label
    return report
