"""Services and containers (family ``cgroup``): CPU, throttling, memory, IO, pressure and processes
per cgroup v2, with human names (see ``cgroup_tree``).

Every tick the whole v2 tree is read (bounded by ``cgroup_tree.MAX_CGROUPS``) into the table
``cgroups`` (``CgroupTable``) for the Services tab. Series, which go to history, recordings and the
exporter, are bounded: only the ``SERIES_LIMIT`` busiest cgroups by CPU get them, chosen again every
``RESELECT_SECONDS`` (so a series' label ``cgroup`` takes at most that many values at a time, plus
those that were busiest earlier and are kept in the history). The label value is the cgroup's path.

- CPU % is 100 per CPU (like ``top`` and the Processes tab), from ``cpu.stat`` ``usage_usec``.
- Throttled % is the share of wall time the cgroup was held back by its ``cpu.max`` quota.
- Memory is ``memory.current`` against ``memory.max`` ("max" is shown as "no limit").
- IO read/write B/s add up every device line of ``io.stat``.
- Pressure is % of wall time, as in the ``psi`` family, from ``{cpu,memory,io}.pressure``.
- Processes counts ``cgroup.procs`` of the cgroup itself; the tree view adds the children.
- Context switches/s, IPC and LLC miss % come from perf_event_open's cgroup mode
  (``perf.cgroup_counters``) for the busiest cgroups that its fd budget allows; they need
  system-wide counting permission, and IPC and miss % a hardware PMU.

On a hybrid host (v1 controllers plus a v2 mount without them) the columns that v1 holds are
unavailable with the reason; on a v1-only host the family is unavailable with the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from perfdeck.collectors.cgroup_tree import (
    MAX_CGROUPS,
    PRESSURE_RESOURCES,
    UNIFIED_FIX,
    CgroupLayout,
    CgroupSample,
    FileBudget,
    KeptCgroupFiles,
    ScannedCgroup,
    detect_layout,
    human_name,
    read_cgroup,
    scan,
    walk,
)
from perfdeck.collectors.psi import KIND_MEANINGS, RESOURCE_TITLES, StallRates
from perfdeck.model.collector import Collector, PublishedView
from perfdeck.model.rates import RateTracker
from perfdeck.model.series import (
    CollectorUnavailableError,
    CounterSpec,
    Kind,
    Reading,
    SeriesSpec,
    Unavailable,
)
from perfdeck.perf.topdown import TITLES as TMA_TITLES
from perfdeck.perf.topdown import TmaPlan, compute

TABLE = "cgroups"
SERIES_LIMIT = 12  # cgroups with series (history, CSV, exporter); the table shows every cgroup
RESELECT_SECONDS = 10.0
SLOW_FILES_EVERY = 5  # memory.max and cgroup.procs are read on every 5th read only (they rarely change)
# Interface files kept open between reads (pread instead of open/read/close): at most this many,
# and at most an eighth of the soft RLIMIT_NOFILE. Cgroups past the budget are read as before.
KEPT_FILES_MAX = 768
PRESSURE_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (r, k) for r in PRESSURE_RESOURCES for k in ("some", "full"))
_COLUMN_METRICS = {"cpu": ("cpu",), "throttled": ("throttled",), "memory": ("memory",),
                   "io": ("io_read", "io_write")}
_COUNTER_METRICS = ("cgroup.ctx_switches", "cgroup.ipc", "cgroup.llc_miss_pct", "cgroup.tma_retiring",
                    "cgroup.tma_bad_speculation", "cgroup.tma_frontend_bound", "cgroup.tma_backend_bound",
                    "cgroup.tma_smt_contention")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")

# Column -> (file it needs, controller that provides it)
COLUMN_SOURCES: dict[str, tuple[str, str]] = {
    "cpu": ("cpu.stat", "cpu"), "throttled": ("cpu.stat", "cpu"), "memory": ("memory.current", "memory"),
    "io": ("io.stat", "io"), "pressure": ("cpu.pressure", ""), "procs": ("cgroup.procs", ""),
}


def instance_name(path: str) -> str:
    """A series-id instance for a cgroup path: ``/system.slice/ssh.service`` -> ``system_slice-ssh_service``.
    """
    if path in ("", "/"):
        return "root"
    return _UNSAFE.sub("_", path.strip("/").replace("/", "-").replace(".", "_")) or "root"


@dataclass(frozen=True, slots=True)
class CgroupRow:
    """One cgroup as the Services tab shows it. Rates are None on the first read or when unreadable."""

    path: str
    parent: str | None
    name: str
    kind: str
    cpu_pct: float | None
    throttled_pct: float | None
    nr_throttled: int | None
    memory_current: int | None
    memory_max: int | None
    memory_unlimited: bool
    io_read_bps: float | None
    io_write_bps: float | None
    pressure: Mapping[tuple[str, str], float | None]
    procs: int | None
    series_instance: str | None  # set when this cgroup has series this tick
    missing: Mapping[str, Unavailable] = field(default_factory=dict)  # column -> why it is empty
    ctx_switches_ps: float | None = None  # perf cgroup mode, for the counted cgroups only
    ipc: float | None = None
    llc_miss_pct: float | None = None
    tma: Mapping[str, float] | None = None  # top-down level 1, % of the cgroup's slots


@dataclass(frozen=True, slots=True)
class CgroupTable:
    """Every cgroup this tick, parents first, and what the whole host cannot give."""

    layout: str
    rows: tuple[CgroupRow, ...]
    missing: Mapping[str, Unavailable]  # column -> why no cgroup has it here (hybrid hosts)
    truncated: bool
    counters: str = ""  # what the per-cgroup perf counters do here, one sentence


def _parent(path: str) -> str | None:
    if path == "/":
        return None
    head = path.rsplit("/", 1)[0]
    return head or "/"


class CgroupCollector(Collector):
    """Per-cgroup resource use from the cgroup v2 interface files."""

    family = "cgroup"
    title = "Services and containers"
    # Every 2 s (10 s while the Services tab is hidden, see gui/mainwindow.py): a Kubernetes node's
    # 300 cgroups cost ~10 ms per read (docs/services-and-containers.md).
    min_interval = 2.0

    def __init__(self, root: Path = Path("/"), series_limit: int = SERIES_LIMIT,
                 max_cgroups: int = MAX_CGROUPS, counters: bool = True,
                 pool_factory: Callable[[CgroupLayout, Path], PoolLike] | None = None,
                 kept_files: int | None = None) -> None:
        """``kept_files``: how many interface files may stay open (None: see ``KEPT_FILES_MAX``)."""
        self.root = Path(root)
        self._budget = FileBudget(_kept_files_limit() if kept_files is None else kept_files)
        self._kept: dict[str, KeptCgroupFiles] = {}  # by path relative to the mount
        self.series_limit = series_limit
        self.max_cgroups = max_cgroups
        self.layout: CgroupLayout | None = None
        self._rates = RateTracker()
        self._stalls = StallRates()
        self._selected: list[str] = []
        self._selected_at: float | None = None
        self._usage_at_selection: dict[str, int] = {}  # CPU µs per cgroup when the series were chosen
        self._reads = 0
        self._previous: dict[str, CgroupSample] = {}
        self._specs: dict[str, SeriesSpec] = {}
        self._counter_specs: dict[str, CounterSpec] = {}
        self._specs_view: PublishedView[SeriesSpec] = PublishedView()  # see specs()
        self._counters_view: PublishedView[CounterSpec] = PublishedView()
        self._unavailable: Unavailable | None = None
        self._host_missing: dict[str, Unavailable] = {}
        self._want_counters = counters
        self._pool_factory = pool_factory or _real_pool
        self._pool: PoolLike | None = None
        self._counter_reason: Unavailable | None = None  # why no cgroup is counted at all
        self._hardware_reason: Unavailable | None = None  # why IPC and miss % are not counted
        self._ctx_totals: dict[str, float] = {}

    def open(self) -> None:
        self.layout = detect_layout(self.root)
        if self.layout.v2_mount is None:
            if self.layout.mode == "legacy":
                self._unavailable = Unavailable(
                    "this host uses cgroup v1 only: PerfDeck reads services and containers from cgroup v2",
                    UNIFIED_FIX)
            else:
                self._unavailable = Unavailable(
                    "no cgroup filesystem is mounted (/proc/self/mounts lists none)",
                    "mount cgroup2 at /sys/fs/cgroup (systemd does this at boot)")
            raise CollectorUnavailableError(self._unavailable)
        self._host_missing = {}
        for column, controller in (("cpu", "cpu"), ("throttled", "cpu"), ("memory", "memory"), ("io", "io")):
            reason = self.layout.controller_reason(controller)
            # cpu.stat usage_usec exists without the cpu controller; throttling needs it.
            if reason is not None and column != "cpu":
                self._host_missing[column] = reason
        if self._want_counters:
            self._open_pool()

    def _open_pool(self) -> None:
        assert self.layout is not None
        try:
            self._pool = self._pool_factory(self.layout, self.root)
        except (OSError, ValueError) as exc:
            self._counter_reason = Unavailable(f"per-cgroup counters cannot be set up: {exc}")
            return
        self._hardware_reason = self._pool.hardware_reason
        if self._pool.max_cgroups == 0:
            self._counter_reason = Unavailable(
                f"one cgroup would need {self._pool.per_cgroup_fds} perf fds, more than the budget of "
                f"{self._pool.fd_budget}")
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        for kept in self._kept.values():
            self._budget.kept -= kept.close()
        self._kept = {}
    def unavailable(self) -> Unavailable | None:
        return self._unavailable

    def specs(self) -> Mapping[str, SeriesSpec]:
        # A change of series publishes a new dict, never an edit: see PublishedView.
        return self._specs_view.of(self._specs)

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return self._counters_view.of(self._counter_specs)

    def status(self) -> dict[str, Any]:
        return {"layout": self.layout.summary() if self.layout else None, "series_limit": self.series_limit,
                "selected": list(self._selected)}

    # --- reading ---------------------------------------------------------------------------------

    def read(self, now: float) -> Reading:
        if self.layout is None:
            self.open()
        assert self.layout is not None and self.layout.v2_mount is not None
        found, truncated = scan(self.layout.v2_mount, self.max_cgroups)
        slow_due = self._reads % SLOW_FILES_EVERY == 0
        previous = self._previous
        samples = [read_cgroup(c.directory, c.relative, None if slow_due else previous.get(c.relative),
                               c.files, self._reader(c)) for c in found]
        if self._kept:  # the kept files of cgroups that are gone are closed here
            for path in self._kept.keys() - {c.relative for c in found}:
                self._budget.kept -= self._kept.pop(path).close()
        self._previous = {sample.path: sample for sample in samples}
        rows: list[CgroupRow] = []
        live: set[str] = set()
        for sample in samples:
            rows.append(self._row(sample, now, live))
        self._rates.keep_only(live)
        self._stalls.keep_only(live)
        self._reads += 1
        self._reselect(rows, samples, now)
        self._count(rows, live)
        values, totals = self._series_values(rows, samples)
        table = CgroupTable(self.layout.mode, tuple(rows), dict(self._host_missing), truncated,
                            self._counters_sentence())
        # Columns the whole host cannot give (hybrid): said once per metric, for every cgroup.
        unavailable: dict[str, Unavailable] = {}
        for column, reason in self._host_missing.items():
            for metric in _COLUMN_METRICS[column]:
                unavailable[f"cgroup.{metric}"] = reason
        if truncated:
            unavailable["cgroup.tree"] = Unavailable(
                f"more than {self.max_cgroups} cgroups: the rest are not read, to bound the cost")
        return Reading(values=values, unavailable=unavailable, tables={TABLE: table}, totals=totals)

    def _reader(self, cgroup: ScannedCgroup) -> Callable[[str], str | None] | None:
        """Kept descriptors for this cgroup's files while the budget lasts (None: open/read/close)."""
        kept = self._kept.get(cgroup.relative)
        if kept is None or kept.inode != cgroup.inode:
            if kept is not None:  # removed and made again under the same path: a new cgroup
                self._budget.kept -= kept.close()
                del self._kept[cgroup.relative]
            if self._budget.kept >= self._budget.limit:
                return None
            kept = self._kept[cgroup.relative] = KeptCgroupFiles(cgroup.inode)
        return kept.reader(cgroup.directory, cgroup.files, self._budget)

    def _counters_sentence(self) -> str:
        if self._counter_reason is not None:
            return f"Per-cgroup counters unavailable: {self._counter_reason}"
        if self._pool is None:
            return "Per-cgroup counters are off."
        counted = min(self._pool.max_cgroups, self.series_limit)
        text = (f"Per-cgroup counters (perf_event_open cgroup mode) for the {counted} busiest "
                f"cgroups: {self._pool.per_cgroup_fds} fds each, within a budget of {self._pool.fd_budget}.")
        if self._hardware_reason is not None:
            text += f" IPC, LLC miss % and top-down unavailable: {self._hardware_reason.reason}"
        elif self._pool.tma_plan is not None:
            text += f" Top-down level 1 per cgroup: {self._pool.tma_plan.method} events as a second group."
        return text

    def _count(self, rows: list[CgroupRow], live: set[str]) -> None:
        """Per-cgroup perf counts for the selected (busiest) cgroups, within the pool's fd budget."""
        if self._pool is None:
            if self._want_counters:
                reason = self._counter_reason or Unavailable("per-cgroup counters are not open")
                for index, row in enumerate(rows):
                    rows[index] = replace(row, missing={**row.missing, "counters": reason})
            return
        self._pool.track(self._selected)  # at most max_cgroups of them (the fd budget)
        failures = self._pool.failures
        wanted = self._selected[:self._pool.max_cgroups]
        if wanted and all(p in failures for p in wanted):
            # Nothing can be counted (typically EACCES): say it once and stop trying every tick.
            self._counter_reason = next(iter(failures.values()))
            self._pool.close()
            self._pool = None
            # New mappings, never the published ones edited: the engine keeps its merged specs
            # while every collector's specs() returns the same object.
            self._specs = {sid: spec for sid, spec in self._specs.items()
                           if spec.metric not in _COUNTER_METRICS}
            self._counter_specs = {cid: c for cid, c in self._counter_specs.items()
                                   if c.metric != "cgroup.context_switches"}
            self._count(rows, live)  # marks every row with that reason
            return
        counts = self._pool.read()
        counted = min(self._pool.max_cgroups, self.series_limit)
        not_counted = Unavailable(
            f"only the {counted} busiest cgroups are counted (perf fd budget "
            f"{self._pool.fd_budget}: {self._pool.per_cgroup_fds} fds per cgroup)")
        for index, row in enumerate(rows):
            if row.path not in counts:
                reason = failures.get(row.path, not_counted)
                rows[index] = replace(row, missing={**row.missing, "counters": reason})
                continue
            delta = counts[row.path]
            live.add(f"{row.path}|ctx")
            if delta is None or delta.elapsed_s <= 0:
                continue
            values = delta.values
            switches = values.get("context-switches")
            if switches is not None:
                self._ctx_totals[row.path] = self._ctx_totals.get(row.path, 0.0) + switches
            cycles, instructions = values.get("cycles"), values.get("instructions")
            loads, misses = values.get("LLC-loads"), values.get("LLC-load-misses")
            missing = dict(row.missing)
            if self._hardware_reason is not None:
                missing["ipc"] = self._hardware_reason
            tma = compute(self._pool.tma_plan, values) if self._pool.tma_plan is not None else None
            if self._pool.tma_plan is None:
                missing["tma"] = self._hardware_reason or Unavailable(
                    "no top-down method for this CPU (see the Top-down tab)")
            rows[index] = replace(
                row, missing=missing, tma=tma,
                ctx_switches_ps=None if switches is None else switches / delta.elapsed_s,
                ipc=instructions / cycles if cycles and instructions is not None else None,
                llc_miss_pct=100.0 * misses / loads if loads and misses is not None else None)
        for path in list(self._ctx_totals):
            if path not in {row.path for row in rows}:
                del self._ctx_totals[path]

    def _rate(self, key: str, counter: int | None, now: float, live: set[str]) -> float | None:
        if counter is None:
            return None
        live.add(key)
        return self._rates.rate(key, counter, now)

    def _row(self, sample: CgroupSample, now: float, live: set[str]) -> CgroupRow:
        path = sample.path
        usage = self._rate(f"{path}|cpu", sample.usage_usec, now, live)
        throttled = self._rate(f"{path}|thr", sample.throttled_usec, now, live)
        io_read = self._rate(f"{path}|rd", sample.io_read_bytes, now, live)
        io_write = self._rate(f"{path}|wr", sample.io_write_bytes, now, live)
        pressure: dict[tuple[str, str], float | None] = {}
        for key, total in sample.pressure.items():
            stall_key = f"{path}|{key[0]}.{key[1]}"
            live.add(stall_key)
            pressure[key] = self._stalls.percent(stall_key, total, now)
        missing = self._missing(sample)
        name, kind = human_name(path)
        return CgroupRow(
            path=path, parent=_parent(path), name=name, kind=kind,
            cpu_pct=None if usage is None else usage / 1e4,  # µs per s -> % of one CPU
            throttled_pct=None if throttled is None else min(100.0, throttled / 1e4),
            nr_throttled=sample.nr_throttled, memory_current=sample.memory_current,
            memory_max=sample.memory_max, memory_unlimited=sample.memory_unlimited,
            io_read_bps=io_read, io_write_bps=io_write, pressure=pressure, procs=sample.procs,
            series_instance=None, missing=missing)

    def _missing(self, sample: CgroupSample) -> dict[str, Unavailable]:
        missing: dict[str, Unavailable] = {}
        for column, (filename, _controller) in COLUMN_SOURCES.items():
            if column in self._host_missing:
                missing[column] = self._host_missing[column]
            elif filename not in sample.present:
                if column == "pressure":
                    missing[column] = Unavailable(
                        "no *.pressure files here: PSI is off for this kernel (psi=0) or for this cgroup "
                        "(its cgroup.pressure is 0)", "add psi=1 to the kernel command line, or "
                        "`echo 1 > cgroup.pressure` in this cgroup as root")
                elif column == "procs":
                    missing[column] = Unavailable("cgroup.procs cannot be read here")
                elif sample.path == "/" and column in ("memory", "throttled"):
                    missing[column] = Unavailable(
                        f"the root cgroup has no {filename}: the Memory and CPU tabs show the whole machine")
                else:
                    missing[column] = Unavailable(
                        f"{filename} is absent here: its controller is not enabled for this cgroup "
                        "(the parent's cgroup.subtree_control)")
            elif column == "throttled" and sample.throttled_usec is None:
                missing[column] = Unavailable("cpu.stat has no throttled_usec: the cpu controller is not "
                                              "enabled for this cgroup (no cpu.max quota can apply)")
        return missing

    def _reselect(self, rows: list[CgroupRow], samples: list[CgroupSample], now: float) -> None:
        """Choose the busiest cgroups for series, at most every RESELECT_SECONDS (bounded labels).

        Busiest means most CPU time used since the last choice (not in the last tick, which is
        noise); the second read chooses again because the first had no baseline.
        """
        existing = {row.path for row in rows}
        due = self._selected_at is None or now - self._selected_at >= RESELECT_SECONDS or self._reads == 2
        if not due and all(path in existing for path in self._selected):
            return
        baseline = self._usage_at_selection

        def used(sample: CgroupSample) -> int:
            before = baseline.get(sample.path)
            return 0 if sample.usage_usec is None or before is None else max(0, sample.usage_usec - before)

        # Inner cgroups and leaves alike; the root is the whole machine (the other tabs show it).
        ranked = sorted((s for s in samples if s.path != "/"), key=lambda s: (-used(s), s.path))
        self._selected = [s.path for s in ranked[:self.series_limit]]
        self._usage_at_selection = {s.path: s.usage_usec for s in samples if s.usage_usec is not None}
        self._selected_at = now
        # Built aside and published whole (the engine keeps merged specs per specs() object);
        # the same selection keeps the published dicts, so nothing downstream is rebuilt.
        published = self._specs, self._counter_specs
        self._specs, self._counter_specs = {}, {}
        by_path = {row.path: row for row in rows}
        for path in self._selected:
            self._add_specs(by_path[path])
        if (self._specs, self._counter_specs) == published:
            self._specs, self._counter_specs = published

    def _add_specs(self, row: CgroupRow) -> None:
        inst = instance_name(row.path)
        labels = (("cgroup", row.path),)
        who = row.name

        def spec(metric: str, label: str, unit: str, kind: Kind = Kind.GAUGE,
                 extra: tuple[tuple[str, str], ...] = ()) -> None:
            sid = f"cgroup.{metric}.{inst}"
            self._specs[sid] = SeriesSpec(sid, f"{who}: {label}", unit, kind, group=f"cgroup.{metric}",
                                          metric=f"cgroup.{metric}", labels=labels + extra)

        def counter(metric: str, unit: str, help_text: str, extra: tuple[tuple[str, str], ...] = ()) -> None:
            suffix = "".join(f".{value}" for _, value in extra)
            cid = f"cgroup.{metric}{suffix}.{inst}"
            self._counter_specs[cid] = CounterSpec(cid, f"cgroup.{metric}", unit, help_text, labels + extra)

        spec("cpu", "CPU", "%", Kind.RATE)
        spec("throttled", "throttled by its CPU quota", "%", Kind.RATE)
        spec("memory", "memory", "B")
        spec("io_read", "IO read", "B/s", Kind.RATE)
        spec("io_write", "IO write", "B/s", Kind.RATE)
        if self._pool is not None and row.path in self._selected[:self._pool.max_cgroups]:
            spec("ctx_switches", "context switches", "/s", Kind.RATE)
            counter("context_switches", "", "Context switches in the cgroup while PerfDeck counted it "
                    "(perf cgroup mode)")
            if self._hardware_reason is None:
                spec("ipc", "instructions per cycle", "IPC", Kind.RATE)
                spec("llc_miss_pct", "LLC miss %", "%", Kind.RATE)
            if self._pool.tma_plan is not None:
                for category in self._pool.tma_plan.categories:
                    spec(f"tma_{category}", f"{TMA_TITLES[category]} (% of slots)", "%", Kind.RATE)
        for resource, kind in PRESSURE_COLUMNS:
            extra = (("resource", resource), ("kind", kind))
            sid = f"cgroup.psi_{resource}_{kind}.{inst}"
            self._specs[sid] = SeriesSpec(
                sid, f"{who}: {RESOURCE_TITLES[resource]} pressure, {kind} ({KIND_MEANINGS[kind]})", "%",
                Kind.RATE, group=f"cgroup.psi.{inst}", metric="cgroup.stall_pct", labels=labels + extra)
        counter("cpu_seconds", "s", "CPU time used by the cgroup (cpu.stat usage_usec)")
        counter("throttled_seconds", "s",
                "Time the cgroup was throttled by cpu.max (cpu.stat throttled_usec)")
        counter("io_bytes", "B", "Bytes read by the cgroup, all devices (io.stat rbytes)",
                (("direction", "read"),))
        counter("io_bytes", "B", "Bytes written by the cgroup, all devices (io.stat wbytes)",
                (("direction", "write"),))
        for resource, kind in PRESSURE_COLUMNS:
            counter("stall_seconds", "s",
                    f"Wall time with {KIND_MEANINGS[kind]} on {RESOURCE_TITLES[resource]} in this cgroup",
                    (("resource", resource), ("kind", kind)))

    def _series_values(self, rows: list[CgroupRow], samples: list[CgroupSample]
                       ) -> tuple[dict[str, float | None], dict[str, float]]:
        values: dict[str, float | None] = {}
        totals: dict[str, float] = {}
        selected = set(self._selected)
        sample_by_path = {s.path: s for s in samples}
        for index, row in enumerate(rows):
            if row.path not in selected:
                continue
            inst = instance_name(row.path)
            rows[index] = _with_instance(row, inst)
            # A column that cannot be read here is left out of values (its reason is in the table).
            if "cpu" not in row.missing:
                values[f"cgroup.cpu.{inst}"] = row.cpu_pct
            if "throttled" not in row.missing:
                values[f"cgroup.throttled.{inst}"] = row.throttled_pct
            if "memory" not in row.missing:
                values[f"cgroup.memory.{inst}"] = (None if row.memory_current is None
                                                   else float(row.memory_current))
            if "io" not in row.missing:
                values[f"cgroup.io_read.{inst}"] = row.io_read_bps
                values[f"cgroup.io_write.{inst}"] = row.io_write_bps
            for key, value in row.pressure.items():
                values[f"cgroup.psi_{key[0]}_{key[1]}.{inst}"] = value
            if f"cgroup.ctx_switches.{inst}" in self._specs:
                values[f"cgroup.ctx_switches.{inst}"] = row.ctx_switches_ps
                if row.path in self._ctx_totals:
                    totals[f"cgroup.context_switches.{inst}"] = self._ctx_totals[row.path]
            if f"cgroup.ipc.{inst}" in self._specs:
                values[f"cgroup.ipc.{inst}"] = row.ipc
                values[f"cgroup.llc_miss_pct.{inst}"] = row.llc_miss_pct
            if self._pool is not None and self._pool.tma_plan is not None:
                for category in self._pool.tma_plan.categories:
                    if f"cgroup.tma_{category}.{inst}" in self._specs:
                        values[f"cgroup.tma_{category}.{inst}"] = (row.tma or {}).get(category)
            sample = sample_by_path[row.path]
            if sample.usage_usec is not None:
                totals[f"cgroup.cpu_seconds.{inst}"] = sample.usage_usec / 1e6
            if sample.throttled_usec is not None:
                totals[f"cgroup.throttled_seconds.{inst}"] = sample.throttled_usec / 1e6
            if sample.io_read_bytes is not None:
                totals[f"cgroup.io_bytes.read.{inst}"] = float(sample.io_read_bytes)
            if sample.io_write_bytes is not None:
                totals[f"cgroup.io_bytes.write.{inst}"] = float(sample.io_write_bytes)
            for (resource, kind), total in sample.pressure.items():
                totals[f"cgroup.stall_seconds.{resource}.{kind}.{inst}"] = total / 1e6
        return values, totals


def _with_instance(row: CgroupRow, instance: str) -> CgroupRow:
    return replace(row, series_instance=instance)


class PoolLike(Protocol):
    """What the collector needs of ``perf.cgroup_counters.CgroupCounterPool`` (tests replay counts)."""

    max_cgroups: int
    per_cgroup_fds: int
    fd_budget: int
    failures: dict[str, Unavailable]
    hardware_reason: Unavailable | None
    tma_plan: TmaPlan | None  # top-down level 1 per cgroup, when this CPU has a method

    def track(self, paths: Iterable[str]) -> None: ...

    def read(self) -> Mapping[str, Any]: ...

    def close(self) -> None: ...


def _real_pool(layout: CgroupLayout, root: Path) -> PoolLike:
    from perfdeck.perf.cgroup_counters import CgroupCounterPool, specs_for_cgroups
    from perfdeck.perf.counters import online_cpus
    from perfdeck.perf.events import core_pmus
    from perfdeck.perf.topdown import discover_topdown

    assert layout.v2_mount is not None
    cpus = online_cpus(root)
    pmus = core_pmus(root)
    tma = discover_topdown(root) if pmus else None
    pool = CgroupCounterPool(layout.v2_mount, cpus, specs_for_cgroups(cpus, pmus, hardware=bool(pmus)),
                             tma_plans=tma.plans if tma is not None else ())
    pool.hardware_reason = None if pmus else Unavailable(
        "no hardware PMU here (a virtual machine without a virtual PMU): only software events are counted",
        "give the VM a virtual PMU (QEMU/KVM: -cpu host,pmu=on) or run on bare metal")
    return pool


def _kept_files_limit() -> int:
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return KEPT_FILES_MAX
    return max(0, min(KEPT_FILES_MAX, soft // 8))


def cgroup_report(root: Path = Path("/")) -> dict[str, Any]:
    """The doctor's view of cgroups (JSON-ready): layout, what can be read, what is missing and why."""
    layout = detect_layout(root)
    if layout.v2_mount is None:
        reason = ("cgroup v1 only: services and containers are read from cgroup v2" if layout.mode == "legacy"
                  else "no cgroup filesystem mounted")
        return {"available": False, "reason": reason, "fix": UNIFIED_FIX, "layout": layout.mode}
    directories, truncated = walk(layout.v2_mount, MAX_CGROUPS)
    missing = {c: layout.controller_reason(c) for c in ("cpu", "memory", "io", "pids")}
    gaps = {c: r.reason for c, r in missing.items() if r is not None}
    text = f"{layout.summary()}; {len(directories)}{'+' if truncated else ''} cgroups"
    if gaps:
        text += "; missing: " + "; ".join(f"{c}: {r}" for c, r in gaps.items())
    report: dict[str, Any] = {"available": True, "reason": text, "layout": layout.mode,
                              "mount": layout.v2_mount_point, "controllers": sorted(layout.v2_controllers),
                              "cgroups": len(directories), "missing": gaps}
    if gaps:
        report["fix"] = UNIFIED_FIX
    return report
