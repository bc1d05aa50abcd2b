"""PSI family: the real /proc/pressure here, and fake trees for absent, disabled and irq-less kernels."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from perfdeck.collectors.psi import (
    PsiCollector,
    StallRates,
    parse_pressure,
    probe_psi,
    psi_report,
    read_small_file,
)
from perfdeck.model.series import INSTANCE_LABELS, CollectorUnavailableError

REAL = Path("/proc/pressure")


def _write_pressure(root: Path, resource: str, some: int | None, full: int | None) -> None:
    lines = []
    if some is not None:
        lines.append(f"some avg10=1.50 avg60=0.40 avg300=0.10 total={some}")
    if full is not None:
        lines.append(f"full avg10=0.00 avg60=0.00 avg300=0.00 total={full}")
    path = root / "proc/pressure" / resource
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _kernel_tree(root: Path, irq: bool = True) -> None:
    """The files of a 6.x kernel: cpu has both lines (full is zero system-wide), irq only full."""
    _write_pressure(root, "cpu", 1_000_000, 0)
    _write_pressure(root, "memory", 2_000_000, 1_000_000)
    _write_pressure(root, "io", 3_000_000, 2_500_000)
    if irq:
        _write_pressure(root, "irq", None, 10_000)


def test_parse_pressure_real_format() -> None:
    text = ("some avg10=3.54 avg60=1.19 avg300=0.71 total=3883184\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    assert parse_pressure(text) == {"some": 3883184, "full": 0}
    assert parse_pressure("some avg10=1 total=oops\nfull total=5\n") == {"full": 5}


def test_stall_rates_percent_of_wall_time() -> None:
    rates = StallRates()
    assert rates.percent("k", 1_000_000, 10.0) is None  # first sight: no value, not 0
    assert rates.percent("k", 1_250_000, 12.0) == pytest.approx(12.5)  # 0.25 s stalled in 2 s
    assert rates.percent("k", 1_000_000, 13.0) is None  # went backwards: no value
    assert rates.percent("k", 1_000_000 + 5_000_000, 14.0) == 100.0  # clamped


def test_fake_tree_rates_labels_and_totals(tmp_path: Path) -> None:
    _kernel_tree(tmp_path)
    collector = PsiCollector(root=tmp_path)
    collector.open()
    specs = collector.specs()
    assert sorted(specs) == ["psi.cpu.some", "psi.io.full", "psi.io.some", "psi.irq.full",
                             "psi.memory.full", "psi.memory.some"]
    memory_full = specs["psi.memory.full"]
    assert memory_full.label == "Memory pressure, full (all non-idle tasks stalled)"
    assert memory_full.metric == "psi.stall_pct" and memory_full.unit == "%"
    assert dict(memory_full.labels) == {"resource": "memory", "kind": "full"}
    assert {name for s in specs.values() for name, _ in s.labels} <= INSTANCE_LABELS
    first = collector.read(100.0)
    assert all(v is None for v in first.values.values())
    assert first.totals["psi.stall_seconds.memory.full"] == pytest.approx(1.0)
    assert set(first.totals) == set(collector.counter_specs())
    assert collector.counter_specs()["psi.stall_seconds.io.some"].unit == "s"

    _write_pressure(tmp_path, "memory", 2_000_000 + 400_000, 1_000_000 + 100_000)
    _write_pressure(tmp_path, "io", 3_000_000, 2_500_000)
    second = collector.read(102.0)
    assert second.values["psi.memory.some"] == pytest.approx(20.0)
    assert second.values["psi.memory.full"] == pytest.approx(5.0)
    assert second.values["psi.io.full"] == 0.0  # a measured zero: the counter did not move
    assert second.totals["psi.stall_seconds.memory.full"] == pytest.approx(1.1)
    assert "psi.cpu.full" not in second.values  # undefined for the whole machine


def test_real_pressure_files_on_this_machine() -> None:
    if not REAL.is_dir():
        pytest.skip("this kernel has no /proc/pressure (CONFIG_PSI off or psi=0)")
    collector = PsiCollector()
    collector.open()
    first = collector.read(time.monotonic())
    # Make some CPU pressure of our own: two busy children on this machine's CPUs for a moment.
    children = [os.fork() for _ in range(2)]
    if 0 in children:
        end = time.monotonic() + 0.4
        while time.monotonic() < end:
            pass
        os._exit(0)
    for pid in children:
        os.waitpid(pid, 0)
    second = collector.read(time.monotonic())
    assert first.totals and set(first.totals) == set(second.totals)
    for key, total in second.totals.items():
        assert total >= first.totals[key]
    for sid in collector.specs():
        value = second.values[sid]
        assert value is not None and 0.0 <= value <= 100.0
    # The totals come from the same file the kernel exposes: compare with a direct read.
    direct = parse_pressure(read_small_file("/proc/pressure/memory"))
    assert second.totals["psi.stall_seconds.memory.some"] <= direct["some"] / 1e6
    if not (REAL / "irq").exists():
        assert "CONFIG_IRQ_TIME_ACCOUNTING" in second.unavailable["psi.irq.full"].reason


def test_absent_pressure_directory(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz root=/dev/sda1 quiet\n")
    with pytest.raises(CollectorUnavailableError) as caught:
        PsiCollector(root=tmp_path).open()
    assert "CONFIG_PSI" in caught.value.unavailable.reason
    assert "psi=1" in caught.value.unavailable.fix
    report = psi_report(tmp_path)
    assert report["available"] is False and "CONFIG_PSI" in report["reason"]


def test_booted_with_psi_0(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz root=/dev/sda1 psi=0\n")
    reason = probe_psi(tmp_path).family_reason
    assert reason is not None and "booted with psi=0" in reason.reason
    assert "replace psi=0 by psi=1" in reason.fix


def test_disabled_at_boot_eopnotsupp(tmp_path: Path) -> None:
    """CONFIG_PSI_DEFAULT_DISABLED: the files exist, but every read fails with EOPNOTSUPP."""
    _kernel_tree(tmp_path)

    def refusing_reader(path: str) -> str:
        os.stat(path)  # the file is there...
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP), path)  # ...as psi_show() says

    with pytest.raises(CollectorUnavailableError) as caught:
        PsiCollector(root=tmp_path, reader=refusing_reader).open()
    assert "disabled at boot" in caught.value.unavailable.reason
    assert "EOPNOTSUPP" in caught.value.unavailable.reason
    assert "psi=1" in caught.value.unavailable.fix


def test_irq_file_missing_on_older_kernels(tmp_path: Path) -> None:
    _kernel_tree(tmp_path, irq=False)
    collector = PsiCollector(root=tmp_path)
    collector.open()
    assert "psi.irq.full" not in collector.specs()
    reading = collector.read(1.0)
    assert "CONFIG_IRQ_TIME_ACCOUNTING" in reading.unavailable["psi.irq.full"].reason
    assert "psi.irq.full" not in reading.values and "psi.stall_seconds.irq.full" not in reading.totals
    report = psi_report(tmp_path)
    assert report["available"] is True and report["resources"]["irq"]["available"] is False


def test_file_vanishes_before_it_is_kept(tmp_path: Path) -> None:
    _kernel_tree(tmp_path)
    collector = PsiCollector(root=tmp_path)
    collector.open()
    (tmp_path / "proc/pressure/io").unlink()  # after the probe, before the first read opens it
    reading = collector.read(2.0)
    assert "psi.io.some" in reading.unavailable and "psi.io.some" not in reading.values
    assert "No such file" in reading.unavailable["psi.io.some"].reason
    assert reading.values["psi.memory.some"] is None  # first read: no rate yet, not 0
    collector.close()


def test_read_error_while_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files are kept open and re-read with pread (a /proc/pressure file never vanishes, but a
    read can fail): the failing resource is unavailable with the error, the others go on, and
    the file is opened afresh on the next read."""
    _kernel_tree(tmp_path)
    collector = PsiCollector(root=tmp_path)
    collector.open()
    collector.read(1.0)
    io_fd = collector._fds["io"]
    real_pread = os.pread

    def failing_pread(fd: int, length: int, offset: int) -> bytes:
        if fd == io_fd:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_pread(fd, length, offset)

    monkeypatch.setattr(os, "pread", failing_pread)
    reading = collector.read(2.0)
    monkeypatch.undo()
    assert "psi.io.some" in reading.unavailable and "psi.io.some" not in reading.values
    assert os.strerror(errno.EIO) in reading.unavailable["psi.io.some"].reason
    assert reading.values["psi.memory.some"] == 0.0
    assert "io" not in collector._fds  # closed, to be opened again
    _write_pressure(tmp_path, "io", 3_500_000, 2_500_000)
    back = collector.read(3.0)
    assert "psi.io.some" not in back.unavailable
    assert back.values["psi.io.some"] is None  # a new baseline after the gap, not a rate across it
    _write_pressure(tmp_path, "io", 3_600_000, 2_500_000)
    assert collector.read(4.0).values["psi.io.some"] == pytest.approx(10.0)  # kept fd sees new content
    collector.close()
    assert not collector._fds


def test_alert_on_memory_full_pressure(tmp_path: Path) -> None:
    """"memory full pressure > 5 % for 10 s" through the real collector, engine and alert engine."""
    from perfdeck.model.alerts import AlertEngine, AlertRule, EventKind
    from perfdeck.model.engine import SamplingEngine

    _kernel_tree(tmp_path)
    engine = SamplingEngine([PsiCollector(root=tmp_path)])
    engine.open()
    alerts = AlertEngine([AlertRule("memory thrashing", "psi.memory.full", 5.0, "above", duration=10.0)])
    fired = []
    full = 1_000_000
    for tick in range(16):
        full += 80_000 if tick >= 3 else 0  # 8 % of each 1 s tick from tick 3 on
        _write_pressure(tmp_path, "memory", 2_000_000 + 100_000 * tick, full)
        snapshot = engine.sample(now=float(tick), timestamp=1e9 + tick)
        fired += [(tick, e) for e in alerts.feed_snapshot(snapshot) if e.kind == EventKind.FIRED]
    assert [tick for tick, _ in fired] == [13]  # above 5 % from tick 3; 10 s later it fires
    event = fired[0][1]
    assert event.label == "Memory pressure, full (all non-idle tasks stalled)" and event.unit == "%"
    assert event.value == pytest.approx(8.0)


def test_doctor_from_a_snapshot_without_psi(tmp_path: Path) -> None:
    from fakes.sysfs_trees import make_vm
    from perfdeck.perf.doctor import diagnose, render_text

    root = make_vm(tmp_path)
    (root / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz psi=0\n")
    report = diagnose(root, confirm=False, include_core=False)
    section = report.family("psi_files")
    assert section.status == "unavailable" and "booted with psi=0" in section.reason
    assert "psi=1" in render_text(report)
