"""The Top-down tab over the real engine and collector, with replayed counts on a fake Sapphire Rapids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_topdown_collector import ReplayGroup

from fakes.topdown_trees import make_sapphire_rapids
from perfdeck.collectors.topdown import TopdownCollector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import History

pytestmark = pytest.mark.gui


def replay(root: Path, ticks: int):
    clock = [0.0]
    engine = SamplingEngine([TopdownCollector(root, group_factory=lambda e, cpu: ReplayGroup(e, cpu, clock))])
    engine.open()
    history = History(300)
    snapshot = None
    for tick in range(ticks):
        clock[0] = float(tick + 1)
        snapshot = engine.sample(now=clock[0], timestamp=1.75e9 + tick)
        history.append_snapshot(snapshot)
    engine.close()
    return history, snapshot


def make_view(qtbot, history, snapshot):
    from perfdeck.gui.views.base import ViewContext
    from perfdeck.gui.views.topdown import TopdownView

    view = TopdownView(ViewContext(history=history, window_seconds=60.0, latest=snapshot))
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.refresh(snapshot)
    return view


def test_stacked_shares_reach_100(qtbot, tmp_path: Path) -> None:
    history, snapshot = replay(make_sapphire_rapids(tmp_path), 20)
    view = make_view(qtbot, history, snapshot)
    assert view.reason_label.isHidden()
    top = view.level1._curves["backend_bound"].getData()[1]  # the last of the four: the running sum
    np.testing.assert_allclose(top[-10:], 100.0)
    retiring = view.level1._curves["retiring"].getData()[1]
    np.testing.assert_allclose(retiring[-10:], 40.0)
    # The first tick has no delta: a gap (strip curves trim leading NaN, so it is not drawn), not 0.
    assert np.isnan(retiring[0]) or len(retiring) == 19
    assert not (np.nan_to_num(retiring, nan=1.0) == 0).any()
    assert view.level2 is not None
    np.testing.assert_allclose(view.level2._curves["memory_bound"].getData()[1][-5:], 100.0)
    assert view.category_box.count() == 12
    assert view.heatmap.rows[:2] == ["tma.retiring.cpu0", "tma.retiring.cpu1"]
    assert "Backend bound: slots the back end could not accept" in view.meanings.text()
    assert "ran 50 % of the time" in view.multiplex_label.text()  # the replay counts odd CPUs half the time
    view.grab().save(str(tmp_path / "topdown.png"))


def test_unavailable_here(qtbot, tmp_path: Path) -> None:
    from fakes.topdown_trees import make_zen3_server

    root = make_zen3_server(tmp_path)
    engine = SamplingEngine([TopdownCollector(root)])
    engine.open()
    snapshot = engine.sample(now=1.0, timestamp=1.75e9)
    history = History(10)
    history.append_snapshot(snapshot)
    view = make_view(qtbot, history, snapshot)
    assert "Zen 3" in view.reason_label.full_text() and view.heatmap.isHidden()
