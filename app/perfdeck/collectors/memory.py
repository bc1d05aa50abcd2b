"""Physical memory and swap, from /proc/meminfo and /proc/vmstat.

Definitions follow ``free(1)``, as psutil's ``virtual_memory`` and ``swap_memory`` do on Linux:
``used = total - available``; ``cached`` is the page cache plus reclaimable slab (``Cached +
SReclaimable``); ``shared`` is ``Shmem``; swap used is ``SwapTotal - SwapFree``; swap in/out are
``pswpin``/``pswpout`` pages times the page size (psutil assumes 4 KiB pages; a 64 KiB-page ARM
kernel would be under-counted 16 times).

Both files are kept open and re-read with one ``pread`` each per tick (``KeptFile``): psutil
reads /proc/meminfo twice (once per call) and walks /proc/vmstat line by line, about 90 µs a
tick, while the two counters needed from vmstat can be found directly in its bytes.

A field the kernel does not have (old or exotic kernels: ``MemAvailable`` came in 3.14) is
reported unavailable with the reason, never as 0. psutil would have set it to 0 with a warning
(or estimated ``MemAvailable`` from zone watermarks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from perfdeck.collectors._common import KeptFile
from perfdeck.model.collector import Collector
from perfdeck.model.rates import MonotonicTotals, RateTracker
from perfdeck.model.series import CounterSpec, Kind, Reading, SeriesSpec, Unavailable

_PERCENT = (0.0, 100.0)

_SPECS: tuple[SeriesSpec, ...] = (
    SeriesSpec("mem.total", "Total memory", "B", group="mem.size"),
    SeriesSpec("mem.used", "Used (total − available)", "B", group="mem.bytes"),
    SeriesSpec("mem.available", "Available", "B", group="mem.bytes"),
    SeriesSpec("mem.cached", "Cached (page cache + reclaimable slab)", "B", group="mem.bytes"),
    SeriesSpec("mem.buffers", "Buffers", "B", group="mem.bytes"),
    SeriesSpec("mem.shared", "Shared (tmpfs, shmem)", "B", group="mem.bytes"),
    SeriesSpec("mem.used_pct", "Memory used", "%", group="mem.pct", value_range=_PERCENT),
    SeriesSpec("mem.available_pct", "Memory available", "%", group="mem.pct", value_range=_PERCENT),
    SeriesSpec("mem.swap.total", "Swap total", "B", group="mem.swap.size"),
    SeriesSpec("mem.swap.used", "Swap used", "B", group="mem.swap.bytes"),
    SeriesSpec("mem.swap.used_pct", "Swap used", "%", group="mem.swap.pct", value_range=_PERCENT),
    SeriesSpec("mem.swap.in", "Swapped in", "B/s", Kind.RATE, group="mem.swap.io"),
    SeriesSpec("mem.swap.out", "Swapped out", "B/s", Kind.RATE, group="mem.swap.io"),
)
# Raw cumulative swap traffic (/proc/vmstat pswpin/pswpout times the page size).
_COUNTER_SPECS: Mapping[str, CounterSpec] = MappingProxyType({
    "mem.swap.in_bytes": CounterSpec("mem.swap.in_bytes", "mem.swap.in_bytes", "B",
                                     "Bytes swapped in since boot (/proc/vmstat pswpin)"),
    "mem.swap.out_bytes": CounterSpec("mem.swap.out_bytes", "mem.swap.out_bytes", "B",
                                      "Bytes swapped out since boot (/proc/vmstat pswpout)"),
})


_PAGE = os.sysconf("SC_PAGE_SIZE")


def parse_meminfo(data: bytes) -> dict[bytes, int]:
    """Field -> bytes from /proc/meminfo ("MemTotal:  16318480 kB"; a few fields are counts)."""
    fields: dict[bytes, int] = {}
    for line in data.split(b"\n"):
        parts = line.split()
        if len(parts) >= 2:
            try:
                fields[parts[0].rstrip(b":")] = int(parts[1]) * (1024 if len(parts) > 2 else 1)
            except ValueError:
                continue
    return fields


# The /proc/meminfo lines read on every tick; the other ~50 are not even split.
_MEMINFO_FIELDS = (b"MemTotal", b"MemAvailable", b"Buffers", b"Cached", b"SReclaimable", b"Shmem",
                   b"MemShared", b"SwapTotal", b"SwapFree")


def meminfo_fields(data: bytes, names: tuple[bytes, ...] = _MEMINFO_FIELDS) -> dict[bytes, int]:
    """The named /proc/meminfo fields in bytes (kB lines), found directly in the file's bytes."""
    fields: dict[bytes, int] = {}
    for name in names:
        key = name + b":"
        at = 0 if data.startswith(key) else data.find(b"\n" + key) + 1
        if at <= 0 and not data.startswith(key):
            continue
        end = data.find(b"\n", at)
        parts = data[at + len(key):end if end >= 0 else None].split()
        try:
            fields[name] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
        except (IndexError, ValueError):
            continue
    return fields


def vmstat_counter(data: bytes, name: bytes) -> int | None:
    """One counter of /proc/vmstat ("pswpin 1234"), found without splitting the whole file."""
    key = name + b" "
    if data.startswith(key):
        start = 0
    else:
        at = data.find(b"\n" + key)
        if at < 0:
            return None
        start = at + 1
    end = data.find(b"\n", start)
    try:
        return int(data[start + len(key):end if end >= 0 else None])
    except ValueError:
        return None


class MemoryCollector(Collector):
    """RAM and swap levels, and swap-in/out rates."""

    family = "mem"
    title = "Memory"

    def __init__(self, root: Path | str = Path("/")) -> None:
        self.root = Path(root)
        self._rates = RateTracker()
        self._specs: Mapping[str, SeriesSpec] = MappingProxyType({s.id: s for s in _SPECS})
        self._monotonic = MonotonicTotals()
        self._meminfo = KeptFile(self.root / "proc/meminfo")
        self._vmstat = KeptFile(self.root / "proc/vmstat", size=8192)

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return _COUNTER_SPECS

    def close(self) -> None:
        self._meminfo.close()
        self._vmstat.close()

    def read(self, now: float) -> Reading:
        values: dict[str, float | None] = {}
        unavailable: dict[str, Unavailable] = {}
        totals: dict[str, float] = {}
        data = self._meminfo.read()
        mem = meminfo_fields(data) if data is not None else {}
        total = mem.get(b"MemTotal")
        if total is None or total <= 0:
            reason = Unavailable("/proc/meminfo cannot be read", "mount procfs: `mount -t proc proc /proc`")
            return Reading(unavailable=dict.fromkeys(self._specs, reason))

        values["mem.total"] = float(total)
        cached = mem.get(b"Cached")
        shared = mem.get(b"Shmem", mem.get(b"MemShared"))
        for series_id, field, value in (
            ("mem.buffers", "Buffers", mem.get(b"Buffers")),
            ("mem.cached", "Cached", None if cached is None else cached + mem.get(b"SReclaimable", 0)),
            ("mem.shared", "Shmem", shared),
        ):
            if value is None:
                unavailable[series_id] = Unavailable(f"/proc/meminfo on this kernel has no {field} figure")
            else:
                values[series_id] = float(value)
        available = mem.get(b"MemAvailable")
        if available is None:
            reason = Unavailable("/proc/meminfo on this kernel has no MemAvailable figure (Linux < 3.14)")
            for series_id in ("mem.available", "mem.used", "mem.used_pct", "mem.available_pct"):
                unavailable[series_id] = reason
        else:
            used = total - available
            values["mem.available"] = float(available)
            values["mem.used"] = float(used)
            values["mem.used_pct"] = 100.0 * used / total
            values["mem.available_pct"] = 100.0 * available / total

        swap_total, swap_free = mem.get(b"SwapTotal"), mem.get(b"SwapFree")
        if swap_total is None or swap_free is None:
            reason = Unavailable("/proc/meminfo on this kernel has no SwapTotal/SwapFree figures")
            for series_id in ("mem.swap.total", "mem.swap.used", "mem.swap.used_pct"):
                unavailable[series_id] = reason
        else:
            values["mem.swap.total"] = float(swap_total)
            values["mem.swap.used"] = float(swap_total - swap_free)
            if swap_total > 0:
                values["mem.swap.used_pct"] = 100.0 * (swap_total - swap_free) / swap_total
            else:
                unavailable["mem.swap.used_pct"] = Unavailable(
                    "no swap is configured, so there is no swap usage percentage",
                    "add swap (a swap file with mkswap and swapon, or zram) if you want it")

        vmstat = self._vmstat.read()
        pages_in = vmstat_counter(vmstat, b"pswpin") if vmstat is not None else None
        pages_out = vmstat_counter(vmstat, b"pswpout") if vmstat is not None else None
        if pages_in is None or pages_out is None:
            reason = Unavailable("/proc/vmstat has no pswpin/pswpout counters on this kernel")
            unavailable["mem.swap.in"] = unavailable["mem.swap.out"] = reason
            self._rates.keep_only(set())
        else:
            # Paging in and out through swap really is 0 B/s without swap: a measured zero.
            swapped_in, swapped_out = pages_in * _PAGE, pages_out * _PAGE
            values["mem.swap.in"] = self._rates.rate("sin", swapped_in, now)
            values["mem.swap.out"] = self._rates.rate("sout", swapped_out, now)
            totals["mem.swap.in_bytes"] = float(swapped_in)
            totals["mem.swap.out_bytes"] = float(swapped_out)
        return Reading(values=values, unavailable=unavailable, totals=self._monotonic.accept(totals))
