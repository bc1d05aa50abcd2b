"""perf_event_open cgroup mode, for real: a cgroup is created, a busy child moved in, its events counted."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfdeck.collectors.cgroup_tree import detect_layout
from perfdeck.perf import abi
from perfdeck.perf.abi import PerfOpenError
from perfdeck.perf.cgroup_counters import (
    CgroupCounterPool,
    CgroupCounters,
    explain,
    specs_for_cgroups,
)
from perfdeck.perf.counters import online_cpus

SLEEPS = 60  # each sleep of the child is one voluntary context switch


def _cgroup_parent() -> Path:
    """A cgroup v2 directory where perf_event works, or skip with the reason."""
    if os.geteuid() != 0:
        pytest.skip("creating a cgroup and counting it system-wide needs root")
    layout = detect_layout(Path("/"))
    if layout.v2_mount is None:
        pytest.skip(f"no cgroup v2 mount here ({layout.summary()})")
    if "perf_event" in layout.v1_controllers:
        pytest.skip("perf_event is bound to cgroup v1 here: v2 directories cannot be counted")
    if not os.access(layout.v2_mount, os.W_OK):
        pytest.skip(f"{layout.v2_mount} is read-only (a container without cgroup delegation)")
    return layout.v2_mount


@pytest.fixture
def cgroups() -> Iterator[tuple[Path, Path]]:
    """Two fresh cgroups: one for the busy child, one left empty."""
    parent = _cgroup_parent()
    made = []
    for name in ("busy", "empty"):
        directory = parent / f"perfdeck-test-{os.getpid()}-{name}"
        try:
            directory.mkdir()
        except OSError as exc:
            pytest.skip(f"cannot create a cgroup under {parent}: {exc.strerror}")
        made.append(directory)
    yield made[0], made[1]
    for directory in made:
        for _ in range(50):  # rmdir fails (EBUSY) until the dead child has left the cgroup
            try:
                directory.rmdir()
                break
            except OSError:
                time.sleep(0.02)


def _child_in(directory: Path) -> tuple[int, int]:
    """Fork a child that waits until it is in ``directory``, then sleeps SLEEPS times and spins."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_w)
        os.read(ready_r, 1)  # wait until the parent has moved us
        for _ in range(SLEEPS):
            time.sleep(0.001)
        x = 0
        for i in range(200_000):
            x += i
        os._exit(0)
    os.close(ready_r)
    (directory / "cgroup.procs").write_text(f"{pid}\n")
    return pid, ready_w


def test_counts_context_switches_and_task_clock_of_a_cgroup(cgroups: tuple[Path, Path]) -> None:
    busy, empty = cgroups
    cpus = online_cpus()
    specs = specs_for_cgroups(cpus, pmus=[], hardware=False)
    counters = {d: CgroupCounters(d, specs) for d in (busy, empty)}
    for counter in counters.values():
        errors = counter.open()
        if errors:
            pytest.skip(f"cgroup-mode perf events cannot be opened here: {explain(errors)}")
        assert counter.fd_count == 2 * len(cpus)
    for counter in counters.values():
        assert counter.read() is None  # the baseline
    pid, go = _child_in(busy)
    os.write(go, b"x")
    os.close(go)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    busy_counts = counters[busy].read()
    empty_counts = counters[empty].read()
    for counter in counters.values():
        counter.close()
    assert busy_counts is not None and empty_counts is not None
    assert busy_counts.values["context-switches"] >= SLEEPS
    assert busy_counts.values["task-clock"] > 1e6  # more than 1 ms of CPU, in ns
    # Nothing ran in the empty cgroup: its events were never scheduled in (no value) or counted 0.
    assert not empty_counts.values.get("context-switches")
    print(f"busy cgroup: {busy_counts.values}; empty cgroup: {empty_counts.values}")


def test_pool_within_fd_budget(cgroups: tuple[Path, Path]) -> None:
    busy, empty = cgroups
    mount = busy.parent
    cpus = online_cpus()
    specs = specs_for_cgroups(cpus, pmus=[], hardware=False)
    pool = CgroupCounterPool(mount, cpus, specs, fd_budget=2 * len(cpus))  # room for exactly one
    assert pool.max_cgroups == 1
    pool.track([f"/{busy.name}", f"/{empty.name}"])
    try:
        if pool.failures:
            pytest.skip(f"cgroup-mode perf events cannot be opened here: {pool.failures}")
        assert list(pool.counters) == [f"/{busy.name}"]
        pool.track([f"/{empty.name}"])
        assert list(pool.counters) == [f"/{empty.name}"]
    finally:
        pool.close()


def test_explain_privilege_and_v1() -> None:
    denied = explain({"cycles": PerfOpenError(errno.EACCES, "denied")})
    assert denied is not None and "system-wide permission" in denied.reason
    assert "perf_event_paranoid=0" in denied.fix
    bad = explain({"cycles": PerfOpenError(errno.EBADF, "bad")})
    assert bad is not None and "perf_event" in bad.fix


def test_opener_passes_the_cgroup_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def refusing_open(attr: abi.PerfEventAttr, pid: int, cpu: int, group_fd: int = -1,
                      flags: int = abi.PERF_FLAG_FD_CLOEXEC) -> int:
        seen.append((os.readlink(f"/proc/self/fd/{pid}"), cpu, flags))
        raise PerfOpenError(errno.EACCES, "denied")

    monkeypatch.setattr(abi, "perf_event_open", refusing_open)
    counters = CgroupCounters(tmp_path, specs_for_cgroups([1], pmus=[], hardware=False))
    errors = counters.open()
    assert set(errors) == {"context-switches", "task-clock"}
    # pid is an fd of the cgroup directory, cpu a real CPU (never -1), and the cgroup flag is set.
    assert seen == [(str(tmp_path), 1, abi.PERF_FLAG_FD_CLOEXEC | abi.PERF_FLAG_PID_CGROUP)] * 2
    assert "system-wide permission" in explain(errors).reason


def test_collector_counts_a_real_cgroup(cgroups: tuple[Path, Path]) -> None:
    """The whole family on the real tree: the busy cgroup gets context switches/s and a series."""
    from perfdeck.collectors.cgroups import TABLE, CgroupCollector, instance_name

    busy, _empty = cgroups
    path = f"/{busy.name}"
    collector = CgroupCollector(series_limit=50)
    collector.open()
    try:
        collector.read(time.monotonic())  # chooses the cgroups to count and opens their counters
        collector.read(time.monotonic())  # baseline of the counters
        pid, go = _child_in(busy)
        os.write(go, b"x")
        os.close(go)
        os.waitpid(pid, 0)
        reading = collector.read(time.monotonic())
    finally:
        collector.close()
    table = reading.tables[TABLE]
    row = {r.path: r for r in table.rows}[path]
    if "counters" in row.missing:
        pytest.skip(f"not counted here: {row.missing['counters']}")
    assert row.ctx_switches_ps is not None and row.ctx_switches_ps > 0
    assert "cgroup mode" in table.counters
    inst = instance_name(path)
    assert reading.values[f"cgroup.ctx_switches.{inst}"] == row.ctx_switches_ps
    assert reading.totals[f"cgroup.context_switches.{inst}"] >= SLEEPS
