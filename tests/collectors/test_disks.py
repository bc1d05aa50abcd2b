"""Disk collector: the physical-device rule on a fake /sys/block, rates and busy % on doubles,
filesystems vanishing or denied, and the real machine."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest
from psutil_fakes import FileScript, Script, disk_io, diskstats_text, make_block_tree, sdiskpart, sdiskusage

from perfdeck.collectors.disks import DiskCollector, physical_block_devices


def test_physical_device_rule(tmp_path: Path) -> None:
    make_block_tree(tmp_path, {
        "sda": "hw", "vda": "hw", "mmcblk0": "hw", "mmcblk0boot0": "hw", "mmcblk0rpmb": "hw",
        "nvme0n1": "virtual",  # native NVMe multipath: the namespace has no device link
        "nvme0c0n1": "hw",  # the hidden path under it
        "dm-0": "dm:vg0-root", "md127": "virtual",
        "loop0": "virtual", "ram0": "virtual", "zram0": "virtual", "nbd0": "virtual",
    })
    devices = physical_block_devices(tmp_path)
    assert devices == {
        "dm-0": "dm-0 (vg0-root)", "md127": "md127", "mmcblk0": "mmcblk0", "nvme0n1": "nvme0n1",
        "sda": "sda", "vda": "vda",
    }


def test_no_sysfs_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert physical_block_devices(tmp_path) is None
    stats = FileScript(tmp_path / "proc/diskstats", diskstats_text, [{"sda": disk_io()}])
    monkeypatch.setattr(psutil, "disk_partitions", Script([[]]))
    reading = stats.read(DiskCollector(root=tmp_path), 1.0)
    assert "/sys/block" in reading.unavailable["disk.io"].reason
    assert not reading.values


def test_rates_iops_busy_and_partitions_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_block_tree(tmp_path, {"sda": "hw", "loop0": "virtual"})
    stats = FileScript(tmp_path / "proc/diskstats", diskstats_text, [
        {"sda": disk_io(10, 20, 4096, 8192, busy_time=1000), "sda1": disk_io(), "loop0": disk_io()},
        {"sda": disk_io(110, 70, 4096 + 2_048_000, 8192 + 409_600, busy_time=1500),
         "sda1": disk_io(), "loop0": disk_io()},
        {"sda": disk_io(110, 70, 4096 + 2_048_000, 8192 + 409_600, busy_time=3600),
         "sda1": disk_io(), "loop0": disk_io()},
    ])
    monkeypatch.setattr(psutil, "disk_partitions", Script([[]]))
    collector = DiskCollector(root=tmp_path)
    first = stats.read(collector, 0.0)
    assert first.values["disk.read.sda"] is None and first.values["disk.busy.sda"] is None
    assert sorted(collector.specs()) == sorted(
        f"disk.{m}.sda" for m in ("read", "write", "read_iops", "write_iops", "busy"))
    second = stats.read(collector, 2.0)
    # /proc/diskstats counts 512-byte sectors: 4000 and 800 sectors in 2 s.
    assert second.values["disk.read.sda"] == pytest.approx(1_024_000)
    assert second.values["disk.write.sda"] == pytest.approx(204_800)
    assert second.values["disk.read_iops.sda"] == pytest.approx(50)
    assert second.values["disk.write_iops.sda"] == pytest.approx(25)
    assert second.values["disk.busy.sda"] == pytest.approx(25)  # 500 ms busy in 2 s
    third = stats.read(collector, 4.0)
    assert third.values["disk.busy.sda"] == 100  # 2100 ms of io_ticks in 2 s: a tick of jitter
    assert collector.specs()["disk.busy.sda"].value_range == (0, 100)


def test_counter_going_backwards_and_device_removed(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    make_block_tree(tmp_path, {"sda": "hw", "sdb": "hw"})
    stats = FileScript(tmp_path / "proc/diskstats", diskstats_text, [
        {"sda": disk_io(read_bytes=5120), "sdb": disk_io(read_bytes=512)},
        {"sda": disk_io(read_bytes=1024), "sdb": disk_io(read_bytes=1536)},  # sda re-plugged
        {"sda": disk_io(read_bytes=3072)},  # sdb pulled out
        {"sda": disk_io(read_bytes=3072), "sdb": disk_io(read_bytes=4608)},  # sdb back
    ])
    monkeypatch.setattr(psutil, "disk_partitions", Script([[]]))
    collector = DiskCollector(root=tmp_path)
    stats.read(collector, 0.0)
    second = stats.read(collector, 1.0)
    assert second.values["disk.read.sda"] is None
    assert second.values["disk.read.sdb"] == pytest.approx(1024)
    third = stats.read(collector, 2.0)
    assert third.values["disk.read.sda"] == pytest.approx(2048)
    assert "disk.read.sdb" not in collector.specs()
    assert stats.read(collector, 3.0).values["disk.read.sdb"] is None  # re-based, not a rate over 2 s


def test_filesystems_skip_squashfs_and_handle_vanishing_and_denied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_block_tree(tmp_path, {})
    FileScript(tmp_path / "proc/diskstats", diskstats_text, [{}])
    monkeypatch.setattr(psutil, "disk_partitions", Script([[
        sdiskpart("/dev/sda2", "/", "ext4", "rw"),
        sdiskpart("/dev/sda3", "/home", "xfs", "rw"),
        sdiskpart("/dev/loop3", "/snap/core/1", "squashfs", "ro"),
        sdiskpart("/dev/sdc1", "/media/usb", "vfat", "rw"),
        sdiskpart("/dev/sdd1", "/mnt/secret place", "ext4", "rw"),
    ]]))

    def disk_usage(path: str) -> sdiskusage:
        if path == "/media/usb":
            raise FileNotFoundError(2, "No such file or directory", path)
        if path == "/mnt/secret place":
            raise PermissionError(13, "Permission denied", path)
        if path == "/":
            return sdiskusage(100 * 2**30, 45 * 2**30, 45 * 2**30, 50.0)
        return sdiskusage(10 * 2**30, 2**30, 9 * 2**30, 10.0)

    monkeypatch.setattr(psutil, "disk_usage", disk_usage)
    collector = DiskCollector(root=tmp_path)
    reading = collector.read(0.0)
    assert reading.values["disk.fs_used_pct.root"] == pytest.approx(50)  # of the user-usable space
    assert reading.values["disk.fs_total.root"] == 100 * 2**30
    assert reading.values["disk.fs_used.home"] == 2**30
    specs = collector.specs()
    assert not any("snap" in sid or "usb" in sid for sid in specs)
    denied = reading.unavailable["disk.fs_used_pct.mnt_secret_place"]
    assert "permission denied" in denied.reason and denied.fix
    assert "disk.fs_used_pct.mnt_secret_place" in specs
    assert specs["disk.fs_used_pct.root"].label.startswith("/ used")


def test_real_machine_disk() -> None:
    collector = DiskCollector()
    collector.read(time.monotonic())
    time.sleep(0.3)
    reading = collector.read(time.monotonic())
    devices = {sid.split(".", 2)[2] for sid in collector.specs() if sid.startswith("disk.read.")}
    assert devices, "this machine has a real block device (vda here)"
    assert not any(d.startswith(("loop", "zram", "ram")) for d in devices)
    for device in devices:
        for metric in ("read", "write", "read_iops", "write_iops", "busy"):
            value = reading.values[f"disk.{metric}.{device}"]
            assert value is not None and value >= 0
        assert reading.values[f"disk.busy.{device}"] <= 100
    # The same counters psutil reads from /proc/diskstats, read a moment later.
    later = psutil.disk_io_counters(perdisk=True)
    for device in devices:
        name = next(n for n in later if n.replace("/", "_") == device)
        assert reading.totals[f"disk.reads_completed.{device}"] <= later[name].read_count
        assert later[name].write_bytes - reading.totals[f"disk.written_bytes.{device}"] < 100 << 20
    assert reading.values["disk.fs_used.root"] <= reading.values["disk.fs_total.root"]
    assert 0 <= reading.values["disk.fs_used_pct.root"] <= 100


def test_filesystem_usage_read_every_fs_interval_and_held_between(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_block_tree(tmp_path, {})
    FileScript(tmp_path / "proc/diskstats", diskstats_text, [{}])
    partitions = Script([[sdiskpart("/dev/sda2", "/", "ext4", "rw")],
                         [sdiskpart("/dev/sda2", "/", "ext4", "rw"),
                          sdiskpart("/dev/sdb1", "/data", "xfs", "rw")]])
    monkeypatch.setattr(psutil, "disk_partitions", partitions)
    usage = Script([sdiskusage(100, 40, 60, 40.0), sdiskusage(100, 70, 30, 70.0),
                    sdiskusage(10, 1, 9, 10.0)])
    monkeypatch.setattr(psutil, "disk_usage", usage)
    collector = DiskCollector(root=tmp_path, fs_interval=5.0)
    first = collector.read(100.0)
    assert first.values["disk.fs_used.root"] == 40
    for now in (100.1, 102.0, 104.8):  # not due: the last usage is repeated, nothing re-read
        held = collector.read(now)
        assert held.values["disk.fs_used.root"] == 40 and held.values["disk.fs_total.root"] == 100
    assert (partitions.calls, usage.calls) == (1, 1)
    due = collector.read(104.95)  # within the 2 % slack of 5 s
    assert due.values["disk.fs_used.root"] == 70 and due.values["disk.fs_used.data"] == 1
    assert "disk.fs_used_pct.data" in collector.specs()  # a new mount shows up at the next read


def test_fs_interval_zero_reads_usage_every_time(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    make_block_tree(tmp_path, {})
    FileScript(tmp_path / "proc/diskstats", diskstats_text, [{}])
    monkeypatch.setattr(psutil, "disk_partitions", Script([[sdiskpart("/dev/sda2", "/", "ext4", "rw")]]))
    monkeypatch.setattr(psutil, "disk_usage", Script([sdiskusage(100, 40, 60, 40.0),
                                                     sdiskusage(100, 41, 59, 41.0)]))
    collector = DiskCollector(root=tmp_path, fs_interval=0.0)
    assert collector.read(1.0).values["disk.fs_used.root"] == 40
    assert collector.read(1.1).values["disk.fs_used.root"] == 41
