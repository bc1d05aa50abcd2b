"""Fixtures for the CSV, recorder, export and recording-file tests."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from perfdeck.model.history import History
from perfdeck.model.series import Kind, SeriesSpec

# Specs shaped like the real collectors' (ids, units, groups), including a non-ASCII unit.
SPECS = {
    "cpu.util.total": SeriesSpec("cpu.util.total", "CPU total", "%", group="cpu.util"),
    "cpu.util.core0": SeriesSpec("cpu.util.core0", "Core 0", "%", group="cpu.util.core"),
    "mem.used": SeriesSpec("mem.used", "Used", "B", group="mem"),
    "net.rx.eth0": SeriesSpec("net.rx.eth0", "eth0 rx", "B/s", Kind.RATE, group="net.rx"),
    "sensors.temp.coretemp_package": SeriesSpec("sensors.temp.coretemp_package", "Package", "°C"),
}
T0 = 1_795_000_000.0  # 2026-11-18, a fixed epoch time so expected strings are stable


def synthetic_value(series_id: str, index: int) -> float | None:
    """A deterministic value per series and tick; the rate has no value on the first tick."""
    if series_id == "net.rx.eth0" and index == 0:
        return None
    if series_id == "cpu.util.core0" and index % 7 == 3:
        return None  # a gap in the middle
    base = {"cpu.util.total": 10.0, "cpu.util.core0": 20.0, "mem.used": 4e9,
            "net.rx.eth0": 1000.0, "sensors.temp.coretemp_package": 40.0}[series_id]
    return base + index * 0.25 + (math.sin(index) if series_id != "mem.used" else 4096 * index)


@pytest.fixture
def make_history() -> Callable[..., History]:
    def build(rows: int = 100, interval: float = 1.0, start: float = T0,
              specs: dict[str, SeriesSpec] | None = None, capacity: int | None = None) -> History:
        specs = SPECS if specs is None else specs
        history = History(capacity or max(2, rows))
        for index in range(rows):
            values = {sid: synthetic_value(sid, index) if sid in SPECS else float(index) for sid in specs}
            history.append(start + index * interval, values, specs)
        return history

    return build
