"""DRAM bandwidth: source discovery on fake trees of every layout, and the arithmetic on replayed counts."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

from fakes.sysfs_trees import (
    add_cpuinfo,
    add_paranoid,
    add_pmu,
    make_icx_server,
    make_rapl_only,
    make_resctrl,
    make_skx_server,
    make_snb_client,
    make_spr_old_kernel,
    make_spr_server,
    make_tgl_client,
    make_vm,
    make_zen3,
    make_zen4,
    set_resctrl,
    write,
)
from perfdeck.collectors.membw import MemoryBandwidthCollector
from perfdeck.model.series import CollectorUnavailableError
from perfdeck.perf.abi import PerfOpenError
from perfdeck.perf.bandwidth import (
    PerfBandwidthMath,
    PerfBandwidthSource,
    ResctrlMath,
    ResctrlSource,
    bandwidth_report,
    discover_bandwidth,
    read_resctrl,
    series_for,
)
from perfdeck.perf.counters import GroupSample

DEVICES = "sys/bus/event_source/devices"


def _perf_source(root: Path) -> PerfBandwidthSource:
    best = discover_bandwidth(root).best
    assert isinstance(best, PerfBandwidthSource), best
    return best


def _configs(source: PerfBandwidthSource, direction: str) -> set[int]:
    return {c.config.config for c in source.counters if c.direction == direction}


# ------------------------------------------------------------------ discovery


def test_skx_two_sockets_six_channels(tmp_path: Path) -> None:
    source = _perf_source(make_skx_server(tmp_path))
    assert source.kind == "intel_imc"
    assert not source.approximate and source.split
    assert source.pmus == tuple(f"uncore_imc_{i}" for i in range(6))
    assert len(source.counters) == 6 * 2 * 2  # channels x (read, write) x sockets
    assert _configs(source, "read") == {0x304}
    assert _configs(source, "write") == {0xC04}
    assert {(c.cpu, c.socket) for c in source.counters} == {(0, 0), (28, 1)}
    assert {c.pmu_type for c in source.counters} == set(range(24, 30))
    assert {c.bytes_per_count for c in source.counters} == {64.0}
    channels = {c.channel for c in source.counters}
    assert "socket1-imc_5" in channels and len(channels) == 12
    # read and write of one box on one CPU form one group; never two boxes in a group
    groups = source.groups()
    assert len(groups) == 12
    assert all(len({c.pmu for c in g}) == 1 and len(g) == 2 for g in groups.values())


def test_skx_series_ids(tmp_path: Path) -> None:
    specs = series_for(_perf_source(make_skx_server(tmp_path)))
    for sid in ("membw.read.total", "membw.write.total", "membw.total", "membw.read.socket1",
                "membw.total.socket0", "membw.write.socket0-imc_2"):
        assert sid in specs
        assert sid == "membw.counted_pct" or specs[sid].unit == "GB/s"


def test_icx_and_spr_take_umasks_from_sysfs(tmp_path: Path) -> None:
    icx = _perf_source(make_icx_server(tmp_path / "icx"))
    assert (_configs(icx, "read"), _configs(icx, "write")) == ({0x0F04}, {0x3004})
    spr = _perf_source(make_spr_server(tmp_path / "spr"))
    assert (_configs(spr, "read"), _configs(spr, "write")) == ({0xCF05}, {0xF005})


def test_spr_kernel_without_named_events_is_rejected_with_fix(tmp_path: Path) -> None:
    discovery = discover_bandwidth(make_spr_old_kernel(tmp_path))
    assert discovery.best is None
    kinds = dict(discovery.rejected)
    assert "names no cas_count_read event" in kinds["intel_imc"].reason
    assert "upgrade the kernel" in kinds["intel_imc"].fix


def test_tgl_client_needs_privilege_then_uses_free_running(tmp_path: Path) -> None:
    make_tgl_client(tmp_path)
    discovery = discover_bandwidth(tmp_path)  # paranoid 2, not root in the fake tree
    assert discovery.best is None
    why = discovery.unavailable()
    assert "uncore_imc_free_running_0" in why.reason and "perf_event_paranoid is 2" in why.reason
    assert "sudo sysctl kernel.perf_event_paranoid=0" in why.fix
    add_paranoid(tmp_path, 0)
    source = _perf_source(tmp_path)
    assert source.kind == "intel_imc_free_running"
    assert (_configs(source, "read"), _configs(source, "write")) == ({0x20FF}, {0x30FF})
    assert {c.cpu for c in source.counters} == {0}
    assert len(source.pmus) == 2


def test_snb_client(tmp_path: Path) -> None:
    source = _perf_source(make_snb_client(tmp_path))
    assert source.kind == "intel_imc_client"
    assert (_configs(source, "read"), _configs(source, "write")) == ({0x01}, {0x02})
    assert {c.channel for c in source.counters} == {"socket0-imc"}


def test_zen4_sums_every_umc(tmp_path: Path) -> None:
    source = _perf_source(make_zen4(tmp_path))
    assert source.kind == "amd_umc"
    assert len(source.pmus) == 12
    assert (_configs(source, "read"), _configs(source, "write")) == ({0x10A}, {0x20A})
    assert {c.channel for c in source.counters} == {f"umc{i}" for i in range(12)}
    assert {c.cpu for c in source.counters} == {0}


def test_zen4_without_umc_rejects_perfmonv2_df(tmp_path: Path) -> None:
    make_zen4(tmp_path)
    for umc in range(12):
        shutil.rmtree(tmp_path / DEVICES / f"amd_umc_{umc}")
    discovery = discover_bandwidth(tmp_path)
    df = dict(discovery.rejected)["amd_df"]
    assert "config:0-7,32-37" in df.reason and "Zen 4+" in df.reason
    assert "Linux >= 6.7" in df.fix


def test_zen3_df_channels_multiplexed_and_approximate(tmp_path: Path) -> None:
    source = _perf_source(make_zen3(tmp_path))
    assert source.kind == "amd_df"
    assert source.approximate and not source.split
    assert "approximate" in source.accuracy
    assert {c.direction for c in source.counters} == {"total"}
    assert _configs(source, "total") == {0x3807, 0x3847, 0x3887, 0x38C7, 0x1_0000_3807,
                                         0x1_0000_3847, 0x1_0000_3887, 0x1_0000_38C7}
    assert {(c.cpu, c.socket) for c in source.counters} == {(0, 0), (32, 1)}
    # one event per group so the kernel rotates the 8 events over 4 counters
    assert len(source.groups()) == 16
    specs = series_for(source)
    assert "membw.read.total" not in specs and "membw.total.socket1" in specs


def test_vm_explains_why_and_what_would_work(tmp_path: Path) -> None:
    discovery = discover_bandwidth(make_vm(tmp_path))
    assert discovery.best is None
    why = discovery.unavailable()
    assert "virtual machine" in why.reason and "hypervisor" in why.reason
    assert "resctrl" in why.reason
    assert "host" in why.fix


def test_resctrl_not_mounted_gives_mount_command(tmp_path: Path) -> None:
    discovery = discover_bandwidth(make_skx_server(tmp_path))
    assert dict(discovery.rejected)["resctrl"].fix == "sudo mount -t resctrl resctrl /sys/fs/resctrl"


def test_resctrl_when_no_uncore(tmp_path: Path) -> None:
    make_rapl_only(tmp_path)
    add_cpuinfo(tmp_path, "GenuineIntel", "Xeon", ("cqm_mbm_total", "cqm_mbm_local"), 4)
    make_resctrl(tmp_path)
    best = discover_bandwidth(tmp_path).best
    assert isinstance(best, ResctrlSource)
    assert best.groups == ("", "g1")  # MON group g1/mon_groups/m1 is inside g1's counts
    assert best.domains == ("mon_L3_00", "mon_L3_01")
    assert best.has_local


def test_empty_cpumask_rejects_source(tmp_path: Path) -> None:
    make_skx_server(tmp_path)
    write(tmp_path, f"{DEVICES}/uncore_imc_3/cpumask", "\n")
    reason = dict(discover_bandwidth(tmp_path).rejected)["intel_imc"].reason
    assert "uncore_imc_3 has an empty cpumask" in reason


def test_report_is_json_with_hex_configs_and_cpus(tmp_path: Path) -> None:
    report = json.loads(json.dumps(bandwidth_report(make_skx_server(tmp_path))))
    assert report["available"] is True
    source = report["source"]
    assert source["kind"] == "intel_imc"
    imc0 = source["pmus"][0]
    assert imc0 == {
        "name": "uncore_imc_0", "type": 24, "cpus": [0, 28], "sockets": [0, 1],
        "events": [
            {"name": "cas_count_read", "direction": "read", "terms": {"event": 4, "umask": 3},
             "config": "0x304", "config1": "0x0", "config2": "0x0", "bytes_per_count": 64.0},
            {"name": "cas_count_write", "direction": "write", "terms": {"event": 4, "umask": 12},
             "config": "0xc04", "config1": "0x0", "config2": "0x0", "bytes_per_count": 64.0},
        ]}
    vm = bandwidth_report(make_vm(tmp_path / "vm"))
    assert vm["available"] is False and "virtual machine" in vm["reason"]
    json.dumps(vm)


# ------------------------------------------------------------------ perf arithmetic


def _sample(values: dict[str, int], t: float, enabled: int | None = None, running: int | None = None
            ) -> GroupSample:
    ns = int(t * 1e9)
    return GroupSample(enabled if enabled is not None else ns, running if running is not None else ns,
                       values, t)


def test_skx_rates_per_channel_socket_and_total(tmp_path: Path) -> None:
    source = _perf_source(make_skx_server(tmp_path))
    math = PerfBandwidthMath(source)
    first = {key: _sample({"read:cas_count_read": 0, "write:cas_count_write": 0}, 10.0)
             for key in source.groups()}
    assert all(v is None for v in math.update(first).values())
    # 1e6 reads and 5e5 writes per box in 0.5 s
    second = {key: _sample({"read:cas_count_read": 1_000_000, "write:cas_count_write": 500_000}, 10.5)
              for key in source.groups()}
    out = math.update(second)
    per_channel_read = 1e6 * 64 / 0.5 / 1e9  # 0.128 GB/s
    assert out["membw.read.socket0-imc_0"] == pytest.approx(per_channel_read)
    assert out["membw.write.socket1-imc_5"] == pytest.approx(per_channel_read / 2)
    assert out["membw.read.socket1"] == pytest.approx(6 * per_channel_read)
    assert out["membw.read.total"] == pytest.approx(12 * per_channel_read)
    assert out["membw.write.total"] == pytest.approx(6 * per_channel_read)
    assert out["membw.total"] == pytest.approx(18 * per_channel_read)
    assert out["membw.total.socket0"] == pytest.approx(9 * per_channel_read)
    assert out["membw.counted_pct"] == pytest.approx(100.0)


def test_missing_or_uncounted_channel_makes_aggregates_none(tmp_path: Path) -> None:
    source = _perf_source(make_skx_server(tmp_path))
    math = PerfBandwidthMath(source)
    keys = list(source.groups())
    math.update({k: _sample({"read:cas_count_read": 0, "write:cas_count_write": 0}, 1.0) for k in keys})
    second = {k: _sample({"read:cas_count_read": 100, "write:cas_count_write": 100}, 2.0) for k in keys}
    # one box was not scheduled at all in the interval: Δrunning == 0
    second[keys[0]] = _sample({"read:cas_count_read": 0, "write:cas_count_write": 0}, 2.0,
                              enabled=int(2e9), running=int(1e9))
    out = math.update(second)
    first_channel = source.groups()[keys[0]][0].channel
    assert out[f"membw.read.{first_channel}"] is None
    assert out["membw.read.total"] is None  # never a silently low partial sum
    assert out["membw.read.socket1"] is not None  # keys[0] is on socket 0


def test_u64_wrap_is_handled(tmp_path: Path) -> None:
    source = _perf_source(make_snb_client(tmp_path))
    math = PerfBandwidthMath(source)
    (key,) = source.groups()
    math.update({key: _sample({"read:data_reads": 2**64 - 100, "write:data_writes": 5}, 1.0)})
    out = math.update({key: _sample({"read:data_reads": 900, "write:data_writes": 5}, 2.0)})
    assert out["membw.read.total"] == pytest.approx(1000 * 64 / 1e9)
    assert out["membw.write.total"] == 0.0


def test_df_multiplexing_is_scaled(tmp_path: Path) -> None:
    source = _perf_source(make_zen3(tmp_path))
    math = PerfBandwidthMath(source)
    groups = source.groups()
    math.update({k: _sample({c[0].spec_name: 0}, 0.0, 0, 0) for k, c in groups.items()})
    # each channel event ran half the second (8 events on 4 counters): 1e6 counted -> 2e6 estimated
    out = math.update({k: _sample({c[0].spec_name: 1_000_000}, 1.0, int(1e9), int(5e8))
                       for k, c in groups.items()})
    per_channel = 2e6 * 64 / 1e9
    assert out["membw.total.socket0-df-ch4"] == pytest.approx(per_channel)
    assert out["membw.total.socket1"] == pytest.approx(8 * per_channel)
    assert out["membw.total"] == pytest.approx(16 * per_channel)
    assert out["membw.counted_pct"] == pytest.approx(50.0)


# ------------------------------------------------------------------ resctrl arithmetic


def _resctrl_root(tmp_path: Path) -> ResctrlSource:
    make_rapl_only(tmp_path)
    add_cpuinfo(tmp_path, "GenuineIntel", "Xeon", ("cqm_mbm_total", "cqm_mbm_local"), 4)
    make_resctrl(tmp_path)
    source = discover_bandwidth(tmp_path).best
    assert isinstance(source, ResctrlSource)
    return source


def test_resctrl_sums_ctrl_groups_and_domains_not_mon_groups(tmp_path: Path) -> None:
    source = _resctrl_root(tmp_path)
    math = ResctrlMath(source.domains)
    values = read_resctrl(source)
    assert values[("", "mon_L3_01", "mbm_local_bytes")] == "Unavailable"
    assert not any(g == "g1/mon_groups/m1" for g, _, _ in values)
    assert math.update(0.0, values) == {}
    assert math.problems == {"root/mon_L3_01/mbm_local_bytes": "Unavailable"}
    set_resctrl(tmp_path, "mon_data/mon_L3_00/mbm_total_bytes", f"{1_000_000 + 2_000_000_000}\n")
    set_resctrl(tmp_path, "g1/mon_data/mon_L3_01/mbm_total_bytes", f"{700_000 + 1_000_000_000}\n")
    set_resctrl(tmp_path, "g1/mon_groups/m1/mon_data/mon_L3_01/mbm_total_bytes", "999999999999\n")
    out = math.update(2.0, read_resctrl(source))
    assert out["membw.total"] == pytest.approx(1.5)  # 3e9 bytes in 2 s
    assert out["membw.total.mon_l3_00"] == pytest.approx(1.0)
    assert out["membw.total.mon_l3_01"] == pytest.approx(0.5)
    assert out["membw.group.g1"] == pytest.approx(0.5)
    assert out["membw.group.root"] == pytest.approx(1.0)
    assert out["membw.local.total"] == pytest.approx(0.0)  # the Unavailable file is left out


def test_resctrl_backwards_counter_drops_the_tick(tmp_path: Path) -> None:
    source = _resctrl_root(tmp_path)
    math = ResctrlMath(source.domains)
    math.update(0.0, read_resctrl(source))
    set_resctrl(tmp_path, "g1/mon_data/mon_L3_00/mbm_total_bytes", "10\n")  # reset
    out = math.update(1.0, read_resctrl(source))
    assert out["membw.total"] is None
    assert out["membw.total.mon_l3_01"] == pytest.approx(0.0)
    assert "counter went backwards" in math.problems["g1/mon_L3_00/mbm_total_bytes"]
    set_resctrl(tmp_path, "g1/mon_data/mon_L3_00/mbm_total_bytes", f"{10 + 4_000_000_000}\n")
    assert math.update(2.0, read_resctrl(source))["membw.total"] == pytest.approx(4.0)


def test_resctrl_group_created_and_removed(tmp_path: Path) -> None:
    source = _resctrl_root(tmp_path)
    math = ResctrlMath(source.domains)
    math.update(0.0, read_resctrl(source))
    for domain in source.domains:  # g2 created between two reads: its counts started at creation
        set_resctrl(tmp_path, f"g2/mon_data/{domain}/mbm_total_bytes", "1000000000\n")
        set_resctrl(tmp_path, f"g2/mon_data/{domain}/mbm_local_bytes", "0\n")
    out = math.update(1.0, read_resctrl(source))
    assert out["membw.total"] == pytest.approx(2.0)
    assert out["membw.group.g2"] == pytest.approx(2.0)
    shutil.rmtree(tmp_path / "sys/fs/resctrl/g2")  # its last interval is lost
    out = math.update(2.0, read_resctrl(source))
    assert out["membw.total"] is None


# ------------------------------------------------------------------ the collector


class FakeGroup:
    """A counter group double that replays samples (the real one is tested by C1 and below)."""

    def __init__(self, events, cpu, error: int | None = None) -> None:
        self.names = [e.name for e in events]
        self.cpu = cpu
        self.error = error
        self.errors: dict[str, PerfOpenError] = {}
        self.reads = 0
        self.closed = False
        self.enabled = False

    def open(self):
        if self.error is not None:
            self.errors = {self.names[0]: PerfOpenError(self.error, "denied")}
        return self.errors

    def enable(self) -> None:
        self.enabled = True

    def read(self) -> GroupSample:
        self.reads += 1
        t = float(self.reads)
        return _sample({name: self.reads * 1_000_000 for name in self.names}, t)

    def close(self) -> None:
        self.closed = True


def test_collector_reads_uncore_through_groups(tmp_path: Path) -> None:
    made: list[FakeGroup] = []

    def factory(events, cpu):
        made.append(FakeGroup(events, cpu))
        return made[-1]

    collector = MemoryBandwidthCollector(make_skx_server(tmp_path), group_factory=factory)
    collector.open()
    assert {g.cpu for g in made} == {0, 28} and all(g.enabled for g in made)
    first = collector.read(1.0)
    assert first.values["membw.total"] is None
    second = collector.read(2.0)
    assert second.values["membw.read.total"] == pytest.approx(12 * 1e6 * 64 / 1e9)
    status = second.tables["membw"]
    assert status["kind"] == "intel_imc" and status["accuracy"].startswith("exact")
    assert status["fallbacks"][0]["kind"] == "resctrl"
    assert set(second.values) <= set(collector.specs())
    collector.close()
    assert all(g.closed for g in made)


def test_collector_falls_back_to_resctrl_on_eacces(tmp_path: Path) -> None:
    make_skx_server(tmp_path)
    make_resctrl(tmp_path)
    collector = MemoryBandwidthCollector(
        tmp_path, group_factory=lambda events, cpu: FakeGroup(events, cpu, errno.EACCES))
    collector.open()
    assert isinstance(collector.source, ResctrlSource)
    status = collector.read(0.0).tables["membw"]
    reasons = {f["kind"]: f for f in status["fallbacks"]}
    assert "EACCES" in reasons["intel_imc"]["reason"]
    assert "perf_event_paranoid=0" in reasons["intel_imc"]["fix"]
    assert "membw.group.g1" in collector.specs()


def test_collector_unavailable_when_every_source_fails(tmp_path: Path) -> None:
    collector = MemoryBandwidthCollector(
        make_skx_server(tmp_path), group_factory=lambda events, cpu: FakeGroup(events, cpu, errno.EBUSY))
    with pytest.raises(CollectorUnavailableError) as info:
        collector.open()
    reason = info.value.unavailable.reason
    assert "Intel server IMC" in reason and "EBUSY" in reason
    assert "resctrl" in reason


def test_collector_on_this_machine_says_why() -> None:
    """This VM has no uncore PMU: the collector must refuse with the reason, never show 0."""
    discovery = discover_bandwidth(Path("/"))
    if discovery.best is not None:
        pytest.skip("this machine has a bandwidth source")
    with pytest.raises(CollectorUnavailableError) as info:
        MemoryBandwidthCollector().open()
    assert info.value.unavailable.reason.startswith("no DRAM bandwidth source")


def test_uncore_pmu_without_cpumask_is_rejected(tmp_path: Path) -> None:
    make_snb_client(tmp_path)
    shutil.rmtree(tmp_path / DEVICES / "uncore_imc")
    add_pmu(tmp_path, "uncore_imc", 12, formats={"event": "config:0-7"},
            events={"data_reads": "event=0x01", "data_writes": "event=0x02"})
    reason = dict(discover_bandwidth(tmp_path).rejected)["intel_imc_client"].reason
    assert "no cpumask" in reason


def test_collector_reopens_after_enodev(tmp_path: Path) -> None:
    """A read failing with ENODEV (CPU offline) makes the next read rediscover and reopen."""
    made: list[FakeGroup] = []

    class Dying(FakeGroup):
        def read(self) -> GroupSample:
            if self.cpu == 28:
                raise PerfOpenError(errno.ENODEV, "offline")
            return super().read()

    def factory(events, cpu):
        made.append(Dying(events, cpu))
        return made[-1]

    collector = MemoryBandwidthCollector(make_snb_client(tmp_path), group_factory=factory)
    collector.open()
    # the SNB client has one box on CPU 0; fake a second box on CPU 28 to go offline
    collector._groups["extra"] = Dying([], 28)
    first = collector.read(1.0)
    assert "ENODEV" in first.tables["membw"]["problems"]["extra"]
    assert not made[0].closed
    second = collector.read(2.0)  # reopened: fresh groups, fresh baselines
    assert len(made) == 2 and made[0].closed
    assert second.values["membw.total"] is None
    assert collector.read(3.0).values["membw.read.total"] == pytest.approx(1e6 * 64 / 1e9)



def test_adl_client_imc_pmus_get_the_client_verdict(tmp_path: Path) -> None:
    """Finding 8: adl_uncore_imc's uncore_imc_0/1 are not an old server kernel."""
    from fakes.sysfs_trees import make_adl_client

    discovery = discover_bandwidth(make_adl_client(tmp_path))
    assert discovery.best is not None and discovery.best.kind == "intel_imc_free_running"
    rejected = dict(discovery.rejected)
    assert "intel_imc" not in rejected
    why = rejected["intel_imc_adl"]
    assert "Alder/Raptor Lake" in why.reason and "free-running" in why.reason
    assert "predates" not in why.reason and not why.fix


def test_adl_client_without_free_running_says_upgrade(tmp_path: Path) -> None:
    from fakes.sysfs_trees import make_adl_client

    discovery = discover_bandwidth(make_adl_client(tmp_path, free_running=False))
    why = dict(discovery.rejected)["intel_imc_adl"]
    assert "no uncore_imc_free_running" in why.reason and "upgrade the kernel" in why.fix


def test_old_icx_free_running_scale_is_corrected(tmp_path: Path) -> None:
    """Finding 9: 3.814697266e-6 MiB (4 B) is the pre-fix ICX/SNR scale: 64 B per count is used."""
    from fakes.sysfs_trees import make_icx_old_free_running

    source = discover_bandwidth(make_icx_old_free_running(tmp_path)).best
    assert source is not None and source.kind == "intel_imc_free_running"
    assert {c.bytes_per_count for c in source.counters} == {64.0}
    assert any("old ICX/SNR value" in n for n in source.notes)
    math = PerfBandwidthMath(source)
    names = {c.group: [x.spec_name for x in source.counters if x.group == c.group] for c in source.counters}
    math.update({g: _sample(dict.fromkeys(n, 0), 0.0) for g, n in names.items()})
    rates = math.update({g: _sample(dict.fromkeys(n, 1_000_000), 1.0) for g, n in names.items()})
    assert rates["membw.read.total"] == pytest.approx(1e6 * 64 / 1e9)  # 0.064 GB/s, not 0.004
