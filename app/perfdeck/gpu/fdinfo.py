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
    number, _, unit = text.partition(" ")
    return int(number) * _UNITS.get(unit.strip(), 1)


def parse_fdinfo(text: str) -> DrmClient | None:
    """The ``drm-*`` keys of one fdinfo file, or None when it is not a DRM client with an id."""
    client = DrmClient()
    for line in text.splitlines():
        if not line.startswith("drm-"):
            continue
        key, sep, raw = line.partition(":")
        if not sep:
            continue
        value = raw.strip()
        try:
            if key == "drm-driver":
                client.driver = value
            elif key == "drm-pdev":
                client.pdev = value
            elif key == "drm-client-id":
                client.client_id = value
            elif key.startswith("drm-engine-capacity-"):
                client.capacity[key[20:]] = int(value)
            elif key.startswith("drm-engine-"):
                client.engines_ns[key[11:]] = int(value.split()[0])
            elif key.startswith("drm-total-cycles-"):
                client.total_cycles[key[17:]] = int(value)
            elif key.startswith("drm-cycles-"):
                client.cycles[key[11:]] = int(value)
            elif key.startswith("drm-resident-"):
                client.resident[key[13:]] = _size(value)
            elif key.startswith("drm-memory-"):  # the legacy name of drm-resident-
                client.resident.setdefault(key[11:], _size(value))
            elif key.startswith("drm-total-"):
                client.total[key[10:]] = _size(value)
        except ValueError:
            continue  # a key this parser does not know the format of: ignored, not guessed
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


def scan_fdinfo(proc: Path = Path("/proc")) -> FdinfoScan:
    """Walk every process's fds once; read fdinfo only for those that point into /dev/dri."""
    scan = FdinfoScan()
    base = str(proc)
    try:
        entries = os.listdir(base)
    except OSError:
        return scan
    readlink, listdir = os.readlink, os.listdir
    for name in entries:
        if not name.isdigit():
            continue
        fd_dir = f"{base}/{name}/fd"
        try:
            fds = listdir(fd_dir)
        except PermissionError:
            scan.processes_hidden += 1
            continue
        except OSError:  # the process exited while we walked
            continue
        scan.processes_seen += 1
        pid = 0
        for fd in fds:
            try:
                target = readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if not target.startswith(DRI_PREFIX):
                continue
            try:
                with open(f"{base}/{name}/fdinfo/{fd}", encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError:
                continue
            client = parse_fdinfo(text)
            if client is None:
                continue
            scan.drm_fds += 1
            pid = pid or int(name)
            known = scan.clients.get(client.key)
            if known is None:
                scan.clients[client.key] = client
            else:  # the same client through another fd: keep the larger of each counter
                _merge_max(known, client)
            scan.pids.setdefault(client.key, set()).add(pid)
    return scan


def _merge_max(into: DrmClient, other: DrmClient) -> None:
    for attr in ("engines_ns", "cycles", "total_cycles", "capacity"):
        target, source = getattr(into, attr), getattr(other, attr)
        for key, value in source.items():
            if value > target.get(key, -1):
                target[key] = value


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
    engine_ns: dict[str, dict[str, int]]  # pdev -> engine -> busy ns, summed over live clients
    client_memory: dict[str, int]  # pdev -> resident bytes of all clients
    clients: dict[str, int]  # pdev -> number of clients
    processes: dict[int, ProcessGpuUse]
    scan: FdinfoScan


class FdinfoTracker:
    """Turns successive scans into busy % per engine, per GPU and per process."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.proc = Path(proc)
        self._previous: dict[tuple[str, str], _Previous] = {}
        # Busy ns of clients that have exited, per GPU and engine, so the per-GPU engine totals
        # stay monotonic (a Prometheus counter) when clients come and go.
        self._retired_ns: dict[str, dict[str, int]] = {}

    def update(self, now: float, scan: FdinfoScan | None = None) -> FdinfoUse:
        scan = scan_fdinfo(self.proc) if scan is None else scan
        per_client: dict[tuple[str, str], ClientUse] = {}
        current: dict[tuple[str, str], _Previous] = {}
        for key, client in scan.clients.items():
            before = self._previous.get(key)
            engines_ns = _monotonic(before.engines_ns if before else None, client.engines_ns)
            cycles = _monotonic(before.cycles if before else None, client.cycles)
            total_cycles = _monotonic(before.total_cycles if before else None, client.total_cycles)
            current[key] = _Previous(engines_ns, cycles, total_cycles, now)
            if before is None or now <= before.at:
                continue
            busy: dict[str, float] = {}
            elapsed_ns = (now - before.at) * 1e9
            for engine, ns in engines_ns.items():
                delta = ns - before.engines_ns.get(engine, ns)
                busy[engine] = 100.0 * delta / (elapsed_ns * client.capacity.get(engine, 1))
            for engine, count in cycles.items():
                span = total_cycles.get(engine, 0) - before.total_cycles.get(engine, 0)
                if span > 0 and engine in before.cycles:
                    busy[engine] = 100.0 * (count - before.cycles[engine]) / (
                        span * client.capacity.get(engine, 1))
            resident = sum(v for region, v in client.resident.items() if region not in NOT_GPU_MEMORY)
            per_client[key] = ClientUse(client.pdev, busy, resident)
        for key, gone in self._previous.items():
            if key not in current:
                retired = self._retired_ns.setdefault(key[0], {})
                for engine, ns in gone.engines_ns.items():
                    retired[engine] = retired.get(engine, 0) + ns
        self._previous = current

        engines: dict[str, dict[str, float]] = {}
        engine_ns: dict[str, dict[str, int]] = {pdev: dict(v) for pdev, v in self._retired_ns.items()}
        memory: dict[str, int] = {}
        counts: dict[str, int] = {}
        for key, client in scan.clients.items():
            pdev = client.pdev
            counts[pdev] = counts.get(pdev, 0) + 1
            memory[pdev] = memory.get(pdev, 0) + sum(
                v for region, v in client.resident.items() if region not in NOT_GPU_MEMORY)
            ns_sum = engine_ns.setdefault(pdev, {})
            for engine, ns in current[key].engines_ns.items():
                ns_sum[engine] = ns_sum.get(engine, 0) + ns
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
