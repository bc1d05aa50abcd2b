"""Physical memory and swap, from ``psutil.virtual_memory`` and ``psutil.swap_memory``.

Definitions follow ``free(1)``, as psutil does on Linux: ``used = total - available``;
``cached`` is the page cache plus reclaimable slab (``Cached + SReclaimable`` in /proc/meminfo).

psutil sets a field to 0 and emits a ``RuntimeWarning`` when /proc/meminfo or /proc/vmstat lacks
it (old or exotic kernels). Those warnings are caught here and the field is reported unavailable
instead, because a 0 there would be invented.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from types import MappingProxyType

import psutil

from perfdeck.model.collector import Collector
from perfdeck.model.rates import MonotonicTotals, RateTracker
from perfdeck.model.series import CounterSpec, Kind, Reading, SeriesSpec, Unavailable

_PERCENT = (0.0, 100.0)
_MISSING_MEMORY = re.compile(r"^(?P<fields>[\w, ]+) memory stats couldn't be determined")

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
# Raw cumulative swap traffic (/proc/vmstat pswpin/pswpout times the page size, as psutil gives it).
_COUNTER_SPECS: Mapping[str, CounterSpec] = MappingProxyType({
    "mem.swap.in_bytes": CounterSpec("mem.swap.in_bytes", "mem.swap.in_bytes", "B",
                                     "Bytes swapped in since boot (/proc/vmstat pswpin)"),
    "mem.swap.out_bytes": CounterSpec("mem.swap.out_bytes", "mem.swap.out_bytes", "B",
                                      "Bytes swapped out since boot (/proc/vmstat pswpout)"),
})
_VM_FIELDS = {"available": "mem.available", "buffers": "mem.buffers", "cached": "mem.cached",
              "shared": "mem.shared"}


def _missing_fields(caught: list[warnings.WarningMessage]) -> tuple[set[str], bool]:
    """The virtual_memory field names psutil zeroed, and whether swap in/out were zeroed."""
    fields: set[str] = set()
    swap_io = False
    for warning in caught:
        text = str(warning.message)
        match = _MISSING_MEMORY.match(text)
        if match:
            fields.update(name.strip() for name in match.group("fields").split(","))
        elif "'sin' and 'sout'" in text:
            swap_io = True
    return fields, swap_io


class MemoryCollector(Collector):
    """RAM and swap levels, and swap-in/out rates."""

    family = "mem"
    title = "Memory"

    def __init__(self) -> None:
        self._rates = RateTracker()
        self._specs: Mapping[str, SeriesSpec] = MappingProxyType({s.id: s for s in _SPECS})
        self._monotonic = MonotonicTotals()

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return _COUNTER_SPECS

    def read(self, now: float) -> Reading:
        values: dict[str, float | None] = {}
        unavailable: dict[str, Unavailable] = {}
        totals: dict[str, float] = {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vm = psutil.virtual_memory()
            swap = psutil.swap_memory()
        missing, swap_io_missing = _missing_fields(caught)

        values["mem.total"] = float(vm.total)
        values["mem.used"] = float(vm.used)
        for field, series_id in _VM_FIELDS.items():
            if field in missing:
                unavailable[series_id] = Unavailable(
                    f"/proc/meminfo on this kernel has no {field} figure")
            else:
                values[series_id] = float(getattr(vm, field))
        if "available" in missing or vm.total <= 0:
            reason = Unavailable("/proc/meminfo on this kernel has no MemAvailable figure")
            unavailable["mem.used_pct"] = unavailable["mem.available_pct"] = reason
        else:
            values["mem.used_pct"] = 100.0 * vm.used / vm.total
            values["mem.available_pct"] = 100.0 * vm.available / vm.total

        values["mem.swap.total"] = float(swap.total)
        values["mem.swap.used"] = float(swap.used)
        if swap.total > 0:
            values["mem.swap.used_pct"] = 100.0 * swap.used / swap.total
        else:
            unavailable["mem.swap.used_pct"] = Unavailable(
                "no swap is configured, so there is no swap usage percentage",
                "add swap (a swap file with mkswap and swapon, or zram) if you want it")
        if swap_io_missing:
            reason = Unavailable("/proc/vmstat has no pswpin/pswpout counters on this kernel")
            unavailable["mem.swap.in"] = unavailable["mem.swap.out"] = reason
            self._rates.keep_only(set())
        else:
            # Paging in and out through swap really is 0 B/s without swap: a measured zero.
            values["mem.swap.in"] = self._rates.rate("sin", swap.sin, now)
            values["mem.swap.out"] = self._rates.rate("sout", swap.sout, now)
            totals["mem.swap.in_bytes"] = float(swap.sin)
            totals["mem.swap.out_bytes"] = float(swap.sout)
        return Reading(values=values, unavailable=unavailable, totals=self._monotonic.accept(totals))
