"""Process collector: vanished and denied processes and CPU % arithmetic on doubles; real child
processes on this machine."""

from __future__ import annotations

import dataclasses
import getpass
import os
import subprocess
import sys
import time

import psutil
import pytest
from psutil_fakes import FakeProcess, process_iter_of

from perfdeck.collectors.processes import ProcessCollector, ProcessRow


def _rows(reading: object) -> dict[int, ProcessRow]:
    return {row.pid: row for row in reading.tables["processes"]}  # type: ignore[attr-defined]


def test_vanished_process_is_dropped_and_denied_fields_are_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "process_iter", process_iter_of([
        FakeProcess(1, name="init", threads=1),
        FakeProcess(42, vanish=True),  # exits between the pid listing and reading its /proc files
        FakeProcess(77, name="sshd", threads=3,
                    denied={"cmdline", "memory_info", "cpu_times", "uids", "num_threads"}),
        FakeProcess(99, name="worker", threads=8),
    ]))
    reading = ProcessCollector().read(0.0)
    rows = _rows(reading)
    assert sorted(rows) == [1, 77, 99]
    denied = rows[77]
    assert denied.name == "sshd"
    assert denied.cmdline is None and denied.rss is None and denied.threads is None  # not 0
    assert denied.cpu_percent is None and denied.user is None
    assert reading.values["proc.count"] == 3
    assert reading.values["proc.threads"] == 9  # only the processes whose threads we could read


def test_rows_are_immutable() -> None:
    row = ProcessRow(1, "init", "root", None, 4096, 1, "sleeping", ("/sbin/init",), 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.pid = 2  # type: ignore[misc]
    hash(row)  # hashable: a view can keep rows in sets


def test_cpu_percent_across_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "process_iter", process_iter_of(
        [FakeProcess(10, cpu=5.0), FakeProcess(11, cpu=1.0, create_time=500.0)],
        [FakeProcess(10, cpu=8.0), FakeProcess(11, cpu=0.5, create_time=900.0), FakeProcess(12, cpu=3.0)],
        [FakeProcess(10, cpu=8.0), FakeProcess(11, cpu=1.5, create_time=900.0), FakeProcess(12, cpu=7.0)],
    ))
    collector = ProcessCollector()
    first = _rows(collector.read(100.0))
    assert first[10].cpu_percent is None and first[11].cpu_percent is None  # first sight: no value
    second = _rows(collector.read(102.0))
    assert second[10].cpu_percent == pytest.approx(150.0)  # 3 CPU-seconds in 2 s: 1.5 CPUs
    assert second[11].cpu_percent is None  # pid 11 was reused by a new process
    assert second[12].cpu_percent is None  # new process
    third = _rows(collector.read(106.0))
    assert third[10].cpu_percent == 0.0  # a measured idle process
    assert third[11].cpu_percent == pytest.approx(25.0)
    assert third[12].cpu_percent == pytest.approx(100.0)


def test_unknown_uid_shows_the_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "process_iter", process_iter_of([FakeProcess(5, uid=4_000_000_001)]))
    assert _rows(ProcessCollector().read(0.0))[5].user == "4000000001"


def test_slow_cadence_and_specs() -> None:
    collector = ProcessCollector()
    assert collector.min_interval == 2.0
    assert set(collector.specs()) == {"proc.count", "proc.threads"}


@pytest.fixture
def children() -> object:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen(["sleep", "60"])
    try:
        yield busy, idle
    finally:
        for child in (busy, idle):
            child.kill()
            child.wait()


def test_real_processes(children: tuple[subprocess.Popen, subprocess.Popen]) -> None:
    busy, idle = children
    time.sleep(0.3)  # let both finish starting up
    collector = ProcessCollector()
    first = _rows(collector.read(time.monotonic()))
    assert busy.pid in first and idle.pid in first
    assert all(row.cpu_percent is None for row in first.values())
    time.sleep(1.0)
    reading = collector.read(time.monotonic())
    rows = _rows(reading)
    busy_row, idle_row, me = rows[busy.pid], rows[idle.pid], rows[os.getpid()]
    assert busy_row.cpu_percent is not None and busy_row.cpu_percent > 5  # spinning, even on a crowded host
    assert idle_row.cpu_percent is not None and idle_row.cpu_percent < 5
    assert idle_row.name == "sleep" and idle_row.cmdline == ("sleep", "60")
    assert idle_row.status == psutil.STATUS_SLEEPING
    assert me.user == getpass.getuser()
    assert me.rss is not None and me.rss > 1024 * 1024
    assert me.threads is not None and me.threads >= 1
    assert me.create_time == pytest.approx(psutil.Process().create_time())
    total_cpu = sum(row.cpu_percent for row in rows.values() if row.cpu_percent is not None)
    assert total_cpu <= 100 * (psutil.cpu_count() or 1) * 1.1
    assert reading.values["proc.count"] == len(rows)
    assert reading.values["proc.threads"] >= len(rows)

    idle.kill()
    idle.wait()
    assert idle.pid not in _rows(collector.read(time.monotonic()))  # gone: simply dropped


def test_real_zombie_is_listed_with_what_can_be_read() -> None:
    child = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 5
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
        row = _rows(ProcessCollector().read(time.monotonic()))[child.pid]
        assert row.status == psutil.STATUS_ZOMBIE
        assert row.name == "true"
        assert row.cmdline is None  # the kernel no longer has it: unknown, not empty
    finally:
        child.wait()
