"""The gpu family through the generic outputs: CSV recording, alerts and the tray tooltip."""

from __future__ import annotations

import csv
from pathlib import Path

from fakes.gpu_trees import AMD_DISCRETE, make_amdgpu_discrete
from fakes.sysfs_trees import write
from perfdeck.collectors.gpu import GpuCollector
from perfdeck.model.alerts import AlertEngine, AlertRule, EventKind
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.recorder import CsvRecorder

D = "0000_03_00_0"
T0 = 1_750_000_000.0


def test_recording_alerts_and_asleep_gaps(tmp_path: Path) -> None:
    root = tmp_path / "root"
    real = make_amdgpu_discrete(root)
    engine = SamplingEngine([GpuCollector(root)])
    alerts = AlertEngine([AlertRule("GPU hot", "gpu.temp.*", 90.0, "above", duration=2.0, rearm=80.0),
                          AlertRule("VRAM full", "gpu.vram_used_pct.*", 90.0, "above")])
    recorder = CsvRecorder(tmp_path / "run.csv")
    recorder.open()
    fired = []
    for tick in range(8):
        junction = 95000 if 2 <= tick < 6 else 60000
        write(real, "hwmon/hwmon4/temp2_input", f"{junction}\n")
        write(real, "power/runtime_status", "suspended\n" if tick == 7 else "active\n")
        snapshot = engine.sample(now=float(tick), timestamp=T0 + tick)
        recorder.append(snapshot)
        fired += [(e.kind, e.series_id, tick) for e in alerts.feed_snapshot(snapshot)]
    recorder.close()
    engine.close()
    junction = f"gpu.temp.junction.{D}"
    assert fired == [(EventKind.FIRED, junction, 4), (EventKind.CLEARED, junction, 6)]
    with open(tmp_path / "run.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0][f"gpu.busy.{D} [%]"] == "37"
    assert rows[3][f"gpu.temp.junction.{D} [°C]"] == "95"
    assert rows[7][f"gpu.busy.{D} [%]"] == ""  # asleep: an empty cell, never 0


def test_tray_tooltip_can_show_gpu_busy(tmp_path: Path) -> None:
    from perfdeck.gui.tray import tooltip_text

    make_amdgpu_discrete(tmp_path)
    engine = SamplingEngine([GpuCollector(tmp_path)])
    snapshot = engine.sample(now=0.0, timestamp=T0)
    engine.close()
    text = tooltip_text(snapshot, tray_metric=f"gpu.busy.{D}")
    assert f"Icon: GPU {AMD_DISCRETE} busy 37.0 %" in text
