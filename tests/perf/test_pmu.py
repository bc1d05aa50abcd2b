"""The generic sysfs PMU layer on fake trees modelled on real kernels, and on this machine's real sysfs."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes.sysfs_trees import (
    add_pmu,
    make_icx_server,
    make_skx_server,
    make_snb_client,
    make_spr_server,
    make_tgl_client,
    make_vm,
    make_zen3,
    make_zen4,
)
from perfdeck.perf.counters import CounterGroup, EventSpec
from perfdeck.perf.pmu import (
    EncodedConfig,
    FormatField,
    PmuError,
    list_pmus,
    online_cpus,
    package_of_cpu,
    parse_cpulist,
    parse_event_terms,
    pmu_cpus,
    scan_pmus,
)
from perfdeck.perf.vendor_tables import AMD_DF_CHANNEL_EVENTS, AMD_UMC_READ, AMD_UMC_WRITE

# ------------------------------------------------------------------ parsers


@pytest.mark.parametrize(("text", "expected"), [
    ("0\n", (0,)),
    ("0,28\n", (0, 28)),
    ("0-3,8", (0, 1, 2, 3, 8)),
    ("8,0-1", (0, 1, 8)),
    ("", ()),
    ("\n", ()),
])
def test_parse_cpulist(text: str, expected: tuple[int, ...]) -> None:
    assert parse_cpulist(text) == expected


@pytest.mark.parametrize("text", ["ff,ff", "3-1", "0-", "a"])
def test_parse_cpulist_rejects_garbage(text: str) -> None:
    with pytest.raises(PmuError, match="cpulist"):
        parse_cpulist(text)


def test_format_field_single_bit_and_split_ranges() -> None:
    edge = FormatField.parse("edge", "config:18\n")
    assert edge == FormatField("edge", "config", ((18, 18),))
    assert edge.deposit(1) == 1 << 18
    umask = FormatField.parse("umask", "config:8-15,32-55")
    assert umask.width == 32
    assert umask.deposit(0xCF) == 0xCF00
    assert umask.deposit(0x1FF) == 0x1_0000_FF00  # bit 8 of the value lands in config bit 32
    config1 = FormatField.parse("ldlat", "config1:0-15")
    assert config1.target == "config1"
    assert config1.spec() == "config1:0-15"


def test_format_field_rejects_too_wide_value_with_clear_message() -> None:
    umask = FormatField.parse("umask", "config:8-15")
    with pytest.raises(PmuError, match=r"0x100 is wider than the field \(8 bits: config:8-15\)"):
        umask.deposit(0x100)


@pytest.mark.parametrize("text", ["config8-15", "cfg:0-7", "config:7-0", "config:0-64", "config:x"])
def test_format_field_rejects_malformed(text: str) -> None:
    with pytest.raises(PmuError):
        FormatField.parse("event", text)


def test_parse_event_terms() -> None:
    assert parse_event_terms("event=0x04,umask=0x03") == {"event": 4, "umask": 3}
    assert parse_event_terms("event=0x3c,inv,cmask=1\n") == {"event": 0x3C, "inv": 1, "cmask": 1}
    assert parse_event_terms("event=0x2e,umask=?") == {"event": 0x2E, "umask": "?"}
    with pytest.raises(PmuError, match="non-numeric"):
        parse_event_terms("event=banana")
    with pytest.raises(PmuError, match="empty"):
        parse_event_terms("   ")


# ------------------------------------------------------------------ machines


def test_skx_server(tmp_path: Path) -> None:
    pmus = list_pmus(make_skx_server(tmp_path))
    imcs = sorted(n for n in pmus if n.startswith("uncore_imc_"))
    assert imcs == [f"uncore_imc_{i}" for i in range(6)]
    imc = pmus["uncore_imc_0"]
    assert imc.type == 24
    assert imc.cpus == (0, 28)
    read = imc.events["cas_count_read"]
    assert read.terms == {"event": 4, "umask": 3}
    assert read.scale == pytest.approx(6.103515625e-5)
    assert read.unit == "MiB"
    assert imc.encode_event("cas_count_read") == EncodedConfig(0x304, 0, 0)
    assert imc.encode_event("cas_count_write") == EncodedConfig(0xC04, 0, 0)
    assert imc.encode_event("clockticks").config == 0
    assert [package_of_cpu(c, tmp_path) for c in imc.cpus] == [0, 1]
    # Overriding a term through encode_event works (perf-style "event/umask=.../").
    assert imc.encode_event("cas_count_read", edge=1).config == 0x304 | 1 << 18


def test_icx_server_uses_sysfs_umasks(tmp_path: Path) -> None:
    imc = list_pmus(make_icx_server(tmp_path))["uncore_imc_0"]
    assert imc.encode_event("cas_count_read").config == 0x0F04
    assert imc.encode_event("cas_count_write").config == 0x3004


def test_spr_server_split_umask(tmp_path: Path) -> None:
    imc = list_pmus(make_spr_server(tmp_path))["uncore_imc_0"]
    assert imc.formats["umask"].bits == ((8, 15), (32, 55))
    assert imc.encode_event("cas_count_read").config == 0xCF05
    assert imc.encode_event("cas_count_write").config == 0xF005
    assert imc.encode({"event": 0x05, "umask": 0x1FF}).config == 0x1_0000_FF05


def test_tgl_client_free_running(tmp_path: Path) -> None:
    pmus = list_pmus(make_tgl_client(tmp_path))
    imc = pmus["uncore_imc_free_running_0"]
    assert imc.cpus == (0,)
    assert imc.encode_event("data_read").config == 0x20FF
    assert imc.encode_event("data_write").config == 0x30FF
    assert imc.encode_event("data_total").config == 0x10FF
    assert imc.events["data_read"].scale == pytest.approx(64 / 2**20)


def test_snb_client_imc(tmp_path: Path) -> None:
    imc = list_pmus(make_snb_client(tmp_path))["uncore_imc"]
    assert imc.encode_event("data_reads").config == 0x01
    assert imc.encode_event("data_writes").config == 0x02
    assert imc.events["data_writes"].unit == "MiB"


def test_zen4_umc_built_from_format_files(tmp_path: Path) -> None:
    pmus = list_pmus(make_zen4(tmp_path))
    umcs = [n for n in pmus if n.startswith("amd_umc_")]
    assert len(umcs) == 12
    umc = pmus["amd_umc_11"]
    assert umc.events == {}  # amd_umc has no events/ directory
    assert umc.encode(AMD_UMC_READ.as_dict()) == EncodedConfig(0x10A, 0, 0)
    assert umc.encode(AMD_UMC_WRITE.as_dict()) == EncodedConfig(0x20A, 0, 0)


def test_zen3_df_channels_split_event_format(tmp_path: Path) -> None:
    df = list_pmus(make_zen3(tmp_path))["amd_df"]
    assert df.cpus == (0, 32)
    configs = [df.encode(event.as_dict()).config for event in AMD_DF_CHANNEL_EVENTS]
    assert configs == [0x3807, 0x3847, 0x3887, 0x38C7,
                       0x1_0000_3807, 0x1_0000_3847, 0x1_0000_3887, 0x1_0000_38C7]


def test_vm_has_only_software_and_msr(tmp_path: Path) -> None:
    pmus = list_pmus(make_vm(tmp_path))
    assert set(pmus) == {"software", "tracepoint", "breakpoint", "uprobe", "msr"}
    msr = pmus["msr"]
    assert msr.cpus is None
    assert msr.encode_event("tsc") == EncodedConfig(0, 0, 0)
    assert pmu_cpus(msr, tmp_path) == (0, 1)  # no cpumask: every online CPU


# ------------------------------------------------------------------ negative fixtures (§6.3)


def _neg(root: Path, **kwargs) -> None:
    add_pmu(root, "neg", 42, **kwargs)


def test_missing_scale_means_none_and_effective_one(tmp_path: Path) -> None:
    _neg(tmp_path, cpumask="0", formats={"event": "config:0-7"}, events={"ev": "event=0x01"})
    event = list_pmus(tmp_path)["neg"].events["ev"]
    assert event.scale is None
    assert event.effective_scale == 1.0
    assert event.unit is None


def test_unknown_term_is_rejected_naming_known_terms(tmp_path: Path) -> None:
    _neg(tmp_path, cpumask="0", formats={"event": "config:0-7"}, events={"ev": "event=0x01,bogus=0x2"})
    pmu = list_pmus(tmp_path)["neg"]
    with pytest.raises(PmuError, match=r"unknown term 'bogus'.*defines: event"):
        pmu.encode_event("ev")


def test_required_parameter(tmp_path: Path) -> None:
    _neg(tmp_path, cpumask="0", formats={"event": "config:0-7", "umask": "config:8-15"},
         events={"ev": "event=0x2e,umask=?"})
    pmu = list_pmus(tmp_path)["neg"]
    assert pmu.events["ev"].required_params == ("umask",)
    with pytest.raises(PmuError, match=r"required parameter\(s\) not given: umask="):
        pmu.encode_event("ev")
    assert pmu.encode_event("ev", umask=0x41).config == 0x412E
    with pytest.raises(PmuError, match="required parameter"):
        pmu.encode({"event": 1, "umask": "?"})  # type: ignore[dict-item]


def test_format_for_config1(tmp_path: Path) -> None:
    _neg(tmp_path, cpumask="0", formats={"event": "config:0-7", "ldlat": "config1:0-15"},
         events={"ev": "event=0xcd,ldlat=0x3"})
    assert list_pmus(tmp_path)["neg"].encode_event("ev") == EncodedConfig(0xCD, 3, 0)


def test_bare_term_means_one(tmp_path: Path) -> None:
    _neg(tmp_path, cpumask="0", formats={"event": "config:0-7", "inv": "config:23"},
         events={"ev": "event=0x01,inv"})
    assert list_pmus(tmp_path)["neg"].encode_event("ev").config == 0x01 | 1 << 23


def test_no_cpumask_and_empty_cpumask(tmp_path: Path) -> None:
    add_pmu(tmp_path, "nomask", 40, formats={"event": "config:0-7"})
    add_pmu(tmp_path, "emptymask", 41, cpumask="", formats={"event": "config:0-7"})
    pmus = list_pmus(tmp_path)
    assert pmus["nomask"].cpus is None
    assert pmus["emptymask"].cpus == ()


def test_value_too_wide_for_field(tmp_path: Path) -> None:
    _neg(tmp_path, cpumask="0", formats={"event": "config:0-7", "rdwrmask": "config:8-9"})
    with pytest.raises(PmuError, match="'rdwrmask': value 0x4 is wider"):
        list_pmus(tmp_path)["neg"].encode({"event": 0x0A, "rdwrmask": 4})


def test_unknown_event_lists_known(tmp_path: Path) -> None:
    _neg(tmp_path, cpumask="0", formats={"event": "config:0-7"}, events={"ev": "event=1"})
    with pytest.raises(PmuError, match="no event 'nope'; it has: ev"):
        list_pmus(tmp_path)["neg"].encode_event("nope")


def test_malformed_pmus_are_skipped_with_reason(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    add_pmu(tmp_path, "good", 7, formats={"event": "config:0-7"})
    add_pmu(tmp_path, "badtype", 0, formats={"event": "config:0-7"}, extra={"type": "x\n"})
    add_pmu(tmp_path, "badformat", 43, formats={"event": "config:zero"})
    add_pmu(tmp_path, "badmask", 44, cpumask="ff,ff")
    (tmp_path / "sys/bus/event_source/devices/notype").mkdir()
    add_pmu(tmp_path, "badevent", 45, formats={"event": "config:0-7"},
            events={"ok": "event=0x1", "broken": "event=oops"})
    with caplog.at_level(logging.INFO, logger="perfdeck.perf.pmu"):
        scan = scan_pmus(tmp_path)
    assert set(scan.pmus) == {"good", "badevent"}
    assert set(scan.skipped) == {"badtype", "badformat", "badmask", "notype"}
    assert "not an integer" in scan.skipped["badtype"]
    assert "no 'type' file" in scan.skipped["notype"]
    # A single broken event file drops only that event.
    assert set(scan.pmus["badevent"].events) == {"ok"}
    assert "skipping PMU badformat" in caplog.text


def test_missing_devices_dir_gives_no_pmus(tmp_path: Path) -> None:
    assert list_pmus(tmp_path) == {}


# ------------------------------------------------------------------ this machine, for real


def test_real_msr_pmu_on_this_machine() -> None:
    """The generic path on the real sysfs: msr has a dynamic type, format config:0-63, tsc = 0."""
    devices = Path("/sys/bus/event_source/devices")
    if not (devices / "msr").exists():
        pytest.skip("this kernel has no msr PMU")
    pmus = list_pmus()
    msr = pmus["msr"]
    assert msr.type == int((devices / "msr/type").read_text())
    assert msr.formats["event"].bits == ((0, 63),)
    assert msr.encode_event("tsc") == EncodedConfig(0, 0, 0)
    assert pmus["software"].type == 1


def _expected_tsc_hz() -> tuple[float, float] | None:
    """The TSC frequency this machine advertises, and the tolerance we accept against it.

    Intel model names carry the nominal (= TSC) frequency, "@ 2.80GHz"; the kernel detected
    2793.4 MHz here, 0.25 % off, so 2 % is a safe bound. Without it, a VM's "cpu MHz" is the TSC
    rate (5 %); on bare metal with frequency scaling there is no independent reference.
    """
    text = Path("/proc/cpuinfo").read_text()
    match = re.search(r"model name\s*:.*@\s*([\d.]+)\s*GHz", text)
    if match:
        return float(match.group(1)) * 1e9, 0.02
    mhz = re.search(r"cpu MHz\s*:\s*([\d.]+)", text)
    if mhz and re.search(r"^flags\s*:.*\bhypervisor\b", text, re.M):
        return float(mhz.group(1)) * 1e6, 0.05
    return None


def test_real_msr_tsc_through_counter_groups() -> None:
    """The uncore open path for real: dynamic type, pid=-1 per CPU, no exclude bits, no sampling."""
    pmus = list_pmus()
    if "msr" not in pmus or "tsc" not in pmus["msr"].events:
        pytest.skip("no msr/tsc on this kernel")
    msr = pmus["msr"]
    config = msr.encode_event("tsc")
    spec = EventSpec("tsc", msr.type, config.config, config.config1, config.config2, pmu="msr")
    groups = [CounterGroup([spec], pid=-1, cpu=cpu) for cpu in pmu_cpus(msr)]
    try:
        for group in groups:
            errors = group.open()
            if errors:
                pytest.skip(f"cannot open msr/tsc system-wide here: {errors['tsc']}")
            group.enable()
        before = [g.read() for g in groups]
        time.sleep(0.3)
        after = [g.read() for g in groups]
    finally:
        for group in groups:
            group.close()
    # Rate against the kernel's own time_enabled (same instant as the count, no scheduling noise).
    rates = [(b.values["tsc"] - a.values["tsc"]) / ((b.time_enabled - a.time_enabled) / 1e9)
             for a, b in zip(before, after, strict=True)]
    assert len(rates) == len(online_cpus())
    assert all(0.3e9 < r < 10e9 for r in rates), rates
    assert max(rates) / min(rates) < 1.01, rates  # one invariant TSC for every CPU
    expected = _expected_tsc_hz()
    if expected is not None:
        hz, tolerance = expected
        assert all(abs(r - hz) / hz < tolerance for r in rates), (rates, hz)


def test_per_pkg_and_snapshot_flags(tmp_path: Path) -> None:
    add_pmu(tmp_path, "uncore_cha_0", 50, cpumask="0", formats={"event": "config:0-7"},
            events={"occupancy": "event=0x36"},
            extra={"events/occupancy.per-pkg": "1", "events/occupancy.snapshot": "1"})
    event = list_pmus(tmp_path)["uncore_cha_0"].events["occupancy"]
    assert event.per_pkg and event.snapshot
    assert "occupancy.per-pkg" not in list_pmus(tmp_path)["uncore_cha_0"].events


@given(st.lists(st.tuples(st.integers(0, 63), st.integers(0, 7)), min_size=1, max_size=4),
       st.integers(min_value=0))
def test_deposit_round_trips_through_any_split_format(ranges: list[tuple[int, int]], seed: int) -> None:
    """Depositing then reading the bits back in ascending order gives the value (perf's rule)."""
    bits: set[int] = set()
    spans = []
    for lo, length in ranges:
        hi = min(63, lo + length)
        if bits & set(range(lo, hi + 1)):
            continue  # kernel formats never overlap
        bits |= set(range(lo, hi + 1))
        spans.append(f"{lo}-{hi}" if hi != lo else f"{lo}")
    field = FormatField.parse("f", "config:" + ",".join(spans))
    value = seed % (1 << field.width)
    word = field.deposit(value)
    assert word & ~sum(1 << b for b in bits) == 0  # nothing outside the field
    recovered = sum(((word >> bit) & 1) << i for i, bit in enumerate(sorted(bits)))
    assert recovered == value
