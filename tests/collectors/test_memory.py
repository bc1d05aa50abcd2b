"""Memory collector: doubles for swapless machines, zeroed fields and swap rates; the real machine
against /proc/meminfo."""

from __future__ import annotations

import time
import warnings

import psutil
import pytest
from psutil_fakes import Script, sswap, svmem

from perfdeck.collectors.memory import MemoryCollector

GIB = 1024**3


def _vm(total: int = 16 * GIB, available: int = 12 * GIB, buffers: int = GIB // 8,
        cached: int = 3 * GIB, shared: int = GIB // 4) -> svmem:
    used = total - available
    return svmem(total, available, 100 * used / total, used, available // 2, 0, 0, buffers, cached, shared, 0)


def test_levels_percentages_and_swap_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "virtual_memory", Script([_vm()]))
    monkeypatch.setattr(psutil, "swap_memory", Script([
        sswap(8 * GIB, 2 * GIB, 6 * GIB, 25.0, 4096, 8192),
        sswap(8 * GIB, 2 * GIB, 6 * GIB, 25.0, 4096 + 40960, 8192 + 4096),
    ]))
    collector = MemoryCollector()
    first = collector.read(10.0)
    assert first.values["mem.total"] == 16 * GIB
    assert first.values["mem.used"] == 4 * GIB
    assert first.values["mem.cached"] == 3 * GIB
    assert first.values["mem.used_pct"] == pytest.approx(25)
    assert first.values["mem.available_pct"] == pytest.approx(75)
    assert first.values["mem.swap.used_pct"] == pytest.approx(25)
    assert first.values["mem.swap.in"] is None and first.values["mem.swap.out"] is None
    second = collector.read(12.0)
    assert second.values["mem.swap.in"] == pytest.approx(20480)
    assert second.values["mem.swap.out"] == pytest.approx(2048)
    assert set(second.values) <= set(collector.specs())


def test_no_swap_percentage_is_unavailable_not_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "virtual_memory", Script([_vm()]))
    monkeypatch.setattr(psutil, "swap_memory", Script([sswap(0, 0, 0, 0.0, 0, 0)]))
    reading = MemoryCollector().read(1.0)
    assert "mem.swap.used_pct" not in reading.values
    assert "no swap" in reading.unavailable["mem.swap.used_pct"].reason
    assert reading.values["mem.swap.total"] == 0  # a measured zero: there is no swap


def test_fields_psutil_zeroed_are_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """psutil warns and sets a field to 0 when the kernel lacks it; we must not pass that 0 on."""

    def virtual_memory() -> svmem:
        warnings.warn("buffers, shared memory stats couldn't be determined and were set to 0",
                      RuntimeWarning, stacklevel=2)
        return _vm(buffers=0, shared=0)

    def swap_memory() -> sswap:
        warnings.warn("'sin' and 'sout' swap memory stats couldn't be determined and were set to 0",
                      RuntimeWarning, stacklevel=2)
        return sswap(GIB, 0, GIB, 0.0, 0, 0)

    monkeypatch.setattr(psutil, "virtual_memory", virtual_memory)
    monkeypatch.setattr(psutil, "swap_memory", swap_memory)
    reading = MemoryCollector().read(1.0)
    for series_id in ("mem.buffers", "mem.shared", "mem.swap.in", "mem.swap.out"):
        assert series_id not in reading.values
        assert reading.unavailable[series_id].reason
    assert reading.values["mem.cached"] == 3 * GIB


def test_swap_counter_going_backwards_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "virtual_memory", Script([_vm()]))
    monkeypatch.setattr(psutil, "swap_memory", Script([
        sswap(GIB, 0, GIB, 0.0, 100_000, 0), sswap(GIB, 0, GIB, 0.0, 50_000, 0),
        sswap(GIB, 0, GIB, 0.0, 54_096, 0)]))
    collector = MemoryCollector()
    collector.read(1.0)
    assert collector.read(2.0).values["mem.swap.in"] is None
    assert collector.read(3.0).values["mem.swap.in"] == pytest.approx(4096)


def _meminfo_bytes() -> dict[str, int]:
    fields = {}
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            key, value = line.split(":", 1)
            parts = value.split()
            fields[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return fields


def test_real_machine_agrees_with_proc_meminfo() -> None:
    collector = MemoryCollector()
    collector.read(time.monotonic())
    time.sleep(0.2)
    reading = collector.read(time.monotonic())
    meminfo = _meminfo_bytes()
    values = reading.values
    assert values["mem.total"] == meminfo["MemTotal"]
    tolerance = max(64 * 1024**2, 0.02 * meminfo["MemTotal"])  # other processes move memory meanwhile
    assert values["mem.available"] == pytest.approx(meminfo["MemAvailable"], abs=tolerance)
    assert values["mem.used"] == pytest.approx(meminfo["MemTotal"] - meminfo["MemAvailable"], abs=tolerance)
    assert values["mem.cached"] == pytest.approx(meminfo["Cached"] + meminfo["SReclaimable"], abs=tolerance)
    assert values["mem.buffers"] == pytest.approx(meminfo["Buffers"], abs=tolerance)
    assert values["mem.shared"] == pytest.approx(meminfo["Shmem"], abs=tolerance)
    assert values["mem.swap.total"] == meminfo["SwapTotal"]
    assert 0 <= values["mem.used"] <= values["mem.total"]
    assert 0 <= values["mem.used_pct"] <= 100
    assert values["mem.used_pct"] + values["mem.available_pct"] == pytest.approx(100)
    assert values["mem.swap.in"] >= 0 and values["mem.swap.out"] >= 0
    if meminfo["SwapTotal"] == 0:
        assert "mem.swap.used_pct" in reading.unavailable
    else:
        assert 0 <= values["mem.swap.used_pct"] <= 100
