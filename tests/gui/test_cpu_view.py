"""CPU tab: no empty "0 MHz" plot where there are no clock readings (issue 12)."""

from __future__ import annotations

import time

import pytest

from perfdeck.gui.views.base import ViewContext
from perfdeck.gui.views.cpu import CpuView
from perfdeck.model.history import History
from perfdeck.model.series import SeriesSpec, Snapshot

pytestmark = pytest.mark.gui


def _feed(freq: float | None) -> tuple[CpuView, Snapshot]:
    specs = {"cpu.util.user": SeriesSpec("cpu.util.user", "user", "%"),
             "cpu.freq.avg": SeriesSpec("cpu.freq.avg", "average", "MHz"),
             "cpu.load.1": SeriesSpec("cpu.load.1", "1 min", "")}
    history = History(20)
    now = time.time()
    for t in range(5):
        snapshot = Snapshot(timestamp=now + t, monotonic=float(t), specs=specs,
                            values={"cpu.util.user": 20.0, "cpu.freq.avg": freq, "cpu.load.1": 0.5})
        history.append_snapshot(snapshot)
    view = CpuView(ViewContext(history=history, window_seconds=60.0, latest=snapshot))
    view.refresh(snapshot)
    return view, snapshot


def test_no_clock_readings_give_one_line_and_the_load_plot_takes_the_row(qtbot):
    view, _snapshot = _feed(None)  # the column exists, with no value (a recording from a VM)
    qtbot.addWidget(view)
    assert view.freq.plot.isHidden() and not view.freq.reason_label.isHidden()
    assert "No clock speed readings" in view.freq.reason_label.text()
    assert view.bottom_layout.getItemPosition(view.bottom_layout.indexOf(view.load))[2:] == (1, 2)


def test_clock_readings_are_plotted_beside_the_load(qtbot):
    view, _snapshot = _feed(2400.0)
    qtbot.addWidget(view)
    assert not view.freq.plot.isHidden() and view.freq.reason_label.isHidden()
    assert view.bottom_layout.getItemPosition(view.bottom_layout.indexOf(view.load)) == (0, 1, 1, 1)
