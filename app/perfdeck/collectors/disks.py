"""Disk throughput, IOPS and busy time per physical device, and usage per mounted filesystem.

Which block devices count as *physical* (the rule, applied to ``/sys/block`` entries, which
never include partitions, so partitions are skipped by construction):

- kept: entries with a ``device`` link (real hardware: sd*, vd*, xvd*, mmcblk*, nvme*n*),
  NVMe namespaces (``nvme0n1`` has no ``device`` link under native multipath), device-mapper
  (``dm-*``: LVM, LUKS) and software RAID (``md*``), labelled with their dm name when known;
- skipped: loop*, ram*, zram* (memory, not storage), eMMC boot/RPMB areas (``mmcblk0boot0``,
  ``mmcblk0rpmb``), hidden NVMe multipath paths (``nvme0c0n1``, counted in ``nvme0n1``) and any
  other entry without a ``device`` link (nbd, virtual devices).

Stacked devices (an LVM volume on a disk) are both shown: each is real I/O at its own layer.

Device counters come from ``/proc/diskstats``, kept open and re-read with one ``pread`` per tick
(``KeptFile``), with psutil's definitions (sectors are always 512 bytes there; busy time is
``io_ticks`` in ms). psutil's ``disk_io_counters`` would parse it and run its ``nowrap`` bookkeeping
on every tick; the kernel's counters are unsigned longs, 64-bit on the machines PerfDeck runs on.

Filesystems come from ``psutil.disk_partitions(all=False)``, which already drops pseudo and
network filesystems (those marked ``nodev`` in /proc/filesystems: proc, tmpfs, overlay, nfs...).
squashfs images (snaps) are skipped too: read-only and always 100 % full, they only add noise.
A mount that vanishes between listing and ``statvfs`` is dropped; one we may not ``statvfs``
(PermissionError) is reported unavailable with the reason.

Filesystem usage is read every ``fs_interval`` seconds (5 s by default) and its last values are
repeated on the reads in between, whatever the sampling interval: listing the mounts and calling
``statvfs`` on each was half of this collector's cost, and a filesystem's fill level moves on the
scale of seconds to minutes, while device throughput is still read on every tick.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import psutil

from perfdeck.collectors._common import InstanceIds, KeptFile, read_text
from perfdeck.model.collector import Collector
from perfdeck.model.rates import MonotonicTotals
from perfdeck.model.series import CounterSpec, Kind, Reading, SeriesSpec, Unavailable

_PERCENT = (0.0, 100.0)
_SKIP_DEVICE = re.compile(r"^(loop\d+|ram\d+|zram\d+|mmcblk\d+(boot\d+|rpmb)|nvme\d+c\d+n\d+)$")
_ALWAYS_DEVICE = re.compile(r"^(dm-\d+|md\d+|md_.+|nvme\d+n\d+)$")
_SKIP_FSTYPES = frozenset({"squashfs"})
DEFAULT_FS_INTERVAL = 5.0  # seconds between two reads of filesystem usage
# Raw cumulative counters per device, from /proc/diskstats:
# (counter metric, DiskCounters field, unit, scale to base units, help). Names follow node_exporter's.
_COUNTERS: tuple[tuple[str, str, str, float, str], ...] = (
    ("disk.read_bytes", "read_bytes", "B", 1.0, "Bytes read from the device"),
    ("disk.written_bytes", "write_bytes", "B", 1.0, "Bytes written to the device"),
    ("disk.reads_completed", "read_count", "", 1.0, "Reads completed"),
    ("disk.writes_completed", "write_count", "", 1.0, "Writes completed"),
    ("disk.io_time", "busy_time", "s", 1e-3, "Seconds the device had I/O in flight (io_ticks)"),
)


_SECTOR = 512  # /proc/diskstats counts sectors of 512 bytes whatever the device's own sector size


class DiskCounters(NamedTuple):
    """One device's cumulative counters, named as psutil names them."""

    read_count: int
    write_count: int
    read_bytes: int
    write_bytes: int
    busy_time: int  # io_ticks: milliseconds with I/O in flight


def parse_diskstats(data: bytes) -> dict[str, DiskCounters]:
    """Device name -> counters, from the bytes of /proc/diskstats (Documentation/admin-guide/iostats)."""
    devices: dict[str, DiskCounters] = {}
    for line in data.split(b"\n"):
        fields = line.split()
        if len(fields) < 13:
            continue
        try:
            devices[fields[2].decode("utf-8", "replace")] = DiskCounters(
                int(fields[3]), int(fields[7]), int(fields[5]) * _SECTOR, int(fields[9]) * _SECTOR,
                int(fields[12]))
        except ValueError:
            continue
    return devices


def _classify(base: Path, name: str) -> str | None:
    """The label of ``/sys/block/<name>`` if it is a physical device by the rule above, else None."""
    if _SKIP_DEVICE.match(name):
        return None
    if not (_ALWAYS_DEVICE.match(name) or (base / name / "device").exists()):
        return None
    # /sys/block writes "/" in names as "!" (cciss!c0d0); /proc/diskstats keeps the "/".
    stats_name = name.replace("!", "/")
    dm_name = read_text(base / name / "dm/name")
    return f"{stats_name} ({dm_name})" if dm_name else stats_name


def physical_block_devices(root: Path, known: dict[str, str | None] | None = None
                           ) -> dict[str, str] | None:
    """Physical devices under ``root/sys/block``: diskstats name -> label. None if unreadable.

    ``known`` caches the verdict per sysfs name (a name is only classified when it first appears,
    which keeps a read to one directory listing); entries that disappeared are dropped from it.
    """
    base = root / "sys/block"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return None
    cache = known if known is not None else {}
    for gone in set(cache) - set(entries):
        del cache[gone]
    devices: dict[str, str] = {}
    for name in entries:
        if name not in cache:
            cache[name] = _classify(base, name)
        label = cache[name]
        if label is not None:
            devices[name.replace("!", "/")] = label
    return devices


class DiskCollector(Collector):
    """Per-device read/write bytes/s, IOPS and busy %, and per-filesystem usage."""

    family = "disk"
    title = "Disks"

    def __init__(self, root: Path | str = Path("/"), fs_interval: float = DEFAULT_FS_INTERVAL) -> None:
        """``fs_interval``: seconds between reads of filesystem usage (0: on every read)."""
        self.root = Path(root)
        self.fs_interval = fs_interval
        self._fs_read_at: float | None = None  # ``now`` of the last filesystem read
        # The last filesystem reading, repeated until the next one is due.
        self._fs_values: dict[str, float | None] = {}
        self._fs_unavailable: dict[str, Unavailable] = {}
        self._device_ids = InstanceIds()
        self._mount_ids = InstanceIds()
        self._devices: dict[str, str] = {}  # diskstats name -> label
        self._classified: dict[str, str | None] = {}  # sysfs name -> label, or None if not physical
        self._mounts: dict[str, str] = {}  # mount point -> "device, fstype"
        self._specs: Mapping[str, SeriesSpec] = MappingProxyType({})
        self._counter_specs: Mapping[str, CounterSpec] = MappingProxyType({})
        self._monotonic = MonotonicTotals()
        self._diskstats = KeptFile(self.root / "proc/diskstats", size=8192)
        self._listed: frozenset[str] | None = None  # device names of the last /proc/diskstats
        self._no_sysfs = False
        self._physical: dict[str, str] = {}  # physical devices among them: name -> label
        # Device -> (its counters at the previous read, ``now`` of that read), and the series and
        # counter ids of each device, built once (this loop runs on every tick).
        self._last: dict[str, tuple[DiskCounters, float]] = {}
        self._ids_of: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return self._counter_specs

    def _rebuild_specs(self) -> None:
        specs: dict[str, SeriesSpec] = {}
        self._ids_of = {}
        counters: dict[str, CounterSpec] = {}
        for name, label in self._devices.items():
            dev = self._device_ids(name)
            device = (("device", name),)
            for spec in (
                SeriesSpec(f"disk.read.{dev}", f"{label} read", "B/s", Kind.RATE, group="disk.read",
                           metric="disk.read", labels=device),
                SeriesSpec(f"disk.write.{dev}", f"{label} write", "B/s", Kind.RATE, group="disk.write",
                           metric="disk.write", labels=device),
                SeriesSpec(f"disk.read_iops.{dev}", f"{label} reads", "/s", Kind.RATE,
                           group="disk.read_iops", metric="disk.read_iops", labels=device),
                SeriesSpec(f"disk.write_iops.{dev}", f"{label} writes", "/s", Kind.RATE,
                           group="disk.write_iops", metric="disk.write_iops", labels=device),
                SeriesSpec(f"disk.busy.{dev}", f"{label} busy", "%", Kind.RATE, group="disk.busy",
                           value_range=_PERCENT, metric="disk.busy", labels=device),
            ):
                specs[spec.id] = spec
            for metric, _field, unit, _scale, help_text in _COUNTERS:
                counters[f"{metric}.{dev}"] = CounterSpec(f"{metric}.{dev}", metric, unit,
                                                         f"{help_text} (/proc/diskstats)", device)
            self._ids_of[name] = (
                tuple(f"disk.{key}.{dev}" for key in ("read", "write", "read_iops", "write_iops", "busy")),
                tuple(f"{metric}.{dev}" for metric, *_ in _COUNTERS))
        for mount, detail in self._mounts.items():
            mid = self._mount_ids(mount)
            mountpoint = (("mountpoint", mount),)
            for spec in (
                SeriesSpec(f"disk.fs_used_pct.{mid}", f"{mount} used ({detail})", "%",
                           group="disk.fs_used_pct", value_range=_PERCENT, metric="disk.fs_used_pct",
                           labels=mountpoint),
                SeriesSpec(f"disk.fs_used.{mid}", f"{mount} used", "B", group="disk.fs_used",
                           metric="disk.fs_used", labels=mountpoint),
                SeriesSpec(f"disk.fs_total.{mid}", f"{mount} size", "B", group="disk.fs_total",
                           metric="disk.fs_total", labels=mountpoint),
            ):
                specs[spec.id] = spec
        self._specs = MappingProxyType(specs)
        self._counter_specs = MappingProxyType(counters)

    def read(self, now: float) -> Reading:
        values: dict[str, float | None] = {}
        unavailable: dict[str, Unavailable] = {}
        totals: dict[str, float] = {}
        changed = self._read_devices(now, values, unavailable, totals)
        # 2 % slack, as the engine's: a 5 s cadence on a 1 s timer must not slip to 6 s.
        if self._fs_read_at is None or not now - self._fs_read_at < self.fs_interval * 0.98:
            self._fs_read_at = now
            self._fs_values, self._fs_unavailable = {}, {}
            changed = self._read_filesystems(self._fs_values, self._fs_unavailable) or changed
        values.update(self._fs_values)
        unavailable.update(self._fs_unavailable)
        if changed:
            self._rebuild_specs()
        return Reading(values=values, unavailable=unavailable, totals=self._monotonic.accept(totals))

    def _read_devices(self, now: float, values: dict[str, float | None],
                      unavailable: dict[str, Unavailable], totals: dict[str, float]) -> bool:
        data = self._diskstats.read()
        if data is None:
            unavailable["disk.io"] = Unavailable("/proc/diskstats cannot be read",
                                                 "mount procfs: `mount -t proc proc /proc`")
        counters = parse_diskstats(data) if data is not None else {}
        # /proc/diskstats lists every block device: /sys/block is only listed again (to tell
        # physical devices from the rest) when that list changed, not on every tick.
        names = frozenset(counters)
        if names != self._listed or self._no_sysfs:
            self._listed = names
            devices = physical_block_devices(self.root, self._classified)
            self._no_sysfs = devices is None
            self._physical = {n: label for n, label in (devices or {}).items() if n in counters}
        if self._no_sysfs:
            unavailable["disk.io"] = Unavailable(
                "/sys/block cannot be read, so physical disks cannot be told apart from partitions",
                "mount sysfs at /sys (in a container: run it with /sys visible)")
        devices = self._physical
        changed = devices != self._devices
        self._devices = devices
        if changed:  # a removed USB disk re-bases if it comes back
            self._last = {n: v for n, v in self._last.items() if n in devices}
            self._rebuild_specs()
        last = self._last
        for name in devices:
            io = counters[name]
            previous = last.get(name)
            last[name] = (io, now)
            series_ids, counter_ids = self._ids_of[name]
            if previous is not None and now > previous[1]:
                elapsed, old = now - previous[1], previous[0]
                # Series order: read B, write B, read ops, write ops, busy (io_ticks ms -> %).
                # A counter that went backwards has no rate this tick.
                rates: list[float | None] = [
                    (c - p) / elapsed if c >= p else None
                    for c, p in ((io.read_bytes, old.read_bytes), (io.write_bytes, old.write_bytes),
                                 (io.read_count, old.read_count), (io.write_count, old.write_count),
                                 (io.busy_time, old.busy_time))]
                busy = rates[4]
                if busy is not None:
                    # io_ticks advance in jiffies, so one interval can exceed wall time by a tick;
                    # more than 100 % busy is not a real state.
                    rates[4] = min(busy * 0.1, 100.0)
            else:
                rates = [None] * 5
            values.update(zip(series_ids, rates, strict=True))
            totals.update(zip(counter_ids, [getattr(io, field) * scale
                                            for _metric, field, _unit, scale, _help in _COUNTERS],
                              strict=True))
        return changed

    def close(self) -> None:
        self._diskstats.close()

    def _read_filesystems(self, values: dict[str, float | None],
                          unavailable: dict[str, Unavailable]) -> bool:
        mounts: dict[str, str] = {}
        for part in psutil.disk_partitions(all=False):
            if part.fstype in _SKIP_FSTYPES:
                continue
            mounts[part.mountpoint] = f"{part.device}, {part.fstype}"  # a later overmount wins
        present: dict[str, str] = {}
        for mount, detail in mounts.items():
            mid = self._mount_ids(mount)
            try:
                usage = psutil.disk_usage(mount)
            except (FileNotFoundError, NotADirectoryError):
                continue  # unmounted between listing and statvfs: simply gone
            except PermissionError:
                reason = Unavailable(f"permission denied when reading the usage of {mount}",
                                     f"run PerfDeck as a user allowed to access {mount}")
                present[mount] = detail
                for metric in ("fs_used_pct", "fs_used", "fs_total"):
                    unavailable[f"disk.{metric}.{mid}"] = reason
                continue
            except OSError as exc:  # a dead FUSE mount (ENOTCONN), an I/O error
                reason = Unavailable(f"cannot read the usage of {mount}: {exc.strerror or exc}")
                present[mount] = detail
                for metric in ("fs_used_pct", "fs_used", "fs_total"):
                    unavailable[f"disk.{metric}.{mid}"] = reason
                continue
            present[mount] = detail
            # As df: the share of the space usable by ordinary users (root's reserve excluded).
            usable = usage.used + usage.free
            values[f"disk.fs_used_pct.{mid}"] = 100.0 * usage.used / usable if usable > 0 else None
            values[f"disk.fs_used.{mid}"] = float(usage.used)
            values[f"disk.fs_total.{mid}"] = float(usage.total)
        changed = present != self._mounts
        self._mounts = present
        return changed
