"""From PerfDeck series and counter specs to Prometheus metric names, types and values.

One generic mapping, no per-family code (docs/prometheus.md has the table):

- name: ``perfdeck_`` + the spec's ``metric`` (dots become underscores) + a base-unit suffix;
- values are converted to base units (MHz -> Hz, GB/s -> bytes/s, % -> 0..1);
- ratios: every percentage is exported as a 0..1 ``_ratio`` (Prometheus' recommendation), so
  ``cpu.util`` at 42 % is ``perfdeck_cpu_util_ratio 0.42``;
- ``CounterSpec`` totals become counters: the same name rule plus ``_total``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

PREFIX = "perfdeck_"

# PerfDeck unit -> (Prometheus suffix, factor to the base unit). An empty suffix is a plain number.
UNITS: dict[str, tuple[str, float]] = {
    "%": ("ratio", 0.01),
    "B": ("bytes", 1.0),
    "B/s": ("bytes_per_second", 1.0),
    "kB/s": ("bytes_per_second", 1e3),
    "MB/s": ("bytes_per_second", 1e6),
    "GB/s": ("bytes_per_second", 1e9),
    "Hz": ("hertz", 1.0),
    "MHz": ("hertz", 1e6),
    "GHz": ("hertz", 1e9),
    "°C": ("celsius", 1.0),
    "RPM": ("rpm", 1.0),
    "W": ("watts", 1.0),
    "J": ("joules", 1.0),
    "s": ("seconds", 1.0),
    "ms": ("seconds", 1e-3),
    "ns": ("seconds", 1e-9),
    "/s": ("per_second", 1.0),
    "pkt/s": ("packets_per_second", 1.0),
    "IPC": ("", 1.0),  # instructions per cycle: a plain number, named by its metric (perf.ipc)
    "MPKI": ("", 1.0),  # misses per 1000 instructions: the metric names say mpki already
    "": ("", 1.0),
}

# Suffixes Prometheus reserves for counters, histograms, summaries and info metrics (promtool flags them
# on a gauge). Only the very end of a name counts: mem_total_bytes is fine.
RESERVED_SUFFIXES = {"_total": "_all", "_count": "_number", "_sum": "_summed", "_bucket": "_bucket_value",
                     "_info": "_information", "_created": "_created_value"}

_PERCENT_WORD = re.compile(r"_(pct|percent)(?=_|$)")
_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_REPEATS = re.compile(r"_+")


@dataclass(frozen=True, slots=True)
class Naming:
    """How one spec is exported: the metric name (counters without ``_total``) and the value factor."""

    name: str
    factor: float
    suffix: str


def sanitise(text: str) -> str:
    """A valid metric-name fragment: anything but ``[a-zA-Z0-9_]`` becomes ``_``."""
    cleaned = _REPEATS.sub("_", _INVALID.sub("_", text)).strip("_")
    return cleaned or "unnamed"


def unit_suffix(unit: str) -> tuple[str, float]:
    """The Prometheus suffix and factor for a PerfDeck unit; an unknown unit is kept, sanitised."""
    if unit in UNITS:
        return UNITS[unit]
    return sanitise(unit.replace("/", "_per_")).lower(), 1.0


@functools.lru_cache(maxsize=65536)  # a pure function called per series per scrape: 256 CPUs make 12 000
def metric_name(metric: str, unit: str, *, counter: bool = False) -> Naming:
    """``cpu.freq.core`` in MHz -> ``perfdeck_cpu_freq_core_hertz`` with factor 1e6.

    For a counter (``counter=True``) the name is given without ``_total``, which prometheus_client
    appends: ``cpu.seconds`` in s -> ``perfdeck_cpu_seconds``, exposed as ``perfdeck_cpu_seconds_total``.
    """
    suffix, factor = unit_suffix(unit)
    base = sanitise(metric.replace(".", "_"))
    if suffix == "ratio":
        base = _PERCENT_WORD.sub("", base) or base  # mem.used_pct in % -> mem_used_ratio
    if suffix and "_" not in suffix:
        # The unit goes last: membw.bytes.read in B -> membw_read_bytes, not membw_bytes_read_bytes.
        words = [word for word in base.split("_") if word != suffix]
        base = "_".join(words) if words else base
    if counter and base.endswith("_total"):
        base = base[: -len("_total")]  # prometheus_client adds it back, once
    if suffix:
        base = _append_suffix(base, suffix)
    if not counter:
        for reserved, replacement in RESERVED_SUFFIXES.items():
            if base.endswith(reserved):
                base = base[: -len(reserved)] + replacement  # perf.ipc.total -> perfdeck_perf_ipc_all
    return Naming(PREFIX + base, factor, suffix)


def _append_suffix(base: str, suffix: str) -> str:
    """Append the unit suffix, sharing words the name already ends with: ``net_rx_packets`` +
    ``packets_per_second`` -> ``net_rx_packets_per_second``, ``busy_seconds`` + ``seconds`` -> as is."""
    words = suffix.split("_")
    for shared in range(len(words), 0, -1):
        head = "_".join(words[:shared])
        if base == head or base.endswith("_" + head):
            rest = "_".join(words[shared:])
            return f"{base}_{rest}" if rest else base
    return f"{base}_{suffix}"
