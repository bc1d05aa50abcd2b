"""The process table (``Reading.tables["processes"]``) and the ``proc.count`` / ``proc.threads`` series.

Rows are immutable ``ProcessRow`` tuples, sorted by pid. Every read walks ``psutil.process_iter()``
(which keeps one ``Process`` object per live pid between calls) and asks each process for the
fields below with ``as_dict(attrs, ad_value=None)`` inside a ``oneshot`` block, so one process costs
a few /proc reads. Because ``as_dict`` runs in our loop, a process that exits mid-read
(``NoSuchProcess``) is caught here and simply left out; a field the kernel will not show us
(``AccessDenied``, or ``ZombieProcess`` for a zombie's memory) becomes None, never 0.

CPU % is computed here from ``cpu_times`` deltas per (pid, create time), not with
``Process.cpu_percent``: psutil keeps that state on the cached ``Process`` objects of a
module-global cache, so any other ``process_iter`` user, or ``process_iter.cache_clear()``, would
silently reset our interval. 100 % means one CPU fully used, as in top and htop, so a
multi-threaded process can exceed 100 %. A process seen for the first time (or a reused pid) has
None until the next read.

User names are resolved from the real uid with a per-collector cache: ``Process.username`` would
call ``getpwuid`` once per process per read, which is slow with LDAP or SSSD.
"""

from __future__ import annotations

import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import psutil

from perfdeck.model.collector import Collector
from perfdeck.model.series import Reading, SeriesSpec

_ATTRS = ("pid", "name", "uids", "cpu_times", "memory_info", "num_threads", "status", "cmdline",
          "create_time")

_SPECS: Mapping[str, SeriesSpec] = MappingProxyType({
    "proc.count": SeriesSpec("proc.count", "Processes", "", group="proc.count"),
    "proc.threads": SeriesSpec("proc.threads", "Threads (in processes we may inspect)", "",
                               group="proc.count"),
})


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
    cmdline: tuple[str, ...] | None
    create_time: float | None  # seconds since the epoch


class ProcessCollector(Collector):
    """A table of every process, with per-process CPU %, memory and threads."""

    family = "proc"
    title = "Processes"
    min_interval = 2.0  # walking /proc costs far more than the fast families

    def __init__(self) -> None:
        # pid -> (create_time, user+system CPU seconds, monotonic time of that read)
        self._cpu: dict[int, tuple[float | None, float, float]] = {}
        self._users: dict[int, str] = {}

    def specs(self) -> Mapping[str, SeriesSpec]:
        return _SPECS

    def _user(self, uids: Any) -> str | None:
        if uids is None:
            return None
        uid = uids.real
        name = self._users.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)  # a uid without a passwd entry (containers): show the number
            self._users[uid] = name
        return name

    def _cpu_percent(self, pid: int, create_time: float | None, cpu_times: Any, now: float,
                     seen: dict[int, tuple[float | None, float, float]]) -> float | None:
        if cpu_times is None:
            return None
        used = cpu_times.user + cpu_times.system
        seen[pid] = (create_time, used, now)
        previous = self._cpu.get(pid)
        if previous is None:
            return None
        last_create, last_used, last_now = previous
        elapsed = now - last_now
        if last_create != create_time or elapsed <= 0 or used < last_used:
            return None  # a reused pid, or no valid interval
        return 100.0 * (used - last_used) / elapsed

    def read(self, now: float) -> Reading:
        rows: list[ProcessRow] = []
        seen: dict[int, tuple[float | None, float, float]] = {}
        thread_total = 0
        threads_known = False
        for process in psutil.process_iter():
            try:
                info = process.as_dict(attrs=_ATTRS, ad_value=None)
            except psutil.NoSuchProcess:  # exited while we read it (ZombieProcess is caught by as_dict)
                continue
            pid = info["pid"]
            create_time = info["create_time"]
            memory = info["memory_info"]
            cmdline = info["cmdline"]
            threads = info["num_threads"]
            if threads is not None:
                thread_total += threads
                threads_known = True
            rows.append(ProcessRow(
                pid=pid,
                name=info["name"],
                user=self._user(info["uids"]),
                cpu_percent=self._cpu_percent(pid, create_time, info["cpu_times"], now, seen),
                rss=memory.rss if memory is not None else None,
                threads=threads,
                status=info["status"],
                cmdline=tuple(cmdline) if cmdline is not None else None,
                create_time=create_time,
            ))
        self._cpu = seen  # exited processes drop out here
        rows.sort(key=lambda row: row.pid)
        values: dict[str, float | None] = {
            "proc.count": float(len(rows)),
            "proc.threads": float(thread_total) if threads_known else None,
        }
        return Reading(values=values, tables={"processes": tuple(rows)})
