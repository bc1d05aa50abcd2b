"""NVIDIA through NVML: the real bindings' library-not-found path, and a stand-in for arithmetic and
the other error paths (no NVIDIA GPU is reachable from the test machines)."""

from __future__ import annotations

import ctypes.util
from pathlib import Path

import pytest

from fakes.gpu_trees import NVIDIA_SLOT, add_process, make_nvidia
from fakes.nvml_standin import (
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_NO_PERMISSION,
    NVML_ERROR_NOT_SUPPORTED,
    StandInCard,
    StandInNvml,
)
from fakes.sysfs_trees import write
from perfdeck.collectors.gpu import GpuCollector
from perfdeck.gpu.nvml import NvmlSource, normalise_bus_id

N = "0000_01_00_0"


def _driver_library_installed() -> bool:
    return ctypes.util.find_library("nvidia-ml") is not None or Path("/dev/nvidiactl").exists()


def _collector(root: Path, nvml: StandInNvml | None) -> GpuCollector:
    make_nvidia(root)
    collector = GpuCollector(root, nvml_module=nvml)
    collector.open()
    return collector


def test_bus_id_matches_the_sysfs_slot() -> None:
    assert normalise_bus_id(b"00000000:01:00.0") == "0000:01:00.0"
    assert normalise_bus_id("00000000:C1:00.0") == "0000:c1:00.0"


def test_real_bindings_without_the_driver_library() -> None:
    """This machine has nvidia-ml-py but no libnvidia-ml.so.1: the real NVML error, explained."""
    pytest.importorskip("pynvml")
    if _driver_library_installed():
        pytest.skip("an NVIDIA driver library is installed here")
    why = NvmlSource().open()
    assert why is not None
    assert why.reason == "NVIDIA driver library not found (libnvidia-ml.so.1)"
    assert "install the NVIDIA driver" in why.fix


def test_library_not_found_through_the_collector(tmp_path: Path) -> None:
    pytest.importorskip("pynvml")
    if _driver_library_installed():
        pytest.skip("an NVIDIA driver library is installed here")
    reading = _collector(tmp_path, None).read(1.0)
    row = reading.tables["gpus"][0]
    assert row["state"] == "no source" and "libnvidia-ml.so.1" in row["reason"]
    assert "install the NVIDIA driver" in reading.unavailable[f"gpu.busy.{N}"].fix
    assert f"gpu.busy.{N}" not in reading.values  # unavailable, never 0


def test_whole_card_arithmetic(tmp_path: Path) -> None:
    nvml = StandInNvml()
    collector = _collector(tmp_path, nvml)
    reading = collector.read(1.0)
    v = reading.values
    assert v[f"gpu.busy.{N}"] == 63 and v[f"gpu.mem_busy.{N}"] == 21
    assert v[f"gpu.encoder.{N}"] == 4 and v[f"gpu.decoder.{N}"] == 9
    assert v[f"gpu.vram_used_pct.{N}"] == pytest.approx(25.0)
    assert v[f"gpu.temp.gpu.{N}"] == 58
    assert v[f"gpu.power.{N}"] == pytest.approx(287.45)  # mW -> W
    assert v[f"gpu.power_limit.{N}"] == pytest.approx(450.0)
    assert v[f"gpu.freq.{N}"] == 2520 and v[f"gpu.mem_freq.{N}"] == 10501
    assert v[f"gpu.fan_pct.{N}"] == 47
    assert v[f"gpu.pcie_tx.{N}"] == 2048 * 1024  # KB/s -> B/s
    assert v[f"gpu.pcie_rx.{N}"] == 512 * 1024
    assert reading.totals[f"gpu.energy.{N}"] == pytest.approx(9876.543)  # mJ -> J
    assert reading.totals[f"gpu.ecc_errors.corrected.{N}"] == 3
    assert collector.counter_specs()[f"gpu.ecc_errors.corrected.{N}"].labels == (
        ("gpu", NVIDIA_SLOT), ("kind", "corrected"))
    row = reading.tables["gpus"][0]
    assert row["name"] == "NVIDIA GeForce RTX 4090" and row["state"] == "active"
    assert row["throttle"] == ("software power cap", "software thermal slowdown")
    assert row["sources"] == ("NVML (driver 570.86.15)",)
    assert row["ecc"] == {"corrected": 3.0, "uncorrected": 0.0}


def test_no_permission_at_init(tmp_path: Path) -> None:
    reading = _collector(tmp_path, StandInNvml(init_error=NVML_ERROR_NO_PERMISSION)).read(1.0)
    why = reading.unavailable[f"gpu.busy.{N}"]
    assert "permission denied" in why.reason and "/dev/nvidia" in why.fix


def test_unsupported_query_is_no_series_and_is_not_asked_again(tmp_path: Path) -> None:
    nvml = StandInNvml()
    nvml.fail["nvmlDeviceGetFanSpeed"] = NVML_ERROR_NOT_SUPPORTED  # a passively cooled card
    collector = _collector(tmp_path, nvml)
    collector.read(1.0)
    reading = collector.read(2.0)
    assert f"gpu.fan_pct.{N}" not in reading.values and f"gpu.fan_pct.{N}" not in collector.specs()
    assert nvml.calls.count("nvmlDeviceGetFanSpeed") == 1


def test_gpu_lost_mid_run(tmp_path: Path) -> None:
    nvml = StandInNvml()
    collector = _collector(tmp_path, nvml)
    assert collector.read(1.0).values[f"gpu.busy.{N}"] == 63
    nvml.fail["nvmlDeviceGetUtilizationRates"] = NVML_ERROR_GPU_IS_LOST
    collector.read(2.0)
    calls = len(nvml.calls)
    lost = collector.read(3.0)
    assert len(nvml.calls) == calls  # a lost GPU is not queried again
    assert lost.values[f"gpu.busy.{N}"] is None
    assert "fallen off the bus" in lost.unavailable[f"gpu.busy.{N}"].reason
    assert "nvidia-smi -r" in lost.unavailable[f"gpu.temp.gpu.{N}"].fix
    assert lost.tables["gpus"][0]["state"] == "lost"


def test_processes_and_one_that_exits_between_list_and_query(tmp_path: Path) -> None:
    card = StandInCard(compute=[(4242, 3 * 1024 ** 3), (4343, 1024 ** 3)], graphics=[(4444, None)],
                       process_samples=[(4242, 1_000_000, 40), (4242, 1_100_000, 55), (4444, 1_050_000, 5)])
    nvml = StandInNvml([card])
    collector = _collector(tmp_path, nvml)
    add_process(tmp_path, 4242, "python3")
    add_process(tmp_path, 4444, "Xorg")  # 4343 exited after NVML listed it
    rows = collector.read(1.0).tables["gpu_processes"]
    assert set(rows) == {4242, 4444}
    assert rows[4242]["gpu_pct"] == 55 and rows[4242]["gpu_mem"] == 3 * 1024 ** 3
    assert rows[4444]["gpu_mem"] is None  # NVML had no per-process memory for it: unknown, not 0
    assert rows[4444]["gpus"] == (NVIDIA_SLOT,)
    # Next tick: no new samples since 1.1 s (NOT_FOUND) means the listed processes used 0 % of the SMs.
    again = collector.read(2.0).tables["gpu_processes"]
    assert again[4242]["gpu_pct"] == 0.0


def test_sleeping_card_does_not_initialise_nvml(tmp_path: Path) -> None:
    real = make_nvidia(tmp_path, runtime_status="suspended")
    nvml = StandInNvml()
    collector = GpuCollector(tmp_path, nvml_module=nvml)
    collector.open()
    reading = collector.read(1.0)
    assert nvml.calls == []
    assert reading.tables["gpus"][0]["state"] == "asleep"
    write(real, "power/runtime_status", "active\n")
    assert collector.read(2.0).values[f"gpu.busy.{N}"] == 63
    assert nvml.calls[0] == "nvmlInit"


def test_bindings_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml now raises ImportError
    why = NvmlSource().open()
    assert why is not None and "nvidia-ml-py" in why.reason and "perfdeck[gpu]" in why.fix
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    frozen = NvmlSource().open()
    assert frozen is not None and frozen.reason.startswith("this PerfDeck build has no NVML bindings")
