"""The window on a remote host, against a real ``perfdeck serve`` process on loopback (pytest-qt).

The agent samples this machine's real collectors; a test kills it (SIGKILL) and starts it again
on the same port. Waits are on counted events
(rows in the history, status changes), with generous limits; nothing asserts on durations.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import psutil
import pytest
from agent_server import free_port
from serve_process import HOST, INTERVAL, TOKEN, Agent

from perfdeck.gui.app import build_window
from perfdeck.gui.connect_dialog import (
    ConnectDialog,
    attach_remote,
    install_connect_action,
    remote_source,
    remote_tabs,
)
from perfdeck.gui.recording import install_recording
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.remote import ConnectOptions, RecentHosts

pytestmark = pytest.mark.gui



@pytest.fixture
def agent(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    running = Agent(free_port(), token_file)
    running.start()
    yield running
    running.kill()


@pytest.fixture
def remote_window(qtbot, tmp_path):
    windows = []

    def make(url: str, token_file: Path | str = "") -> object:
        source = remote_source(ConnectOptions(url, token_file=str(token_file), timeout=2.0), INTERVAL)
        window = build_window(interval=INTERVAL, source=source, tabs=remote_tabs())
        install_recording(window)
        install_connect_action(window, RecentHosts(tmp_path / "remote-hosts.json"))
        attach_remote(window)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        window.sampler.start()
        return window

    yield make
    for window in windows:
        window.close()
        assert not window.sampler.thread.isRunning()


def rows(window, *series: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return window.history.window(list(series))


def test_window_shows_the_values_the_agent_served(qtbot, agent, remote_window):
    window = remote_window(agent.url, agent.token_file)
    qtbot.waitUntil(lambda: len(window.history) >= 5, timeout=20000)
    times, values = rows(window, "cpu.util.total", "mem.total")
    served = {snap["timestamp"]: snap["values"] for snap in agent.document()["snapshots"]}
    compared = 0
    for t, cpu, total in zip(times, values["cpu.util.total"], values["mem.total"], strict=True):
        if t not in served:
            continue  # the agent's buffer is newer than the window's first rows only at the edges
        compared += 1
        expected_cpu = served[t]["cpu.util.total"]
        if expected_cpu is None:
            assert math.isnan(cpu)  # the agent's first rate: no value, never 0
        else:
            assert cpu == pytest.approx(expected_cpu, rel=1e-6, abs=1e-5)  # float32 history
        assert total == pytest.approx(served[t]["mem.total"], rel=1e-6)
    assert compared >= 5
    # The agent runs on this machine: its memory size is ours, not invented.
    assert values["mem.total"][-1] == pytest.approx(psutil.virtual_memory().total, rel=1e-6)
    remote = window.remote
    assert remote.status.state == "connected"
    assert window.windowTitle() == f"PerfDeck — {HOST}"
    assert remote.label.text() == f"{HOST} · connected · every {INTERVAL:g} s"
    assert "Every 0.2 s" in window.interval_label.text()  # the agent's pace
    assert not window.interval_menu.isEnabled()
    # Older history (from Prometheus, when opened from there) only as far back as the window holds.
    assert window.sampler.source.history_seconds == window.history.capacity * INTERVAL
    titles = [window.tab_widget.tabText(i) for i in range(window.tab_widget.count())]
    assert "Diagnostics" not in titles and "Processes" in titles

    # The process list is the remote host's: its rows arrive, and nothing can signal them here.
    processes = window.view("Processes")
    window.select_tab("Processes")
    qtbot.waitUntil(lambda: processes.model.rowCount() > 0, timeout=20000)
    assert processes.terminate_button.isHidden() and processes.kill_button.isHidden()
    assert not processes.counters_action.isEnabled()
    names = getattr(processes.model, "service_names", None)  # the Service column, where the tab has one
    if names is not None:  # it must not name a remote PID after this machine's process with that PID
        assert names.lookup(agent.process.pid, "python") is None
    assert processes.select_pid(agent.process.pid)
    message = processes.signal_selected(kill=True)
    assert message.startswith(f"This is the process list of {HOST}")
    assert agent.process.poll() is None  # the agent (a local process with that PID) still runs
    perf = window.view("CPU performance")
    perf.process_panel.set_pid(agent.process.pid)
    assert perf.process_panel.pid is None  # never counts a local process for a remote PID


def test_killing_and_restarting_the_agent_gives_a_gap_then_recovery(qtbot, agent, remote_window, tmp_path):
    window = remote_window(agent.url, agent.token_file)
    remote = window.remote
    qtbot.waitUntil(lambda: len(window.history) >= 5, timeout=20000)
    recording = tmp_path / "remote.csv"
    assert window.recording.start(recording)  # records what the window receives, as for this machine
    agent.kill()
    qtbot.waitUntil(lambda: remote.status.state == "lost", timeout=20000)
    assert f"connection to {HOST} lost: nothing listens at" in remote.status.message
    assert window.statusBar().currentMessage() == remote.status.message
    assert remote.label.text().startswith(f"{HOST} · connection lost · retry in")
    assert window.windowTitle() == f"PerfDeck — {HOST} (lost)"
    before = window.history.latest_time()
    qtbot.wait(int(INTERVAL * 1000 * 4))  # the GUI keeps running while the agent is away
    agent.start()
    qtbot.waitUntil(lambda: remote.status.state == "connected", timeout=40000)
    assert remote.status.message.startswith(f"reconnected to {HOST} after")
    assert "missed intervals shown as a gap" in remote.status.message
    qtbot.waitUntil(lambda: (window.history.latest("mem.total") or 0) > 0
                    and window.history.latest_time() > before, timeout=20000)
    times, values = rows(window, "cpu.util.total", "mem.total")
    assert np.all(np.diff(times) > 0)
    after_kill = times > before
    gap = after_kill & np.isnan(values["mem.total"])
    assert gap.sum() >= 1  # the outage is a gap: empty rows, never values carried over or 0
    resumed = after_kill & ~np.isnan(values["mem.total"])
    assert resumed.any() and times[gap].max() < times[resumed].min()
    assert remote.label.text() == f"{HOST} · connected · every {INTERVAL:g} s"
    window.recording.stop()
    with recording.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    column = "mem.total [B]"
    cells = [row[column] for row in table]
    first_empty = cells.index("")  # the gap: empty cells, never 0
    assert all(cell != "0" for cell in cells)
    assert float(cells[first_empty - 1]) > 0 and any(float(c) > 0 for c in cells[first_empty:] if c)


def test_a_wrong_token_is_a_clear_message(qtbot, agent, remote_window, tmp_path):
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not the token\n")
    window = remote_window(agent.url, wrong)
    remote = window.remote
    qtbot.waitUntil(lambda: remote.status.problem == "auth", timeout=20000)
    assert remote.status.message.startswith(
        f"cannot connect to 127.0.0.1: the agent at 127.0.0.1:{agent.port} refused the token "
        "(HTTP 401 Unauthorized)")
    assert "--token-file" in window.statusBar().currentMessage()
    assert remote.label.text().startswith("127.0.0.1 · credentials refused · retry in")
    assert len(window.history) == 0  # nothing invented while refused


def test_file_connect_to_host_opens_a_window_and_remembers_the_host(qtbot, agent, tmp_path):
    local = build_window(engine=SamplingEngine([]), interval=INTERVAL)
    qtbot.addWidget(local)
    hosts = RecentHosts(tmp_path / "remote-hosts.json")
    install_connect_action(local, hosts)
    assert local.connect_action.text() == "&Connect to host…"

    dialog = ConnectDialog([], local)
    dialog.url_combo.setEditText("gopher://nowhere")
    dialog.accept()
    assert dialog.isVisible() is False and dialog.result() == 0  # not accepted
    assert "is not an http:// or https:// address" in dialog.error_label.text()
    dialog.url_combo.setEditText(f"127.0.0.1:{agent.port}")
    dialog.token_field.edit.setText(str(agent.token_file))
    dialog.accept()
    assert dialog.options.url == agent.url

    remote = local.connect_to(dialog.options)
    try:
        assert remote in local.remote_windows
        qtbot.waitUntil(lambda: remote.remote.status.state == "connected", timeout=20000)
        assert remote.windowTitle() == f"PerfDeck — {HOST}"
        assert [o.url for o in hosts.load()] == [agent.url]
        assert hosts.load()[0].token_file == str(agent.token_file)
        assert TOKEN not in hosts.path.read_text()
    finally:
        remote.close()
        local.close()
    assert not remote.sampler.thread.isRunning()
