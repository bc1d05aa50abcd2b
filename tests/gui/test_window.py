"""The main window: every tab opens and draws, only the visible tab redraws, shutdown is clean."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from gui_fakes import CountingCollector, RaisingCollector, many_cpu_snapshot, sensors_unavailable_snapshot
from PySide6.QtWidgets import QApplication, QLabel

from perfdeck import __version__
from perfdeck.gui.app import build_window, load_engine
from perfdeck.gui.mainwindow import MainWindow, _BrokenTab
from perfdeck.gui.tabs import TABS, TabEntry
from perfdeck.gui.views.cpu import CpuView
from perfdeck.gui.views.sensors import SensorsView
from perfdeck.model.engine import SamplingEngine

pytestmark = pytest.mark.gui


@pytest.fixture
def make_window(qtbot):
    windows: list[MainWindow] = []

    def make(engine: SamplingEngine | None = None, **kwargs) -> MainWindow:
        window = build_window(engine=engine or SamplingEngine([CountingCollector()]), **kwargs)
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
        assert not window.sampler.thread.isRunning()


def test_every_tab_opens_and_draws_real_data(qtbot, make_window):
    """Smoke test over gui.tabs.TABS, so tabs added later are covered too."""
    window = make_window(engine=load_engine(), interval=0.2)
    window.show()
    qtbot.waitExposed(window)
    window.sampler.start()
    qtbot.waitUntil(lambda: window.sampler.samples >= 3, timeout=10000)
    titles = [window.tab_widget.tabText(i) for i in range(window.tab_widget.count())]
    assert titles == [entry.title for entry in TABS]
    created: list[str] = []
    window.view_created.connect(lambda title, view: created.append(title))
    for index, title in enumerate(titles):
        with qtbot.waitSignal(window.view_refreshed, timeout=5000) as refreshed:
            window.tab_widget.setCurrentIndex(index)
            if index == 0:  # already current: ask for a redraw the normal way
                window.set_time_window(60.0)
        assert refreshed.args == [title]
        assert not isinstance(window.views[title], _BrokenTab), f"tab {title} failed to load"
        qtbot.wait(50)
    assert window.refresh_errors == []
    assert created == titles[1:]  # the first tab was built with the window, the others on demand
    window.close()
    assert not window.sampler.thread.isRunning()


def test_close_stops_the_thread_and_closes_collectors(qtbot, make_window):
    collector = CountingCollector()
    window = make_window(engine=SamplingEngine([collector]), interval=0.1)
    window.show()
    window.sampler.start()
    qtbot.waitUntil(lambda: collector.reads >= 2, timeout=5000)
    window.close()
    assert not window.sampler.thread.isRunning()
    assert collector.closed


def test_quit_app_skips_close_hooks_but_a_close_hook_can_keep_the_app(qtbot, make_window):
    window = make_window(interval=0.1)
    window.show()
    window.sampler.start()
    window.close_hooks.append(lambda event: True)  # e.g. "hide to tray"
    window.close()
    assert window.sampler.thread.isRunning()  # the hook kept it running
    window.quit_app()
    assert not window.sampler.thread.isRunning()


def test_a_collector_failure_is_shown_once_in_the_status_bar(qtbot, make_window):
    window = make_window(engine=SamplingEngine([CountingCollector(), RaisingCollector()]), interval=0.1)
    window.show()
    window.sampler.start()
    qtbot.waitUntil(lambda: window.sampler.samples >= 4, timeout=5000)
    assert window.reported_failures == [
        "broken collector failed: RuntimeError: sensor bus on fire; other metrics continue"]
    assert "sensor bus on fire" in window.statusBar().currentMessage()
    assert window.history.latest("fake.value") is not None


def test_only_the_visible_tab_redraws_and_only_with_new_data(qtbot, make_window):
    window = make_window()
    window.show()
    qtbot.waitExposed(window)
    refreshed: list[str] = []
    window.view_refreshed.connect(refreshed.append)
    window.select_tab("CPU")
    refreshed.clear()
    for tick in range(10):  # a burst, faster than the redraw cap
        window.on_snapshot(many_cpu_snapshot(4, tick))
    qtbot.wait(600)
    assert refreshed and set(refreshed) == {"CPU"}
    assert len(refreshed) <= 2  # coalesced, not one redraw per snapshot
    refreshed.clear()
    qtbot.wait(600)
    assert refreshed == []  # no new data, no redraw
    assert len(window.history) == 10  # every snapshot kept, drawn or not


def test_nothing_redraws_while_hidden_or_display_paused(qtbot, make_window):
    window = make_window()
    refreshed: list[str] = []
    window.view_refreshed.connect(refreshed.append)
    window.on_snapshot(many_cpu_snapshot(2, 0))  # never shown
    qtbot.wait(400)
    assert refreshed == []
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: bool(refreshed), timeout=2000)  # shown: draws what arrived meanwhile
    window.set_display_paused(True)
    refreshed.clear()
    window.on_snapshot(many_cpu_snapshot(2, 1))
    qtbot.wait(400)
    assert refreshed == [] and len(window.history) == 2
    window.set_display_paused(False)
    assert refreshed  # catches up at once


def test_256_cpus_render_as_heatmap_and_bars(qtbot, make_window):
    window = make_window()
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    window.select_tab("CPU")
    view = window.views["CPU"]
    assert isinstance(view, CpuView)
    for tick in range(20):
        window.on_snapshot(many_cpu_snapshot(256, tick, missing=frozenset({5})))
    qtbot.waitUntil(lambda: len(view.heatmap.rows) == 256, timeout=2000)
    window.set_time_window(60.0)  # forces a refresh with everything
    assert view.heatmap.rows[0] == "cpu.util.core0" and view.heatmap.rows[255] == "cpu.util.core255"
    image = view.heatmap.image.image
    assert image.shape == (256, 20)
    # Row n, last column = value of core n at the last tick; a missing core is NaN, never 0.
    assert image[100, -1] == pytest.approx((100 * 7 + 19 * 3) % 101)
    assert np.isnan(image[5]).all()
    heights = view.bars.bars.opts["height"]
    assert len(heights) == 256 and heights[100] == pytest.approx((100 * 7 + 19 * 3) % 101)
    assert window.refresh_errors == []
    window.grab()  # paints without error


def test_unavailable_family_shows_its_reason_inline(qtbot, make_window):
    window = make_window()
    window.show()
    window.select_tab("Sensors")
    window.on_snapshot(sensors_unavailable_snapshot())
    view = window.views["Sensors"]
    assert isinstance(view, SensorsView)
    qtbot.waitUntil(lambda: view.reason_label.isVisible(), timeout=2000)
    text = view.reason_label.full_text()
    assert "no hwmon here (test)" in text and "load the it87 driver" in text
    assert all(not panel.plot.isVisible() for panel in view.panels.values())


def test_interval_and_self_usage_in_the_status_bar(qtbot, make_window):
    window = make_window(interval=0.5)
    assert window.interval_label.text() == "Every 0.5 s"
    window.set_interval(0.01)
    assert window.sampler.interval == 0.1
    assert "below the minimum" in window.statusBar().currentMessage()
    assert window.interval_label.text() == "Every 0.1 s"
    window._self_cpu_samples.clear()
    window._update_self_usage()
    assert window.self_usage_label.text().startswith("PerfDeck — CPU")  # no interval yet: no number
    deadline = time.process_time() + 0.3  # really burn CPU, so the measured share cannot be 0
    while time.process_time() < deadline:
        pass
    window._update_self_usage()
    text = window.self_usage_label.text()
    percent = float(text.split("PerfDeck ")[1].split(" %")[0])
    assert percent > 5.0 and "MiB" in text
    extra = QLabel("REC")
    window.add_status_widget(extra)
    assert extra.parent() is not None


def test_unknown_tab_and_broken_tab_are_explained(qtbot, make_window):
    window = make_window(tabs=(*TABS[:1], TabEntry("Nope", "perfdeck.gui.views.nope:Nope")),
                         initial_tab="Bogus")
    assert "no tab called 'Bogus'" in window.statusBar().currentMessage()
    assert "Nope" not in window.views  # tabs are built when first shown
    broken = window.view("Nope")
    assert isinstance(broken, _BrokenTab)
    labels = [getattr(w, "full_text", w.text)() for w in broken.findChildren(QLabel)]
    assert any("ModuleNotFoundError" in t for t in labels)


def test_menus_and_about(qtbot, make_window, monkeypatch):
    window = make_window()
    assert window.file_menu.actions()[-1] is window.quit_action
    shown = {}
    monkeypatch.setattr("perfdeck.gui.mainwindow.QMessageBox.about",
                        lambda parent, title, text: shown.update(title=title, text=text))
    window.help_menu.actions()[0].trigger()
    assert __version__ in shown["text"]


def test_theme_switch_recolours_plots(qtbot, make_window):
    from perfdeck.gui.theme import apply_theme

    window = make_window()
    window.show()
    plot = window.views["Overview"].cpu.plot
    app = QApplication.instance()
    apply_theme(app, "dark")
    qtbot.waitUntil(lambda: plot.backgroundBrush().color().lightness() < 80, timeout=2000)
    apply_theme(app, "light")
    qtbot.waitUntil(lambda: plot.backgroundBrush().color().lightness() > 200, timeout=2000)
    apply_theme(app, "system")
    with pytest.raises(ValueError, match="choose one of"):
        apply_theme(app, "purple")


def test_time_window_selector_sets_plot_range(qtbot, make_window):
    window = make_window()
    window.show()
    for tick in range(5):
        window.on_snapshot(many_cpu_snapshot(2, tick))
    window.window_combo.setCurrentIndex(0)  # 1 min
    plot = window.views["Overview"].cpu.plot
    assert plot._window == 60.0
    x_range = plot.x_range()
    # 4 s of data: the axis shows 15 s (it grows into the window as history builds up), not 85 % empty.
    assert math.isclose(x_range[0], -15.0) and math.isclose(x_range[1], 0.0)


def test_process_list_is_read_less_often_while_nobody_looks_at_it(qtbot, make_window):
    class FakeProcesses(CountingCollector):
        family = "proc"
        min_interval = 2.0

    collector = FakeProcesses()
    window = make_window(engine=SamplingEngine([collector]), interval=0.1)
    window.show()
    qtbot.waitExposed(window)
    window.sampler.start()
    qtbot.waitUntil(lambda: collector.min_interval == 10.0, timeout=3000)  # Overview is shown
    window.select_tab("Processes")
    qtbot.waitUntil(lambda: collector.min_interval == 2.0, timeout=3000)
    window.hide()  # e.g. hidden to the tray
    qtbot.waitUntil(lambda: collector.min_interval == 10.0, timeout=3000)
    window.show()
    qtbot.waitUntil(lambda: collector.min_interval == 2.0, timeout=3000)


def test_application_has_the_perfdeck_icon_and_a_float32_history(qapp) -> None:
    import numpy as np

    from perfdeck.gui.app import build_window, ensure_application
    from perfdeck.model.engine import SamplingEngine

    app = ensure_application()
    assert not app.windowIcon().isNull()  # window managers and docks show it (_NET_WM_ICON)
    window = build_window(engine=SamplingEngine([]))
    try:
        assert window.history.dtype == np.float32
    finally:
        window.sampler.stop()
        window.deleteLater()
