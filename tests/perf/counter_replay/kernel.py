"""Replay harness: a scripted kernel view fed through the real opening, parsing, grouping and maths.

A fixture (JSON, next to this file) describes a machine and, for each tick, what the kernel would
return to each read(): per context (``cpu N`` for system-wide fds, ``thread TID`` for per-thread
fds) a list of groups, each with the PMU it runs on, its shared ``enabled``/``running`` times
(ns, cumulative: with PERF_FORMAT_GROUP one read returns the leader's times for every member) and
the cumulative ``values`` of its events. Everything PerfDeck does is real except the syscalls:

- ``perf_event_open`` is answered by ``FakeKernel.open``, which decodes the attr (type, config,
  hybrid extended type in config[63:32]) into an event name and PMU, refuses what the fixture
  lists as unsupported (ENOENT...) and hands out a real file descriptor (a /dev/null fd, so the
  real close path runs);
- ``read()`` of a group leader is answered with the exact bytes the kernel writes for
  ``GROUP|TOTAL_TIME_ENABLED|TOTAL_TIME_RUNNING|ID`` and parsed by ``abi.parse_group_read``;
- ``PERF_EVENT_IOC_ID``/``ENABLE`` are answered from the same table.

A group that PerfDeck opens but the fixture does not describe fails the test with the list of what
the fixture has, so a fixture is also a statement of which groups the code must open.

Fixture keys: ``machine`` (vendor, smt, nmi_watchdog, online, paranoid, base_frequency_khz,
core ``pmus`` {name: {type, cpus}}), ``events`` (catalogue names to count), ``unsupported``
([{pmu, event, errno}]), ``refuse_system_wide`` (EACCES for pid = -1), ``process``
({pid, threads}), ``ticks`` and ``expect`` ([{tick, values}], checked after that tick's read).
"""

from __future__ import annotations

import errno
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fakes.sysfs_trees import add_pmu, add_software_pmus, write
from perfdeck.perf import abi
from perfdeck.perf.abi import PerfOpenError
from perfdeck.perf.counters import EventSpec
from perfdeck.perf.events import CATALOGUE

HERE = Path(__file__).parent
_BY_ENCODING = {(e.type, e.config): e.name for e in CATALOGUE}


def load(name: str) -> dict[str, Any]:
    return json.loads((HERE / f"{name}.json").read_text())


@dataclass
class _Fd:
    context: str
    pmu: str
    event: str
    leader: int


class FakeKernel:
    """Answers perf_event_open, ioctls and group reads from a fixture's ticks."""

    def __init__(self, fixture: dict[str, Any]) -> None:
        self.fixture = fixture
        machine = fixture["machine"]
        self.pmu_by_type = {int(p["type"]): name for name, p in machine.get("pmus", {}).items()}
        self.unsupported = {(u["pmu"], u["event"]): getattr(errno, u.get("errno", "ENOENT"))
                            for u in fixture.get("unsupported", [])}
        self.refuse_system_wide = bool(fixture.get("refuse_system_wide"))
        self.paranoid = int(machine.get("paranoid", 0))
        self.tick = 0
        self.fds: dict[int, _Fd] = {}
        self.opened: list[tuple[str, str, str]] = []  # (context, pmu, event) in open order

    # --- decoding ------------------------------------------------------------------------------
    def decode(self, ev_type: int, config: int) -> tuple[str, str]:
        """(pmu, event name) of an attr, as the kernel would route it."""
        if ev_type == abi.PERF_TYPE_SOFTWARE:
            return "software", _BY_ENCODING[(ev_type, config)]
        ext = config >> abi.PERF_PMU_TYPE_SHIFT
        low = config & abi.PERF_HW_EVENT_MASK
        pmu = self.pmu_by_type.get(ext) if ext else next(iter(self.pmu_by_type.values()), "cpu")
        if pmu is None:
            raise PerfOpenError(errno.ENOENT, f"no PMU of type {ext}")
        return pmu, _BY_ENCODING[(ev_type, low)]

    def _check(self, pmu: str, event: str, pid: int, exclude_kernel: bool) -> None:
        if (pmu, event) in self.unsupported:
            code = self.unsupported[(pmu, event)]
            raise PerfOpenError(code, f"{pmu}/{event}: {errno.errorcode[code]} (fixture)")
        if pid == -1 and self.refuse_system_wide:
            raise PerfOpenError(errno.EACCES, "system-wide refused (fixture)")
        if not exclude_kernel and self.paranoid >= 2:
            raise PerfOpenError(errno.EACCES, "kernel counting refused at paranoid 2 (fixture)")

    # --- the syscalls ----------------------------------------------------------------------------
    def open(self, attr: abi.PerfEventAttr, pid: int, cpu: int, group_fd: int) -> int:
        pmu, event = self.decode(attr.type, attr.config)
        self._check(pmu, event, pid, bool(attr.flags & abi.ATTR_EXCLUDE_KERNEL))
        context = f"cpu {cpu}" if pid == -1 else f"thread {pid}"
        fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self.fds[fd] = _Fd(context, pmu, event, fd if group_fd == -1 else group_fd)
        self.opened.append((context, pmu, event))
        return fd

    def try_open(self, spec: EventSpec) -> PerfOpenError | None:
        """``events.try_open`` on the calling thread, user space only."""
        try:
            pmu, event = self.decode(spec.type, spec.config)
            self._check(pmu, event, 0, True)
        except PerfOpenError as exc:
            return exc
        return None

    def event_id(self, fd: int) -> int:
        return fd

    def read_group(self, fd: int, nr_events: int) -> abi.GroupRead:
        members = [f for f, info in self.fds.items() if info.leader == fd]
        leader = self.fds[fd]
        names = {self.fds[m].event for m in members}
        groups = self.fixture["ticks"][self.tick].get(leader.context)
        if groups is None:
            raise AssertionError(f"tick {self.tick}: the fixture has no context {leader.context!r}")
        match = next((g for g in groups if g["pmu"] == leader.pmu and set(g["values"]) == names), None)
        if match is None:
            have = [(g["pmu"], sorted(g["values"])) for g in groups]
            raise AssertionError(f"tick {self.tick}: PerfDeck opened group {leader.pmu} {sorted(names)} "
                                 f"on {leader.context}; the fixture has {have}")
        # The kernel's bytes: nr, time_enabled, time_running, then {value, id} per member.
        data = struct.pack("=QQQ", len(members), int(match["enabled"]), int(match["running"]))
        for member in members:
            data += struct.pack("=QQ", int(match["values"][self.fds[member].event]), member)
        return abi.parse_group_read(data, nr_events)

    def close(self, fd: int) -> None:
        if self.fds.pop(fd, None) is not None:
            os.close(fd)

    # --- wiring ------------------------------------------------------------------------------------
    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from perfdeck.collectors import perfcounters
        from perfdeck.perf import counters

        monkeypatch.setattr(counters, "_default_opener", self.open)
        monkeypatch.setattr(abi, "event_id", self.event_id)
        monkeypatch.setattr(abi, "enable", lambda fd, group=True: None)
        monkeypatch.setattr(abi, "disable", lambda fd, group=True: None)
        monkeypatch.setattr(abi, "read_group", self.read_group)
        monkeypatch.setattr(abi, "close_fd", self.close)
        monkeypatch.setattr(perfcounters, "try_open", self.try_open)


def build_root(root: Path, fixture: dict[str, Any]) -> Path:
    """The sysfs/procfs files the perf layer reads, as the kernel lays them out."""
    machine = fixture["machine"]
    add_software_pmus(root)
    for name, pmu in machine.get("pmus", {}).items():
        # Hybrid core PMUs list their CPUs in ``cpus``; the plain ``cpu`` PMU has neither file.
        add_pmu(root, name, int(pmu["type"]), cpus=pmu.get("cpus"),
                formats={"event": "config:0-7", "umask": "config:8-15"},
                events={"cpu-cycles": "event=0x3c", "instructions": "event=0xc0"})
    online = machine.get("online", "0")
    write(root, "sys/devices/system/cpu/online", f"{online}\n")
    ncpus = len(_cpulist(online))
    blocks = [f"processor\t: {i}\nvendor_id\t: {machine['vendor']}\nmodel name\t: "
              f"{machine.get('model_name', 'replayed CPU')}\n" for i in range(ncpus)]
    write(root, "proc/cpuinfo", "\n".join(blocks))
    write(root, "sys/devices/system/cpu/smt/active", f"{int(machine.get('smt', 0))}\n")
    write(root, "proc/sys/kernel/nmi_watchdog", f"{int(machine.get('nmi_watchdog', 0))}\n")
    write(root, "proc/sys/kernel/perf_event_paranoid", f"{int(machine.get('paranoid', 0))}\n")
    if "base_frequency_khz" in machine:
        write(root, "sys/devices/system/cpu/cpu0/cpufreq/base_frequency",
              f"{machine['base_frequency_khz']}\n")
    process = fixture.get("process")
    if process:
        for tid in process["threads"]:
            # /proc/PID/task/TID/stat: field 22 (starttime) = 1, long before any open.
            fields = ["S"] + ["0"] * 18 + ["1"] + ["0"] * 20
            stat = f"{tid} (replay) " + " ".join(fields) + "\n"
            write(root, f"proc/{process['pid']}/task/{tid}/stat", stat)
    return root


def _cpulist(text: str) -> list[int]:
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus
