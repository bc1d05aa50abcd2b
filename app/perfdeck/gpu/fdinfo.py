"""Per-client GPU use from ``/proc/PID/fdinfo``: the ``drm-*`` keys of every DRM driver.

The keys are those of the kernel's Documentation/gpu/drm-usage-stats.rst:

- ``drm-driver``, ``drm-pdev`` (the PCI slot), ``drm-client-id`` (unique per open DRM file);
- ``drm-engine-<engine>: <ns> ns`` busy time, with ``drm-engine-capacity-<engine>`` engines of
  that class (default 1); xe gives ``drm-cycles-<class>`` and ``drm-total-cycles-<class>``
  instead (busy GPU cycles and the GPU timestamp over the same span), so busy % is their ratio;
- memory per region: ``drm-total-<region>``, ``drm-resident-<region>`` (and the older
  ``drm-memory-<region>``, which means resident), in bytes with an optional ``KiB``/``MiB``.

One client (one open DRM file description) can be reached through several fds of one process
(dup) and through several processes (fork, fd passing): it is counted once per machine and once
per process, keyed by ``(drm-pdev, drm-client-id)``. The document allows counters to go
backwards (a context's time is folded into the client when it is closed, with different
rounding); the previous, larger value is kept, so a delta is never negative.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

DRI_PREFIX = "/dev/dri/"
_UNITS = {"KiB": 1024, "MiB": 1024 * 1024, "GiB": 1024 ** 3}
# amdgpu's "cpu" region is plain system memory the GPU cannot reach; it is not GPU memory.
NOT_GPU_MEMORY = frozenset({"cpu"})


@dataclass(slots=True)
class DrmClient:
    """What one fdinfo file says about one DRM client."""

    driver: str = ""
    pdev: str = ""
    client_id: str = ""
    engines_ns: dict[str, int] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=dict)
    cycles: dict[str, int] = field(default_factory=dict)
    total_cycles: dict[str, int] = field(default_factory=dict)
    resident: dict[str, int] = field(default_factory=dict)  # region -> bytes
    total: dict[str, int] = field(default_factory=dict)  # region -> bytes

    @property
    def key(self) -> tuple[str, str]:
        return self.pdev, self.client_id


def _size(text: str) -> int:
    """``123``, ``123 KiB`` or ``123 MiB`` in bytes; any other suffix is not a size we know."""
    number, _, unit = text.partition(" ")
    unit = unit.strip()
    if unit and unit not in _UNITS:
        raise ValueError(f"unknown size unit {unit!r}")
    return int(number) * _UNITS.get(unit, 1)


# The drm-* keys this parser uses, found by one C-level regex pass (an amdgpu fdinfo has ~40
# lines, most of them driver-private or shared/active/purgeable memory PerfDeck does not show).
_DRM_LINE = re.compile(r"^drm-(driver|pdev|client-id|engine-capacity-|engine-|total-cycles-|cycles-|"
                       r"resident-|memory-|total-)([^:\n]*):[ \t]*([^\n]*?)[ \t]*$", re.MULTILINE)


def parse_fdinfo(text: str) -> DrmClient | None:
    """The ``drm-*`` keys of one fdinfo file, or None when it is not a DRM client with an id."""
    client = DrmClient()
    for kind, name, value in _DRM_LINE.findall(text):
        try:
            if kind == "driver":
                client.driver = value
            elif kind == "pdev":
                client.pdev = value
            elif kind == "client-id":
                client.client_id = value
            elif kind == "engine-capacity-":
                client.capacity[name] = int(value)
            elif kind == "engine-":
                client.engines_ns[name] = int(value.split()[0])
            elif kind == "total-cycles-":
                client.total_cycles[name] = int(value)
            elif kind == "cycles-":
                client.cycles[name] = int(value)
            elif kind == "resident-":
                client.resident[name] = _size(value)
            elif kind == "memory-":  # the legacy name of drm-resident-
                client.resident.setdefault(name, _size(value))
            else:  # total-
                client.total[name] = _size(value)
        except (ValueError, IndexError):
            continue  # a value this parser does not know the format of: ignored, not guessed
    if not client.client_id:
        return None
    return client


@dataclass(slots=True)
class FdinfoScan:
    """One walk over /proc: the unique clients and which processes hold each."""

    clients: dict[tuple[str, str], DrmClient] = field(default_factory=dict)
    pids: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    processes_seen: int = 0
    processes_hidden: int = 0  # fd directories we may not list (other users' processes, not root)
    drm_fds: int = 0


class FdinfoWalker:
    """Walks /proc for DRM fds, remembering which processes and fds are not DRM clients.

    Listing each process's fds and reading where each points (``readlink``) is the whole cost of
    a walk, and almost every fd of almost every process is a socket, pipe or plain file that
    stays so. So a walk lists the fds only of processes it has not seen before, of processes
    that hold a DRM client (whose fdinfo is re-read every walk: it says whether the fd still is
    one), and of a ``1 / RECHECK_EVERY`` share of the others in turn; and it reads where an fd
    points only for fd numbers it has not seen before in that process, or on that process's
    turn. So a process that starts using a GPU after it was first seen, or an fd number closed
    and reused for a render node, shows up at most ``RECHECK_EVERY`` walks later (5 s at 1 Hz);
    a new process shows up at once. ``listings`` and ``readlinks`` count the work.
    """

    RECHECK_EVERY = 5

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.proc = Path(proc)
        self._known: dict[str, dict[str, bool]] = {}  # pid -> fd -> is a DRM client
        self._hidden: set[str] = set()  # pids whose fds we may not list
        self._scans = 0
        # fdinfo path -> (its text last time, what it parsed to): an idle client's file is the
        # same from one walk to the next, and comparing strings is cheaper than parsing them.
        self._parsed: dict[str, tuple[str, DrmClient | None]] = {}
        self.listings = 0
        self.readlinks = 0

    def scan(self) -> FdinfoScan:
        self._scans += 1
        phase = self._scans % self.RECHECK_EVERY
        scan = FdinfoScan()
        base = str(self.proc)
        try:
            entries = os.listdir(base)
        except OSError:
            return scan
        readlink, listdir = os.readlink, os.listdir
        known_next: dict[str, dict[str, bool]] = {}
        hidden_next: set[str] = set()
        parsed_before, self._parsed = self._parsed, {}
        for name in entries:
            if not name.isdigit():
                continue
            cached = self._known.get(name)
            turn = int(name) % self.RECHECK_EVERY == phase
            if not turn:
                if name in self._hidden:
                    hidden_next.add(name)
                    scan.processes_hidden += 1
                    continue
                if cached is not None and not any(cached.values()):
                    known_next[name] = cached  # no DRM client last time, not its turn: skipped
                    scan.processes_seen += 1
                    continue
            fd_dir = f"{base}/{name}/fd"
            self.listings += 1
            try:
                fds = listdir(fd_dir)
            except PermissionError:
                hidden_next.add(name)
                scan.processes_hidden += 1
                continue
            except OSError:  # the process exited while we walked
                continue
            scan.processes_seen += 1
            if cached is None or turn:
                cached = {}
            kinds: dict[str, bool] = {}
            known_next[name] = kinds
            for fd in fds:
                is_drm = cached.get(fd)
                if is_drm is None:
                    self.readlinks += 1
                    try:
                        is_drm = readlink(f"{fd_dir}/{fd}").startswith(DRI_PREFIX)
                    except OSError:
                        continue
                kinds[fd] = is_drm
                if is_drm:
                    client = self._read_client(f"{base}/{name}/fdinfo/{fd}", parsed_before)
                    if client is None:
                        kinds[fd] = False  # not (or no longer) a DRM client with an id
                        continue
                    self._add(scan, client, int(name))
        self._known = known_next
        self._hidden = hidden_next
        return scan

    def _read_client(self, path: str, parsed_before: dict[str, tuple[str, DrmClient | None]]
                     ) -> DrmClient | None:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            return None
        before = parsed_before.get(path)
        client = before[1] if before is not None and before[0] == text else parse_fdinfo(text)
        self._parsed[path] = (text, client)
        return client

    @staticmethod
    def _add(scan: FdinfoScan, client: DrmClient, pid: int) -> None:
        scan.drm_fds += 1
        known = scan.clients.get(client.key)
        if known is None:
            scan.clients[client.key] = client
        else:  # the same client through another fd: keep the larger of each counter
            scan.clients[client.key] = _merge_max(known, client)
        scan.pids.setdefault(client.key, set()).add(pid)


def scan_fdinfo(proc: Path = Path("/proc")) -> FdinfoScan:
    """One full walk (no memory of earlier walks): every fd of every process is looked at."""
    return FdinfoWalker(proc).scan()


def _merge_max(first: DrmClient, second: DrmClient) -> DrmClient:
    """A new client with the larger of each counter (parsed clients are cached, never mutated)."""
    merged = DrmClient(first.driver, first.pdev, first.client_id, dict(first.engines_ns),
                       dict(first.capacity), dict(first.cycles), dict(first.total_cycles), first.resident,
                       first.total)
    for attr in ("engines_ns", "cycles", "total_cycles", "capacity"):
        target, source = getattr(merged, attr), getattr(second, attr)
        for key, value in source.items():
            if value > target.get(key, -1):
                target[key] = value
    return merged


@dataclass(slots=True)
class _Previous:
    engines_ns: dict[str, int]
    cycles: dict[str, int]
    total_cycles: dict[str, int]
    at: float


@dataclass(slots=True)
class ClientUse:
    """One client's engine busy % over the last interval (None on its first sighting)."""

    pdev: str
    engines: dict[str, float]  # engine -> busy % of that engine class (capacity accounted)
    resident: int  # bytes in GPU-reachable regions


@dataclass(slots=True)
class ProcessGpuUse:
    pid: int
    gpu_pct: float | None  # the busiest engine of this process, %
    gpu_mem: int | None  # resident bytes of its clients
    engines: dict[str, float] = field(default_factory=dict)
    gpus: tuple[str, ...] = ()


@dataclass(slots=True)
class FdinfoUse:
    """What one tick of the fdinfo walk gives: per GPU and per process."""

    engines: dict[str, dict[str, float]]  # pdev -> engine -> busy % (all clients)
    engine_ns: dict[str, dict[str, int]]  # pdev -> engine -> busy ns observed since tracking began
    client_memory: dict[str, int]  # pdev -> resident bytes of all clients
    clients: dict[str, int]  # pdev -> number of clients
    processes: dict[int, ProcessGpuUse]
    scan: FdinfoScan


class FdinfoTracker:
    """Turns successive scans into busy % per engine, per GPU and per process."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.walker = FdinfoWalker(proc)
        self._previous: dict[tuple[str, str], _Previous] = {}
        # Busy ns per GPU and engine observed since tracking began: the sum of every client's
        # increments between two walks. A client's time before it was first seen is not added
        # (it would show as a burst in an exporter's rate()), nor lost when it exits.
        self._observed_ns: dict[str, dict[str, int]] = {}

    def update(self, now: float, scan: FdinfoScan | None = None) -> FdinfoUse:
        scan = self.walker.scan() if scan is None else scan
        per_client: dict[tuple[str, str], ClientUse] = {}
        current: dict[tuple[str, str], _Previous] = {}
        for key, client in scan.clients.items():
            before = self._previous.get(key)
            engines_ns = _monotonic(before.engines_ns if before else None, client.engines_ns)
            cycles = _monotonic(before.cycles if before else None, client.cycles)
            total_cycles = _monotonic(before.total_cycles if before else None, client.total_cycles)
            current[key] = _Previous(engines_ns, cycles, total_cycles, now)
            observed = self._observed_ns.setdefault(client.pdev, {})
            for engine in engines_ns:
                observed.setdefault(engine, 0)
            if before is None or now <= before.at:
                continue
            busy: dict[str, float] = {}
            elapsed_ns = (now - before.at) * 1e9
            for engine, ns in engines_ns.items():
                delta = ns - before.engines_ns.get(engine, ns)
                observed[engine] += delta
                busy[engine] = 100.0 * delta / (elapsed_ns * client.capacity.get(engine, 1))
            for engine, count in cycles.items():
                span = total_cycles.get(engine, 0) - before.total_cycles.get(engine, 0)
                if span > 0 and engine in before.cycles:
                    busy[engine] = 100.0 * (count - before.cycles[engine]) / (
                        span * client.capacity.get(engine, 1))
            resident = sum(v for region, v in client.resident.items() if region not in NOT_GPU_MEMORY)
            per_client[key] = ClientUse(client.pdev, busy, resident)
        self._previous = current

        engines: dict[str, dict[str, float]] = {}
        engine_ns = {pdev: dict(v) for pdev, v in self._observed_ns.items()}
        memory: dict[str, int] = {}
        counts: dict[str, int] = {}
        for key, client in scan.clients.items():
            pdev = client.pdev
            counts[pdev] = counts.get(pdev, 0) + 1
            memory[pdev] = memory.get(pdev, 0) + sum(
                v for region, v in client.resident.items() if region not in NOT_GPU_MEMORY)
            use = per_client.get(key)
            if use is not None:
                busy = engines.setdefault(pdev, {})
                for engine, pct in use.engines.items():
                    busy[engine] = busy.get(engine, 0.0) + pct
            else:
                engines.setdefault(pdev, {})
        # Clients sampled a few µs apart can add up to a hair over 100 %.
        for busy in engines.values():
            for engine, pct in busy.items():
                busy[engine] = min(100.0, max(0.0, pct))
        return FdinfoUse(engines, engine_ns, memory, counts, _per_process(scan, per_client), scan)


def _monotonic(before: dict[str, int] | None, now: dict[str, int]) -> dict[str, int]:
    """Each counter as max(previous, current): the kernel doc's rule for values that go backwards."""
    if not before:
        return dict(now)
    return {key: max(value, before.get(key, value)) for key, value in now.items()}


def _per_process(scan: FdinfoScan, per_client: dict[tuple[str, str], ClientUse]) -> dict[int, ProcessGpuUse]:
    by_pid: dict[int, list[tuple[tuple[str, str], DrmClient]]] = {}
    for key, pids in scan.pids.items():
        for pid in pids:
            by_pid.setdefault(pid, []).append((key, scan.clients[key]))
    result: dict[int, ProcessGpuUse] = {}
    for pid, clients in by_pid.items():
        engines: dict[str, float] = {}
        measured = False
        memory = 0
        for key, client in clients:
            memory += sum(v for region, v in client.resident.items() if region not in NOT_GPU_MEMORY)
            use = per_client.get(key)
            if use is None:
                continue
            measured = True
            for engine, pct in use.engines.items():
                engines[engine] = min(100.0, engines.get(engine, 0.0) + pct)
        gpu_pct = max(engines.values(), default=0.0) if measured else None
        has_memory_keys = any(c.resident for _, c in clients)
        result[pid] = ProcessGpuUse(pid, gpu_pct, memory if has_memory_keys else None, engines,
                                    tuple(sorted({c.pdev for _, c in clients})))
    return result


def merge_processes(parts: Iterable[dict[int, ProcessGpuUse]]) -> dict[int, ProcessGpuUse]:
    """Merge per-process use from several sources (fdinfo, NVML): busiest engine, memory summed."""
    merged: dict[int, ProcessGpuUse] = {}
    for part in parts:
        for pid, use in part.items():
            known = merged.get(pid)
            if known is None:
                merged[pid] = ProcessGpuUse(pid, use.gpu_pct, use.gpu_mem, dict(use.engines), use.gpus)
                continue
            if use.gpu_pct is not None:
                known.gpu_pct = use.gpu_pct if known.gpu_pct is None else max(known.gpu_pct, use.gpu_pct)
            if use.gpu_mem is not None:
                known.gpu_mem = use.gpu_mem + (known.gpu_mem or 0)
            known.engines.update(use.engines)
            known.gpus = tuple(sorted(set(known.gpus) | set(use.gpus)))
    return merged
