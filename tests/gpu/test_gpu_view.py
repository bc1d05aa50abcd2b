"""The GPU tab, fed by the real collector and engine over fake sysfs/procfs trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.gpu_trees import (
    AMD_DISCRETE,
    INTEL_IGPU,
    GiB,
    add_host_bridge,
    add_process,
    i915_fdinfo,
    make_amdgpu_apu,
    make_amdgpu_discrete,
    make_i915,
    set_fdinfo,
    usual_fds,
)
from fakes.sysfs_trees import write
from perfdeck.collectors.gpu import GpuCollector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import History
from perfdeck.model.series import Snapshot

pytestmark = pytest.mark.gui

T0 = 1_750_000_000.0


def run_machine(root: Path, ticks: int) -> tuple[History, Snapshot]:
    """Tick the real engine once a second while the fake cards' files change like a real load."""
    engine = SamplingEngine([GpuCollector(root)])
    history = History(600)
    snapshot = None
    real = root / "sys/devices/pci0000:00" / AMD_DISCRETE
    for tick in range(ticks):
        if real.exists():
            write(real, "gpu_busy_percent", f"{(tick * 7) % 100}\n")
            write(real, "hwmon/hwmon4/temp1_input", f"{45000 + tick * 100}\n")
        if (root / "proc/600").exists():
            set_fdinfo(root, 600, 7, i915_fdinfo(3, render_ns=tick * 3 * 10**8, video_ns=tick * 10**8))
        snapshot = engine.sample(now=float(tick), timestamp=T0 + tick)
        history.append_snapshot(snapshot)
    engine.close()
    assert snapshot is not None
    return history, snapshot


def make_view(qtbot, history: History, snapshot: Snapshot):
    from perfdeck.gui.views.base import ViewContext
    from perfdeck.gui.views.gpu import GpuView

    view = GpuView(ViewContext(history=history, window_seconds=120.0, latest=snapshot))
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.refresh(snapshot)
    return view


def test_no_gpu_is_one_line(qtbot, tmp_path: Path) -> None:
    add_host_bridge(tmp_path)
    history, snapshot = run_machine(tmp_path, 2)
    view = make_view(qtbot, history, snapshot)
    assert not view.reason_label.isHidden()
    assert "No GPU found" in view.reason_label.text()  # plain words in the banner
    assert view.reason_label.full_text().startswith("GPUs unavailable: no GPU found")
    assert view.selector.isHidden() and all(p.isHidden() for p in view.panels.values())
    assert all(t.isHidden() for t in view.tiles.values())


def test_amd_card_plots_and_tiles(qtbot, tmp_path: Path) -> None:
    make_amdgpu_discrete(tmp_path)
    history, snapshot = run_machine(tmp_path, 30)
    view = make_view(qtbot, history, snapshot)
    assert view.reason_label.isHidden()
    assert view.selector.currentText() == "AMD Radeon RX 6800 XT (0000:03:00.0) · amdgpu · active"
    assert view.tiles["busy"].value.text() == "3.0 %"  # the last tick: 29 * 7 % 100
    assert view.tiles["memory"].value.text() == "2.0 GiB"
    assert view.tiles["memory"].detail.text() == "VRAM of 16.0 GiB (12 %)"
    assert view.tiles["temp"].value.text() == "47.9 °C" and view.tiles["temp"].detail.text() == "edge"
    util = view.panels["util"].plot
    assert util.series_ids[:2] == ["gpu.busy.0000_03_00_0", "gpu.mem_busy.0000_03_00_0"]
    assert not view.panels["temp"].isHidden() and view.panels["pcie"].isHidden()  # no PCIe on amdgpu


def test_switching_gpu_and_asleep(qtbot, tmp_path: Path) -> None:
    make_amdgpu_discrete(tmp_path, runtime_status="suspended")
    make_amdgpu_apu(tmp_path)
    make_i915(tmp_path)
    add_process(tmp_path, 600, "gnome-shell", fds={**usual_fds(), 7: ("/dev/dri/renderD128", i915_fdinfo(3))})
    history, snapshot = run_machine(tmp_path, 10)
    view = make_view(qtbot, history, snapshot)
    assert view.selector.count() == 3
    assert view.selector.currentText().startswith(f"Intel GPU 0x46a6 ({INTEL_IGPU}) · i915")
    assert view.tiles["busy"].value.text() == "30.0 %"  # 0.3 s of render per 1 s tick
    assert view.tiles["busy"].detail.text() == "busiest engine"
    assert view.tiles["clock"].value.text() == "350 MHz"
    assert {"render", "video", "copy"} <= set(view.panels["util"].plot._labels.values())  # engines by name
    view.selector.setCurrentIndex(1)  # the sleeping discrete card
    assert "asleep" in view.selector.currentText()
    assert view.tiles["busy"].value.text() == "asleep"
    assert "runtime-suspended" in view.state_label.text()
    view.selector.setCurrentIndex(2)  # the APU: its memory is in GTT
    assert view.tiles["memory"].value.text() == "3.0 GiB"
    assert view.tiles["memory"].detail.text() == f"GTT of {15 * GiB / GiB:.1f} GiB (20 %)"
    assert all(sid.endswith("0000_c1_00_0") for sid in view.panels["util"].plot.series_ids)


def test_nvidia_card_through_the_nvml_stand_in(qtbot, tmp_path: Path) -> None:
    """Arithmetic and layout only: the stand-in gives NVML's units, the tab shows them converted."""
    from fakes.gpu_trees import make_nvidia
    from fakes.nvml_standin import StandInNvml

    make_nvidia(tmp_path)
    engine = SamplingEngine([GpuCollector(tmp_path, nvml_module=StandInNvml())])
    history = History(600)
    for tick in range(5):
        snapshot = engine.sample(now=float(tick), timestamp=T0 + tick)
        history.append_snapshot(snapshot)
    engine.close()
    view = make_view(qtbot, history, snapshot)
    assert view.selector.currentText() == "NVIDIA GeForce RTX 4090 (0000:01:00.0) · nvidia · active"
    assert view.tiles["power"].value.text() == "287.4 W"  # 287 450 mW
    assert view.tiles["power"].detail.text() == "limit 450 W"
    assert view.tiles["memory"].detail.text() == "VRAM of 24.0 GiB (25 %)"
    info = view.info.text()
    assert "NVML (driver 570.86.15)" in info and "software power cap" in info
    assert "ECC errors: 3 corrected, 0 uncorrected" in info
    assert not view.panels["pcie"].isHidden()
