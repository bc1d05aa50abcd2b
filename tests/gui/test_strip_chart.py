"""StripChart: a scrolled frame draws what a full redraw of the same data draws, each new sample
costs one paint of the chart and no full redraw, and gaps stay gaps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from perfdeck.gui.strip import StripChart, finite_runs
from perfdeck.model.history import History
from perfdeck.model.series import SeriesSpec

T0 = 1.7e9


def _history(ids: list[str], samples: int, gap: tuple[int, int] | None = None) -> History:
    history = History(4000, dtype=np.float32)
    specs = {sid: SeriesSpec(id=sid, label=sid, unit="%") for sid in ids}
    for tick in range(samples):
        values = {sid: 20 + 15 * math.sin(tick / (5 + n)) + 5 * n for n, sid in enumerate(ids)}
        if gap and gap[0] <= tick < gap[1]:
            values = {sid: None for sid in ids}
        history.append(T0 + tick, values, specs)
    return history


def _grow(history: History, into: History, tick: int) -> None:
    times, values = history.window(history.series_ids(), None)
    into.append(float(times[tick]), {sid: (None if np.isnan(v[tick]) else float(v[tick]))
                                     for sid, v in values.items()}, history.specs)


def _image(chart: StripChart) -> QImage:
    return chart.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)


def _differing_pixels(a: QImage, b: QImage) -> int:
    assert a.size() == b.size()
    width, height = a.width(), a.height()
    pa = np.frombuffer(a.constBits(), np.uint32, count=a.sizeInBytes() // 4).reshape(height, -1)[:, :width]
    pb = np.frombuffer(b.constBits(), np.uint32, count=b.sizeInBytes() // 4).reshape(height, -1)[:, :width]
    return int(np.count_nonzero(pa != pb))


@pytest.mark.parametrize("style", ["stacked", "area", "line"])
def test_scrolled_frames_draw_what_a_full_redraw_draws(qtbot, style):
    ids = ["a", "b", "c"] if style != "area" else ["a"]
    source = _history(ids, 200, gap=(120, 126))
    live = History(4000, dtype=np.float32)
    chart = StripChart("Test", "%", (0, 100), style=style)
    qtbot.addWidget(chart)
    chart.resize(420, 240)
    chart.set_series((sid, sid) for sid in ids)
    chart.show()
    qtbot.waitExposed(chart)
    for tick in range(200):
        _grow(source, live, tick)
        chart.update_from(live, None, 300.0)
    assert chart.frames["scrolled"] > 150, chart.frames  # the span grows in steps: a few full frames
    scrolled = _image(chart)
    chart._invalidate()  # the same data, drawn from scratch
    full = _image(chart)
    # Identical but for the odd pixel where a line segment is rasterised on its own rather than
    # as part of a longer path (a join): far below what the eye can find.
    assert _differing_pixels(scrolled, full) <= 0.0006 * full.width() * full.height()  # 3-7 of 100 800 here


def test_a_new_sample_is_one_paint_and_no_full_redraw(qtbot):
    class Paints(QObject):
        count = 0

        def eventFilter(self, watched, event):
            if watched is chart and event.type() == QEvent.Type.Paint:
                Paints.count += 1
            return False

    source = _history(["a", "b"], 80)
    live = History(4000, dtype=np.float32)
    chart = StripChart("Test", "%", (0, 100), style="stacked")
    qtbot.addWidget(chart)
    chart.resize(420, 240)
    chart.show()
    qtbot.waitExposed(chart)
    for tick in range(70):  # past the 60 s span step: the range stays put from here
        _grow(source, live, tick)
        chart.update_from(live, ["a", "b"], 60.0)
    QApplication.processEvents()
    paints = Paints()
    chart.installEventFilter(paints)
    full_before = chart.frames["full"]
    for tick in range(70, 80):
        _grow(source, live, tick)
        chart.update_from(live, ["a", "b"], 60.0)
        QApplication.processEvents()
    assert Paints.count == 10
    assert chart.frames["full"] == full_before


def test_gaps_are_not_drawn_as_zero(qtbot):
    assert finite_runs(np.array([np.nan, 1.0, 2.0, np.nan, np.nan, 3.0, 4.0, 5.0])) == [(1, 3), (5, 8)]
    assert finite_runs(np.array([1.0, 2.0])) == [(0, 2)]
    assert finite_runs(np.array([np.nan])) == []
    # All missing: the data area stays empty (only background), never a line at 0.
    history = _history(["a"], 30, gap=(0, 30))
    chart = StripChart("Test", "%", (0, 100), style="line")
    qtbot.addWidget(chart)
    chart.resize(300, 200)
    chart.show()
    qtbot.waitExposed(chart)
    chart.update_from(history, ["a"], 60.0)
    image = _image(chart)
    rect = chart._data_rect().adjusted(1, 1, -1, -1)
    colors = {image.pixel(x, y) for x in range(rect.left(), rect.right())
              for y in range(rect.top(), rect.bottom())}
    # Background and the faint grid lines only: no series colour anywhere.
    assert colors == {chart._background.rgb(), chart._grid_pen.color().rgb()}
    assert chart.readout_text(-5.0).endswith(": —") or "no data" in chart.readout_text(-5.0)


def test_hover_readout_names_every_series_at_the_pointer(qtbot):
    source = _history(["a", "b"], 60)
    chart = StripChart("Test", "%", (0, 100), style="stacked")
    qtbot.addWidget(chart)
    chart.resize(420, 240)
    chart.set_series([("a", "user"), ("b", "system")])
    chart.show()
    qtbot.waitExposed(chart)
    chart.update_from(source, None, 60.0)
    rect = chart._data_rect()
    point = QPointF(rect.right() - rect.width() / 6, rect.center().y())  # 10 s ago of a 60 s span
    event = QMouseEvent(QEvent.Type.MouseMove, point, chart.mapToGlobal(point), Qt.MouseButton.NoButton,
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(chart, event)
    assert chart._readout.isVisible()
    text = chart._readout.text()
    assert "user" in text and "system" in text and "(-10 s)" in text
    values = source.window(["a"], None)[1]["a"]
    assert f"{values[-11]:.1f} %" in text  # the sample 10 s before the latest
    QApplication.sendEvent(chart, QEvent(QEvent.Type.Leave))
    assert not chart._readout.isVisible()


def test_the_y_range_follows_the_data_and_names_a_spike(qtbot):
    history = History(400, dtype=np.float32)
    spec = {"net": SeriesSpec(id="net", label="net", unit="B/s")}
    for tick in range(100):
        history.append(T0 + tick, {"net": 5e6 if tick == 90 else 1e5}, spec)
    chart = StripChart("Net", "B/s", style="area")
    qtbot.addWidget(chart)
    chart.resize(420, 240)
    chart.update_from(history, ["net"], 300.0)
    low, high = chart.y_range()
    assert low == 0 and 1e5 <= high < 5e6  # the lone spike does not flatten the rest
    assert chart._off_scale_peak == pytest.approx(5e6)


@pytest.mark.parametrize("style", ["stacked", "area", "line"])
def test_short_segment_path_draws_exactly_what_the_array_path_draws(qtbot, monkeypatch, style):
    """Scrolled frames draw their few points with plain floats (``_paint_short``); drawn over a
    whole window with gaps and lone samples, that path gives the array path's pixels exactly."""
    import perfdeck.gui.strip as strip

    ids = ["a", "b", "c"] if style != "area" else ["a"]
    history = _history(ids, 60, gap=(20, 26))
    times, values = history.window(ids, None)
    for sid in ids:
        values[sid][40] = np.nan  # a lone sample at 41 between two gaps draws nothing
        values[sid][42] = np.nan
    chart = StripChart("Test", "%", (0, 100), style=style)
    qtbot.addWidget(chart)
    chart.resize(420, 240)
    chart.show()
    qtbot.waitExposed(chart)
    images = []
    for short in (0, 10_000):
        monkeypatch.setattr(strip, "_SHORT_SEGMENT", short)
        chart.set_arrays(times, values, window_seconds=60.0)
        chart._invalidate()
        images.append(_image(chart))
    assert _differing_pixels(*images) == 0
