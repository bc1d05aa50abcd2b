"""The process table (``Reading.tables["processes"]``) and the ``proc.count`` / ``proc.threads`` series.

Rows are immutable ``ProcessRow`` tuples, sorted by pid.

Why /proc is read directly instead of through psutil
----------------------------------------------------
The first version walked ``psutil.process_iter()`` with ``as_dict`` in a ``oneshot`` block. That
costs ~110 µs of CPU per process (32-48 ms per read with 300 processes, 1.6-2.4 % of a core at
the 2 s cadence), because psutil reads /proc/PID/stat, status, statm and cmdline through Python
file objects for every process on every read, and wraps each field in a method call and an
exception handler. PerfDeck's whole budget is 1 % of one core, so this module reads procfs
itself (psutil stays in use for everything rare: kill/terminate in the GUI, the other families):

- One ``os.listdir`` of /proc, then for each pid one read of /proc/PID/stat and one of
  /proc/PID/statm, with raw ``os.open``/``os.read`` (a Python file object costs ~2.5x more). The
  stat line gives the name (between the first ``(`` and the LAST ``)``: a comm may contain spaces
  and parentheses), state, ppid, utime + stime (clock ticks), num_threads and starttime (ticks
  since boot). The rss comes from statm, not from stat's rss field: on Linux 6.18 here stat's
  value was 30-40 pages below statm's for every process (the kernel keeps RSS in per-CPU
  counters and the two files do not fold them in the same way, so the gap can grow with the CPU
  count), while statm (psutil's source) matched psutil exactly. That second read costs ~3 µs per
  process, worth an exact number.
- The user is the owner of the /proc/PID directory (one ``os.stat``), which the kernel keeps
  equal to the process's *effective* uid (fs/proc/base.c ``task_dump_owner``: the "non-dumpable
  means root" rule of proc(5) applies to the files inside, not to this directory; the tests check
  it on the running kernel with a set-uid, non-dumpable child). That is the user top, htop and ps
  show, and it is fresh every read.
  It differs from psutil's ``username()`` (the *real* uid, used by the psutil version of this
  collector) only for set-uid programs such as sudo or passwd, which now show as root, as in top.
- The command line (/proc/PID/cmdline) rarely changes, so it is cached per (pid, starttime) and
  re-read every ``REFRESH_READS`` reads (5: within 10 s at the 2 s cadence; postgres and
  browsers rewrite their titles), staggered by pid on the first read so the cost is spread evenly
  rather than spiking on one read. It is also re-read at once when the comm in stat changes (an
  ``execve`` changes both), when the process becomes a zombie, and on a process's second read
  when it was first seen after the collector started (a fresh child often execs or renames itself
  right away).
- ``create_time`` = starttime / CLK_TCK + ``btime`` of /proc/stat, exactly as psutil computes it;
  btime is re-read every ``REFRESH_READS`` reads (it moves when the wall clock is stepped).

Steady state is two small reads and one ``stat()`` per process per read (measured by
benchmarks/process_scan_cost.py and recorded in docs/performance-collectors.md).

Field semantics (kept from the psutil version, so the GUI shows the same things):

- A process that exits between the listing and its stat read (``FileNotFoundError``, or
  ``ProcessLookupError`` when it dies between open and read) is simply left out. A file the kernel
  will not let us read (``PermissionError``, e.g. /proc mounted with ``hidepid=1``) makes the
  fields that come from it None, never 0.
- ``name`` is the comm, extended to the basename of argv[0] when the comm is the 15-character
  truncation of it ("gnome-keyring-d" -> "gnome-keyring-daemon"), as ``psutil.Process.name``.
- ``status`` uses psutil's words ("running", "sleeping", "disk-sleep", "zombie", "stopped",
  "tracing-stop", "idle", ...), so filters and the GUI read as before.
- ``cmdline``: a tuple of arguments, split on NUL (or on spaces when a process rewrote its title
  with spaces, as psutil does). A kernel thread has none: ``()``, honestly empty; ``command``
  shows ``[name]`` for it (and for a process that blanked its argv), as ps does. A zombie's
  command line is gone from the kernel: None.
- ``rss`` is the kernel's resident page count times the page size (the value psutil reads from
  statm); kernel threads and zombies have no address space, so 0 is the real value for them.
- CPU % comes from utime + stime deltas per (pid, starttime), so a reused pid never inherits an
  interval. 100 % means one CPU fully used, as in top and htop (a multi-threaded process can
  exceed 100 %). A process seen for the first time has None until the next read.

User names are resolved from the uid with a per-collector cache: ``getpwuid`` once per process per
read is slow with LDAP or SSSD.
"""

from __future__ import annotations

import contextlib
import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from types import MappingProxyType

import psutil

from perfdeck.collectors._common import KeptFile
from perfdeck.model.collector import Collector
from perfdeck.model.series import CollectorUnavailableError, Reading, SeriesSpec, Unavailable

_SPECS: Mapping[str, SeriesSpec] = MappingProxyType({
    "proc.count": SeriesSpec("proc.count", "Processes", "", group="proc.count"),
    "proc.threads": SeriesSpec("proc.threads", "Threads (in processes we may inspect)", "",
                               group="proc.count"),
})
# Where every task of the machine is visible (the initial PID namespace), the thread count is
# the kernel's own ``nr_threads`` from /proc/loadavg: one small read instead of a walk.
_SPECS_ALL_TASKS: Mapping[str, SeriesSpec] = MappingProxyType({
    "proc.count": _SPECS["proc.count"],
    "proc.threads": SeriesSpec("proc.threads", "Threads (every task, kernel threads included)", "",
                               group="proc.count"),
})

# Re-read each command line, and btime, every this many reads (10 s at the 2 s cadence).
REFRESH_READS = 5

# The state letter of /proc/PID/stat (fs/proc/array.c task_state_array) in psutil's words.
STATUS_NAMES: Mapping[str, str] = MappingProxyType({
    "R": psutil.STATUS_RUNNING,
    "S": psutil.STATUS_SLEEPING,
    "D": psutil.STATUS_DISK_SLEEP,
    "T": psutil.STATUS_STOPPED,
    "t": psutil.STATUS_TRACING_STOP,
    "Z": psutil.STATUS_ZOMBIE,
    "X": psutil.STATUS_DEAD,
    "x": psutil.STATUS_DEAD,
    "K": "wake-kill",  # psutil 7 dropped the constant but still returns this word
    "W": psutil.STATUS_WAKING,
    "I": psutil.STATUS_IDLE,
    "P": psutil.STATUS_PARKED,
})

# At most this many /proc/PID files are kept open between reads (and at most a quarter of the
# soft RLIMIT_NOFILE): three per process (stat, statm, io), re-read with pread. The rest of the
# processes are read with open/read/close as before.
KEPT_FILES_MAX = 1536

_BY_PID = attrgetter("pid")  # a C-level sort key: no Python call per row
_TRUNCATED_COMM = 15  # TASK_COMM_LEN - 1: longer names are cut in stat
PF_KTHREAD = 0x00200000  # include/linux/sched.h: the task is a kernel thread
KTHREADD_PID = 2


@dataclass(frozen=True, slots=True)
class ProcessRow:
    """One process at one read. A field is None when the kernel did not let us read it."""

    pid: int
    name: str | None
    user: str | None
    cpu_percent: float | None  # 100 = one CPU; None on the first read of this process
    rss: int | None  # resident set size, bytes
    threads: int | None
    status: str | None
    cmdline: tuple[str, ...] | None  # () for a kernel thread, None when unreadable (zombies)
    create_time: float | None  # seconds since the epoch
    ppid: int | None = None
    # Storage I/O the process caused, bytes/s over the last interval (/proc/PID/io read_bytes and
    # write_bytes deltas). None on its first read or where the kernel will not let us read io
    # (another user's process without CAP_SYS_PTRACE): unknown, never 0.
    io_read_bps: float | None = None
    io_write_bps: float | None = None
    # A kernel thread (PF_KTHREAD in stat's flags, or kthreadd and its children): no address
    # space, no command line, no statm.
    kernel_thread: bool = False

    @property
    def command(self) -> str | None:
        """The command line as one string; ``[name]`` when there is none (kernel threads), as ps."""
        if self.cmdline is None:
            return None
        if self.cmdline:
            return " ".join(self.cmdline)
        return f"[{self.name}]" if self.name is not None else None


def _read(path: str) -> bytes:
    """The whole content of a procfs file; raw os calls because ``open()`` costs ~2.5x more."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, 4096)
        if len(data) < 4096:
            return data
        chunks = [data]  # long command lines: procfs hands them out in pieces
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")  # names are bytes; a GUI needs valid text


def parse_cmdline(raw: bytes) -> tuple[str, ...]:
    """Split /proc/PID/cmdline as psutil does: NUL-separated, or spaces after a setproctitle."""
    if not raw:
        return ()
    text = _decode(raw)
    sep = "\0" if text.endswith("\0") else " "
    if text.endswith(sep):
        text = text[:-1]
    args = text.split(sep)
    if sep == "\0" and len(args) == 1 and " " in text:
        args = text.split(" ")  # a title rewritten with spaces but still NUL-terminated
    return tuple(args)


def parse_io(raw: bytes) -> tuple[int, int] | None:
    """``(read_bytes, write_bytes)`` from /proc/PID/io (proc(5)), or None when they are missing."""
    start = raw.find(b"read_bytes: ")
    end = raw.find(b"\nwrite_bytes: ", start)
    if start < 0 or end < 0:
        return None
    try:
        stop = raw.find(b"\n", end + 14)
        return int(raw[start + 12:end]), int(raw[end + 14:stop if stop >= 0 else None])
    except ValueError:
        return None


def sees_every_task(proc: str) -> bool:
    """True when this procfs shows the machine's every task: the initial PID namespace, where
    PID 2 is ``kthreadd``, a kernel thread. A container's PID namespace hides kernel threads and
    the host's processes, while /proc/loadavg still counts the host's threads."""
    try:
        stat = _read(f"{proc}/2/stat")
        fields = stat[stat.rfind(b")") + 2:].split()
        return stat[stat.find(b"(") + 1:stat.rfind(b")")] == b"kthreadd" and bool(int(fields[6]) & PF_KTHREAD)
    except (OSError, IndexError, ValueError):
        return False


def read_btime(proc: str) -> float | None:
    """Boot time (seconds since the epoch) from the ``btime`` line of /proc/stat."""
    try:
        data = _read(f"{proc}/stat")
    except OSError:
        return None
    start = data.find(b"\nbtime ")
    if start < 0:
        return None
    try:
        return float(data[start + 7:data.find(b"\n", start + 7)])
    except ValueError:
        return None


class _Known:
    """What we remember about one process (pid + starttime) between reads."""

    __slots__ = ("cmdline", "comm", "create_time", "files", "io", "kernel_thread", "name", "next_refresh",
                 "row", "starttime", "used")

    def __init__(self, starttime: int, comm: bytes, create_time: float | None) -> None:
        self.starttime = starttime
        self.create_time = create_time
        self.comm = comm  # raw comm of the last refresh: a change means an execve
        self.name: str = ""
        self.cmdline: tuple[str, ...] | None = None
        self.used = 0  # utime + stime at the previous read, clock ticks
        self.next_refresh = 0  # read number at which the cmdline is re-read
        self.row: ProcessRow | None = None  # the previous read's row, reused when nothing changed
        self.io: tuple[int, int] | None = None  # (read_bytes, write_bytes) at the previous read
        self.kernel_thread = False
        # Kept descriptors of /proc/PID/stat, statm and io (-1: not kept), see ProcessCollector.
        self.files: list[int] | None = None


# The state letters as they appear in stat, so the hot loop needs no decode.
_STATUS_BY_BYTE = {letter.encode(): name for letter, name in STATUS_NAMES.items()}


class ProcessCollector(Collector):
    """A table of every process, with per-process CPU %, memory and threads."""

    family = "proc"
    title = "Processes"
    min_interval = 2.0  # even a lean /proc walk costs far more than the fast families

    def __init__(self, root: Path = Path("/"), table: bool = True, keep_files: bool | None = None) -> None:
        """``table``: walk every process for the table (False: counts only, see ``set_table_wanted``).

        ``keep_files``: keep the /proc/PID/{stat,statm,io} of known processes open and re-read them
        with ``pread`` (one system call instead of open, read and close, and no path walk). On
        procfs a kept descriptor is bound to its process: once that process is gone it reads
        ESRCH, never another process that reuses the pid. None (the default) keeps them only on a
        real procfs (whose files report a size of 0); a fake tree of regular files does not.
        """
        self._proc = str(Path(root) / "proc")
        self._keep_files = keep_files
        self._kept_limit = 0  # decided in open()
        self._kept = 0  # descriptors kept open now
        self.table_wanted = table
        self._all_tasks_visible = False  # decided in open(): may proc.threads come from loadavg?
        self._loadavg = KeptFile(f"{self._proc}/loadavg")
        self._known: dict[int, _Known] = {}
        self._users: dict[int, str] = {}
        self._reads = 0
        self._btime: float | None = None
        self._last_now: float | None = None  # ``now`` of the previous read
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._page = os.sysconf("SC_PAGE_SIZE")

    def open(self) -> None:
        try:
            found = any(name.isdigit() for name in os.listdir(self._proc))
        except OSError as exc:
            raise CollectorUnavailableError(Unavailable(
                f"cannot list {self._proc}: {exc.strerror}",
                "mount procfs: `mount -t proc proc /proc`")) from exc
        if not found:
            raise CollectorUnavailableError(Unavailable(
                f"{self._proc} lists no processes: it is not a procfs mount",
                "mount procfs: `mount -t proc proc /proc`"))
        self._all_tasks_visible = sees_every_task(self._proc) and self._loadavg_threads() is not None
        keep = self._keep_files
        if keep is None:
            try:
                keep = os.stat(f"{self._proc}/{os.getpid()}/stat").st_size == 0  # procfs, not a fake
            except OSError:
                keep = False
        self._kept_limit = _kept_files_limit() if keep else 0

    def specs(self) -> Mapping[str, SeriesSpec]:
        return _SPECS_ALL_TASKS if self._all_tasks_visible else _SPECS

    @property
    def counts_cheaply(self) -> bool:
        """True when, without the table, a read is only a listing and /proc/loadavg (see open)."""
        return self._all_tasks_visible

    def set_table_wanted(self, wanted: bool) -> None:
        """Walk every process (True), or only count them (False) while nothing shows the table.

        Counting is one directory listing of /proc and a read of /proc/loadavg, instead of
        three files per process. It needs every task to be visible (see ``open``); otherwise the
        walk goes on, since the thread count needs it. Back in table mode, the first read has no
        CPU % or I/O rates (their interval would span the time nobody looked), as on a first read.
        """
        if wanted and not self.table_wanted:
            self._last_now = None
            self.read_next_tick = True  # shown again: walk at once, not up to min_interval later
        self.table_wanted = wanted

    def _light_read(self) -> Reading | None:
        """proc.count and proc.threads without the walk, or None when the walk is needed."""
        try:
            count = sum(map(str.isdigit, os.listdir(self._proc)))  # C-level: no frame per entry
            threads = self._loadavg_threads()
        except OSError:
            return None
        if threads is None:
            return None
        return Reading(values={"proc.count": float(count), "proc.threads": float(threads)})

    def _loadavg_threads(self) -> int | None:
        """``nr_threads`` from /proc/loadavg ("0.20 0.18 0.12 1/170 4392": the 4th field's total)."""
        data = self._loadavg.read()
        try:
            return int(data.split()[3].split(b"/")[1]) if data is not None else None
        except (IndexError, ValueError):
            return None

    def close(self) -> None:
        self._loadavg.close()
        self._close_kept()

    def _close_kept(self) -> None:
        """Close every kept /proc/PID descriptor (a read without the walk, or close())."""
        for known in self._known.values():
            if known.files is not None:
                self._drop_files(known)

    def _drop_files(self, known: _Known) -> None:
        files, known.files = known.files, None
        if files is None:
            return
        for fd in files:
            if fd >= 0:
                self._kept -= 1
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _keep_files_of(self, base: str, known: _Known) -> None:
        """Open the stat, statm and io of a known process to keep (statm: not for a kernel thread).
        A file that cannot be opened is not kept: it is read the old way, so nothing changes."""
        files = [-1, -1, -1]
        for index, name in enumerate(("/stat", "/statm", "/io")):
            if index == 1 and known.kernel_thread:
                continue
            try:
                files[index] = os.open(base + name, os.O_RDONLY)
                self._kept += 1
            except OSError:
                pass
        known.files = files

    def _user(self, uid: int) -> str:
        name = self._users.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)  # a uid without a passwd entry (containers): show the number
            self._users[uid] = name
        return name

    def _refresh(self, base: str, known: _Known, comm: bytes, zombie: bool) -> None:
        """Re-read the rarely changing command line of one process (and the name built from it)."""
        known.comm = comm
        try:
            raw = _read(base + "/cmdline")
            # A zombie's mm is gone, so its cmdline reads empty: unknown, not an empty command.
            cmdline = None if zombie and not raw else parse_cmdline(raw)
        except OSError:  # denied, or exited meanwhile (the stat read found it alive)
            cmdline = None
        name = _decode(comm)
        if len(comm) >= _TRUNCATED_COMM and cmdline:
            full = os.path.basename(cmdline[0])
            if full.startswith(name):
                name = full  # the comm is a truncated argv[0]: show it whole, as psutil
        # Keep the old objects when nothing changed: read() compares them by identity to reuse rows.
        if cmdline != known.cmdline:
            known.cmdline = cmdline
        if name != known.name:
            known.name = name

    def read(self, now: float) -> Reading:
        if not self.table_wanted and self._all_tasks_visible:
            light = self._light_read()
            if light is not None:
                self.read_next_tick = False
                if self._kept:  # nothing walks the processes now: hold no descriptors
                    self._close_kept()
                return light
        proc = self._proc
        reads = self._reads = self._reads + 1
        first_read = reads == 1
        old_btime = self._btime
        if first_read or reads % REFRESH_READS == 0:
            self._btime = read_btime(proc) or old_btime
        btime, ticks, page = self._btime, self._ticks, self._page
        new_btime = btime != old_btime  # the wall clock was stepped: every create_time moves
        # Every remembered process was seen on the previous read, so they share one interval.
        elapsed = now - self._last_now if self._last_now is not None else 0.0
        cpu_scale = 100.0 / ticks / elapsed if elapsed > 0 else None
        # A walk with no baseline has no CPU % or I/O rates: the next tick completes them.
        self.read_next_tick = self._last_now is None
        self._last_now = now
        previous = self._known
        known_now: dict[int, _Known] = {}
        rows: list[ProcessRow] = []
        append = rows.append
        status_names = _STATUS_BY_BYTE
        # Raw os calls, bound locally: this loop runs once per process and dominates the cost.
        os_open, os_read, os_close, os_stat, rdonly = os.open, os.read, os.close, os.stat, os.O_RDONLY
        os_pread = os.pread
        users = self._users
        thread_total = 0
        kept_limit = self._kept_limit
        for entry in os.listdir(proc):
            if not entry.isdigit():
                continue
            pid = int(entry)
            base = f"{proc}/{entry}"
            # A process seen on the previous read: its kept files (opened on its second read, so a
            # process that lives for one read costs no more than before) are re-read with pread.
            # A kept file that fails (the process is gone) is closed and read the old way below,
            # which gives exactly what the old walk gave.
            known = previous.get(pid)
            files = None
            if known is not None and kept_limit:
                files = known.files
                if files is None and self._kept + 3 <= kept_limit:
                    self._keep_files_of(base, known)
                    files = known.files
            stat = b""
            if files is not None and files[0] >= 0:
                try:
                    stat = os_pread(files[0], 4096, 0)
                except OSError:
                    self._drop_files(known)  # type: ignore[arg-type]
                    files = None
            if not stat:
                try:
                    fd = os_open(base + "/stat", rdonly)
                    try:
                        stat = os_read(fd, 4096)  # one line, well under 1 KiB
                    finally:
                        os_close(fd)
                except (FileNotFoundError, ProcessLookupError):
                    continue  # exited after the listing
                except OSError:  # denied (hidepid=1): the process exists, we may not look
                    append(ProcessRow(pid, None, None, None, None, None, None, None, None))
                    continue
            rpar = stat.rfind(b")")
            comm = stat[stat.find(b"(") + 1:rpar]
            fields = stat[rpar + 2:].split(b" ", 20)  # single spaces (fs/proc/array.c), up to starttime
            try:
                state = fields[0]
                starttime = int(fields[19])
                used = int(fields[11]) + int(fields[12])
                threads = int(fields[17])
                ppid = int(fields[1])
                kernel_thread = (bool(int(fields[6]) & PF_KTHREAD)  # stat field 9, flags
                                 or pid == KTHREADD_PID or ppid == KTHREADD_PID)
            except (IndexError, ValueError):  # not a kernel's stat line: say nothing rather than guess
                append(ProcessRow(pid, None, None, None, None, None, None, None, None))
                continue
            if kernel_thread:
                rss: int | None = 0  # no address space: statm is all zeros, so it is not read
            else:
                try:
                    statm = b""
                    if files is not None and files[1] >= 0:
                        try:
                            statm = os_pread(files[1], 4096, 0)
                        except OSError:
                            self._drop_files(known)  # type: ignore[arg-type]
                            files = None
                    if not statm:
                        fd = os_open(base + "/statm", rdonly)
                        try:
                            statm = os_read(fd, 4096)
                        finally:
                            os_close(fd)
                    rss = int(statm.split(None, 2)[1]) * page
                except (FileNotFoundError, ProcessLookupError):
                    continue  # exited since its stat was read
                except (OSError, IndexError, ValueError):
                    rss = None
            try:
                uid: int | None = os_stat(base).st_uid
            except FileNotFoundError:
                continue
            except OSError:
                uid = None
            if files is not None and files[2] >= 0:
                # io checks ptrace access on every read (not only at open): a kept descriptor fails
                # where a fresh open and read would fail too, so its error is the old None.
                try:
                    io = parse_io(os_pread(files[2], 4096, 0))
                except OSError:
                    io = None
            else:
                try:
                    fd = os_open(base + "/io", rdonly)
                    try:
                        io = parse_io(os_read(fd, 4096))
                    finally:
                        os_close(fd)
                except OSError:  # another user's process (io needs ptrace access), or gone
                    io = None
            if known is None or known.starttime != starttime:  # new, or a reused pid
                if known is not None and known.files is not None:
                    self._drop_files(known)  # (a fake tree: procfs fds never see another process)
                known = _Known(starttime, comm, starttime / ticks + btime if btime is not None else None)
                known.kernel_thread = kernel_thread
                # The first read staggers the refreshes; a newcomer is re-read on its next read.
                known.next_refresh = reads + 1 + pid % REFRESH_READS if first_read else reads + 1
                self._refresh(base, known, comm, state == b"Z")
                cpu_percent = io_read_bps = io_write_bps = None
            else:
                # Due, or it exec'd, or it just died (a zombie's command line is gone with its mm).
                if reads >= known.next_refresh or known.comm != comm or (state == b"Z" and known.cmdline):
                    known.next_refresh = reads + REFRESH_READS
                    self._refresh(base, known, comm, state == b"Z")
                if new_btime:
                    known.create_time = starttime / ticks + btime if btime is not None else None
                last = known.used
                cpu_percent = (used - last) * cpu_scale if cpu_scale is not None and used >= last else None
                last_io = known.io
                if io is not None and last_io is not None and elapsed > 0 and io[0] >= last_io[0] \
                        and io[1] >= last_io[1]:
                    io_read_bps = (io[0] - last_io[0]) / elapsed
                    io_write_bps = (io[1] - last_io[1]) / elapsed
                else:
                    io_read_bps = io_write_bps = None
            known.used = used
            known.io = io
            known_now[pid] = known
            thread_total += threads
            user = (users.get(uid) or self._user(uid)) if uid is not None else None
            status = status_names.get(state) or state.decode("ascii", "replace")
            row = known.row
            # Most processes are idle: their row is unchanged and the previous object serves again
            # (cheaper than building one, and a view can skip rows that are the same object).
            if (row is None or row.cpu_percent != cpu_percent or row.rss != rss or row.threads != threads
                    or row.status != status or row.user != user or row.ppid != ppid
                    or row.name is not known.name or row.cmdline is not known.cmdline
                    or row.create_time != known.create_time or row.io_read_bps != io_read_bps
                    or row.io_write_bps != io_write_bps):
                row = known.row = ProcessRow(pid, known.name, user, cpu_percent, rss, threads, status,
                                             known.cmdline, known.create_time, ppid, io_read_bps,
                                             io_write_bps, kernel_thread)
            append(row)
        if self._kept:  # the kept files of exited processes are closed here
            for pid in previous.keys() - known_now.keys():
                gone = previous[pid]
                if gone.files is not None:
                    self._drop_files(gone)
        self._known = known_now  # exited processes drop out here
        rows.sort(key=_BY_PID)
        threads = self._loadavg_threads() if self._all_tasks_visible else None
        values: dict[str, float | None] = {
            "proc.count": float(len(rows)),
            "proc.threads": float(threads if threads is not None else thread_total) if known_now else None,
        }
        return Reading(values=values, tables={"processes": tuple(rows)})


def _kept_files_limit() -> int:
    """How many /proc/PID files may be kept open: a quarter of the soft RLIMIT_NOFILE (the rest
    is for perf counters and everything else), at most KEPT_FILES_MAX."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return KEPT_FILES_MAX
    return max(0, min(KEPT_FILES_MAX, soft // 4))
