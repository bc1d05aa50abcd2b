"""The GPU section of ``perfdeck doctor``, text and --json, on fake trees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fakes.gpu_trees import (
    AMD_DISCRETE,
    INTEL_IGPU,
    NVIDIA_SLOT,
    add_host_bridge,
    add_pci_device,
    make_amdgpu_apu,
    make_amdgpu_discrete,
    make_i915,
    make_nvidia,
    make_xe,
)
from fakes.nvml_standin import NVML_ERROR_LIBRARY_NOT_FOUND, StandInNvml
from perfdeck.gpu.doctor import gpu_report


def _machine(root: Path) -> None:
    add_host_bridge(root)
    make_amdgpu_discrete(root, runtime_status="suspended")
    make_amdgpu_apu(root)
    make_i915(root)
    make_xe(root)
    make_nvidia(root)
    add_pci_device(root, "0000:05:00.0", pci_class="0x030200", vendor="0x1002", device="0x740f", driver=None)


def test_report_lists_every_gpu_with_its_sources(tmp_path: Path) -> None:
    _machine(tmp_path)
    report = gpu_report(tmp_path)
    by_slot = {g["slot"]: g for g in report["gpus"]}
    assert list(by_slot) == ["0000:00:02.0", NVIDIA_SLOT, AMD_DISCRETE, "0000:04:00.0", "0000:05:00.0",
                             "0000:c1:00.0"]
    amd = by_slot[AMD_DISCRETE]
    assert (amd["vendor"], amd["driver"], amd["name"], amd["state"]) == (
        "AMD", "amdgpu", "AMD Radeon RX 6800 XT", "asleep")
    sources = {s["name"]: s for s in amd["sources"]}
    assert sources["sysfs"]["ok"] and "gpu_busy" not in sources["sysfs"]["detail"]  # keys, not file names
    assert "busy" in sources["sysfs"]["detail"] and "temp:edge" in sources["hwmon"]["detail"]
    assert sources["runtime PM"]["detail"].startswith("runtime-suspended")
    intel = {s["name"]: s for s in by_slot[INTEL_IGPU]["sources"]}
    assert intel["sysfs"]["ok"] and not intel["hwmon"]["ok"] and "integrated" in intel["hwmon"]["detail"]
    unbound = by_slot["0000:05:00.0"]["sources"][0]
    assert unbound["name"] == "driver" and not unbound["ok"] and "modprobe amdgpu" in unbound["fix"]
    nvidia = {s["name"]: s for s in by_slot[NVIDIA_SLOT]["sources"]}
    assert not nvidia["NVML"]["ok"] and "snapshot" in nvidia["NVML"]["detail"]
    assert report["available"] is True and "6 GPUs" in report["reason"]


def test_live_nvml_without_the_library(tmp_path: Path) -> None:
    make_nvidia(tmp_path)
    report = gpu_report(tmp_path, StandInNvml(init_error=NVML_ERROR_LIBRARY_NOT_FOUND), live=True)
    nvml = report["gpus"][0]["sources"][0]
    assert nvml["detail"] == "NVIDIA driver library not found (libnvidia-ml.so.1)"
    assert "install the NVIDIA driver" in nvml["fix"]
    assert report["available"] is False and "install the NVIDIA driver" in report["fix"]


def test_live_nvml_names_the_card(tmp_path: Path) -> None:
    make_nvidia(tmp_path)
    report = gpu_report(tmp_path, StandInNvml(), live=True)
    gpu = report["gpus"][0]
    assert gpu["name"] == "NVIDIA GeForce RTX 4090" and gpu["sources"][0]["ok"]
    assert "570.86.15" in gpu["sources"][0]["detail"]


def test_doctor_command_text_and_json(tmp_path: Path) -> None:
    _machine(tmp_path)
    (tmp_path / "proc").mkdir(exist_ok=True)
    command = [sys.executable, "-m", "perfdeck", "doctor", "--no-core", "--root", str(tmp_path)]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    section = text[text.index("GPUs ["):]
    assert f"    {AMD_DISCRETE}  AMD  amdgpu  AMD Radeon RX 6800 XT  [asleep]" in section
    assert "✗ driver: no driver is bound to this device" in section
    data = json.loads(subprocess.run([*command, "--json"], capture_output=True, text=True, check=True).stdout)
    gpu = next(f for f in data["families"] if f["key"] == "gpu")
    assert [g["slot"] for g in gpu["details"]["gpus"]][:2] == [INTEL_IGPU, NVIDIA_SLOT]


def test_diagnostics_tab_lists_each_gpu(tmp_path: Path) -> None:
    from perfdeck.gui.views.diagnostics import render_html
    from perfdeck.perf.doctor import diagnose

    _machine(tmp_path)
    page = render_html(diagnose(tmp_path, include_core=False))
    section = page[page.index("GPUs"):]
    assert f"{AMD_DISCRETE}  AMD  amdgpu  AMD Radeon RX 6800 XT  [asleep]" in section
    assert "✗ driver: no driver is bound to this device" in section
