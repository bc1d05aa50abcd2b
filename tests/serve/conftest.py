"""A real Prometheus scraping a real `perfdeck serve` every second, shared by the tests that query it."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_helpers import Stack, environment, free_port, serve_command, wait_until_answers

PROMETHEUS = shutil.which("prometheus")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if PROMETHEUS is None:
        pytest.skip("the prometheus binary is missing: install Debian's 'prometheus' package "
                    "(tools/perfdeck.sh test does)")
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    agent_port, prometheus_port = free_port(), free_port()
    agent_log = (workdir / "agent.log").open("w")
    agent = subprocess.Popen(serve_command("--listen", f"127.0.0.1:{agent_port}", "--interval", "1"),
                             env=environment(), stdout=agent_log, stderr=subprocess.STDOUT)
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: perfdeck\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{agent_port}']\n")
    prometheus_log = (workdir / "prometheus.log").open("w")
    prometheus = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
        stdout=prometheus_log, stderr=subprocess.STDOUT)
    try:
        wait_until_answers(f"http://127.0.0.1:{agent_port}/", agent)
        wait_until_answers(f"http://127.0.0.1:{prometheus_port}/-/ready", prometheus, attempts=600)
        stack = Stack(f"http://127.0.0.1:{prometheus_port}", f"http://127.0.0.1:{agent_port}", "perfdeck")
        stack.wait_for_scrapes(4)
        yield stack
    finally:
        _stop(prometheus)
        _stop(agent)
        agent_log.close()
        prometheus_log.close()
