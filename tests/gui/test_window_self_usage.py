"""The status bar's own-usage line: the same numbers psutil gives, no file opened per update, and
no timer while the window is hidden or minimised; the history label reads one timestamp."""

from __future__ import annotations

import os
import time

import psutil
import pytest
from gui_fakes import CountingCollector

from perfdeck.gui.app import build_window
from perfdeck.gui.mainwindow import MainWindow
from perfdeck.gui.tabs import TabEntry
from perfdeck.model.engine import SamplingEngine
from probes import opened_files

pytestmark = pytest.mark.gui

@pytest.fixture
def window(qtbot) -> MainWindow:
    made = build_window(engine=SamplingEngine([CountingCollector()]), tabs=())
    qtbot.addWidget(made)
    yield made
    made.close()


def test_own_usage_is_what_psutil_reads_without_opening_a_file(window):
    process = psutil.Process()
    window._update_self_usage()  # opens /proc/self/statm once, then keeps it
    with opened_files() as opened:
        for _ in range(5):
            window._update_self_usage()
    assert opened == []  # psutil opened /proc/self/stat and statm on every update
    rss, psutil_rss = window._self_rss(), process.memory_info().rss
    assert rss is not None and abs(rss - psutil_rss) <= 1 << 20  # same statm field; 1 MiB of churn
    times, psutil_times = os.times(), process.cpu_times()
    assert abs((times.user + times.system) - (psutil_times.user + psutil_times.system)) < 0.05
    assert window.self_usage_label.text().endswith(" MiB")


def test_own_usage_timer_runs_only_while_the_window_is_shown(qtbot, window):
    assert not window._self_timer.isActive()  # built, never shown
    window.show()
    qtbot.waitExposed(window)
    assert window._self_timer.isActive()
    assert "CPU" in window.self_usage_label.text()  # read at once on show, not a second later
    window.hide()
    assert not window._self_timer.isActive()
    window.show()
    assert window._self_timer.isActive() and len(window._self_cpu_samples) == 1  # older ones dropped
    window.showMinimized()
    qtbot.waitUntil(window.isMinimized, timeout=3000)
    assert not window._self_timer.isActive()
    window.showNormal()
    qtbot.waitUntil(lambda: not window.isMinimized(), timeout=3000)
    assert window._self_timer.isActive()
    window.close()
    assert not window._self_timer.isActive()


def test_history_label_reads_the_oldest_timestamp_without_copying_the_ring(window, monkeypatch):
    window._update_history_label()
    assert window.history_label.text() == " History: none yet "

    def no_copies(*_args, **_kwargs):
        raise AssertionError("the history label must not copy the timestamp ring")

    monkeypatch.setattr(window.history, "window", no_copies)
    for t in range(0, 1001, 10):  # wraps: capacity is one hour at 1 s, so 101 samples fit
        window.history.append(1000.0 + t, {"fake.value": 1.0})
    window._update_history_label()
    assert window.history_label.text() == " History: 16 min "  # whole minutes past the first one


def test_own_usage_is_read_in_the_frame_that_draws_a_sample(qtbot):
    """At 0.5 s sampling the reading rides the redraws (about one a second): its own timer, which
    would wake the GUI thread and repaint and flush the window a second time each second, never
    fires while redraws come; it is the fallback when they stop."""
    made = build_window(engine=SamplingEngine([CountingCollector()]), interval=0.5,
                        tabs=(TabEntry("Alerts", "perfdeck.gui.views.alerts:AlertsView"),))
    qtbot.addWidget(made)
    fired: list[float] = []
    made._self_timer.timeout.connect(lambda: fired.append(time.monotonic()))
    readings: list[float] = []
    read = made._update_self_usage

    def counted() -> None:
        readings.append(time.monotonic())
        read()

    made._update_self_usage = counted  # type: ignore[method-assign]
    refreshed: list[float] = []
    made.view_refreshed.connect(lambda _title: refreshed.append(time.monotonic()))
    made.show()
    qtbot.waitExposed(made)
    made.sampler.start()
    try:
        qtbot.waitUntil(lambda: len(refreshed) >= 8, timeout=15000)
        assert fired == []
        in_frames = [t for t in readings if any(abs(t - r) < 0.05 for r in refreshed)]
        assert len(in_frames) >= 3, (readings, refreshed)
        # About one reading a second, never one per 0.5 s redraw.
        span = refreshed[-1] - refreshed[0]
        assert len(in_frames) <= span / 0.9 + 2
        made.sampler.pause()  # no more redraws: the timer takes over
        qtbot.waitUntil(lambda: len(fired) >= 1, timeout=5000)
    finally:
        made.sampler.stop()
        made.close()
