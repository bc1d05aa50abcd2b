"""Plot helpers: gaps stay gaps, axes do not chase every frame, readouts carry units."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from perfdeck.gui.plots import (
    HeatmapPlot,
    TimePlot,
    axis_label,
    format_ago,
    nice_ceiling,
    reduce_points,
)
from perfdeck.model.history import History
from perfdeck.model.series import SeriesSpec

pytestmark = pytest.mark.gui


@pytest.mark.parametrize(("value", "expected"), [
    (0.7, 1.0), (1.0, 1.0), (1.01, 2.0), (2.2, 2.5), (3, 5), (7, 10), (42, 50), (1234, 2000),
    (0, 1.0), (math.nan, 1.0)])
def test_nice_ceiling(value, expected):
    assert nice_ceiling(value) == pytest.approx(expected)


@pytest.mark.parametrize(("value", "unit", "expected"), [
    (0, "B/s", "0 B/s"), (2_500_000, "B/s", "2.5 MB/s"), (750, "B/s", "750 B/s"),
    (4 * 2**30, "B", "4 GiB"), (512 * 2**20, "B", "512 MiB"), (75, "%", "75 %"),
    (2500, "pkt/s", "2.5 kpkt/s"), (1.5, "", "1.5")])
def test_axis_labels_carry_human_units(value, unit, expected):
    assert axis_label(value, unit) == expected


def test_format_ago():
    assert format_ago(0) == "now"
    assert format_ago(-30) == "-30 s"
    assert format_ago(-90) == "-1:30"


def test_reduce_points_keeps_peaks_gaps_and_now():
    x = np.arange(-5000.0, 0.0)
    y = np.zeros(5000)
    y[1234] = 99.0  # a one-sample spike
    y[2000:2100] = np.nan  # a 100-sample gap
    rx, (ry,) = reduce_points(x, [y], limit=1000)
    assert len(rx) <= 1000
    assert rx[-1] == x[-1]  # "now" is never dropped
    assert np.nanmax(ry) == 99.0
    assert np.isnan(ry).any()  # the gap survives as a gap, not as 0
    short_x, short_ys = reduce_points(x[:10], [y[:10]], limit=1000)
    assert len(short_x) == 10 and len(short_ys[0]) == 10  # short series are left alone


def _history_with(values: list[float | None], unit: str = "%", step: float = 1.0) -> History:
    history = History(1000)
    spec = {"s.v": SeriesSpec("s.v", "Value", unit)}
    start = time.time() - len(values) * step
    for i, value in enumerate(values):
        history.append(start + i * step, {"s.v": value}, spec)
    return history


def test_missing_values_are_drawn_as_gaps_not_zero(qtbot):
    plot = TimePlot("t", unit="%", y_range=(0, 100))
    qtbot.addWidget(plot)
    plot.update_from(_history_with([10.0, None, None, 30.0]), ["s.v"], 60)
    _x, y = plot._curves["s.v"].getData()
    assert list(np.isnan(y)) == [False, True, True, False]
    assert plot._curves["s.v"].opts["connect"] == "finite"


def test_edge_gaps_are_cut_and_a_gapless_slice_is_drawn_as_one_polyline(qtbot):
    plot = TimePlot("t", unit="%", y_range=(0, 100))
    qtbot.addWidget(plot)
    plot.update_from(_history_with([None, None, 10.0, 20.0, 30.0, None]), ["s.v"], 60)
    curve = plot._curves["s.v"]
    _x, y = curve.getData()
    assert list(y) == [10.0, 20.0, 30.0]  # leading and trailing NaN draw nothing: cut off
    assert curve.opts["connect"] == "all"  # no gap inside: the cheap path builder
    plot.update_from(_history_with([None, None, None]), ["s.v"], 60)
    assert len(curve.getData()[1]) == 0  # nothing to draw, not a line at 0
    # The bounds are the visible rectangle, not the data's: nothing is computed per frame.
    assert curve.boundingRect() == plot.plotItem.getViewBox().viewRect()
    plot.set_window(300)
    assert curve.boundingRect() == plot.plotItem.getViewBox().viewRect()  # follows range changes


def test_fixed_range_never_moves(qtbot):
    plot = TimePlot("t", unit="%", y_range=(0, 100))
    qtbot.addWidget(plot)
    plot.update_from(_history_with([5.0, 500.0]), ["s.v"], 60)
    assert plot.y_range() == (0, 100)


def test_adaptive_range_grows_at_once_and_shrinks_slowly(qtbot):
    plot = TimePlot("t", unit="B/s")
    qtbot.addWidget(plot)
    plot.update_from(_history_with([3.0e6]), ["s.v"], 60)
    assert plot.y_range() == (0.0, 5.0e6)  # nice ceiling of 3 MB/s * 1.05
    low = _history_with([3.0e6] + [1.0e4] * 100)
    for _ in range(5):
        plot.update_from(low, ["s.v"], 5)  # the spike scrolled out of a 5 s window
    assert plot.y_range() == (0.0, 5.0e6)  # not yet: a range must not jump around
    for _ in range(10):
        plot.update_from(low, ["s.v"], 5)
    assert plot.y_range() == (0.0, 2.0e4)  # nice ceiling of 10 kB/s * 1.05
    plot.update_from(_history_with([0.0] * 5), ["s.v"], 5)
    assert plot.y_range()[1] >= 1000.0  # an idle plot keeps a sensible floor, not 0..1 B/s


def test_time_window_is_the_x_range_and_now_is_zero(qtbot):
    plot = TimePlot("t", unit="%", y_range=(0, 100))
    qtbot.addWidget(plot)
    plot.update_from(_history_with([1.0] * 200), ["s.v"], 60)
    x, _y = plot._curves["s.v"].getData()
    assert x[-1] == 0.0 and x[0] >= -60.0
    assert plot.plotItem.getViewBox().viewRange()[0] == [-60.0, 0.0]


def test_hover_readout_has_time_and_value_with_unit(qtbot):
    plot = TimePlot("t", unit="B/s")
    qtbot.addWidget(plot)
    plot.update_from(_history_with([1.5e6, None, 2.0e3]), ["s.v"], 60)
    text = plot.readout_text(-2.1)
    lines = text.splitlines()
    assert "(-2 s)" in lines[0] and ":" in lines[0]  # clock time and seconds ago
    assert lines[1] == "Value: 1.5 MB/s"
    assert plot.readout_text(-1.0).splitlines()[1] == "Value: —"  # no value: a dash, not 0
    assert plot.readout_text(0.0).splitlines()[1] == "Value: 2.0 kB/s"
    assert plot.readout_text(-40.0).splitlines()[1] == "no data at this time"  # before the first sample


def test_heatmap_rows_and_missing_cells(qtbot):
    heat = HeatmapPlot("h", "%")
    qtbot.addWidget(heat)
    history = History(100)
    specs = {f"c.{n}": SeriesSpec(f"c.{n}", str(n), "%") for n in range(3)}
    now = time.time()
    for t in range(4):
        history.append(now + t, {"c.0": 10.0 * t, "c.1": None, "c.2": 100.0}, specs)
    heat.set_rows(["c.0", "c.1", "c.2"])
    heat.update_from(history, 60)
    image = heat.image.image
    assert image.shape == (3, 4)
    assert list(image[0]) == [0.0, 10.0, 20.0, 30.0]
    assert np.isnan(image[1]).all()
    assert heat.value_at(0.0, 2) == 100.0 and heat.value_at(0.0, 1) is None
