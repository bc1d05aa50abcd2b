"""Human-readable units: binary sizes for memory and storage, decimal for rates on the wire."""

from __future__ import annotations

import math

_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_DECIMAL = ("", "k", "M", "G", "T", "P")


def format_bytes(value: float | None, precision: int = 1) -> str:
    """1536 -> '1.5 KiB'. Memory and capacities are binary."""
    if value is None or math.isnan(value):
        return "—"
    magnitude = abs(value)
    index = 0
    # Compare the *rounded* magnitude so 1023.97 KiB prints as "1.0 MiB", not "1024.0 KiB".
    while round(magnitude, precision if index else 0) >= 1024 and index < len(_BINARY) - 1:
        magnitude /= 1024
        value /= 1024
        index += 1
    if index == 0:
        return f"{value:.0f} B"
    return f"{value:.{precision}f} {_BINARY[index]}"


def format_si(value: float | None, unit: str, precision: int = 1) -> str:
    """1.5e9, 'B/s' -> '1.5 GB/s'. Rates and counts are decimal, as perf, PCM and likwid report."""
    if value is None or math.isnan(value):
        return "—"
    magnitude = abs(value)
    index = 0
    while round(magnitude, precision) >= 1000 and index < len(_DECIMAL) - 1:
        magnitude /= 1000
        value /= 1000
        index += 1
    digits = 0 if index == 0 and float(value).is_integer() else precision
    return f"{value:.{digits}f} {_DECIMAL[index]}{unit}".rstrip()


def format_value(value: float | None, unit: str) -> str:
    """Format a series value for display according to its unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "B":
        return format_bytes(value)
    if unit == "%":
        return f"{value:.1f} %"
    if unit in ("B/s",):
        return format_si(value, "B/s")
    if unit in ("/s", "Hz", "W", "J", "ops/s", "pkt/s"):
        return format_si(value, unit if unit != "/s" else "/s")
    if unit == "°C":
        return f"{value:.1f} °C"
    if unit == "MHz":
        return f"{value:.0f} MHz"
    if unit == "" and float(value).is_integer():
        return f"{value:.0f}"  # counts (processes, threads) have no decimals
    if unit in ("GB/s", "GHz", "IPC", "MPKI", ""):
        return f"{value:.2f} {unit}".rstrip()
    return f"{value:.4g} {unit}".rstrip()
