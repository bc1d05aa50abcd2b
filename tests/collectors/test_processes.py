"""Process collector: a fake /proc tree laid out as the kernel does (odd names, vanished pids,
kernel threads, zombies, denied files, reused pids) and the real /proc of this machine compared
with psutil's view of the same processes."""

from __future__ import annotations

import dataclasses
import errno
import getpass
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from psutil_fakes import FakeProc, make_proc_tree, write_proc

from perfdeck.collectors import processes
from perfdeck.collectors.processes import REFRESH_READS, ProcessCollector, ProcessRow, parse_cmdline
from perfdeck.model.series import CollectorUnavailableError

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
BTIME = 1_700_000_000
AS_ROOT = os.geteuid() == 0
# Who owns the fake /proc/PID directories of FakeProc(uid=0): root, unless chown is not allowed.
DEFAULT_USER = "root" if AS_ROOT else pwd.getpwuid(os.geteuid()).pw_name
needs_root = pytest.mark.skipif(not AS_ROOT, reason="chown of the fake /proc/PID needs root")


def _rows(reading: object) -> dict[int, ProcessRow]:
    return {row.pid: row for row in reading.tables["processes"]}  # type: ignore[attr-defined]


@pytest.fixture
def tree(tmp_path: Path) -> Callable[..., Path]:
    """Build (or rewrite) the fake /proc under tmp_path; returns the root to hand the collector."""

    def build(*procs: FakeProc) -> Path:
        make_proc_tree(tmp_path, procs, btime=BTIME)
        return tmp_path

    return build


def test_fake_tree_fields(tree: Callable[..., Path]) -> None:
    root = tree(
        FakeProc(1, comm="init", uid=0, threads=1, rss_pages=300, starttime=5,
                 cmdline=("/sbin/init", "splash")),
        FakeProc(2, comm="kthreadd", ppid=0, kernel_thread=True, starttime=5),
        FakeProc(42, comm="gone", vanished=True),  # listed, then exited before its stat was read
        FakeProc(300, comm="a) b (c)", ppid=1, uid=0, threads=7, rss_pages=1234, starttime=250 * TICKS,
                 cmdline=("./weird", "--flag=x y")),
        FakeProc(301, comm="kworker/0:1-ev", state="I", ppid=2, kernel_thread=True),
        FakeProc(302, comm="dd", state="D", ppid=1, cmdline=("dd", "if=/dev/zero")),
        FakeProc(303, comm="defunct", state="Z", ppid=300),
        FakeProc(304, comm="gdb-target", state="t", ppid=1),
    )
    collector = ProcessCollector(root)
    collector.open()
    reading = collector.read(0.0)
    rows = _rows(reading)
    assert sorted(rows) == [1, 2, 300, 301, 302, 303, 304]  # 42 dropped; self, sys, stat, meminfo skipped

    weird = rows[300]
    assert weird.name == "a) b (c)"  # comm between the first '(' and the LAST ')'
    assert weird.ppid == 1 and weird.threads == 7 and weird.status == "sleeping"
    assert weird.rss == 1234 * PAGE
    assert weird.cmdline == ("./weird", "--flag=x y") and weird.command == "./weird --flag=x y"
    assert weird.create_time == pytest.approx(BTIME + 250.0)
    assert weird.user == DEFAULT_USER
    assert weird.cpu_percent is None  # first sight

    kthread = rows[2]
    assert kthread.cmdline == () and kthread.command == "[kthreadd]"  # honestly empty; shown as ps does
    assert kthread.rss == 0 and kthread.ppid == 0
    assert rows[301].status == "idle" and rows[301].name == "kworker/0:1-ev"
    assert rows[302].status == "disk-sleep"
    zombie = rows[303]
    assert zombie.status == "zombie" and zombie.name == "defunct"
    assert zombie.cmdline is None and zombie.command is None  # gone from the kernel: unknown, not empty
    assert rows[304].status == "tracing-stop"
    assert rows[1].cmdline == ("/sbin/init", "splash")
    assert rows[1].create_time == pytest.approx(BTIME + 5 / TICKS)

    assert reading.values["proc.count"] == 7
    assert reading.values["proc.threads"] == 1 + 1 + 7 + 1 + 1 + 1 + 1


def test_truncated_comm_is_extended_from_argv0(tree: Callable[..., Path]) -> None:
    root = tree(
        FakeProc(10, comm="gnome-keyring-d", cmdline=("/usr/bin/gnome-keyring-daemon", "--start")),
        FakeProc(11, comm="python3.11-conf", cmdline=("/usr/bin/python3", "x.py")),  # no prefix match
    )
    rows = _rows(ProcessCollector(root).read(0.0))
    assert rows[10].name == "gnome-keyring-daemon"
    assert rows[11].name == "python3.11-conf"


def test_setproctitle_command_lines() -> None:
    # Same results as psutil.Process.cmdline for the same bytes.
    assert parse_cmdline(b"postgres: checkpointer   \0\0\0") == ("postgres: checkpointer   ", "", "")
    assert parse_cmdline(b"nginx: worker process") == ("nginx:", "worker", "process")  # no NUL at all
    assert parse_cmdline(b"a\0b c\0") == ("a", "b c")
    assert parse_cmdline(b"") == ()


@needs_root
def test_unknown_uid_shows_the_number(tree: Callable[..., Path]) -> None:
    root = tree(FakeProc(5, uid=4_000_000_001))
    assert _rows(ProcessCollector(root).read(0.0))[5].user == "4000000001"


def test_cpu_percent_across_reads_and_reused_pids(tree: Callable[..., Path]) -> None:
    root = tree(FakeProc(10, utime=5 * TICKS), FakeProc(11, utime=TICKS, starttime=500))
    collector = ProcessCollector(root)
    first = _rows(collector.read(100.0))
    assert first[10].cpu_percent is None and first[11].cpu_percent is None  # first sight: no value
    assert collector.read_next_tick  # baselines only: the engine completes them at the next tick

    tree(FakeProc(10, utime=6 * TICKS, stime=2 * TICKS),
         FakeProc(11, utime=0, starttime=900),  # pid 11 exited and was reused by a new process
         FakeProc(12, utime=3 * TICKS))
    second = _rows(collector.read(102.0))
    assert not collector.read_next_tick  # back to min_interval
    assert second[10].cpu_percent == pytest.approx(150.0)  # 3 CPU-seconds in 2 s: 1.5 CPUs
    assert second[11].cpu_percent is None  # never the old process's interval
    assert second[12].cpu_percent is None  # new process

    tree(FakeProc(10, utime=6 * TICKS, stime=2 * TICKS), FakeProc(11, utime=TICKS, starttime=900),
         FakeProc(12, utime=7 * TICKS))
    third = _rows(collector.read(106.0))
    assert third[10].cpu_percent == 0.0  # a measured idle process
    assert third[11].cpu_percent == pytest.approx(25.0)
    assert third[12].cpu_percent == pytest.approx(100.0)


def test_exec_and_title_changes_are_picked_up(tree: Callable[..., Path]) -> None:
    root = tree(FakeProc(20, comm="bash", cmdline=("bash",)), FakeProc(21, comm="postgres",
                                                                      cmdline=("postgres", "-D", "/db")))
    collector = ProcessCollector(root)
    collector.read(0.0)
    # 20 execs (comm and cmdline change together); 21 rewrites its title (same comm).
    tree(FakeProc(20, comm="make", cmdline=("make", "-j2")),
         FakeProc(21, comm="postgres", raw_cmdline=b"postgres: checkpointer "))
    rows = _rows(collector.read(2.0))
    assert rows[20].name == "make" and rows[20].cmdline == ("make", "-j2")  # at once
    seen = [rows[21].cmdline]
    for n in range(REFRESH_READS):
        seen.append(_rows(collector.read(4.0 + 2 * n))[21].cmdline)
    assert seen[-1] == ("postgres:", "checkpointer")  # within REFRESH_READS reads
    assert len(set(seen)) == 2


@needs_root
def test_newcomer_is_refreshed_on_its_second_read(tree: Callable[..., Path]) -> None:
    root = tree(FakeProc(1, comm="init"))
    collector = ProcessCollector(root)
    collector.read(0.0)
    tree(FakeProc(1, comm="init"), FakeProc(50, comm="sshd", uid=0))  # forked as root ...
    assert _rows(collector.read(2.0))[50].user == "root"
    # ... then drops privileges (seen at once) and sets its title (seen on its second read).
    tree(FakeProc(1, comm="init"), FakeProc(50, comm="sshd", uid=4_000_000_002, raw_cmdline=b"sshd: bob"))
    row = _rows(collector.read(4.0))[50]
    assert row.user == "4000000002" and row.cmdline == ("sshd:", "bob")


def test_denied_files_give_none_never_zero(tree: Callable[..., Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree(FakeProc(1, comm="init", threads=2), FakeProc(77, comm="sshd", threads=3),
                FakeProc(78, comm="agent", threads=4))
    denied = {f"{root}/proc/77/stat", f"{root}/proc/78/cmdline", f"{root}/proc/78/statm"}
    real_open = os.open

    def open_as_unprivileged(path: str, flags: int, *args: object, **kwargs: object) -> int:
        # Root bypasses file modes, so hidepid=1-style EACCES is raised here instead.
        if str(path) in denied:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(processes.os, "open", open_as_unprivileged)
    reading = ProcessCollector(root).read(0.0)
    rows = _rows(reading)
    assert rows[77] == ProcessRow(77, None, None, None, None, None, None, None, None)  # listed, unknown
    agent = rows[78]
    assert agent.cmdline is None and agent.rss is None  # denied: unknown
    assert agent.name == "agent" and agent.threads == 4 and agent.user == DEFAULT_USER  # still read
    assert reading.values["proc.count"] == 3
    assert reading.values["proc.threads"] == 6  # only the processes whose threads we could read


def test_malformed_stat_loses_nothing_else(tree: Callable[..., Path]) -> None:
    root = tree(FakeProc(1, comm="init"), FakeProc(2, comm="ok"))
    (root / "proc/2/stat").write_bytes(b"2 (ok) S 1\n")  # truncated: not what a kernel writes
    rows = _rows(ProcessCollector(root).read(0.0))
    assert rows[1].name == "init"
    assert rows[2] == ProcessRow(2, None, None, None, None, None, None, None, None)


def test_not_procfs_is_unavailable_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(CollectorUnavailableError) as missing:
        ProcessCollector(tmp_path).open()
    assert "mount -t proc" in missing.value.unavailable.fix
    (tmp_path / "proc").mkdir()
    with pytest.raises(CollectorUnavailableError) as empty:
        ProcessCollector(tmp_path).open()
    assert "not a procfs mount" in empty.value.unavailable.reason


def test_rows_are_immutable() -> None:
    row = ProcessRow(1, "init", "root", None, 4096, 1, "sleeping", ("/sbin/init",), 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.pid = 2  # type: ignore[misc]
    hash(row)  # hashable: a view can keep rows in sets
    assert row.ppid is None


def test_slow_cadence_and_specs() -> None:
    collector = ProcessCollector()
    assert collector.min_interval == 2.0
    assert set(collector.specs()) == {"proc.count", "proc.threads"}


# --- the real /proc of this machine ---------------------------------------------------------


def _psutil_view() -> dict[int, dict[str, object]]:
    view = {}
    for process in psutil.process_iter():
        try:
            view[process.pid] = process.as_dict(
                attrs=("name", "ppid", "num_threads", "memory_info", "uids", "create_time",
                       "cmdline", "status"), ad_value=None)
        except psutil.NoSuchProcess:
            continue
    return view


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _mismatches_against_psutil() -> tuple[list[str], int]:
    """One comparison of a real read with psutil's view just before and just after it."""
    before = _psutil_view()
    rows = _rows(ProcessCollector().read(time.monotonic()))
    after = _psutil_view()
    problems: list[str] = []
    compared = 0
    for pid, row in rows.items():
        if pid not in before or pid not in after:
            continue  # started or exited during the comparison
        old, new = before[pid], after[pid]
        if old["create_time"] != new["create_time"] or old["name"] != new["name"]:
            continue  # reused or exec'd meanwhile
        compared += 1
        threads = (old["num_threads"], new["num_threads"])
        rss = (old["memory_info"].rss, new["memory_info"].rss)  # type: ignore[union-attr]
        slack = max(256 * 1024, max(rss) // 20)  # a busy process allocates between the three reads
        cmdlines = {tuple(c) if c is not None else None for c in (old["cmdline"], new["cmdline"])}
        checks = {
            "name": row.name == new["name"],
            "ppid": row.ppid in (old["ppid"], new["ppid"]),
            # The effective uid's name, as top and ps show (psutil's username() is the real uid's).
            "user": row.user in {_name(old["uids"].effective), _name(new["uids"].effective)},  # type: ignore[union-attr]
            "status": row.status in set(processes.STATUS_NAMES.values()) and (
                # states that do not flicker between reads
                not (old["status"] == new["status"] and new["status"] in ("idle", "zombie", "stopped"))
                or row.status == new["status"]),
            "create_time": abs(row.create_time - new["create_time"]) < 1.0,  # type: ignore[operator]
            "cmdline": row.cmdline in cmdlines,
            "threads": min(threads) <= row.threads <= max(threads),  # type: ignore[operator, type-var]
            "rss": min(rss) - slack <= row.rss <= max(rss) + slack,  # type: ignore[operator]
        }
        problems += [f"pid {pid} {field}: ours {getattr(row, field)!r}, psutil {old.get(field)!r} -> "
                     f"{new.get(field)!r}" for field, ok in checks.items() if not ok]
    if not (compared >= min(len(rows), len(before)) // 2 and compared > 0):
        problems.append(f"only {compared} of {len(rows)} processes could be compared")
    return problems, compared


def test_real_rows_match_psutil() -> None:
    # A process on a busy machine can change between psutil's view, our read and psutil's second
    # view in ways the before/after bracket misses (a thread started and another ended). Such a
    # race does not repeat; a real disagreement does, so the comparison gets three chances.
    attempts = [_mismatches_against_psutil()]
    while attempts[-1][0] and len(attempts) < 3:
        attempts.append(_mismatches_against_psutil())
    problems, compared = attempts[-1]
    assert not problems, "\n".join(problems + [f"(earlier attempts: {a[0]})" for a in attempts[:-1]])
    assert compared > 0


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
    collector.open()
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
    assert idle_row.status == psutil.STATUS_SLEEPING and idle_row.ppid == os.getpid()
    assert me.user == getpass.getuser()
    assert me.rss is not None and me.rss > 1024 * 1024
    assert me.threads is not None and me.threads >= 1
    assert me.create_time == pytest.approx(psutil.Process().create_time(), abs=1.0)
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


def test_real_kernel_threads_have_an_empty_command_line() -> None:
    rows = _rows(ProcessCollector().read(time.monotonic()))
    kthreadd = rows.get(2)
    if kthreadd is None or kthreadd.name != "kthreadd":
        pytest.skip("no kthreadd at pid 2 in this pid namespace (a container)")
    assert kthreadd.cmdline == () and kthreadd.command == "[kthreadd]" and kthreadd.rss == 0


def test_write_proc_round_trip(tmp_path: Path) -> None:
    """The fake tree's stat line has as many fields as this kernel's (guards the builder)."""
    write_proc(tmp_path, FakeProc(9, comm="x"))
    fake = (tmp_path / "9/stat").read_bytes()
    real = Path(f"/proc/{os.getpid()}/stat").read_bytes()
    assert len(fake[fake.rfind(b")") + 2:].split()) == len(real[real.rfind(b")") + 2:].split())


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a child that changes its uid")
def test_real_setuid_non_dumpable_child_shows_its_effective_user() -> None:
    """The design relies on /proc/PID's owner being the effective uid even for a process that is
    not dumpable (the files inside then belong to root): check it on this kernel."""
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import ctypes, os, sys, time\n"
         "os.setuid(65534)\n"
         "ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0, as ssh-agent does\n"
         "print('ready', flush=True)\n"
         "time.sleep(30)\n"],
        stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        assert os.stat(f"/proc/{child.pid}/stat").st_uid == 0  # non-dumpable: its files are root's
        row = _rows(ProcessCollector().read(time.monotonic()))[child.pid]
        assert row.user == _name(65534)
    finally:
        child.kill()
        child.wait()


def test_unchanged_rows_are_reused_and_btime_steps_move_create_time(tree: Callable[..., Path]) -> None:
    root = tree(FakeProc(1, comm="init", utime=10), FakeProc(2, comm="busy", utime=10))
    collector = ProcessCollector(root)
    collector.read(0.0)
    tree(FakeProc(1, comm="init", utime=10), FakeProc(2, comm="busy", utime=10 + TICKS))
    second = _rows(collector.read(2.0))
    tree(FakeProc(1, comm="init", utime=10), FakeProc(2, comm="busy", utime=10 + 3 * TICKS))
    third = _rows(collector.read(4.0))
    assert third[1] is second[1]  # idle and unchanged: the same row object
    assert third[2] is not second[2] and third[2].cpu_percent == pytest.approx(100.0)

    make_proc_tree(root, (), btime=BTIME + 3600)  # the wall clock was stepped an hour ahead
    rows = [_rows(collector.read(6.0 + 2 * n)) for n in range(REFRESH_READS)]
    assert rows[0][1].create_time == pytest.approx(BTIME + 1000 / TICKS)
    assert rows[-1][1].create_time == pytest.approx(BTIME + 3600 + 1000 / TICKS)  # within N reads
    assert rows[-1][2].cpu_percent == 0.0  # keyed by starttime ticks: the interval survives the step


def test_counts_without_the_walk_when_no_table_is_wanted(tree: Callable[..., Path]) -> None:
    root = tree(FakeProc(1, comm="systemd", threads=1, io=(0, 0)),
                FakeProc(2, comm="kthreadd", ppid=0, kernel_thread=True),
                FakeProc(40, comm="kworker/0:1", ppid=2, kernel_thread=True),
                FakeProc(300, comm="postgres", threads=9, utime=10))
    (root / "proc/loadavg").write_text("0.52 0.58 0.59 2/187 4391\n")
    collector = ProcessCollector(root, table=False)
    collector.open()
    assert collector.counts_cheaply  # kthreadd visible: the initial PID namespace
    assert "every task" in collector.specs()["proc.threads"].label
    light = collector.read(0.0)
    assert light.tables == {}
    # Counted from the listing, threads from loadavg's nr_threads (every task of the machine).
    assert light.values == {"proc.count": 4.0, "proc.threads": 187.0}
    (root / "proc/300/stat").unlink()  # no per-process file is read: a broken one changes nothing
    assert collector.read(2.0).values["proc.count"] == 4.0

    write_proc(root / "proc", FakeProc(300, comm="postgres", threads=9, utime=10))
    collector.set_table_wanted(True)
    assert collector.read_next_tick  # shown again: walk at the next tick, not min_interval later
    rows = _rows(collector.read(4.0))
    assert sorted(rows) == [1, 2, 40, 300]
    assert rows[300].cpu_percent is None  # no interval across the time nobody looked
    assert collector.read_next_tick  # and complete the CPU % one tick later
    assert collector.read(6.0).values["proc.threads"] == 187.0  # the same definition in both modes


def test_a_container_keeps_walking_for_the_thread_count(tree: Callable[..., Path]) -> None:
    # A PID namespace: no kthreadd, and /proc/loadavg counts the host's threads, not ours.
    root = tree(FakeProc(1, comm="sh", threads=1), FakeProc(7, comm="app", threads=4))
    (root / "proc/loadavg").write_text("0.52 0.58 0.59 2/1187 4391\n")
    collector = ProcessCollector(root, table=False)
    collector.open()
    assert not collector.counts_cheaply
    assert "may inspect" in collector.specs()["proc.threads"].label
    reading = collector.read(0.0)
    assert reading.values == {"proc.count": 2.0, "proc.threads": 5.0}


def test_engine_tells_collectors_no_table_is_wanted() -> None:
    from perfdeck.model.engine import SamplingEngine

    collector = ProcessCollector()
    engine = SamplingEngine([collector])
    engine.set_tables_wanted(False)
    try:
        snapshot = engine.sample()
    finally:
        engine.close()
    assert not collector.table_wanted
    if collector.counts_cheaply:  # this machine's initial PID namespace
        assert "processes" not in snapshot.tables
        listed = len([entry for entry in os.listdir("/proc") if entry.isdigit()])
        assert abs(snapshot.values["proc.count"] - listed) <= 20  # processes come and go meanwhile
    assert snapshot.value("proc.count") is not None and snapshot.value("proc.threads") is not None


# --- kept /proc/PID files (pread instead of open/read/close) -------------------------------------

_STABLE = ("pid", "name", "user", "cmdline", "create_time", "ppid", "kernel_thread")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_kept_files_give_the_rows_of_the_open_read_close_walk(
        children: tuple[subprocess.Popen, subprocess.Popen]) -> None:
    """The same live /proc read both ways, two reads each (the second one re-reads kept files):
    every field that cannot move between two immediate reads is equal, and an idle child's row
    is equal whole (but its CPU %, which is a rate over two slightly different intervals)."""
    _busy, idle = children
    time.sleep(0.3)
    kept, plain = ProcessCollector(keep_files=True), ProcessCollector(keep_files=False)
    kept.open()
    plain.open()
    assert kept._kept_limit > 0 and plain._kept_limit == 0
    for _ in range(3):
        now = time.monotonic()
        new, old = _rows(kept.read(now)), _rows(plain.read(now))
    assert kept._kept > 0 and plain._kept == 0
    common = new.keys() & old.keys()
    assert len(common) >= len(old) - 2  # at most a process or two started or exited in between
    for pid in common:
        for name in _STABLE:
            assert getattr(new[pid], name) == getattr(old[pid], name), (pid, name)
    idle_new, idle_old = new[idle.pid], old[idle.pid]
    assert dataclasses.replace(idle_new, cpu_percent=None) == dataclasses.replace(idle_old, cpu_percent=None)
    assert idle_new.rss is not None and idle_new.rss > 0
    kept.close()
    plain.close()
    assert kept._kept == 0


def test_kept_files_are_closed_when_the_process_exits_and_on_close() -> None:
    before = _open_fds()
    collector = ProcessCollector(keep_files=True)
    collector.open()
    child = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.2)
        collector.read(time.monotonic())
        collector.read(time.monotonic())  # the child's second read: its files are kept
        known = collector._known[child.pid]
        assert known.files is not None and known.files[0] >= 0 and known.files[1] >= 0
    finally:
        child.kill()
        child.wait()
    rows = _rows(collector.read(time.monotonic()))
    assert child.pid not in rows
    assert known.files is None  # its stat, statm and io are closed
    assert collector._kept == sum(f >= 0 for k in collector._known.values() for f in (k.files or ()))
    collector.close()
    assert collector._kept == 0
    assert _open_fds() <= before + 1  # the loadavg KeptFile may be reopened lazily: nothing else


def test_kept_files_respect_the_budget_and_kernel_threads_keep_no_statm() -> None:
    collector = ProcessCollector(keep_files=True)
    collector.open()
    collector._kept_limit = 9  # three processes' worth
    for _ in range(3):
        collector.read(time.monotonic())
    assert 0 < collector._kept <= 9
    for known in collector._known.values():
        if known.files is not None and known.kernel_thread:
            assert known.files[1] == -1
    collector.close()


def test_no_kept_files_while_no_table_is_wanted() -> None:
    collector = ProcessCollector(keep_files=True)
    collector.open()
    collector.read(time.monotonic())
    collector.read(time.monotonic())
    assert collector._kept > 0
    collector.set_table_wanted(False)
    collector.read(time.monotonic())
    if collector.counts_cheaply:  # a container walks anyway (see test_a_container_keeps_walking...)
        assert collector._kept == 0
    collector.close()


def test_fake_tree_reads_are_the_same_with_kept_files(tree: Callable[..., Path]) -> None:
    """A fake tree rewritten in place (same inodes, as procfs regenerates its files) reads the same
    with kept files as without, across CPU % and I/O rate changes."""
    procs = [FakeProc(1, comm="init", starttime=5, utime=100, io=(1000, 2000)),
             FakeProc(2, comm="kthreadd", ppid=0, kernel_thread=True, starttime=5),
             FakeProc(300, comm="worker", ppid=1, starttime=50, utime=10, rss_pages=77, io=(0, 0))]
    root = tree(*procs)
    kept, plain = ProcessCollector(root, keep_files=True), ProcessCollector(root, keep_files=False)
    kept.open()
    plain.open()
    kept._kept_limit = 100
    for step in range(4):
        procs = [dataclasses.replace(p, utime=p.utime + 10 * step, rss_pages=p.rss_pages + step,
                                     io=None if p.io is None else (p.io[0] + step * 4096, p.io[1] + step))
                 for p in procs]
        tree(*procs)
        now = 100.0 + 2 * step
        assert _rows(kept.read(now)) == _rows(plain.read(now))
    assert kept._kept > 0
    kept.close()
    assert kept._kept == 0
