"""``perfdeck --prometheus URL``: hosts and history from a real Prometheus scraping a real ``perfdeck serve``.

Prometheus scrapes the agent every second; the tests wait for a counted number of scrapes (never a
duration) and then ask Prometheus' HTTP API, as the window does.
"""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from agent_server import free_port
from serve_process import APP, HOST, Agent

import perfdeck
from perfdeck.model import wire
from perfdeck.model.prometheus import PrometheusClient, PrometheusHost, find_host
from perfdeck.model.remote import AgentClient, ConnectOptions, RemoteError

PROMETHEUS = shutil.which("prometheus")
AGENT_INTERVAL = 0.5


class Stack:
    def __init__(self, prometheus: str, agent: Agent) -> None:
        self.prometheus = prometheus
        self.agent = agent

    def query(self, promql: str) -> list[dict]:
        url = f"{self.prometheus}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=10) as reply:
            return json.loads(reply.read())["data"]["result"]

    def wait_for_scrapes(self, count: int, since: float = 0.0) -> None:
        """Until Prometheus holds ``count`` successful scrapes of the agent after ``since``."""
        for _attempt in range(600):
            result = self.query(f"timestamp(perfdeck_build_info) > {since}")
            stored = self.query("count_over_time(perfdeck_build_info[10m])")
            if result and stored and float(stored[0]["value"][1]) >= count:
                return
            time.sleep(0.1)
        raise AssertionError(f"Prometheus did not scrape the agent {count} times")

    def wait_for_down(self, failed_scrapes: int) -> None:
        """Until Prometheus has recorded ``failed_scrapes`` failed scrapes of the agent."""
        for _attempt in range(600):
            series = self.query("up[1m]")
            if series and sum(value == "0" for _t, value in series[0]["values"]) >= failed_scrapes:
                return
            time.sleep(0.1)
        raise AssertionError("Prometheus never saw the agent down")

    def agent_document(self) -> dict:
        return AgentClient(ConnectOptions(self.agent.url)).fetch(after=0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if PROMETHEUS is None:
        pytest.skip("the prometheus binary is missing: install Debian's 'prometheus' package "
                    "(tools/perfdeck.sh test does)")
    workdir = tmp_path_factory.mktemp("prometheus")
    agent = Agent(free_port(), None)
    agent.start()
    prometheus_port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
                      "  - job_name: fleet\n"
                      f"    static_configs:\n      - targets: ['127.0.0.1:{agent.port}']\n"
                      "        labels: {env: test}\n")
    log = (workdir / "prometheus.log").open("w")
    prometheus = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    running = Stack(f"http://127.0.0.1:{prometheus_port}", agent)
    try:
        for _attempt in range(600):
            try:
                with urllib.request.urlopen(f"{running.prometheus}/-/ready", timeout=5):
                    break
            except OSError:
                time.sleep(0.1)
        running.wait_for_scrapes(4)
        yield running
    finally:
        prometheus.send_signal(signal.SIGTERM)
        prometheus.wait(60)
        log.close()
        agent.kill()


def test_hosts_lists_the_agent_with_its_address_and_state(stack):
    hosts = PrometheusClient(stack.prometheus).hosts()
    assert len(hosts) == 1
    host = hosts[0]
    assert host.instance == f"127.0.0.1:{stack.agent.port}" and host.job == "fleet"
    assert host.agent_url == stack.agent.url  # where Prometheus scrapes it, without /metrics
    assert host.health == "up" and host.scrape_interval == 1.0 and host.last_error == ""
    assert host.version == perfdeck.__version__
    assert ("env", "test") in host.target_labels


def test_history_maps_every_served_series_back_to_its_id_and_unit(stack):
    client = PrometheusClient(stack.prometheus)
    host = client.hosts()[0]
    document = stack.agent_document()
    served, specs, _counters = wire.decode_document(document, {})
    now = time.time()
    rows = client.history(host, specs, now - 600, now, step=1.0)
    assert len(rows) >= 4
    steps = {round(b.timestamp - a.timestamp, 3) for a, b in itertools.pairwise(rows)}
    assert steps == {1.0}  # one row per step, empty ones included
    with_values = {sid for _seq, snap in served for sid, v in snap.values.items() if v is not None}
    in_history = {sid for row in rows for sid in row.values}
    assert with_values <= in_history  # nothing the agent serves is lost in the naming
    assert in_history <= set(specs)
    newest = served[-1][1]
    last = next(row for row in reversed(rows) if row.values)
    assert last.values["mem.total"] == newest.values["mem.total"]  # bytes, exact
    # Percentages come back as %, not Prometheus' 0..1 ratios.
    assert last.values["mem.available_pct"] == pytest.approx(newest.values["mem.available_pct"], abs=5)
    assert last.values["mem.available_pct"] > 1
    assert all(0 <= row.values["cpu.util.total"] <= 100 for row in rows if "cpu.util.total" in row.values)


@pytest.mark.gui
def test_a_window_opened_from_the_list_has_prometheus_history_then_live_data(qtbot, stack):
    from perfdeck.gui.app import build_window
    from perfdeck.gui.connect_dialog import install_prometheus_action
    from perfdeck.model.engine import SamplingEngine

    # A new agent process holds only what it sampled since it started: what came before is in
    # Prometheus alone.
    stack.wait_for_scrapes(10)
    stack.agent.kill()
    stack.wait_for_down(3)  # an outage of three scrapes: a hole in Prometheus' data too
    stack.agent.start()
    restarted = time.time()
    stack.wait_for_scrapes(6, since=restarted)
    local = build_window(engine=SamplingEngine([]), interval=1.0)
    qtbot.addWidget(local)
    install_prometheus_action(local, stack.prometheus)
    dialog = local.show_prometheus_hosts()
    dialog.history_seconds = 120.0  # two minutes at one row per scrape
    qtbot.waitUntil(lambda: bool(dialog.hosts), timeout=20000)
    assert dialog.state_label.text().startswith("1 PerfDeck agent on http://127.0.0.1:")
    assert dialog.table.item(0, 0).text() == f"127.0.0.1:{stack.agent.port}"
    window = dialog.open_selected()
    try:
        qtbot.waitUntil(lambda: window.remote.status.state == "connected", timeout=20000)
        assert window.windowTitle() == f"PerfDeck — {HOST}"
        assert "min of older history loaded" in window.remote.status.message
        first_live = min(snap["timestamp"] for snap in stack.agent_document()["snapshots"])
        times, values = window.history.window(["mem.total"])
        older = times < first_live
        assert (older & ~np.isnan(values["mem.total"])).sum() >= 3  # history from Prometheus
        assert np.isnan(values["mem.total"][older]).any()  # the restart is a gap, not a line across it
        assert (~older & ~np.isnan(values["mem.total"])).any()  # then live from the agent
    finally:
        window.close()
        local.close()


def test_a_wrong_prometheus_address_is_one_sentence(stack):
    with pytest.raises(RemoteError, match=r"nothing listens at 127\.0\.0\.1:\d+ \(connection refused\)"):
        PrometheusClient(f"http://127.0.0.1:{free_port()}").hosts()
    with pytest.raises(RemoteError, match="is it a Prometheus server"):
        PrometheusClient(stack.agent.url).hosts()  # the agent is not Prometheus


def test_find_host_by_instance_or_host_name():
    hosts = [PrometheusHost("db-7:10147", "fleet", "http://db-7:10147", "up"),
             PrometheusHost("web-1:10147", "fleet", "http://web-1:10147", "down"),
             PrometheusHost("web-1:10148", "fleet", "http://web-1:10148", "up")]
    assert find_host(hosts, "db-7").agent_url == "http://db-7:10147"
    assert find_host(hosts, "web-1:10148").instance == "web-1:10148"
    with pytest.raises(RemoteError, match="matches several agents: web-1:10147, web-1:10148"):
        find_host(hosts, "web-1")
    with pytest.raises(RemoteError, match="no PerfDeck agent called 'mail' \\(known: db-7:10147"):
        find_host(hosts, "mail")


def test_command_line_unknown_host_is_one_line_and_status_2(stack):
    command = [sys.executable, "-m", "perfdeck", "--prometheus", stack.prometheus, "--host", "mail"]
    result = subprocess.run(command, env={"PYTHONPATH": str(APP), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120, cwd=Path(APP).parent)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"perfdeck: cannot connect: Prometheus scrapes no PerfDeck agent called 'mail' "
        f"(known: 127.0.0.1:{stack.agent.port}) (give one of the instances listed)"]


def test_history_rows_shrink_for_hosts_with_many_series():
    """One history load stays within remote.POINT_BUDGET values: coarser steps for a big host."""
    from perfdeck.model import remote
    from perfdeck.model.prometheus import HISTORY_ROWS, prometheus_history

    asked = []

    class Recorder:
        def history(self, host, specs, start, end, step):
            asked.append((end - start, step))
            return []

    host = PrometheusHost("db-7:10147", "fleet", "http://db-7:10147", "up", scrape_interval=1.0)
    few = {f"s{i}": None for i in range(100)}
    many = {f"s{i}": None for i in range(7000)}  # a 256-CPU host
    prometheus_history(Recorder(), host)(few, 10_000.0, 3600.0)
    prometheus_history(Recorder(), host)(many, 10_000.0, 3600.0)
    assert asked[0][1] == pytest.approx(3600.0 / HISTORY_ROWS)  # 1200 rows of 3 s
    assert asked[1][1] == pytest.approx(3600.0 / (remote.POINT_BUDGET // 7000))  # 42 rows
    assert asked[1][0] == pytest.approx(3600.0, abs=0.01)


def test_an_unexpected_prometheus_answer_is_one_sentence(tmp_path):
    """A proxy or an incompatible server answering "success" with another shape."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Odd(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"status": "success", "data": ["not", "a", "vector"]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Odd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = PrometheusClient(f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(RemoteError, match="answered in an unexpected shape"):
            client.hosts()
        host = PrometheusHost("a:1", "j", "http://a:1", "up", scrape_interval=1.0)
        with pytest.raises(RemoteError, match="answered in an unexpected shape"):
            client.history(host, {}, 0.0, 10.0)
    finally:
        server.shutdown()
        server.server_close()
