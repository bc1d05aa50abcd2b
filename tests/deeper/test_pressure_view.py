"""The Pressure tab and the Overview's pressure strip, fed by the real PSI collector and engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from perfdeck.collectors.psi import PsiCollector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import History
from perfdeck.model.series import Snapshot

pytestmark = pytest.mark.gui
T0 = 1_750_000_000.0


def _write(root: Path, resource: str, some: int | None, full: int | None) -> None:
    lines = [f"{kind} avg10=0.00 avg60=0.00 avg300=0.00 total={value}"
             for kind, value in (("some", some), ("full", full)) if value is not None]
    path = root / "proc/pressure" / resource
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def replay(root: Path, ticks: int, irq: bool) -> tuple[History, Snapshot]:
    """Memory "some" grows 0.2 s and "full" 0.05 s per 1 s tick: 20 % and 5 % of wall time."""
    engine = SamplingEngine([PsiCollector(root)])
    history = History(300)
    snapshot = None
    for tick in range(ticks):
        _write(root, "cpu", 1_000 + 100_000 * tick, 0)
        _write(root, "memory", 200_000 * tick, 50_000 * tick)
        _write(root, "io", 0, 0)
        if irq:
            _write(root, "irq", None, 0)
        if tick == 0:
            engine.open()
        snapshot = engine.sample(now=float(tick), timestamp=T0 + tick)
        history.append_snapshot(snapshot)
    engine.close()
    assert snapshot is not None
    return history, snapshot


def _context(history: History, snapshot: Snapshot):
    from perfdeck.gui.views.base import ViewContext

    return ViewContext(history=history, window_seconds=60.0, latest=snapshot)


def test_pressure_view_plots_percentages_and_explains_irq(qtbot, tmp_path: Path) -> None:
    from perfdeck.gui.views.pressure import PressureView

    history, snapshot = replay(tmp_path, 20, irq=False)
    view = PressureView(_context(history, snapshot))
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.refresh(snapshot)
    assert view.reason_label.isHidden()
    assert view.tiles["memory"].value.text() == "20.0 / 5.0 %"
    assert view.tiles["cpu"].value.text() == "10.0 %"
    memory = view.panels["memory"].plot
    assert sorted(memory.series_ids) == ["psi.memory.full", "psi.memory.some"]
    some = memory._curves["psi.memory.some"].getData()[1]
    np.testing.assert_allclose(some[-5:], 20.0)
    irq = view.panels["irq"]
    assert irq.plot.isHidden() and "CONFIG_IRQ_TIME_ACCOUNTING" in irq.reason_label.full_text()
    assert view.tiles["irq"].value.text() == "unavailable"


def test_pressure_view_without_psi(qtbot, tmp_path: Path) -> None:
    from perfdeck.gui.views.pressure import PressureStrip, PressureView

    (tmp_path / "proc").mkdir()
    engine = SamplingEngine([PsiCollector(tmp_path)])
    engine.open()
    snapshot = engine.sample(now=0.0, timestamp=T0)
    history = History(10)
    history.append_snapshot(snapshot)
    view = PressureView(_context(history, snapshot))
    qtbot.addWidget(view)
    view.show()
    view.refresh(snapshot)
    assert not view.reason_label.isHidden()
    details = view.reason_label.full_text()  # the banner says it plainly; reason and fix behind Details
    assert "CONFIG_PSI" in details and "psi=1" in details
    strip = PressureStrip()
    qtbot.addWidget(strip)
    strip.show()
    strip.update_from(snapshot)
    assert "CONFIG_PSI" in strip.reason.text()
    assert all(label.isHidden() for label in strip.values.values())


def test_overview_shows_the_strip(qtbot, tmp_path: Path) -> None:
    from perfdeck.gui.views.overview import OverviewView

    history, snapshot = replay(tmp_path, 5, irq=True)
    view = OverviewView(_context(history, snapshot))
    qtbot.addWidget(view)
    view.show()
    view.refresh(snapshot)
    strip = view.pressure
    assert strip.values["memory"].text() == "Memory 20.0 / 5.0 %"
    assert strip.values["irq"].text() == "IRQ 0.0 %"
    assert strip.reason.isHidden()


def test_the_strip_follows_new_values_and_a_resource_going_unavailable(qtbot, tmp_path: Path) -> None:
    import dataclasses

    from perfdeck.gui.views.pressure import PressureStrip
    from perfdeck.model.series import Unavailable

    _history, snapshot = replay(tmp_path, 5, irq=True)
    strip = PressureStrip()
    qtbot.addWidget(strip)
    strip.show()
    strip.update_from(snapshot)
    assert strip.values["memory"].text() == "Memory 20.0 / 5.0 %"
    memory_ids = [sid for sid in snapshot.values if sid.startswith("psi.memory.")]
    assert memory_ids
    changed = dataclasses.replace(snapshot, values={**snapshot.values, **dict.fromkeys(memory_ids, 7.5)})
    strip.update_from(changed)
    assert strip.values["memory"].text() == "Memory 7.5 / 7.5 %"
    gone = Unavailable("memory pressure is not readable here", "a fix")
    lost = dataclasses.replace(changed, unavailable={**changed.unavailable, memory_ids[0]: gone})
    strip.update_from(lost)
    assert strip.values["memory"].text() == "Memory unavailable"
    assert "not readable here" in strip.values["memory"].toolTip()
    strip.update_from(changed)  # readable again: the values, and the meaning as tooltip
    assert strip.values["memory"].text() == "Memory 7.5 / 7.5 %"
    assert "some" in strip.values["memory"].toolTip()
