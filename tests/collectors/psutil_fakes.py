"""psutil-shaped test doubles and fake sysfs trees for the collector tests.

The namedtuples have exactly the fields psutil 5.9-7.x returns on Linux, so a collector that reads
a field psutil does not have fails here too. The sysfs builders follow the kernel's layouts
(Documentation/ABI/testing/sysfs-devices-system-cpu, sysfs-block, sysfs-class-net); the /proc
builder follows proc(5) and fs/proc/array.c.
"""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfdeck.collectors._common import parse_cpu_list

scputimes = namedtuple("scputimes", "user nice system idle iowait irq softirq steal guest guest_nice")
scpustats = namedtuple("scpustats", "ctx_switches interrupts soft_interrupts syscalls")
svmem = namedtuple("svmem", "total available percent used free active inactive buffers cached shared slab")
sswap = namedtuple("sswap", "total used free percent sin sout")
sdiskio = namedtuple("sdiskio", "read_count write_count read_bytes write_bytes read_time write_time "
                                "read_merged_count write_merged_count busy_time")
sdiskpart = namedtuple("sdiskpart", "device mountpoint fstype opts")
sdiskusage = namedtuple("sdiskusage", "total used free percent")
snetio = namedtuple("snetio", "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin dropout")
shwtemp = namedtuple("shwtemp", "label current high critical")
sfan = namedtuple("sfan", "label current")
sbattery = namedtuple("sbattery", "percent secsleft power_plugged")


def cpu_times(user: float = 0.0, nice: float = 0.0, system: float = 0.0, idle: float = 0.0,
              iowait: float = 0.0, irq: float = 0.0, softirq: float = 0.0, steal: float = 0.0,
              guest: float = 0.0, guest_nice: float = 0.0) -> scputimes:
    return scputimes(user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice)


def disk_io(read_count: int = 0, write_count: int = 0, read_bytes: int = 0, write_bytes: int = 0,
            busy_time: int = 0) -> sdiskio:
    return sdiskio(read_count, write_count, read_bytes, write_bytes, 0, 0, 0, 0, busy_time)


def net_io(bytes_sent: int = 0, bytes_recv: int = 0, packets_sent: int = 0, packets_recv: int = 0,
           errin: int = 0, errout: int = 0, dropin: int = 0, dropout: int = 0) -> snetio:
    return snetio(bytes_sent, bytes_recv, packets_sent, packets_recv, errin, errout, dropin, dropout)


class Script:
    """A callable returning the next scripted value each call (and the last one forever after)."""

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = list(values)
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return value() if callable(value) else value


def per_cpu_switch(total: Callable[[], Any], per_cpu: Callable[[], Any]) -> Callable[..., Any]:
    """A fake ``psutil.cpu_times`` dispatching on ``percpu``."""

    def fake(percpu: bool = False) -> Any:
        return per_cpu() if percpu else total()

    return fake


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def make_cpu_tree(root: Path, *, online: str, present: str | None = None,
                  packages: Mapping[int, int] | None = None,
                  siblings: Mapping[int, str] | None = None,
                  cpufreq_khz: Mapping[int, int] | None = None,
                  caches: Iterable[tuple[str, str, str, Callable[[int], str]]] = (),
                  cpuinfo: str = "") -> None:
    """A /sys/devices/system/cpu tree (and /proc/cpuinfo) as the kernel lays it out.

    ``caches`` lists (level, type, size, cpu -> shared_cpu_list) per cache index.
    """
    base = root / "sys/devices/system/cpu"
    write(base / "online", online)
    write(base / "present", present or online)
    for n in parse_cpu_list(present or online):
        cpu = base / f"cpu{n}"
        cpu.mkdir(parents=True, exist_ok=True)
        if packages is not None:
            write(cpu / "topology/physical_package_id", str(packages[n]))
        if siblings is not None:
            write(cpu / "topology/core_cpus_list", siblings[n])
            write(cpu / "topology/thread_siblings_list", siblings[n])
        if cpufreq_khz and n in cpufreq_khz:
            write(cpu / "cpufreq/scaling_cur_freq", str(cpufreq_khz[n]))
        for index, (level, kind, size, shared) in enumerate(caches):
            cache = cpu / f"cache/index{index}"
            write(cache / "level", level)
            write(cache / "type", kind)
            write(cache / "size", size)
            write(cache / "shared_cpu_list", shared(n))
    write(root / "proc/cpuinfo", cpuinfo)


def proc_stat_text(total: scputimes, per_cpu: Mapping[int, scputimes] | Sequence[scputimes],
                   ctxt: int = 0, intr: int = 0, btime: int = 1_700_000_000) -> str:
    """/proc/stat as fs/proc/stat.c writes it: times in clock ticks, one line per online CPU
    (``per_cpu`` maps CPU numbers to times; a sequence numbers them 0..n-1)."""
    ticks = os.sysconf("SC_CLK_TCK")
    numbered = per_cpu.items() if isinstance(per_cpu, Mapping) else enumerate(per_cpu)

    def line(name: str, times: scputimes) -> str:
        return name + " " + " ".join(str(round(value * ticks)) for value in times)

    lines = [line("cpu ", total), *(line(f"cpu{n}", times) for n, times in numbered)]
    lines += [f"intr {intr} 0 9 0 0", f"ctxt {ctxt}", f"btime {btime}", "processes 4242",
              "procs_running 1", "procs_blocked 0", "softirq 1 0 0 0"]
    return "\n".join(lines) + "\n"


def net_dev_text(counters: Mapping[str, snetio]) -> str:
    """/proc/net/dev as net/core/net-procfs.c writes it (two header lines, then one per device)."""
    lines = ["Inter-|   Receive                                                |  Transmit",
             " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop "
             "fifo colls carrier compressed"]
    for name, io in counters.items():
        lines.append(f"{name:>6}: {io.bytes_recv:8d} {io.packets_recv:7d} {io.errin:4d} {io.dropin:4d}"
                     f"    0     0          0         0 {io.bytes_sent:8d} {io.packets_sent:7d} "
                     f"{io.errout:4d} {io.dropout:4d}    0     0       0          0")
    return "\n".join(lines) + "\n"


def diskstats_text(counters: Mapping[str, sdiskio]) -> str:
    """/proc/diskstats as block/genhd.c writes it (Linux 5.5+: 20 fields), sectors of 512 bytes."""
    lines = []
    for minor, (name, io) in enumerate(counters.items()):
        lines.append(f" 253 {minor:7d} {name} {io.read_count} 0 {io.read_bytes // 512} {io.read_time} "
                     f"{io.write_count} 0 {io.write_bytes // 512} {io.write_time} 0 {io.busy_time} "
                     "0 0 0 0 0 0 0")
    return "\n".join(lines) + "\n"


class FileScript:
    """A /proc file that moves to its next scripted state before each read of the collector under
    test (the last state repeats). The collector reads the real file under the fake root; it is
    rewritten in place, as the kernel regenerates it, so a kept descriptor sees each new state."""

    def __init__(self, path: Path, render: Callable[[Any], str], states: Sequence[Any]) -> None:
        self.path, self.render, self.states = path, render, list(states)
        self.index = 0
        self._write(0)

    def _write(self, index: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.render(self.states[min(index, len(self.states) - 1)]))

    def read(self, collector: Any, now: float) -> Any:
        self._write(self.index)
        self.index += 1
        return collector.read(now)


def make_block_tree(root: Path, devices: Mapping[str, str]) -> None:
    """/sys/block/<name> symlinks into /sys/devices, as the kernel lays them out.

    ``devices`` maps a name to ``"hw"`` (has a ``device`` link), ``"virtual"`` (under
    devices/virtual/block, no ``device`` link) or ``"dm:<dm name>"`` (a device-mapper node).
    """
    block = root / "sys/block"
    block.mkdir(parents=True, exist_ok=True)
    for name, kind in devices.items():
        if kind == "hw":
            # /sys/devices/.../virtio1/block/vda, whose "device" link points back at virtio1.
            target = root / f"sys/devices/pci0000:00/0000:00:02.0/virtio1/block/{name}"
            target.mkdir(parents=True, exist_ok=True)
            os.symlink(target.parent.parent, target / "device")
        else:
            target = root / f"sys/devices/virtual/block/{name}"
            target.mkdir(parents=True, exist_ok=True)
            if kind.startswith("dm:"):
                write(target / "dm/name", kind[3:])
        os.symlink(target, block / name)


def make_net_tree(root: Path, interfaces: Mapping[str, bool]) -> None:
    """/sys/class/net/<if> symlinks; ``True`` puts the interface under devices/virtual/net."""
    net = root / "sys/class/net"
    net.mkdir(parents=True, exist_ok=True)
    for name, virtual in interfaces.items():
        target = (root / f"sys/devices/virtual/net/{name}" if virtual
                  else root / f"sys/devices/pci0000:00/0000:00:03.0/virtio2/net/{name}")
        target.mkdir(parents=True, exist_ok=True)
        link = net / name
        if not link.is_symlink():
            os.symlink(target, link)


@dataclass
class FakeProc:
    """One process of a fake /proc tree (see ``make_proc_tree``); times in clock ticks."""

    pid: int
    comm: str = "proc"
    state: str = "S"
    ppid: int = 1
    uid: int = 0  # owner of /proc/PID; applied only when the tests run as root (chown)
    utime: int = 0
    stime: int = 0
    threads: int = 1
    starttime: int = 1000  # clock ticks after boot
    rss_pages: int = 100
    cmdline: Sequence[str] | None = None  # None: comm alone; () writes an empty file
    raw_cmdline: bytes | None = None  # written as is when set (setproctitle tricks)
    kernel_thread: bool = False
    io: tuple[int, int] | None = None  # (read_bytes, write_bytes) of /proc/PID/io; None: no file
    vanished: bool = False  # listed in /proc but its files are gone (exited mid-read)


_PF_KTHREAD = 0x00200000


def write_proc(proc: Path, p: FakeProc) -> None:
    """Write /proc/PID/{stat,statm,status,cmdline} for ``p`` as fs/proc/array.c formats them."""
    base = proc / str(p.pid)
    base.mkdir(parents=True, exist_ok=True)
    if p.vanished:
        for child in base.iterdir():
            child.unlink()
        return
    flags = 0x400100 | (_PF_KTHREAD if p.kernel_thread else 0)
    zombie = p.state == "Z"
    no_mm = p.kernel_thread or zombie
    vsize = 0 if no_mm else p.rss_pages * 4096 * 4
    rss = 0 if no_mm else p.rss_pages
    # do_task_stat(): 52 fields; the comm is written raw, whatever characters it holds.
    fields = [p.state, p.ppid, p.pid, p.pid, 0, -1, flags, 120, 0, 3, 0, p.utime, p.stime, 0, 0, 20, 0,
              p.threads, 0, p.starttime, vsize, rss, 18446744073709551615, 1, 1, 0, 0, 0, 0, 0, 0, 0,
              1, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    (base / "stat").write_bytes(f"{p.pid} ({p.comm}) {' '.join(map(str, fields))}\n".encode())
    size = vsize // 4096
    (base / "statm").write_bytes(f"{size} {rss} {rss // 2} 10 0 {rss // 2} 0\n".encode())
    (base / "status").write_bytes(
        f"Name:\t{p.comm}\nUmask:\t0022\nState:\t{p.state} (x)\nTgid:\t{p.pid}\nNgid:\t0\n"
        f"Pid:\t{p.pid}\nPPid:\t{p.ppid}\nTracerPid:\t0\n"
        f"Uid:\t{p.uid}\t{p.uid}\t{p.uid}\t{p.uid}\n"
        f"Gid:\t0\t0\t0\t0\nFDSize:\t64\nGroups:\t \nThreads:\t{p.threads}\n".encode())
    if p.raw_cmdline is not None:
        raw = p.raw_cmdline
    elif no_mm:
        raw = b""  # kernel threads have no argv; a zombie's is gone with its mm
    else:
        args = [p.comm] if p.cmdline is None else list(p.cmdline)
        raw = b"".join(a.encode() + b"\0" for a in args)
    (base / "cmdline").write_bytes(raw)
    if p.io is not None:  # proc_pid_io_accounting(): seven "name: value" lines
        (base / "io").write_bytes(
            f"rchar: {p.io[0] + 100}\nwchar: {p.io[1] + 100}\nsyscr: 5\nsyscw: 5\n"
            f"read_bytes: {p.io[0]}\nwrite_bytes: {p.io[1]}\ncancelled_write_bytes: 0\n".encode())
    if os.geteuid() == 0:  # the kernel shows the effective uid as the directory's owner
        os.chown(base, p.uid, -1)


def make_proc_tree(root: Path, procs: Iterable[FakeProc], btime: int = 1_700_000_000) -> Path:
    """A /proc with the given processes, /proc/stat (with ``btime``) and the non-pid entries a
    real /proc has (self, sys, meminfo), which a pid walk must skip. Returns the proc directory."""
    proc = root / "proc"
    proc.mkdir(parents=True, exist_ok=True)
    (proc / "stat").write_text(
        "cpu  100 0 50 1000 0 0 0 0 0 0\ncpu0 100 0 50 1000 0 0 0 0 0 0\n"
        "intr 12345 0 9 0\nctxt 99999\n"
        f"btime {btime}\nprocesses 4242\nprocs_running 1\nprocs_blocked 0\nsoftirq 1 0 0\n")
    (proc / "meminfo").write_text("MemTotal:        2000000 kB\n")
    (proc / "sys").mkdir(exist_ok=True)
    for p in procs:
        write_proc(proc, p)
    if not (proc / "self").is_symlink():
        os.symlink("1", proc / "self")
    return proc
