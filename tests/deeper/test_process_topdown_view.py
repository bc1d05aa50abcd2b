"""The per-process panel's top-down row: replayed Ice Lake values, and the real VM's reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fakes.topdown_replay import ICELAKE, PID, Replay, add_threads
from fakes.topdown_trees import make_icelake_server
from perfdeck.gui.views.process_counters import ProcessCountersPanel
from perfdeck.perf.process_topdown import ProcessTopdown


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time\nwhile True:\n    time.sleep(0.01)"])


def test_panel_shows_level1_of_the_selected_process(qtbot, tmp_path: Path) -> None:
    root = make_icelake_server(tmp_path)
    add_threads(root, [PID])
    replay = Replay(lambda tid, pmu, name: (ICELAKE[name], 0.5))  # multiplexed: counted half the time
    made: list[tuple[int, bool]] = []

    def tma_factory(pid: int, counters: object) -> ProcessTopdown:
        made.append((pid, counters.exclude_kernel))
        return ProcessTopdown(PID, root=root, exclude_kernel=counters.exclude_kernel,
                              inherit=counters.inherit, group_factory=replay)

    child = _sleeper()
    panel = ProcessCountersPanel(tma_factory=tma_factory)
    qtbot.addWidget(panel)
    try:
        panel.set_pid(child.pid)
        assert made and made[0][0] == child.pid  # opened with the counters' privilege
        assert panel.tma is not None and panel.tma.unavailable is None
        for _ in range(2):
            replay.tick += 1
            panel.poll()
        values = {c: w.value.text() for c, w in panel.tma_tiles.items()}
        assert values == {"retiring": "40.0 %", "bad_speculation": "10.0 %", "frontend_bound": "20.0 %",
                          "backend_bound": "30.0 %"}
        assert "counted 50% of the time, scaled" in panel.tma_status.text()
        assert "slots" in panel.tma_tiles["retiring"].toolTip()  # the one-sentence meaning
    finally:
        child.kill()
        child.wait()
    panel.poll()
    assert panel.exited and panel.tma is None  # top-down fds closed with the rest
    assert {w.value.text() for w in panel.tma_tiles.values()} == {"—"}
    panel.shutdown()


def test_real_panel_says_why_here(qtbot, tmp_path: Path) -> None:
    """The real defaults on this machine: on the PMU-less VM the row says why, never 0 %."""
    child = _sleeper()
    panel = ProcessCountersPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 260)
    panel.show()
    try:
        panel.set_pid(child.pid)
        qtbot.wait(300)
        panel.poll()
        if panel.tma is not None and panel.tma.unavailable is None:
            return  # a machine with per-process TMA: the replayed test covers the values
        assert "unavailable" in panel.tma_status.text()
        assert {w.value.text() for w in panel.tma_tiles.values()} == {"n/a"}
        if not Path("/sys/bus/event_source/devices/cpu").exists():
            assert "no hardware PMU" in panel.tma_status.text()
            assert "pmu=on" in panel.tma_status.text()  # the fix
        shot = os.environ.get("PERFDECK_TMA_SHOT")
        if shot:
            panel.grab().save(shot)
    finally:
        child.kill()
        child.wait()
        panel.shutdown()
