"""Regression guard for the drawing cost, counted rather than timed: paint events and Python calls
per Overview refresh, and none at all while hidden or without new data.

The Overview's four plots are strip charts (gui/strip.py) that scroll their pixels: each sample
is exactly one paint of each chart (the pyqtgraph plots took one viewport paint each plus, with
transparent value labels, the tile, tab, stack and window behind them: about 17 paint events a
sample). Python calls in the GUI thread per sample (snapshot kept, tab refreshed, charts drawn
and painted): 1 550-1 640 counted here with the strip charts (1 749 before the fourth session's tile,
legend, pressure-strip and specs changes), against 3 000-3 350 with the pyqtgraph plots and their
legends, fills and pressure strip (docs/performance.md). The budget leaves room for small
features, not for a return to redrawing every plot (+1 000 calls, and the paint counts change).
"""

from __future__ import annotations

import cProfile
import pstats
from collections import Counter

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

from perfdeck.gui.app import build_window
from perfdeck.gui.mainwindow import MainWindow
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.registry import create_collectors

pytestmark = pytest.mark.gui

PAINTS_PER_REFRESH = 10
PYTHON_CALLS_PER_REFRESH = 1900


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            name = type(watched).__name__
            if name == "QWidget" and watched.parent() is not None:
                name = f"{type(watched.parent()).__name__}.viewport"
            self.counts[name] += 1
        return False


@pytest.fixture
def overview(qtbot):
    engine = SamplingEngine(create_collectors(["cpu", "mem", "disk", "net"]))
    window = build_window(engine=engine, initial_tab="Overview")
    qtbot.addWidget(window)
    window.resize(1000, 700)
    counter = PaintCounter()
    QApplication.instance().installEventFilter(counter)
    yield window, engine, counter
    QApplication.instance().removeEventFilter(counter)
    window.close()
    engine.close()


def _tick(qtbot, window: MainWindow, engine: SamplingEngine, now: float, refreshed: list[str],
          profile: cProfile.Profile | None = None) -> None:
    """One sample into the window and its redraw, then Qt's paint; only the GUI side is profiled.

    The redraw cap (4 a second) is waited out first, so the redraw timer fires at once and the
    redraw and the paints happen within the ``processEvents`` calls.
    """
    snapshot = engine.sample(now=now, timestamp=1.7e9 + now)
    qtbot.wait(300)
    before = len(refreshed)
    if profile is not None:
        profile.enable()
    window.on_snapshot(snapshot)
    for _ in range(4):
        QApplication.processEvents()
    if profile is not None:
        profile.disable()
    if window.isVisible():
        assert len(refreshed) == before + 1


def test_overview_paints_each_plot_once_per_sample(qtbot, overview):
    window, engine, counter = overview
    window.show()
    qtbot.waitExposed(window)
    refreshed: list[str] = []
    window.view_refreshed.connect(refreshed.append)
    for second in range(3):  # history and baselines fill, every plot gets data
        _tick(qtbot, window, engine, 100.0 + second, refreshed)
    counter.counts.clear()
    profile = cProfile.Profile()
    samples = 5
    for second in range(3, 3 + samples):
        _tick(qtbot, window, engine, 100.0 + second, refreshed, profile)
    counts = counter.counts
    # Four strip charts, one paint each per sample (a changed y range repaints the same chart).
    assert counts["StripChart"] == 4 * samples, counts
    assert sum(counts.values()) <= PAINTS_PER_REFRESH * samples, counts
    assert counts["MainWindow"] <= 2 * samples, counts  # never the whole window per sample
    calls = pstats.Stats(profile).total_calls / samples  # type: ignore[attr-defined]
    assert calls <= PYTHON_CALLS_PER_REFRESH, f"{calls:.0f} Python calls per refresh"

    counts.clear()  # no new data: nothing is painted
    qtbot.wait(400)
    assert counts["StripChart"] == 0, counts


def test_hidden_window_paints_nothing(qtbot, overview):
    window, engine, counter = overview
    window.show()
    qtbot.waitExposed(window)
    window.hide()
    for _ in range(3):
        QApplication.processEvents()  # the platform window's own paint on hiding
    refreshed: list[str] = []
    window.view_refreshed.connect(refreshed.append)
    counter.counts.clear()
    for second in range(4):
        _tick(qtbot, window, engine, 200.0 + second, refreshed)
    qtbot.wait(400)
    assert refreshed == [] and sum(counter.counts.values()) == 0, counter.counts
    assert len(window.history) == 4  # still sampled and kept
