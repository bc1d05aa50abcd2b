"""Replayed kernel views (tests/perf/counter_replay/*.json) through the real perf layer.

See counter_replay/kernel.py for the fixture format.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from counter_replay.kernel import FakeKernel, build_root, load

from perfdeck.collectors.perfcounters import MODE_PROCESS, MODE_SYSTEM, PerfCollector
from perfdeck.perf.events import BY_NAME, core_pmus
from perfdeck.perf.process import ProcessCounters


def _approx(expected: float) -> Any:
    return pytest.approx(expected, rel=1e-6)


def _collector_run(fixture: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                   ) -> tuple[PerfCollector, FakeKernel, list[Any]]:
    root = build_root(tmp_path, fixture)
    kernel = FakeKernel(fixture)
    kernel.install(monkeypatch)
    collector = PerfCollector(root, target_pid=(fixture.get("process") or {}).get("pid"),
                              events=[BY_NAME[e] for e in fixture["events"]])
    collector.open()
    readings = []
    try:
        for tick in range(len(fixture["ticks"])):
            kernel.tick = tick
            readings.append(collector.read(time.monotonic()))
    finally:
        collector.close()
    assert not kernel.fds, "every perf fd is closed"
    return collector, kernel, readings


def _check_collector(fixture: dict[str, Any], readings: list[Any]) -> None:
    for expect in fixture["expect"]:
        reading = readings[expect["tick"]]
        for sid, value in expect.get("values", {}).items():
            assert reading.values[sid] == _approx(value), sid
        for sid, text in expect.get("unavailable", {}).items():
            assert sid not in reading.values
            assert text in reading.unavailable[sid].reason, sid
        for cid, value in expect.get("totals", {}).items():
            assert reading.totals[cid] == _approx(value), cid
        for cid in expect.get("no_totals", []):
            assert cid not in reading.totals


@pytest.mark.parametrize("name", ["multiplexed_groups", "watchdog_fixed_counter", "hybrid_l1d_system",
                                  "active_clock", "zen4_zero_l1d_loads"])
def test_system_wide_replay(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = load(name)
    collector, _kernel, readings = _collector_run(fixture, tmp_path, monkeypatch)
    assert collector.mode == MODE_SYSTEM
    _check_collector(fixture, readings)


def _process_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                 ) -> tuple[dict[str, Any], list[Any]]:
    fixture = load(name)
    root = build_root(tmp_path, fixture)
    kernel = FakeKernel(fixture)
    kernel.install(monkeypatch)
    counters = ProcessCounters(fixture["process"]["pid"], events=[BY_NAME[e] for e in fixture["events"]],
                               root=root, pmus=core_pmus(root))
    counters.open()
    samples = []
    try:
        for tick in range(len(fixture["ticks"])):
            kernel.tick = tick
            samples.append(counters.read())
    finally:
        counters.close()
    assert not kernel.fds
    return fixture, samples


@pytest.mark.parametrize("name", ["hybrid_migration", "thread_never_runs"])
def test_process_replay(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fixture, samples = _process_run(name, tmp_path, monkeypatch)
    for expect in fixture["expect"]:
        sample = samples[expect["tick"]]
        for event, value in expect.get("deltas", {}).items():
            assert sample.deltas[event] == _approx(value), event
        for metric, value in expect.get("metrics", {}).items():
            assert sample.metrics[metric] == pytest.approx(value, rel=1e-4), metric
        if "counted_ratio" in expect:
            assert sample.counted_ratio == pytest.approx(expect["counted_ratio"], rel=1e-3)


def test_hybrid_migration_through_the_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same fixture through PerfCollector's per-process fallback (system-wide refused)."""
    fixture = load("hybrid_migration")
    fixture["refuse_system_wide"] = True
    collector, _, readings = _collector_run(fixture, tmp_path, monkeypatch)
    assert collector.mode == MODE_PROCESS
    assert readings[0].values["perf.ipc.total"] == pytest.approx(1.935, rel=1e-3)
    assert readings[0].totals["perf.count.cycles.total"] == pytest.approx(3.85e9)
    assert readings[1].totals["perf.count.cycles.total"] == pytest.approx(7.85e9)


def test_ghz_says_what_it_is_and_active_ghz_needs_the_base_clock(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = load("active_clock")
    collector, _, readings = _collector_run(fixture, tmp_path / "a", monkeypatch)
    label = collector.specs()["perf.ghz.total"].label
    assert "idle time counts as 0" in label and "not the clock" in label
    # Without a known base clock, active GHz is unavailable with the reason, never guessed.
    del fixture["machine"]["base_frequency_khz"]
    _, _, readings = _collector_run(fixture, tmp_path / "b", monkeypatch)
    assert "perf.active_ghz.total" not in readings[1].values
    assert "base clock" in readings[1].unavailable["perf.active_ghz.total"].reason
    assert readings[1].values["perf.ghz.total"] == pytest.approx(3.0)


def test_hybrid_process_without_e_core_l1d_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per process, a P-core-only event would be extrapolated over E-core time: unavailable instead."""
    fixture = load("hybrid_migration")
    fixture["events"] = ["cycles", "instructions", "L1-dcache-load-misses"]
    fixture["unsupported"] = [{"pmu": "cpu_atom", "event": "L1-dcache-load-misses", "errno": "ENOENT"}]
    fixture["refuse_system_wide"] = True
    collector, kernel, readings = _collector_run(fixture, tmp_path, monkeypatch)
    assert collector.mode == MODE_PROCESS
    assert "not counted on E-cores (cpu_atom)" in readings[0].unavailable["perf.l1d_mpki.total"].reason
    assert readings[0].values["perf.ipc.total"] == pytest.approx(1.935, rel=1e-3)
    # It opened on cpu_core (so the CPU has it) but is dropped rather than shown partial.
    assert ("thread 100", "cpu_core", "L1-dcache-load-misses") in kernel.opened
    assert "perf.count.l1-dcache-load-misses.total" not in readings[0].totals


def test_duplicate_rapl_zone(tmp_path: Path) -> None:
    """Finding 7: the replayed powercap files through the real discovery and collector."""
    from fakes.sysfs_trees import add_powercap, write
    from perfdeck.collectors.power import PowerCollector

    fixture = load("duplicate_rapl_zone")
    first = fixture["ticks"][0]["energy_uj"]
    zones = {zone: (name, first[zone], top) for zone, (name, top) in fixture["powercap"].items()}
    add_powercap(tmp_path, zones, mode=0o644)
    collector = PowerCollector(tmp_path)
    collector.open()
    readings = []
    for tick in fixture["ticks"]:
        for zone, energy in tick["energy_uj"].items():
            write(tmp_path, f"sys/class/powercap/{zone}/energy_uj", f"{energy}\n")
        readings.append(collector.read(tick["now"]))
    collector.close()
    for expect in fixture["expect"]:
        reading = readings[expect["tick"]]
        for sid, value in expect["values"].items():
            assert reading.values[sid] == pytest.approx(value), sid
        for cid, value in expect["totals"].items():
            assert reading.totals[cid] == pytest.approx(value), cid
    status = readings[-1].tables["power"]
    assert "intel-rapl:0," in status["source"] and "intel-rapl-mmio:0" not in status["source"]
    assert any("intel-rapl-mmio:0 (package-0) is the same RAPL domain as intel-rapl:0" in n
               for n in status["notes"])


def test_thread_created_while_opening_is_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing race: thread 101 appears after /proc/100/task was listed, before 100's fds opened.

    Its creator's counters did not exist yet, so inheritance cannot have caught it; ``open`` sees
    the listing change and starts again, so 101 gets its own counters.
    """
    from fakes.sysfs_trees import write
    from perfdeck.perf.process import boot_ticks_now

    fixture = load("hybrid_migration")
    fixture["machine"]["pmus"] = {"cpu": {"type": 4}}
    group = {"pmu": "cpu", "enabled": 10**9, "running": 10**9,
             "values": {"instructions": 2 * 10**9, "cycles": 10**9}}
    fixture["ticks"] = [{"thread 100": [group], "thread 101": [group]}]
    root = build_root(tmp_path, fixture)
    kernel = FakeKernel(fixture)
    kernel.install(monkeypatch)
    real_open = kernel.open

    def spawning_open(attr, pid, cpu, group_fd):  # type: ignore[no-untyped-def]
        fd = real_open(attr, pid, cpu, group_fd)
        if pid == 100 and not (root / "proc/100/task/101").exists():
            # Field 22 (start time): now, i.e. after open() began, so it looks inherited.
            fields = ["S"] + ["0"] * 18 + [str(boot_ticks_now() + 1)] + ["0"] * 20
            write(root, "proc/100/task/101/stat", "101 (replay) " + " ".join(fields) + "\n")
        return fd

    from perfdeck.perf import counters as counters_module
    monkeypatch.setattr(counters_module, "_default_opener", spawning_open)
    counters = ProcessCounters(100, events=[BY_NAME["cycles"], BY_NAME["instructions"]], root=root,
                               pmus=core_pmus(root))
    counters.open()
    try:
        assert set(counters.groups) == {100, 101}
        sample = counters.read()
    finally:
        counters.close()
    assert sample.deltas["cycles"] == pytest.approx(2e9)  # both threads, each counted once
    assert not kernel.fds
