"""Replayed per-thread top-down groups for per-process TMA tests (no PMU on the development VM).

``Replay`` is a ``ProcessTopdown`` group factory: real ``CounterGroup``s whose opener records the
attrs the kernel would get (pid=TID, cpu=-1, inherit, the sysfs encodings, the leader first) and
then opens real software events on the calling thread, so the fds and their ids are real; the
reader replays counter values as the kernel's ``PERF_FORMAT_GROUP`` bytes, with those ids, and
parses them with ``abi.parse_group_read``. ``add_threads`` writes ``/proc/PID/task/TID/stat``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from pathlib import Path

from fakes.sysfs_trees import write
from perfdeck.perf import abi
from perfdeck.perf.abi import PerfOpenError
from perfdeck.perf.counters import CounterGroup, EventSpec

PID = 4242
# Per interval (one tick) and thread: raw counts of each event while the group ran, and the share of
# the thread's enabled time it ran (the thread 4243 is multiplexed: counted half the time).
ICELAKE = {"slots": 1000, "topdown-retiring": 400, "topdown-bad-spec": 100, "topdown-fe-bound": 200,
           "topdown-be-bound": 300}


def add_threads(root: Path, tids: Sequence[int]) -> None:
    """/proc/PID/task/TID/stat as the kernel writes it (field 22 = starttime, here 100 ticks)."""
    for tid in tids:
        rest = " ".join(["S", "1"] + ["0"] * 17 + ["100"] + ["0"] * 30)
        write(root, f"proc/{PID}/task/{tid}/stat", f"{tid} (worker thread) {rest}\n")


class Replay:
    """Group factory: records the attrs, opens real fds, replays cumulative group reads."""

    def __init__(self, profile: Callable[[int, str, str], tuple[int, float]],
                 refuse: Callable[[EventSpec, int], int | None] = lambda spec, tid: None) -> None:
        self.profile = profile  # (tid, pmu, event) -> (count per tick while running, running share)
        self.refuse = refuse
        self.tick = 0
        self.attrs: list[tuple[str, int, int, int, abi.PerfEventAttr]] = []  # name, pid, cpu, group_fd, attr
        self.members: dict[int, list[tuple[int, EventSpec, int]]] = {}  # leader fd -> (fd, spec, tid)

    def __call__(self, events: Sequence[EventSpec], tid: int, exclude_kernel: bool,
                 inherit: bool) -> CounterGroup:
        specs = iter(events)

        def opener(attr: abi.PerfEventAttr, pid: int, cpu: int, group_fd: int) -> int:
            spec = next(specs)
            self.attrs.append((spec.name, pid, cpu, group_fd, attr))
            refused = self.refuse(spec, tid)
            if refused is not None:
                raise PerfOpenError(refused, abi.errno_message(refused, f"perf_event_open({spec.name})"))
            own = abi.make_attr(abi.PERF_TYPE_SOFTWARE, abi.PERF_COUNT_SW_DUMMY,
                                read_format=abi.GROUP_READ_FORMAT, disabled=group_fd == -1,
                                exclude_kernel=True)
            fd = abi.perf_event_open(own, 0, -1, group_fd)
            self.members.setdefault(fd if group_fd == -1 else group_fd, []).append((fd, spec, tid))
            return fd

        return CounterGroup(events, pid=tid, cpu=-1, exclude_kernel=exclude_kernel, inherit=inherit,
                            opener=opener, reader=self.read)

    def read(self, leader_fd: int, nr_events: int) -> abi.GroupRead:
        members = self.members[leader_fd]
        tid, pmu = members[0][2], members[0][1].pmu
        share = self.profile(tid, pmu, members[0][1].name)[1]
        enabled = self.tick * 1_000_000
        data = struct.pack("=QQQ", len(members), enabled, int(enabled * share))
        for fd, spec, _ in members:
            per_tick = self.profile(tid, pmu, spec.name)[0]
            data += struct.pack("=QQ", int(per_tick * self.tick * share), abi.event_id(fd))
        return abi.parse_group_read(data, nr_events)
