"""Plot helpers: gaps stay gaps, axes do not chase every frame, readouts carry units."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from PySide6.QtGui import QColor

from perfdeck.gui.plots import (
    SERIES_COLORS,
    HeatmapPlot,
    TimePlot,
    axis_label,
    fine_ceiling,
    format_ago,
    grown_span,
    nice_ceiling,
    readout_html,
    reduce_points,
    robust_ceiling,
    series_color,
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
    (2500, "pkt/s", "2.5 kpkt/s"), (1.5, "", "1.5"), (0, "IOPS", "0 IOPS"), (2500, "IOPS", "2.5 k IOPS")])
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


def test_adaptive_range_follows_the_visible_window(qtbot):
    plot = TimePlot("t", unit="B/s")
    qtbot.addWidget(plot)
    plot.update_from(_history_with([3.0e6]), ["s.v"], 60)
    assert plot.y_range() == (0.0, 4.0e6)  # fine ceiling of 3 MB/s * 1.05: little wasted height
    low = _history_with([3.0e6] + [1.0e4] * 100)
    plot.update_from(low, ["s.v"], 5)  # the spike scrolled out of a 5 s window
    plot.update_from(low, ["s.v"], 5)
    assert plot.y_range() == (0.0, 4.0e6)  # not at once: a range must not twitch with every sample
    plot.update_from(low, ["s.v"], 5)
    assert plot.y_range() == (0.0, 1.2e4)  # three frames later it follows what is shown
    plot.update_from(_history_with([1.0e4, 1.1e4]), ["s.v"], 5)
    assert plot.y_range() == (0.0, 1.2e4)  # small moves inside the range change nothing
    plot.update_from(_history_with([0.0] * 5), ["s.v"], 5)
    assert plot.y_range()[1] >= 1000.0  # an idle plot keeps a sensible floor, not 0..1 B/s


def test_one_spike_does_not_flatten_the_rest(qtbot):
    # A minute of 20-50 MB/s with one 550 MB/s spike (the case from issue 12).
    values = [20e6 + (i % 7) * 5e6 for i in range(60)]
    values[30] = 550e6
    plot = TimePlot("t", unit="B/s")
    qtbot.addWidget(plot)
    plot.update_from(_history_with(values), ["s.v"], 60)
    top = plot.y_range()[1]
    assert 50e6 <= top <= 60e6  # the 20-50 MB/s fill the plot
    assert plot._off_scale.isVisible() and "550.0 MB/s" in plot._off_scale.toPlainText()
    values[30:40] = [550e6] * 10  # a sustained burst is data, not a spike: the range covers it
    plot.update_from(_history_with(values), ["s.v"], 60)
    assert plot.y_range()[1] >= 550e6 and not plot._off_scale.isVisible()


def test_robust_ceiling_and_fine_steps():
    assert fine_ceiling(577) == 600 and fine_ceiling(1.01) == 1.2 and fine_ceiling(9) == 10
    assert robust_ceiling([np.array([np.nan, np.nan])]) == (None, None)
    assert robust_ceiling([np.array([1.0, 2.0]), np.array([np.nan, 3.0])]) == (4.0, 3.0)


def test_young_history_is_not_squeezed_into_the_right_edge(qtbot):
    plot = TimePlot("t", unit="%", y_range=(0, 100))
    qtbot.addWidget(plot)
    plot.update_from(_history_with([1.0] * 25), ["s.v"], 300)
    assert plot.plotItem.getViewBox().viewRange()[0] == [-30.0, 0.0]  # grows in coarse steps
    plot.update_from(_history_with([1.0] * 400), ["s.v"], 300)
    assert plot.plotItem.getViewBox().viewRange()[0] == [-300.0, 0.0]  # then the whole window
    assert grown_span(0, 60) == 15 and grown_span(61, 3600) == 120 and grown_span(5000, 3600) == 3600


def _contrast(color: str, background: str) -> float:
    def luminance(hex_color: str) -> float:
        channels = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(color), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_series_colours_are_readable_distinct_and_stable():
    for color in SERIES_COLORS:  # WCAG's 3:1 for graphics, on the light and the dark theme
        assert _contrast(color, "#ffffff") >= 3.0 and _contrast(color, "#1e1e1e") >= 3.0, color
    ids = ["net.rx.eth0", "net.tx.eth0", "net.rx.ifb0", "net.tx.ifb0", "net.rx.lo", "net.tx.lo"]
    taken: list[str] = []
    for series_id in ids:
        taken.append(series_color(series_id, taken))
    assert len(set(taken)) == len(ids)  # no two curves of one plot share a colour
    assert series_color("cpu.util.user") == series_color("cpu.util.user", ["#000000"])  # a role keeps it
    assert series_color("disk.read.sda") != series_color("disk.write.sda", [series_color("disk.read.sda")])


def test_legend_shows_current_values_and_stacks_add_up(qtbot):
    plot = TimePlot("CPU", unit="%", y_range=(0, 100), style="stacked")
    qtbot.addWidget(plot)
    plot.resize(700, 300)
    plot.show()
    history = History(100)
    specs = {"c.user": SeriesSpec("c.user", "user", "%"), "c.system": SeriesSpec("c.system", "system", "%")}
    now = time.time()
    for t in range(3):
        history.append(now + t, {"c.user": 20.0 + t, "c.system": 10.0 if t != 1 else None}, specs)
    plot.set_series([("c.user", "user"), ("c.system", "system")])
    plot.update_from(history, None, 60)
    _x, top = plot._curves["c.system"].getData()
    assert list(top) == [30.0, 21.0, 32.0]  # the system band sits on the user band
    title = plot._legend_label.text()
    assert "user</span> <span" in title and "22.0 %" in title and "10.0 %" in title
    assert plot.readout_text(0.0).splitlines()[1:] == ["user: 22.0 %", "system: 10.0 %"]  # raw values
    assert plot._curves["c.user"].opts["fillLevel"] == 0.0
    assert plot._curves["c.user"].opts["brush"].color().alpha() == 255  # opaque: cheap to fill
    plot.resize(200, 300)  # too narrow for both entries: what does not fit is counted, never clipped
    qtbot.waitUntil(lambda: plot._legend_label.width() < 150, timeout=2000)
    plot.update_from(history, None, 60)
    assert "more</span>" in plot._legend_label.text()
    assert plot._legend_label.minimumSizeHint().width() <= plot._legend_label.width()
    area = TimePlot("t", unit="%", style="area")
    qtbot.addWidget(area)
    area.set_series([("a", "a")])
    assert area._curves["a"].opts["fillLevel"] == 0.0  # one series: an area
    area.set_series([("b", "b")])
    assert all(c.opts["fillLevel"] is None for c in area._curves.values())  # several: lines


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
    header, rows = plot.readout_rows(0.0)
    html_text = readout_html(header, rows, plot._colors, plot._labels, QColor("#000000"))
    assert plot._colors["s.v"] in html_text and "2.0 kB/s" in html_text  # swatch and value per series


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


def test_heatmap_hover_is_opaque_and_names_the_cpu(qtbot):
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    heat = HeatmapPlot("h", "%")
    qtbot.addWidget(heat)
    heat.resize(600, 300)
    heat.show()
    qtbot.waitExposed(heat)
    history = History(100)
    specs = {f"cpu.util.core{n}": SeriesSpec(f"cpu.util.core{n}", str(n), "%") for n in range(2)}
    now = time.time()
    for t in range(30):
        history.append(now + t, {"cpu.util.core0": 10.0, "cpu.util.core1": 90.0}, specs)
    heat.set_rows(list(specs))
    heat.update_from(history, 60)
    view_box = heat.plotItem.getViewBox()
    center = heat.mapFromScene(view_box.mapViewToScene(view_box.viewRect().center()))
    QTest.mouseMove(heat.viewport(), QPoint(center.x(), center.y() + 20))  # lower row: CPU 1
    qtbot.waitUntil(heat._hover.isVisible, timeout=2000)
    assert heat._hover.toPlainText().startswith("CPU 1 at ") and heat._hover.toPlainText().endswith("90.0 %")
    assert heat._hover.fill.color().alpha() == 255


def test_word_rate_axes_are_wide_enough_for_their_labels(qtbot):
    from PySide6.QtGui import QFontMetrics

    plot = TimePlot("Page faults", unit="faults/s")
    qtbot.addWidget(plot)
    plot.update_from(_history_with([9000.0] * 10, unit="faults/s"), ["s.v"], 60)
    axis = plot._unit_axis
    labels = axis.tickStrings(np.linspace(0, plot.y_range()[1], 5), 1.0, 1.0)
    assert labels[0] == "0 faults/s" and labels[-1].endswith(" k faults/s")
    widest = max(QFontMetrics(plot.font()).horizontalAdvance(t) for t in labels)
    assert widest <= axis.fixedWidth  # pyqtgraph drops tick labels wider than their axis
    other = TimePlot("t", unit="B/s")
    qtbot.addWidget(other)
    assert other._unit_axis.fixedWidth == 62  # the usual width elsewhere
