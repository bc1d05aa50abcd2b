"""amdgpu (discrete and APU), i915 and xe through the collector, on kernel-faithful fake trees."""

from __future__ import annotations

import builtins
import io
from pathlib import Path

import pytest

from fakes.gpu_trees import (
    AMD_APU,
    AMD_DISCRETE,
    INTEL_IGPU,
    INTEL_XE,
    NVIDIA_SLOT,
    GiB,
    add_host_bridge,
    make_amdgpu_apu,
    make_amdgpu_discrete,
    make_i915,
    make_nvidia,
    make_xe,
)
from fakes.sysfs_trees import write
from perfdeck.collectors import gpu as gpu_module
from perfdeck.collectors.gpu import GpuCollector
from perfdeck.gpu.devices import discover_gpus
from perfdeck.model.series import INSTANCE_LABELS

D = "0000_03_00_0"  # AMD_DISCRETE as a series instance
A = "0000_c1_00_0"
I = "0000_00_02_0"  # noqa: E741 - the instance of INTEL_IGPU
X = "0000_04_00_0"


def _collector(root: Path) -> GpuCollector:
    collector = GpuCollector(root)
    collector.open()
    return collector


def test_discovery_finds_display_controllers_only_in_slot_order(tmp_path: Path) -> None:
    add_host_bridge(tmp_path)
    make_amdgpu_discrete(tmp_path)
    make_i915(tmp_path)
    make_xe(tmp_path)
    make_nvidia(tmp_path)
    gpus = discover_gpus(tmp_path)
    assert [(g.slot, g.vendor, g.driver, g.card) for g in gpus] == [
        (INTEL_IGPU, "Intel", "i915", "card0"), (NVIDIA_SLOT, "NVIDIA", "nvidia", "card0"),
        (AMD_DISCRETE, "AMD", "amdgpu", "card1"), (INTEL_XE, "Intel", "xe", "card1")]
    assert gpus[2].name == "AMD Radeon RX 6800 XT"  # amdgpu's product_name
    assert gpus[2].hwmon is not None and gpus[2].hwmon.name == "hwmon4"
    assert gpus[0].hwmon is None  # an integrated i915 has no hwmon


def test_amdgpu_discrete_card(tmp_path: Path) -> None:
    make_amdgpu_discrete(tmp_path)
    collector = _collector(tmp_path)
    reading = collector.read(1.0)
    values = reading.values
    assert values[f"gpu.busy.{D}"] == 37
    assert values[f"gpu.mem_busy.{D}"] == 12
    assert values[f"gpu.vram_used.{D}"] == 2 * GiB
    assert values[f"gpu.vram_total.{D}"] == 16 * GiB
    assert values[f"gpu.vram_used_pct.{D}"] == pytest.approx(12.5)
    assert values[f"gpu.temp.edge.{D}"] == pytest.approx(45.0)
    assert values[f"gpu.temp.junction.{D}"] == pytest.approx(52.0)
    assert values[f"gpu.temp.mem.{D}"] == pytest.approx(60.0)
    assert values[f"gpu.power.{D}"] == pytest.approx(48.0)  # power1_average µW
    assert values[f"gpu.power_limit.{D}"] == pytest.approx(255.0)
    assert values[f"gpu.freq.{D}"] == pytest.approx(2321.0)  # freq1 (sclk) Hz -> MHz
    assert values[f"gpu.mem_freq.{D}"] == pytest.approx(1000.0)
    assert values[f"gpu.fan_rpm.{D}"] == 1234
    specs = collector.specs()
    busy = specs[f"gpu.busy.{D}"]
    assert busy.label == "GPU 0000:03:00.0 busy"
    assert busy.metric == "gpu.busy" and busy.labels == (("gpu", AMD_DISCRETE),)
    temp = specs[f"gpu.temp.junction.{D}"]
    assert temp.metric == "gpu.temp" and temp.labels == (("gpu", AMD_DISCRETE), ("sensor", "junction"))
    assert temp.unit == "°C"
    for spec in specs.values():
        assert {name for name, _ in spec.labels} <= INSTANCE_LABELS
        assert spec.family == "gpu"
    row = reading.tables["gpus"][0]
    assert row["state"] == "active" and row["driver"] == "amdgpu" and row["sources"][0] == "sysfs + hwmon"


def test_amdgpu_apu_keeps_its_memory_in_gtt(tmp_path: Path) -> None:
    make_amdgpu_apu(tmp_path)
    values = _collector(tmp_path).read(1.0).values
    assert values[f"gpu.gtt_used.{A}"] == 3 * GiB
    assert values[f"gpu.gtt_used_pct.{A}"] == pytest.approx(20.0)
    assert values[f"gpu.vram_total.{A}"] == 512 * 1024 ** 2  # the carve-out
    assert values[f"gpu.power.{A}"] == pytest.approx(9.0)  # power1_input on newer APUs
    # What the APU does not have is not a series (never a 0): no mem_busy_percent, no fan, no cap.
    assert f"gpu.mem_busy.{A}" not in values
    assert f"gpu.fan_rpm.{A}" not in values
    assert f"gpu.power_limit.{A}" not in values


def test_i915_frequencies_and_no_invented_power(tmp_path: Path) -> None:
    make_i915(tmp_path)
    values = _collector(tmp_path).read(1.0).values
    assert values[f"gpu.freq.{I}"] == 350
    assert values[f"gpu.freq_req.{I}"] == 400
    assert not any(k.startswith(("gpu.power", "gpu.temp", "gpu.vram")) for k in values)


def test_xe_frequency_and_power_from_energy(tmp_path: Path) -> None:
    real = make_xe(tmp_path, energy_uj=123_456_789)
    collector = _collector(tmp_path)
    first = collector.read(10.0)
    assert first.values[f"gpu.freq.{X}"] == 2400
    assert first.values[f"gpu.freq_req.{X}"] == 2850
    assert first.values[f"gpu.temp.pkg.{X}"] == pytest.approx(54.0)
    assert first.values[f"gpu.power_limit.{X}"] == pytest.approx(190.0)
    assert first.values[f"gpu.power.{X}"] is None  # a rate: nothing on the first read
    assert first.totals[f"gpu.energy.{X}"] == pytest.approx(123.456789)
    counter = collector.counter_specs()[f"gpu.energy.{X}"]
    assert counter.unit == "J" and counter.metric == "gpu.energy" and counter.labels == (("gpu", INTEL_XE),)
    write(real, "hwmon/hwmon3/energy1_input", f"{123_456_789 + 50_000_000}\n")  # +50 J
    second = collector.read(12.0)
    assert second.values[f"gpu.power.{X}"] == pytest.approx(25.0)


def test_runtime_suspended_card_is_not_read_and_shows_asleep(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    real = make_amdgpu_discrete(tmp_path)
    collector = _collector(tmp_path)
    awake = collector.read(1.0)
    assert awake.values[f"gpu.busy.{D}"] == 37
    write(real, "power/runtime_status", "suspended\n")
    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)  # what pathlib opens through
    asleep = collector.read(2.0)
    monkeypatch.undo()
    # Only the PM core's own state was read: no driver file, no hwmon (they would wake the card).
    touched = [p for p in opened if AMD_DISCRETE in p]
    assert touched and all(p.endswith("power/runtime_status") for p in touched)
    assert asleep.values[f"gpu.busy.{D}"] is None  # no value, not 0
    assert asleep.values[f"gpu.temp.edge.{D}"] is None
    row = asleep.tables["gpus"][0]
    assert row["state"] == "asleep" and "not woken" in row["reason"]
    write(real, "power/runtime_status", "active\n")
    assert collector.read(3.0).values[f"gpu.busy.{D}"] == 37


def test_no_gpu_is_one_reason_and_rediscovery_is_rare(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    add_host_bridge(tmp_path)
    write(tmp_path, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme hypervisor\n")
    monkeypatch.setattr(gpu_module.time, "monotonic", lambda: 0.0)
    collector = _collector(tmp_path)
    for tick in range(59):  # a minute at 1 Hz: the bus is listed once, at open
        reading = collector.read(float(tick))
    assert collector.discoveries == 1
    why = reading.unavailable["gpu"]
    assert "no GPU found" in why.reason and "virtual machine" in why.reason and "VFIO" in why.fix
    assert reading.values == {} and collector.specs() == {}
    make_amdgpu_discrete(tmp_path)  # an eGPU is plugged in
    later = collector.read(60.0)
    assert collector.discoveries == 2
    assert "gpu" not in later.unavailable
    assert later.values[f"gpu.busy.{D}"] == 37


def test_file_that_fails_to_read_gives_no_value_and_a_problem(tmp_path: Path) -> None:
    real = make_amdgpu_discrete(tmp_path)
    collector = _collector(tmp_path)
    collector.read(1.0)
    write(real, "gpu_busy_percent", "\n")  # the driver answered with nothing usable
    reading = collector.read(2.0)
    assert reading.values[f"gpu.busy.{D}"] is None
    assert "gpu_busy_percent" in reading.tables["gpus"][0]["problems"]["busy"]


def test_mixed_vendors_get_one_instance_each(tmp_path: Path) -> None:
    make_amdgpu_discrete(tmp_path)
    make_amdgpu_apu(tmp_path)
    make_i915(tmp_path)
    make_xe(tmp_path)
    reading = _collector(tmp_path).read(1.0)
    slots = [row["slot"] for row in reading.tables["gpus"]]
    assert slots == [INTEL_IGPU, AMD_DISCRETE, INTEL_XE, AMD_APU]
    assert {k.rsplit(".", 1)[1] for k in reading.values} == {D, A, I, X}
