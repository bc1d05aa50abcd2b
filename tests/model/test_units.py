"""Unit formatting: binary sizes, decimal rates, a dash for no value."""

from __future__ import annotations

import pytest

from perfdeck.model.units import format_bytes, format_si, format_value


@pytest.mark.parametrize(("value", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (1023.7, "1.0 KiB"),  # rounding must not print "1024 B"
    (1024**2 - 1, "1.0 MiB"), (5 * 1024**3, "5.0 GiB"), (3 * 1024**4, "3.0 TiB"),
    (-2048, "-2.0 KiB"),
])
def test_format_bytes(value: float, text: str) -> None:
    assert format_bytes(value) == text


@pytest.mark.parametrize(("value", "unit", "text"), [
    (0, "B/s", "0 B/s"), (999, "B/s", "999 B/s"), (999.97, "B/s", "1.0 kB/s"),
    (1500, "B/s", "1.5 kB/s"), (2.5e9, "B/s", "2.5 GB/s"), (12.5, "/s", "12.5 /s"),
])
def test_format_si(value: float, unit: str, text: str) -> None:
    assert format_si(value, unit) == text


@pytest.mark.parametrize(("value", "unit", "text"), [
    (None, "%", "—"), (float("nan"), "B", "—"),
    (42.25, "%", "42.2 %"), (2 * 1024**3, "B", "2.0 GiB"), (1.2e6, "B/s", "1.2 MB/s"),
    (3500, "pkt/s", "3.5 kpkt/s"), (61.04, "°C", "61.0 °C"), (2793.4, "MHz", "2793 MHz"),
    (1.234, "IPC", "1.23 IPC"), (305.0, "", "305"), (0.25, "", "0.25"), (2400, "RPM", "2400 RPM"),
])
def test_format_value(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text
