"""The Memory bandwidth tab, fed by the real collectors and engine over fake trees and replayed counts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from fakes.sysfs_trees import make_skx_server, make_vm, make_zen3
from perfdeck.collectors.membw import MemoryBandwidthCollector
from perfdeck.collectors.power import PowerCollector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import History
from perfdeck.model.series import Snapshot
from perfdeck.perf.counters import EventSpec, GroupSample

pytestmark = pytest.mark.gui

T0 = 1_750_000_000.0


class Clock:
    """The replay's time: every fake group reads 'now' from here."""

    def __init__(self) -> None:
        self.now = 0.0


class ReplayGroup:
    """A counter-group double producing counts for a chosen GB/s profile (never a real device)."""

    def __init__(self, events: Sequence[EventSpec], cpu: int, clock: Clock) -> None:
        self.events = list(events)
        self.cpu = cpu
        self.clock = clock
        self.errors: dict = {}
        self.totals = {e.name: 0.0 for e in events}
        self.last = 0.0

    def open(self):
        return {}

    def enable(self) -> None:
        pass

    def close(self) -> None:
        pass

    def rate(self, name: str, t: float) -> float:
        """Counts per second: reads 1.0-2.5 GB/s per channel, writes a third of that."""
        if name.startswith("energy-"):
            watts = {"energy-pkg": 95.0 + 40 * math.sin(t / 9 + self.cpu), "energy-cores": 60.0,
                     "energy-ram": 12.0 + 4 * math.sin(t / 5)}[name]
            return watts * 2**32
        gbps = 1.75 + 0.75 * math.sin(t / 12 + self.cpu / 10)
        if name.startswith("write:"):
            gbps /= 3
        if name.startswith("total:"):
            gbps *= 4 / 3
        return gbps * 1e9 / 64

    def read(self) -> GroupSample:
        now = self.clock.now
        for name in self.totals:
            self.totals[name] += self.rate(name, now) * (now - self.last)
        self.last = now
        ns = int(now * 1e9)
        # DF-style multiplexing: the kernel counts half the time, so scaled values match
        half = any(n.startswith("total:") for n in self.totals)
        values = {n: int(v / 2) if half else int(v) for n, v in self.totals.items()}
        return GroupSample(ns, ns // 2 if half else ns, values, now)


def replay(root: Path, ticks: int, clock: Clock | None = None) -> tuple[History, Snapshot]:
    """Run the real engine over the real collectors on ``root`` for ``ticks`` one-second ticks."""
    clock = clock or Clock()

    def factory(events, cpu):
        return ReplayGroup(events, cpu, clock)

    engine = SamplingEngine([MemoryBandwidthCollector(root, group_factory=factory),
                             PowerCollector(root, group_factory=factory)])
    history = History(600)
    snapshot = None
    for tick in range(ticks):
        clock.now = float(tick)
        snapshot = engine.sample(now=clock.now, timestamp=T0 + tick)
        history.append_snapshot(snapshot)
    engine.close()
    assert snapshot is not None
    return history, snapshot


def make_view(qtbot, history: History, snapshot: Snapshot):
    from perfdeck.gui.views.base import ViewContext
    from perfdeck.gui.views.membw import MemoryBandwidthView

    context = ViewContext(history=history, window_seconds=120.0, latest=snapshot)
    view = MemoryBandwidthView(context)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.refresh(snapshot)
    return view


def test_populated_skx_tab(qtbot, tmp_path: Path) -> None:
    history, snapshot = replay(make_skx_server(tmp_path), 90)
    view = make_view(qtbot, history, snapshot)
    assert view.reason_label.isHidden()
    assert view.source_label.text().startswith("Source: Intel server IMC CAS counts (uncore_imc_0")
    assert view.accuracy_label.text().startswith("Accuracy: exact")
    assert "GB/s" in view.stacked.getAxis("left").labelText
    assert "decimal" in view.stacked.getAxis("left").labelText
    # the stack: read from 0, write on top of it (= read + write)
    read = view.stacked._curves["read"].getData()[1]
    stack = view.stacked._curves["stack"].getData()[1]
    _, values = history.window(["membw.read.total", "membw.write.total"], 120.0)
    np.testing.assert_allclose(stack[-10:], (values["membw.read.total"] + values["membw.write.total"])[-10:])
    np.testing.assert_allclose(read[-10:], values["membw.read.total"][-10:])
    # The first tick of a rate has no value: left out of the drawn curve (a gap), never a 0.
    assert np.isnan(values["membw.read.total"][0])
    assert len(read) == len(values["membw.read.total"]) - 1 and not (read == 0).any()
    # 12 channels x ~1.75 GB/s of reads
    assert 12 < snapshot.value("membw.read.total") < 32
    assert "Now: read" in view.now_label.text()
    # per socket (2 curves), then per channel (12 curves)
    assert sorted(view.detail.plot.series_ids) == ["membw.total.socket0", "membw.total.socket1"]
    view.breakdown.setCurrentText("Per channel")
    assert len(view.detail.plot.series_ids) == 12
    view.direction.setCurrentText("Write")
    assert view.detail.plot.series_ids[0] == "membw.write.socket0-imc_0"
    # power beside it
    assert view.package_power.plot.isVisibleTo(view)
    assert sorted(view.package_power.plot.series_ids) == ["power.package.socket0", "power.package.socket1"]
    assert view.dram_power.plot.series_ids == ["power.dram.socket0", "power.dram.socket1"]


def test_peak_reference_line(qtbot, tmp_path: Path) -> None:
    history, snapshot = replay(make_skx_server(tmp_path), 20)
    view = make_view(qtbot, history, snapshot)
    assert view.peak_gbps is None and not view.stacked._peak_line.isVisible()
    view.peak_spin.setValue(256.0)
    assert view.peak_gbps == 256.0
    assert view.stacked._peak_line.isVisible() and view.stacked._peak_line.value() == 256.0
    assert view.stacked._peak_line.label.toPlainText() == "peak 256.0 GB/s"
    assert view.stacked.y_range()[1] >= 256.0  # the headroom is visible
    view.set_peak(None)
    assert view.peak_gbps is None and not view.stacked._peak_line.isVisible()


def test_df_source_has_no_split(qtbot, tmp_path: Path) -> None:
    history, snapshot = replay(make_zen3(tmp_path), 20)
    view = make_view(qtbot, history, snapshot)
    assert "approximate" in view.accuracy_label.text()
    assert list(view.stacked._curves) == ["total"]
    total = view.stacked._curves["total"].getData()[1]
    assert total[-1] == pytest.approx(snapshot.value("membw.total"))
    assert "share 4 DF counters" in view.notes_label.text()
    view.direction.setCurrentText("Read")
    assert "counts reads and writes together" in view.detail.reason_label.full_text()
    assert view.power_reason_label.isVisibleTo(view)  # this Zen 3 tree has no RAPL at all
    assert not view.package_power.isVisibleTo(view)


def test_vm_tab_says_why_and_what_would_work(qtbot, tmp_path: Path) -> None:
    history, snapshot = replay(make_vm(tmp_path), 3)
    view = make_view(qtbot, history, snapshot)
    text = view.reason_label.full_text()
    assert view.reason_label.isVisibleTo(view)
    assert "virtual machine" in text and "Fix: measure on the host" in text
    assert not view.stacked.isVisibleTo(view) and not view.controls.isVisibleTo(view)
    assert "no power (RAPL) readings" in view.power_reason_label.full_text()
    assert not view.plots.isVisibleTo(view)


def test_this_machine(qtbot) -> None:
    """On the real machine: whatever the collectors say appears in the tab."""
    engine = SamplingEngine([MemoryBandwidthCollector(), PowerCollector()])
    history = History(10)
    snapshot = engine.sample()
    history.append_snapshot(snapshot)
    engine.close()
    view = make_view(qtbot, history, snapshot)
    if "membw" in snapshot.unavailable:
        assert snapshot.unavailable["membw"].reason in view.reason_label.full_text()
    else:
        assert view.source_label.text().startswith("Source:")


def test_bands_leave_gaps_where_there_is_no_value(qtbot) -> None:
    from perfdeck.gui.views.membw import BandItem, finite_runs

    assert finite_runs(np.array([False, True, True, False, True])) == [(1, 3), (4, 5)]
    assert finite_runs(np.array([], dtype=bool)) == []
    x = np.arange(10.0)
    upper = np.array([np.nan, 1, 2, 3, np.nan, np.nan, 4, 5, 6, 7])
    band = BandItem("#000000")
    band.set_band(x, np.zeros(10), upper)
    polygons = band.path().toSubpathPolygons()
    assert len(polygons) == 2  # two measured runs, nothing drawn across the gap
    xs = sorted({p.x() for p in polygons[0]})
    assert xs == [1.0, 2.0, 3.0]
