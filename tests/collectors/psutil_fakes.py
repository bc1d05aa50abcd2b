"""psutil-shaped test doubles and fake sysfs trees for the collector tests.

The namedtuples have exactly the fields psutil 5.9-7.x returns on Linux, so a collector that reads
a field psutil does not have fails here too. The sysfs builders follow the kernel's layouts
(Documentation/ABI/testing/sysfs-devices-system-cpu, sysfs-block, sysfs-class-net).
"""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

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
pcputimes = namedtuple("pcputimes", "user system children_user children_system iowait")
pmem = namedtuple("pmem", "rss vms shared text lib data dirty")
puids = namedtuple("puids", "real effective saved")


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


class FakeProcess:
    """A stand-in for ``psutil.Process`` with ``as_dict`` behaving like psutil's.

    ``info`` is the dict ``as_dict`` returns; ``denied`` names fields that raise ``AccessDenied``
    (so ``as_dict`` gives ``ad_value`` for them); ``vanish`` makes ``as_dict`` raise
    ``NoSuchProcess``, as psutil does when the process exited before its /proc files were read.
    """

    def __init__(self, pid: int, *, name: str = "proc", uid: int = 0, cpu: float = 0.0,
                 rss: int = 4096, threads: int = 1, status: str = "sleeping",
                 cmdline: Sequence[str] = ("proc",), create_time: float = 1000.0,
                 denied: Iterable[str] = (), vanish: bool = False) -> None:
        self.pid = pid
        self.vanish = vanish
        self.denied = set(denied)
        self.fields: dict[str, Any] = {
            "pid": pid, "name": name, "uids": puids(uid, uid, uid),
            "cpu_times": pcputimes(cpu, 0.0, 0.0, 0.0, 0.0), "memory_info": pmem(rss, 0, 0, 0, 0, 0, 0),
            "num_threads": threads, "status": status, "cmdline": list(cmdline),
            "create_time": create_time,
        }

    def as_dict(self, attrs: Iterable[str], ad_value: Any = None) -> dict[str, Any]:
        if self.vanish:
            raise psutil.NoSuchProcess(self.pid)
        return {a: (ad_value if a in self.denied else self.fields[a]) for a in attrs}


def process_iter_of(*rounds: Sequence[FakeProcess]) -> Callable[..., Iterator[FakeProcess]]:
    """A fake ``psutil.process_iter`` yielding one scripted list per call."""
    script = Script([list(r) for r in rounds])

    def fake(*args: Any, **kwargs: Any) -> Iterator[FakeProcess]:
        return iter(script())

    return fake
