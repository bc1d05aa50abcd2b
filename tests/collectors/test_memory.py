"""Memory collector: doubles for swapless machines, zeroed fields and swap rates; the real machine
against /proc/meminfo."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from psutil_fakes import FileScript

from perfdeck.collectors.memory import MemoryCollector, meminfo_fields, parse_meminfo, vmstat_counter

GIB = 1024**3
KIB = 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


def meminfo_text(total: int = 16 * GIB, available: int | None = 12 * GIB, buffers: int | None = GIB // 8,
                 cached: int | None = 3 * GIB - GIB // 4, reclaimable: int = GIB // 4,
                 shared: int | None = GIB // 4, swap_total: int = 8 * GIB, swap_free: int = 6 * GIB) -> str:
    """/proc/meminfo as fs/proc/meminfo.c writes it (kB); None leaves the line out (old kernels)."""
    lines = [("MemTotal", total), ("MemFree", total // 4), ("MemAvailable", available),
             ("Buffers", buffers), ("Cached", cached), ("SwapCached", 0), ("Active", GIB),
             ("Inactive", GIB), ("SwapTotal", swap_total), ("SwapFree", swap_free), ("Shmem", shared),
             ("Slab", GIB // 2), ("SReclaimable", reclaimable), ("HugePages_Total", 0)]
    text = ""
    for name, value in lines:
        if value is not None:
            unit = "" if name.startswith("HugePages") else " kB"
            text += f"{name + ':':<16}{value // KIB:>8}{unit}\n"
    return text


def vmstat_text(pages_in: int | None, pages_out: int | None) -> str:
    """/proc/vmstat: "name value" lines; None leaves a counter out."""
    lines = ["nr_free_pages 123456", "nr_zone_inactive_anon 1", "pgpgin 99", "pgpgout 77"]
    lines += [f"pswpin {pages_in}"] if pages_in is not None else []
    lines += [f"pswpout {pages_out}"] if pages_out is not None else []
    lines += ["pgalloc_normal 5", "thp_swpout 0"]
    return "\n".join(lines) + "\n"


def _tree(root: Path, meminfo: str, vmstat: list) -> FileScript:
    (root / "proc").mkdir(parents=True, exist_ok=True)
    (root / "proc/meminfo").write_text(meminfo)
    return FileScript(root / "proc/vmstat", lambda counts: vmstat_text(*counts), vmstat)


def test_levels_percentages_and_swap_rates(tmp_path: Path) -> None:
    vmstat = _tree(tmp_path, meminfo_text(), [(1, 2), (11, 3)])
    collector = MemoryCollector(tmp_path)
    first = vmstat.read(collector, 10.0)
    assert first.values["mem.total"] == 16 * GIB
    assert first.values["mem.used"] == 4 * GIB
    assert first.values["mem.cached"] == 3 * GIB  # Cached + SReclaimable
    assert first.values["mem.buffers"] == GIB // 8 and first.values["mem.shared"] == GIB // 4
    assert first.values["mem.used_pct"] == pytest.approx(25)
    assert first.values["mem.available_pct"] == pytest.approx(75)
    assert first.values["mem.swap.used"] == 2 * GIB
    assert first.values["mem.swap.used_pct"] == pytest.approx(25)
    assert first.values["mem.swap.in"] is None and first.values["mem.swap.out"] is None
    assert first.totals == {"mem.swap.in_bytes": PAGE, "mem.swap.out_bytes": 2 * PAGE}
    second = vmstat.read(collector, 12.0)
    assert second.values["mem.swap.in"] == pytest.approx(10 * PAGE / 2)  # pages times the page size
    assert second.values["mem.swap.out"] == pytest.approx(PAGE / 2)
    assert set(second.values) <= set(collector.specs())


def test_no_swap_percentage_is_unavailable_not_zero(tmp_path: Path) -> None:
    vmstat = _tree(tmp_path, meminfo_text(swap_total=0, swap_free=0), [(0, 0)])
    reading = vmstat.read(MemoryCollector(tmp_path), 1.0)
    assert "mem.swap.used_pct" not in reading.values
    assert "no swap" in reading.unavailable["mem.swap.used_pct"].reason
    assert reading.values["mem.swap.total"] == 0  # a measured zero: there is no swap


def test_fields_the_kernel_lacks_are_unavailable(tmp_path: Path) -> None:
    """An old kernel without Buffers/Shmem lines or pswpin: unavailable with the reason, never 0."""
    vmstat = _tree(tmp_path, meminfo_text(buffers=None, shared=None), [(None, None)])
    reading = vmstat.read(MemoryCollector(tmp_path), 1.0)
    for series_id in ("mem.buffers", "mem.shared", "mem.swap.in", "mem.swap.out"):
        assert series_id not in reading.values
        assert reading.unavailable[series_id].reason
    assert reading.values["mem.cached"] == 3 * GIB
    assert "mem.swap.in_bytes" not in reading.totals


def test_no_memavailable_before_linux_3_14(tmp_path: Path) -> None:
    vmstat = _tree(tmp_path, meminfo_text(available=None), [(0, 0)])
    reading = vmstat.read(MemoryCollector(tmp_path), 1.0)
    for series_id in ("mem.available", "mem.used", "mem.used_pct", "mem.available_pct"):
        assert "MemAvailable" in reading.unavailable[series_id].reason
    assert reading.values["mem.total"] == 16 * GIB


def test_unreadable_meminfo(tmp_path: Path) -> None:
    reading = MemoryCollector(tmp_path).read(1.0)
    assert "/proc/meminfo" in reading.unavailable["mem.used"].reason and not reading.values


def test_swap_counter_going_backwards_gives_none(tmp_path: Path) -> None:
    vmstat = _tree(tmp_path, meminfo_text(), [(100, 0), (50, 0), (51, 0)])
    collector = MemoryCollector(tmp_path)
    vmstat.read(collector, 1.0)
    stepped_back = vmstat.read(collector, 2.0)
    assert stepped_back.values["mem.swap.in"] is None
    assert "mem.swap.in_bytes" not in stepped_back.totals  # never reported lower
    assert vmstat.read(collector, 3.0).values["mem.swap.in"] == pytest.approx(PAGE)


def test_parsers() -> None:
    text = meminfo_text().encode()
    wanted = (b"MemTotal", b"MemAvailable", b"Buffers", b"Cached", b"SReclaimable", b"Shmem", b"SwapFree")
    assert meminfo_fields(text, wanted) == {key: value for key, value in parse_meminfo(text).items()
                                            if key in wanted}
    assert meminfo_fields(text)[b"MemTotal"] == 16 * GIB and b"MemShared" not in meminfo_fields(text)
    assert parse_meminfo(b"MemTotal:       16318480 kB\nHugePages_Total:       4\n") == {
        b"MemTotal": 16318480 * 1024, b"HugePages_Total": 4}
    assert meminfo_fields(b"HugePages_Total:       4\nMemTotal: 1 kB", (b"HugePages_Total", b"MemTotal")) == {
        b"HugePages_Total": 4, b"MemTotal": 1024}
    assert vmstat_counter(b"pswpin 5\npswpout 6", b"pswpout") == 6
    assert vmstat_counter(b"pswpin 5\npswpout 6\n", b"pswpin") == 5
    assert vmstat_counter(b"xpswpin 5\n", b"pswpin") is None


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
    vmstat = Path("/proc/vmstat").read_bytes()
    assert reading.totals["mem.swap.in_bytes"] <= vmstat_counter(vmstat, b"pswpin") * PAGE
    if meminfo["SwapTotal"] == 0:
        assert "mem.swap.used_pct" in reading.unavailable
    else:
        assert 0 <= values["mem.swap.used_pct"] <= 100
