"""RAPL power: discovery (perf power PMU, powercap), Watts arithmetic with wrap, permissions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.sysfs_trees import (
    add_paranoid,
    add_powercap,
    add_rapl_pmu,
    make_rapl_only,
    make_skx_server,
    make_tgl_client,
    make_vm,
    make_zen4,
    write,
)
from perfdeck.collectors.power import PowerCollector
from perfdeck.model.series import CollectorUnavailableError
from perfdeck.perf.counters import GroupSample
from perfdeck.perf.power import (
    EnergyMath,
    PerfRaplSource,
    PowercapSource,
    discover_power,
    power_report,
    series_for,
)
from probes import opened_files

JOULES_PER_COUNT = 2.3283064365386962890625e-10  # 2^-32 J, the kernel's rapl .scale


def test_skx_perf_power_pmu_per_socket(tmp_path: Path) -> None:
    source = discover_power(make_skx_server(tmp_path)).best
    assert isinstance(source, PerfRaplSource)
    events = {(e.event, e.cpu): e for e in source.events}
    assert set(events) == {(name, cpu) for name in ("energy-pkg", "energy-cores", "energy-ram")
                           for cpu in (0, 28)}
    pkg1 = events[("energy-pkg", 28)]
    assert pkg1.config.config == 0x02 and pkg1.pmu_type == 30
    assert pkg1.socket == 1 and pkg1.series_id == "power.package.socket1"
    assert pkg1.joules_per_count == pytest.approx(JOULES_PER_COUNT)
    assert events[("energy-ram", 0)].series_id == "power.dram.socket0"
    assert {s.unit for s in series_for(source).values()} == {"W"}


def test_psys_is_one_platform_series(tmp_path: Path) -> None:
    make_tgl_client(tmp_path)
    add_paranoid(tmp_path, 0)
    source = discover_power(tmp_path).best
    assert isinstance(source, PerfRaplSource)
    assert [e.series_id for e in source.events if e.domain == "psys"] == ["power.psys"]


def test_zen4_perf_power(tmp_path: Path) -> None:
    source = discover_power(make_zen4(tmp_path)).best
    assert isinstance(source, PerfRaplSource)
    assert {e.event for e in source.events} == {"energy-pkg", "energy-cores"}


def test_unprivileged_perf_falls_back_to_powercap(tmp_path: Path) -> None:
    make_rapl_only(tmp_path)  # paranoid 2, power PMU without events, powercap zones present
    discovery = discover_power(tmp_path)
    source = discovery.best
    assert isinstance(source, PowercapSource)
    zones = {z.path.name: z for z in source.zones}
    assert zones["intel-rapl:0"].series_id == "power.package.socket0"
    assert zones["intel-rapl:0:0"].series_id == "power.cores.socket0"
    assert zones["intel-rapl:0:2"].series_id == "power.dram.socket0"
    assert zones["intel-rapl:1"].series_id == "power.psys"
    assert zones["intel-rapl:0:2"].max_range_uj == 65_712_999_613
    assert "no energy-* events" in dict(discovery.rejected)["perf_rapl"].reason


def test_powercap_permission_denied_says_why_and_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    make_rapl_only(tmp_path)
    original = Path.read_text

    def denied(self: Path, *args, **kwargs) -> str:
        # What a non-root user gets since CVE-2020-8694 (files are mode 0400; tests run as root).
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    discovery = discover_power(tmp_path)
    assert discovery.best is None
    why = discovery.unavailable()
    assert "permission denied reading energy_uj" in why.reason and "CVE-2020-8694" in why.reason
    assert "chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj" in why.fix
    assert (tmp_path / "sys/class/powercap/intel-rapl:0/energy_uj").stat().st_mode & 0o777 == 0o400


def test_vm_reason(tmp_path: Path) -> None:
    report = power_report(make_vm(tmp_path))
    assert report["available"] is False
    assert "virtual machine" in report["reason"]
    assert report["fix"] == "measure on the host (bare metal)"
    json.dumps(report)


def test_report_json(tmp_path: Path) -> None:
    report = json.loads(json.dumps(power_report(make_skx_server(tmp_path))))
    assert report["source"]["kind"] == "perf_rapl"
    pkg = [e for e in report["source"]["events"] if e["event"] == "energy-pkg"]
    assert [(e["cpu"], e["socket"], e["config"], e["type"]) for e in pkg] == [(0, 0, "0x2", 30),
                                                                              (28, 1, "0x2", 30)]


# ------------------------------------------------------------------ arithmetic


def test_energy_math_rate_and_wrap() -> None:
    math = EnergyMath()
    max_range = 262_143_328_850
    assert math.update("pkg", 262_143_000_000, 0.0, max_range, 1e-6) is None
    watts = math.update("pkg", 1_000_000, 1.0, max_range, 1e-6)  # wrapped past max_energy_range_uj
    assert watts == pytest.approx((max_range - 262_143_000_000 + 1_000_000) * 1e-6)
    assert math.update("pkg", 31_000_000, 3.0, max_range, 1e-6) == pytest.approx(15.0)
    # a decrease without a known range cannot be interpreted
    math.update("x", 100, 0.0)
    assert math.update("x", 50, 1.0) is None
    assert math.update("x", 60, 2.0) == pytest.approx(10.0)


def test_powercap_collector_reads_watts(tmp_path: Path) -> None:
    make_rapl_only(tmp_path)
    collector = PowerCollector(tmp_path)
    collector.open()
    first = collector.read(10.0)
    assert first.values["power.package.socket0"] is None  # a rate: no value on the first read
    write(tmp_path, "sys/class/powercap/intel-rapl:0/energy_uj", f"{1_000_000 + 30_000_000}\n")
    write(tmp_path, "sys/class/powercap/intel-rapl:0:2/energy_uj", f"{200_000 + 4_000_000}\n")
    second = collector.read(12.0)
    assert second.values["power.package.socket0"] == pytest.approx(15.0)
    assert second.values["power.dram.socket0"] == pytest.approx(2.0)
    assert second.values["power.cores.socket0"] == pytest.approx(0.0)
    assert second.tables["power"]["kind"] == "powercap"


def test_powercap_collector_keeps_its_files_open(tmp_path: Path) -> None:
    """energy_uj is opened once per zone and re-read with pread: no open per read, fresh values."""
    import os

    make_rapl_only(tmp_path)
    collector = PowerCollector(tmp_path)
    collector.open()
    collector.read(10.0)
    write(tmp_path, "sys/class/powercap/intel-rapl:0/energy_uj", f"{1_000_000 + 30_000_000}\n")
    with opened_files() as opened:
        second = collector.read(12.0)
    write(tmp_path, "sys/class/powercap/intel-rapl:0/energy_uj", f"{1_000_000 + 40_000_000}\n")
    third = collector.read(14.0)
    assert opened == []  # neither os.open nor open(): every zone through its kept descriptor
    assert second.values["power.package.socket0"] == pytest.approx(15.0)
    assert third.values["power.package.socket0"] == pytest.approx(5.0)  # the kept fd sees new content
    (tmp_path / "sys/class/powercap/intel-rapl:0/energy_uj").chmod(0)  # as after CVE-2020-8694's fix
    collector.close()  # the descriptors go; a fresh open now meets the file mode
    if os.geteuid() != 0:  # root reads whatever the mode
        assert "permission denied" in collector.read(16.0).unavailable["power.package.socket0"].reason
    collector.close()
    assert collector._energy_fds == {}


class _RaplGroup:
    def __init__(self, events, cpu) -> None:
        self.names = [e.name for e in events]
        self.cpu = cpu
        self.errors: dict = {}
        self.n = 0

    def open(self):
        return {}

    def enable(self) -> None:
        pass

    def read(self) -> GroupSample:
        self.n += 1
        # 50 J per second on every domain, in 2^-32 J counts
        return GroupSample(self.n * 10**9, self.n * 10**9,
                           {name: self.n * 50 * 2**32 for name in self.names}, float(self.n))

    def close(self) -> None:
        pass


def test_perf_rapl_collector_watts(tmp_path: Path) -> None:
    collector = PowerCollector(make_skx_server(tmp_path), group_factory=_RaplGroup)
    collector.open()
    assert collector.read(1.0).values["power.package.socket1"] is None
    values = collector.read(2.0).values
    assert values["power.package.socket1"] == pytest.approx(50.0)
    assert values["power.dram.socket0"] == pytest.approx(50.0)


def test_power_collector_on_this_machine() -> None:
    """Real machine: either readings, or a refusal with a reason (this VM exposes no RAPL)."""
    collector = PowerCollector()
    try:
        collector.open()
    except CollectorUnavailableError as exc:
        assert exc.unavailable.reason.startswith("no power (RAPL) readings")
        return
    try:
        collector.read(0.0)
    finally:
        collector.close()


def test_multi_die_packages_do_not_collide(tmp_path: Path) -> None:
    """powercap names per-die package zones "package-0-die-1": one series per die, not one shared."""
    from perfdeck.perf.power import powercap_zones

    add_powercap(tmp_path, {
        "intel-rapl:0": ("package-0-die-0", 1, 262_143_328_850),
        "intel-rapl:0:0": ("dram", 1, 65_712_999_613),
        "intel-rapl:1": ("package-0-die-1", 1, 262_143_328_850),
        "intel-rapl:1:0": ("dram", 1, 65_712_999_613),
    })
    ids = sorted(z.series_id for z in powercap_zones(tmp_path))
    assert ids == ["power.dram.socket0-die0", "power.dram.socket0-die1",
                   "power.package.socket0-die0", "power.package.socket0-die1"]


def test_multi_die_perf_rapl_uses_die_ids(tmp_path: Path) -> None:
    """rapl.c's cpumask lists one CPU per die: two CPUs of one socket are told apart by die_id."""
    make_rapl_only(tmp_path)
    add_rapl_pmu(tmp_path, 30, cpumask="0,2", cores=False, ram=False)
    for cpu, die in ((0, 0), (1, 0), (2, 1), (3, 1)):
        write(tmp_path, f"sys/devices/system/cpu/cpu{cpu}/topology/die_id", f"{die}\n")
    write(tmp_path, "proc/sys/kernel/perf_event_paranoid", "0\n")
    source = discover_power(tmp_path).best
    assert isinstance(source, PerfRaplSource)
    assert sorted(e.series_id for e in source.events) == ["power.package.socket0-die0",
                                                           "power.package.socket0-die1"]
