"""Hardware and software counters through perf_event_open: IPC, GHz, cache/TLB/branch misses, faults.

Two modes, the best one available is chosen at ``open``:

``system-wide``
    one group set per online CPU (pid=-1, cpu=N), kernel + user. Needs perf_event_paranoid <= 0,
    CAP_PERFMON or root. Series ``perf.<metric>.total`` and ``perf.<metric>.cpuN``.
``process``
    only when a target pid is given and system-wide is refused: every thread of that process
    (``perfdeck.perf.process.ProcessCounters``), user space only when unprivileged. Series
    ``perf.<metric>.total``.

Events the machine lacks (every hardware event in a VM without a virtual PMU) are reported as
unavailable with the kernel's reason, never as 0. Each tick costs one read() per group per CPU.
"""

from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from perfdeck.model.collector import Collector
from perfdeck.model.series import (
    CollectorUnavailableError,
    CounterSpec,
    Kind,
    Reading,
    SeriesSpec,
    Unavailable,
)
from perfdeck.perf import derived
from perfdeck.perf.abi import PerfOpenError, errno_message
from perfdeck.perf.counters import (
    Count,
    CounterBudget,
    CounterSet,
    DeltaTracker,
    EventSpec,
    GroupPlan,
    counter_budget,
    cpu_vendor,
    ensure_fd_budget,
    plan_groups,
)
from perfdeck.perf.events import (
    CATALOGUE,
    SOFTWARE,
    CatalogEvent,
    CorePmu,
    core_pmus,
    known_quirk,
    pmu_label,
    reference_ghz,
    specs_for_cpu,
    specs_for_thread,
    try_open,
)
from perfdeck.perf.process import ProcessCounters

log = logging.getLogger(__name__)

MODE_SYSTEM = "system-wide"
MODE_PROCESS = "process"

PRIVILEGE_FIX = ("sudo sysctl kernel.perf_event_paranoid=0 (or -1), or grant CAP_PERFMON "
                 "(Linux >= 5.8); your own processes can still be counted per process, user space only")
VM_FIX = ("give the guest a virtual PMU (QEMU/KVM: -cpu host with pmu=on; libvirt: <pmu state='on'/>; "
          "VMware: 'Virtualize CPU performance counters'; cloud: a bare-metal or PMU-enabled instance), "
          "or run on bare metal")
MULTIPLEX = "multiplex_pct"


def _sanitise(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name.lower())


@functools.lru_cache(maxsize=4096)
def counter_id(event: str, instance: str) -> str:
    """``perf.count.<event>.<instance>``: event names lower-cased, ``-`` kept (``l1-dcache-loads``).

    Cached: it is called for every event and CPU on every tick.
    """
    return f"perf.count.{_sanitise(event)}.{instance}"


def _metric_and_labels(series_id: str, instance: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``perf.ipc.cpu3`` is metric ``perf.ipc.cpu`` with label cpu=3; a total is its own metric."""
    if instance.startswith("cpu") and instance[3:].isdigit():
        return series_id[: -len(instance[3:])], (("cpu", instance[3:]),)
    return series_id, ()


def _virtual_machine_evidence(root: Path) -> str | None:
    """A short description of why this looks like a VM, or None (uses the environment probe)."""
    try:
        from perfdeck.perf.system import detect_virtualization

        virt = detect_virtualization(root)
    except Exception:  # the probe is optional here: fall back to the cpuinfo flag
        log.debug("virtualization probe failed", exc_info=True)
        try:
            flags = (root / "proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        return "the 'hypervisor' flag in /proc/cpuinfo" if " hypervisor" in flags else None
    if virt.vm is None:
        return None
    return f"{virt.vm}, from " + "; ".join(virt.vm_evidence)


def _paranoid(root: Path) -> str:
    try:
        path = root / "proc/sys/kernel/perf_event_paranoid"
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "unknown"


class PerfCollector(Collector):
    """Family ``perf``: counters per CPU (system-wide) or for one process.

    ``target_pid`` enables the per-process fallback when system-wide counting is refused.
    ``mode`` says which mode is in use after ``open``.
    """

    family = "perf"
    title = "Hardware counters"

    def __init__(self, root: Path = Path("/"), target_pid: int | None = None,
                 events: Sequence[CatalogEvent] = CATALOGUE) -> None:
        self.root = Path(root)
        self.target_pid = target_pid
        self.catalogue = tuple(events)
        self.mode: str | None = None
        self.pmus: list[CorePmu] = []
        self.event_unavailable: dict[str, Unavailable] = {}
        self._sets: list[CounterSet] = []
        self._process: ProcessCounters | None = None
        self._tracker = DeltaTracker()
        self._specs: Mapping[str, SeriesSpec] = MappingProxyType({})
        self._counter_specs: Mapping[str, CounterSpec] = MappingProxyType({})
        # Raw cumulative counts (scaled per interval, then added up) behind Reading.totals.
        self._totals: dict[str, float] = {}
        self._metric_unavailable: dict[str, Unavailable] = {}
        # Precomputed at each spec rebuild so a tick only does arithmetic on what can be counted.
        self._live_metrics: tuple[derived.Metric, ...] = ()
        self._series_unavailable: dict[str, Unavailable] = {}
        self._facts: dict[str, str] = {}
        self._cpus: tuple[int, ...] = ()
        self._plans: list[GroupPlan] = []
        # Hybrid: PMU name -> events that PMU cannot count (while another core type can).
        self.missing_on: dict[str, dict[str, Unavailable]] = {}
        self._ref_ghz: float | None = None
        self._ref_reason = ""
        # The read plan (_build_read_plan): series and counter ids per instance, laid out once.
        self._cpu_outputs: dict[int, tuple[tuple[tuple[str, str], ...], str | None]] = {}
        self._total_outputs: tuple[tuple[tuple[str, str], ...], str | None] = ((), None)
        self._cpu_cids: dict[int, tuple[tuple[str, str, bool], ...]] = {}
        self._total_cids: tuple[tuple[str, str, bool], ...] = ()
        self._hardware: frozenset[str] = frozenset()

    # --- opening ------------------------------------------------------------------------------
    def _probe_hardware(self) -> list[CatalogEvent]:
        """Try each hardware/cache event on this thread once; keep the ones that open.

        The probe uses user-space-only counting on the calling thread, which every user may do,
        so a failure here means the CPU/VM lacks the event, not a permission problem.
        """
        vendor = cpu_vendor(self.root)
        vm = _virtual_machine_evidence(self.root) if not self.pmus else None
        self.missing_on = {p.name: {} for p in self.pmus}
        supported: list[CatalogEvent] = []
        for event in self.catalogue:
            if event.kind == SOFTWARE:
                supported.append(event)
                continue
            specs = specs_for_thread(self.pmus, [event])
            failures = {s.pmu: e for s in specs if (e := try_open(s)) is not None}
            errors = list(failures.values())
            if len(errors) < len(specs):  # opens on at least one core PMU
                supported.append(event)
                # Hybrid: counted on one core type only (cpu_atom has no L1D read-miss event):
                # the other type's CPUs and every total say so instead of adding up a part.
                for pmu_name, err in failures.items():
                    label = pmu_label(pmu_name)
                    self.missing_on[pmu_name][event.name] = Unavailable(
                        f"not counted on {label}: {pmu_name} has no {event.name} event "
                        f"({err.errno_name or 'not supported'})")
                continue
            err = errors[0]
            if not self.pmus and err.errno == errno.ENOENT:
                if vm:
                    reason = (f"no hardware PMU: this is a virtual machine ({vm}); "
                              "perf_event_open gives ENOENT")
                    self.event_unavailable[event.name] = Unavailable(reason, VM_FIX)
                else:
                    reason = ("no core PMU under /sys/bus/event_source/devices: the kernel has no "
                              "counter driver for this CPU (perf_event_open gives ENOENT)")
                    self.event_unavailable[event.name] = Unavailable(reason)
            elif err.errno == errno.ENOENT:
                quirk = known_quirk(event.name, vendor)
                reason = f"{event.name} is not supported by this CPU"
                reason += f": {quirk}" if quirk else " (ENOENT)"
                self.event_unavailable[event.name] = Unavailable(reason)
            else:
                fix = PRIVILEGE_FIX if err.errno in (errno.EACCES, errno.EPERM) else ""
                self.event_unavailable[event.name] = Unavailable(errno_message(err.errno, event.name), fix)
        return supported

    def _build_sets(self, events: list[CatalogEvent], budget: CounterBudget) -> list[CounterSet]:
        """One CounterSet per core-PMU CPU class (one on non-hybrid machines), each with its plan."""
        classes: list[tuple[Sequence[int] | None, list[EventSpec]]] = []
        hybrid = [p for p in self.pmus if p.extended_type and p.cpus]
        if hybrid:
            for pmu in hybrid:
                assert pmu.cpus is not None
                missing = self.missing_on.get(pmu.name, {})
                mine = [e for e in events if e.name not in missing]
                classes.append((pmu.cpus, specs_for_cpu(pmu.cpus[0], [pmu], mine)))
        else:
            classes.append((None, specs_for_cpu(0, self.pmus, events)))
        self._plans = [plan_groups(specs, budget) for _, specs in classes]
        return [CounterSet([list(g) for g in plan.groups], root=self.root, cpus=cpus)
                for (cpus, _), plan in zip(classes, self._plans, strict=True)]

    def open(self) -> None:
        self.close()
        self.event_unavailable = {}
        try:
            self.pmus = core_pmus(self.root)
        except Exception:  # unreadable sysfs: behave as if there were no core PMU
            log.debug("core PMU discovery failed", exc_info=True)
            self.pmus = []
        budget = counter_budget(self.root)
        events = self._probe_hardware()
        self._ref_ghz, self._ref_reason = reference_ghz(self.root)
        sets = self._build_sets(events, budget)
        refused = self._open_system_wide(sets)
        if refused is None:
            self.mode = MODE_SYSTEM
            self._sets = sets
            self._cpus = tuple(sorted({c for s in sets for c in s.cpus}))
        else:
            for counter_set in sets:
                counter_set.close()
            if self.target_pid is None:
                if refused.errno not in (errno.EACCES, errno.EPERM):
                    raise CollectorUnavailableError(Unavailable(
                        f"system-wide counters could not be opened: {refused}"))
                paranoid = _paranoid(self.root)
                raise CollectorUnavailableError(Unavailable(
                    f"system-wide counters are not permitted (perf_event_paranoid is {paranoid}, "
                    f"{refused.errno_name})", PRIVILEGE_FIX))
            self._process = ProcessCounters(self.target_pid, events=events, root=self.root,
                                            pmus=self.pmus, per_group=budget.per_group)
            try:
                self._process.open()
            except PerfOpenError as exc:
                self._process = None
                raise CollectorUnavailableError(Unavailable(str(exc), PRIVILEGE_FIX)) from exc
            self.mode = MODE_PROCESS
            for name, why in self._process.unavailable_events().items():
                self.event_unavailable.setdefault(name, Unavailable(why))
        self._facts = {
            "mode": self._mode_text(),
            "core PMU": ", ".join(p.label + f" [{p.name}, type {p.type}]" for p in self.pmus) or "none",
            "counters per group": f"{budget.per_group} ({budget.reason})",
            "perf_event_paranoid": _paranoid(self.root),
        }
        self._build_specs()

    def _open_system_wide(self, sets: list[CounterSet]) -> PerfOpenError | None:
        """Open every set; return the error if the kernel refuses system-wide counting outright."""
        needed = sum(len(g) for s in sets for g in s.group_specs) * max(1, len(self._online()))
        fds = ensure_fd_budget(needed)
        if not fds.ok:
            self._shrink_to(sets, fds.available, fds.message)
        for counter_set in sets:
            counter_set.open()
        opened = any(s.groups for s in sets)
        errors = [e for s in sets for per_cpu in s.errors.values() for e in per_cpu.values()]
        if not opened:
            refusal = next((e for e in errors if e.errno in (errno.EACCES, errno.EPERM, errno.ENOSYS)), None)
            if refusal is not None:
                return refusal
            if errors:
                return errors[0]
            return PerfOpenError(errno.ENODEV, "no online CPU to count on")
        # Events that opened on no CPU at all are unavailable, with the kernel's reason.
        opened_names = {e.name for s in sets for g in s.groups.values() for e in g.events}
        for counter_set in sets:
            for per_cpu in counter_set.errors.values():
                for name, err in per_cpu.items():
                    if name not in opened_names and name not in self.event_unavailable:
                        self.event_unavailable[name] = Unavailable(str(err))
        for counter_set in sets:
            counter_set.enable()
        return None

    def _shrink_to(self, sets: list[CounterSet], available_fds: int, message: str) -> None:
        """Drop hardware groups (last first) until the fds fit; the dropped events say why."""
        ncpu = max(1, len(self._online()))
        while sum(len(g) for s in sets for g in s.group_specs) * ncpu > available_fds:
            victim = next((s for s in reversed(sets) if s.group_specs
                           and any(not e.is_software for e in s.group_specs[-1])), None)
            if victim is None:
                break
            for event in victim.group_specs.pop():
                self.event_unavailable[event.name] = Unavailable(message)

    def _online(self) -> tuple[int, ...]:
        from perfdeck.perf.counters import online_cpus

        return online_cpus(self.root)

    def _mode_text(self) -> str:
        if self.mode == MODE_SYSTEM:
            return "system-wide, every CPU, user + kernel"
        if self.mode == MODE_PROCESS and self._process is not None:
            scope = "user space only" if self._process.exclude_kernel else "user + kernel"
            return f"process {self.target_pid}, all threads, {scope}"
        return "not counting"

    # --- specs --------------------------------------------------------------------------------
    def _opened_events(self) -> set[str]:
        if self._process is not None:
            return self._process.opened_events
        return {e.name for s in self._sets for g in s.groups.values() for e in g.events}

    def _build_specs(self) -> None:
        specs: dict[str, SeriesSpec] = {}
        instances = ["total"] + ([f"cpu{c}" for c in self._cpus] if self.mode == MODE_SYSTEM else [])
        for metric in derived.METRICS:
            kind = Kind.RATE if metric.is_rate else Kind.GAUGE
            for inst in instances:
                where = "all CPUs" if inst == "total" else f"CPU {inst[3:]}"
                if self.mode == MODE_PROCESS:
                    where = f"process {self.target_pid}"
                group = f"perf.{metric.name}" if inst == "total" else f"perf.{metric.name}.cpu"
                sid = f"perf.{metric.name}.{inst}"
                label = f"{self._metric_label(metric)}, {where}"
                specs[sid] = SeriesSpec(sid, label, metric.unit, kind, group, metric.value_range,
                                        *_metric_and_labels(sid, inst))
        for inst in instances:
            where = "all CPUs" if inst == "total" else f"CPU {inst[3:]}"
            group = f"perf.{MULTIPLEX}" if inst == "total" else f"perf.{MULTIPLEX}.cpu"
            sid = f"perf.{MULTIPLEX}.{inst}"
            specs[sid] = SeriesSpec(sid, f"Hardware counters running, % of enabled time, {where}", "%",
                                    Kind.GAUGE, group, (0.0, 100.0), *_metric_and_labels(sid, inst))
        self._specs = MappingProxyType(specs)
        self._counter_specs = MappingProxyType(self._build_counter_specs(instances))
        self._metric_unavailable = self._unavailable_metrics()
        self._live_metrics = tuple(m for m in derived.METRICS if m.name not in self._metric_unavailable)
        self._series_unavailable = {sid: self._metric_unavailable[sid.split(".")[1]] for sid in specs
                                    if sid.split(".")[1] in self._metric_unavailable}
        self._series_unavailable.update(self._partial_series(specs))
        self._build_read_plan()

    def _metric_label(self, metric: derived.Metric) -> str:
        """Say what ``ghz`` is in this mode: it is not the clock frequency (``active_ghz`` is)."""
        if metric.name != "ghz":
            return metric.label
        if self.mode == MODE_PROCESS and self._process is not None and self._process.exclude_kernel:
            return ("User-space cycles per second on CPU (kernel time is in the denominator but not "
                    "in the cycles: below the clock)")
        if self.mode == MODE_PROCESS:
            return "Unhalted cycles per second on CPU (task-clock)"
        return "Unhalted cycles per wall-clock second per CPU (idle time counts as 0: not the clock)"

    def _partial_series(self, specs: Mapping[str, SeriesSpec]) -> dict[str, Unavailable]:
        """Hybrid: series of the core type that lacks an input event, and the totals it would cut.

        A total is complete or unavailable: P-core L1D misses over every core's instructions
        would be a number that means nothing (finding 3).
        """
        out: dict[str, Unavailable] = {}
        if self.mode != MODE_SYSTEM:
            return out
        for pmu in self.pmus:
            missing = self.missing_on.get(pmu.name, {})
            for metric in derived.METRICS:
                why = next((missing[n] for n in metric.inputs if n in missing), None)
                if why is None or metric.name in self._metric_unavailable:
                    continue
                for cpu in pmu.cpus or ():
                    sid = f"perf.{metric.name}.cpu{cpu}"
                    if sid in specs:
                        out[sid] = why
                total = f"perf.{metric.name}.total"
                if total in specs:
                    out[total] = Unavailable(f"no total for all CPUs: {why.reason}; see the per-CPU values "
                                             "of the other core type")
        return out

    def _unavailable_metrics(self) -> dict[str, Unavailable]:
        opened = self._opened_events()
        out: dict[str, Unavailable] = {}
        if self._ref_ghz is None and "cycles" in opened and "ref-cycles" in opened:
            out["active_ghz"] = Unavailable(self._ref_reason)
        for metric in derived.METRICS:
            missing = derived.missing_inputs(metric, opened)
            if missing:
                first = missing[0]
                why = self.event_unavailable.get(first, Unavailable(f"{first} is not counted"))
                out[metric.name] = Unavailable(f"{why.reason} (needs {', '.join(missing)})", why.fix)
        has_hardware = any(not e.is_software for s in self._sets for g in s.groups.values() for e in g.events)
        if self._process is not None:
            has_hardware = any(not e.is_software for gs in self._process.groups.values() for g in gs
                               for e in g.events)
        if not has_hardware:
            hw_reason = next((u for n, u in self.event_unavailable.items() if n == "cycles"),
                             Unavailable("no hardware event is counted"))
            out[MULTIPLEX] = Unavailable(f"no hardware counters to multiplex: {hw_reason.reason}",
                                         hw_reason.fix)
        return out

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def _build_counter_specs(self, instances: Sequence[str]) -> dict[str, CounterSpec]:
        """One raw cumulative counter per counted event and instance (``perf.count.<event>.<inst>``)."""
        out: dict[str, CounterSpec] = {}
        opened = self._opened_events()
        for event in self.catalogue:
            if event.name not in opened or event.name in self.event_unavailable_everywhere():
                continue
            unit = "s" if event.name == "task-clock" else ""
            what = "seconds on CPU (task-clock)" if unit == "s" else f"{event.name} events"
            for inst in instances:
                if self._event_partial_on(event.name, inst):
                    continue
                cid = counter_id(event.name, inst)
                where = "all CPUs" if inst == "total" else f"CPU {inst[3:]}"
                if self.mode == MODE_PROCESS:
                    where = f"process {self.target_pid}"
                metric, labels = _metric_and_labels(cid, inst)
                out[cid] = CounterSpec(cid, metric, unit, f"{event.description}: {what}, {where}, "
                                       "scaled by time_enabled/time_running", labels)
        return out

    def _event_partial_on(self, event: str, instance: str) -> bool:
        """True when ``event`` is not counted on that CPU, or (for the total) on some CPU."""
        for pmu in self.pmus:
            if event not in self.missing_on.get(pmu.name, {}):
                continue
            if instance == "total" or (instance[3:].isdigit() and int(instance[3:]) in (pmu.cpus or ())):
                return True
        return False

    def event_unavailable_everywhere(self) -> set[str]:
        """Events that are counted on no CPU (their raw totals are left out)."""
        return {name for name in self.event_unavailable if name not in self._opened_events()}

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return self._counter_specs

    # --- reading ------------------------------------------------------------------------------
    def _build_read_plan(self) -> None:
        """Lay out, once per spec rebuild (open, CPU hotplug, a metric found broken), what a tick
        writes: per instance the (metric, series id) pairs that can have a value, the multiplex
        series id (None when it is unavailable), and the raw counter id of each event. A tick
        then does arithmetic and dict stores only: no f-strings, no values made and dropped."""
        unavailable = self._series_unavailable
        events = [e.name for e in self.catalogue
                  if any(name == e.name for plan in self._plans for _pmu, name in plan.home)]

        def outputs(instance: str) -> tuple[tuple[tuple[str, str], ...], str | None]:
            pairs = tuple((m.name, sid) for m in self._live_metrics
                          if (sid := f"perf.{m.name}.{instance}") not in unavailable)
            mux = f"perf.{MULTIPLEX}.{instance}"
            return pairs, (None if mux in unavailable else mux)

        def cids(instance: str) -> tuple[tuple[str, str, bool], ...]:
            return tuple((e, counter_id(e, instance), e == "task-clock") for e in events)

        self._cpu_outputs = {cpu: outputs(f"cpu{cpu}") for cpu in self._cpus}
        self._total_outputs = outputs("total")
        self._cpu_cids = {cpu: cids(f"cpu{cpu}") for cpu in self._cpus}
        self._total_cids = cids("total")
        # Events that can multiplex; none on a machine without a PMU, so no ratio to work out.
        self._hardware = frozenset(self._hardware_names())

    def read(self, now: float) -> Reading:
        if self._process is not None:
            return self._read_process()
        for counter_set in self._sets:
            if counter_set.rescan_needed():
                for each in self._sets:
                    each.rescan()
                self._tracker.clear()
                self._cpus = tuple(sorted({c for s in self._sets for c in s.cpus}))
                self._build_specs()
                break
        tracker = self._tracker
        per_cpu: dict[int, dict[str, Count | None]] = {}
        seconds: dict[int, float] = {}
        for set_index, counter_set in enumerate(self._sets):
            by_cpu: dict[int, dict[int, dict[str, Count | None]]] = {}
            for (group_index, cpu), sample in counter_set.read().items():
                delta = tracker.update_counts((set_index, group_index, cpu), sample)
                if delta is None:
                    continue
                counts, enabled_ns = delta
                if cpu in by_cpu:
                    by_cpu[cpu][group_index] = counts
                else:
                    by_cpu[cpu] = {group_index: counts}
                # time_enabled of a system-wide event is exactly the counted wall interval; the
                # longest of a CPU's groups (max(), written out).
                counted_s = enabled_ns / 1e9
                if cpu not in seconds or counted_s > seconds[cpu]:
                    seconds[cpu] = counted_s
            plan = self._plans[set_index]
            for cpu, group_counts in by_cpu.items():
                per_cpu[cpu] = plan.select(group_counts)
        hardware = self._hardware
        live = self._live_metrics
        values: dict[str, float | None] = {}
        scaled_per_cpu: dict[int, dict[str, float | None]] = {}
        for cpu, counts in per_cpu.items():
            # Each count scaled once, for the raw totals and for the metrics.
            scaled_counts = scaled_per_cpu[cpu] = derived.scale_selection(counts)
            self._add_totals(self._cpu_cids[cpu] if cpu in self._cpu_cids else self._cids_for(f"cpu{cpu}"),
                             scaled_counts)
        for cpu in self._cpus:
            pairs, mux = self._cpu_outputs[cpu]
            counts = per_cpu.get(cpu)
            if counts:
                elapsed = seconds.get(cpu)
                metrics = derived.derive_scaled(scaled_per_cpu[cpu], elapsed, elapsed, live, self._ref_ghz)
                for name, sid in pairs:
                    values[sid] = metrics[name]
                ratio = derived.counted_ratio(counts, hardware) if hardware else None
            else:
                for _name, sid in pairs:
                    values[sid] = None
                ratio = None
            if mux is not None:
                values[mux] = None if ratio is None else ratio * 100
        if per_cpu and len(per_cpu) == len(self._cpus):
            # Raw counts and times of every CPU add up, then scale once (as perf stat -a).
            total = derived.merge_selections([per_cpu[c] for c in self._cpus])
            scaled_total = derived.scale_selection(total)
            self._add_totals(self._total_cids, scaled_total)
            if self._check_zero_loads(scaled_total):
                for sid in self._series_unavailable:  # this tick's per-CPU values of the metric too
                    values.pop(sid, None)
            interval = sum(seconds.values()) / len(seconds)
            metrics = derived.derive_scaled(scaled_total, interval, interval * len(per_cpu),
                                            self._live_metrics, self._ref_ghz)
            ratio = derived.counted_ratio(total, hardware) if hardware else None
        else:
            metrics, ratio = {}, None
        pairs, mux = self._total_outputs
        for name, sid in pairs:
            values[sid] = metrics.get(name)
        if mux is not None:
            values[mux] = None if ratio is None else ratio * 100
        totals = {cid: v for cid, v in self._totals.items() if cid in self._counter_specs}
        # Reading copies its mappings, so the kept unavailable map goes in as it is.
        return Reading(values=values, unavailable=self._series_unavailable, totals=totals)

    def _cids_for(self, instance: str) -> tuple[tuple[str, str, bool], ...]:
        """Counter ids of an instance outside the plan (not expected: every CPU read is planned)."""
        events = {name for plan in self._plans for _pmu, name in plan.home}
        return tuple((e, counter_id(e, instance), e == "task-clock") for e in sorted(events))

    def _add_totals(self, cids: Sequence[tuple[str, str, bool]], scaled_counts: Mapping[str, float | None]
                    ) -> None:
        """``_accumulate`` over precomputed counter ids: an event not counted adds nothing."""
        totals = self._totals
        for event, cid, is_task_clock in cids:
            if event not in scaled_counts:
                continue
            delta = scaled_counts[event]
            if delta is None:
                continue
            if is_task_clock:
                delta = delta / 1e9
            totals[cid] = totals[cid] + delta if cid in totals else 0.0 + delta

    def _hardware_names(self) -> set[str]:
        return {e.name for s in self._sets for g in s.groups.values() for e in g.events if not e.is_software}

    def _read_process(self) -> Reading:
        assert self._process is not None
        sample = self._process.read()
        self._accumulate("total", sample.deltas)
        self._check_zero_loads(sample.deltas)
        values: dict[str, float | None] = {f"perf.{k}.total": v for k, v in sample.metrics.items()}
        ratio = sample.counted_ratio
        values[f"perf.{MULTIPLEX}.total"] = None if ratio is None else ratio * 100
        return self._reading(values)

    def _check_zero_loads(self, counts: Mapping[str, float | None]) -> bool:
        """L1-dcache-loads that count nothing while instructions retire: the event does not work here.

        On AMD Zen 4 the generic L1-dcache-loads is raw event 0x0040, which perf's amdzen4 JSON no
        longer lists; it is reported (not confirmed here) to read 0 on Genoa. A CPU cannot retire
        millions of instructions without one data-cache load, so the miss % becomes unavailable
        for the rest of the run instead of "no value" every tick.
        """
        loads, instructions = counts.get("L1-dcache-loads"), counts.get("instructions")
        if loads != 0 or instructions is None or instructions < 1e6:
            return False
        if "l1d_miss_pct" in self._metric_unavailable:
            return False
        why = Unavailable(f"L1-dcache-loads counted 0 while {instructions:.3g} instructions retired: this "
                          "CPU's mapping of the generic event does not count "
                          "(reported for AMD Zen 4, raw 0x0040)")
        self._metric_unavailable["l1d_miss_pct"] = why
        self._live_metrics = tuple(m for m in self._live_metrics if m.name != "l1d_miss_pct")
        for sid in self._specs:
            if sid.startswith("perf.l1d_miss_pct."):
                self._series_unavailable[sid] = why
        self._build_read_plan()
        return True

    def _reading(self, values: dict[str, float | None]) -> Reading:
        """Values of the series that can be counted; the others listed with their reason, never 0."""
        for sid in self._series_unavailable:
            values.pop(sid, None)
        totals = {cid: v for cid, v in self._totals.items() if cid in self._counter_specs}
        return Reading(values=values, unavailable=dict(self._series_unavailable), totals=totals)

    def _accumulate(self, instance: str, deltas: Mapping[str, float | None]) -> None:
        """Add one interval's scaled counts to the raw totals; an event not counted adds nothing."""
        for event, delta in deltas.items():
            if delta is None:
                continue
            cid = counter_id(event, instance)
            self._totals[cid] = self._totals.get(cid, 0.0) + (delta / 1e9 if event == "task-clock" else delta)

    def static_facts(self) -> Mapping[str, str]:
        return dict(self._facts)

    def close(self) -> None:
        for counter_set in self._sets:
            counter_set.close()
        self._sets = []
        if self._process is not None:
            self._process.close()
            self._process = None
        self._tracker.clear()
        self._totals = {}
