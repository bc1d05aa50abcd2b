"""/metrics content from real engine ticks over small declared collectors: names, types, labels, base
units, counters, and unavailability (left out, never 0, and explained)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families
from serve_helpers import FakeAbsentCollector, FakeCounterCollector

from perfdeck.exporter.agent import Agent
from perfdeck.exporter.prometheus import build_registry
from perfdeck.model.engine import SamplingEngine


def _agent(cpus: int = 2) -> Agent:
    engine = SamplingEngine([FakeCounterCollector(cpus), FakeAbsentCollector()])
    return Agent(engine, {"fake": "Fake", "absent": "Absent"}, interval=1.0, version="9.9", host="test")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _types(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def test_series_and_counters_are_exported_in_base_units_with_their_labels() -> None:
    agent = _agent()
    agent.tick(now=10.0, timestamp=1000.0)
    agent.tick(now=11.0, timestamp=1001.0)
    text = generate_latest(build_registry(agent)).decode()
    samples = _samples(text)
    assert samples[("perfdeck_fake_util_ratio", (("cpu", "0"),))] == pytest.approx(0.25)
    assert samples[("perfdeck_fake_util_ratio", (("cpu", "1"),))] == pytest.approx(0.50)
    assert samples[("perfdeck_fake_freq_hertz", ())] == pytest.approx(2.4e9)
    assert samples[("perfdeck_fake_bw_bytes_per_second", ())] == pytest.approx(1.5e9)
    # counters: the second read's raw totals, with _total, cpu and mode labels
    seconds = "perfdeck_fake_seconds_total"
    assert samples[(seconds, (("cpu", "1"), ("mode", "system")))] == pytest.approx(201.5)
    assert samples[(seconds, (("cpu", "0"), ("mode", "user")))] == pytest.approx(200.0)
    types = _types(text)
    assert types["perfdeck_fake_seconds"] == "counter"
    assert types["perfdeck_fake_util_ratio"] == "gauge"


def test_what_could_not_be_read_is_left_out_and_explained() -> None:
    agent = _agent()
    agent.tick(now=10.0, timestamp=1000.0)
    text = generate_latest(build_registry(agent)).decode()
    samples = _samples(text)
    names = {name for name, _ in samples}
    assert "perfdeck_fake_missing_watts" not in names  # unavailable: no sample, not 0
    assert "perfdeck_fake_first_bytes_per_second" not in names  # no value this tick: no sample
    assert samples[("perfdeck_family_available", (("family", "fake"),))] == 1.0
    assert samples[("perfdeck_family_available", (("family", "absent"),))] == 0.0
    assert samples[("perfdeck_family_unavailable_info", (("family", "absent"), ("fix", "buy some"),
                                                         ("reason", "no such hardware here")))] == 1.0
    assert samples[("perfdeck_metric_unavailable_info", (("family", "fake"), ("fix", "plug one in"),
                                                         ("metric", "perfdeck_fake_missing_watts"),
                                                         ("reason", "no meter here")))] == 1.0
    assert not any(name.startswith("perfdeck_absent") for name in names)


def test_the_agent_exports_its_own_cost() -> None:
    agent = _agent()
    agent.tick()
    samples = _samples(generate_latest(build_registry(agent)).decode())
    names = {name for name, _ in samples}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes",
            "perfdeck_last_collection_duration_seconds", "perfdeck_collections_total"} <= names
    assert samples[("process_resident_memory_bytes", ())] > 10e6  # a Python process is never below 10 MB
    assert samples[("perfdeck_collections_total", ())] == 1
    assert samples[("perfdeck_build_info", (("version", "9.9"),))] == 1


def test_openmetrics_output_parses_and_ends_with_eof() -> None:
    agent = _agent()
    agent.tick(now=1.0)
    text = generate_openmetrics(build_registry(agent)).decode()
    assert text.endswith("# EOF\n")
    assert "# TYPE perfdeck_fake_seconds counter" in text


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is missing: install Debian's 'prometheus' package "
                    "(tools/perfdeck.sh test does)")
def test_promtool_finds_no_lint_problem_with_256_cpus() -> None:
    agent = _agent(cpus=256)
    agent.tick(now=1.0)
    agent.tick(now=2.0)
    text = generate_latest(build_registry(agent))
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, check=False)
    assert result.returncode == 0 and not result.stdout and not result.stderr, (result.stdout, result.stderr)


class _TableEngine(SamplingEngine):
    def __init__(self) -> None:
        super().__init__([FakeCounterCollector()])
        self.wanted: list[bool] = []

    def set_tables_wanted(self, wanted: bool) -> None:
        self.wanted.append(wanted)


def test_tables_are_wanted_only_while_a_remote_window_reads_them() -> None:
    engine = _TableEngine()
    agent = Agent(engine, {"fake": "Fake"}, interval=1.0, version="9.9", host="test")
    agent.tick(now=1.0)
    assert engine.wanted == [False]  # Prometheus alone: counts only, no process walk
    agent.note_table_reader()
    agent.tick(now=2.0)
    agent.tick(now=3.0)
    assert engine.wanted == [False, True]


def test_an_idle_agent_ticks_slowly_until_a_window_attaches() -> None:
    import threading
    import time

    engine = SamplingEngine([FakeCounterCollector()])
    agent = Agent(engine, {"fake": "Fake"}, interval=0.1, idle_interval=3600, version="9.9", host="test")
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,))
    runner.start()
    try:
        for _ in range(100):  # bounded polling for the first tick
            if agent.collections() >= 1:
                break
            time.sleep(0.05)
        time.sleep(0.5)  # five window intervals pass: idle, the agent must not tick again
        assert agent.collections() == 1
        agent.note_table_reader()  # a window polls: woken at once, then every 0.1 s
        for _ in range(200):
            if agent.collections() >= 4:
                break
            time.sleep(0.05)
        assert agent.collections() >= 4
    finally:
        agent.request_stop()
        runner.join(30)
    assert not runner.is_alive()


def test_the_agent_imports_no_qt() -> None:
    """`perfdeck serve` runs on servers without a display: the exporter and its command load no Qt."""
    import sys

    code = ("import sys, perfdeck.exporter.agent, perfdeck.exporter.prometheus, perfdeck.exporter.server, "
            "perfdeck.exporter.service, perfdeck.exporter.naming, perfdeck.commands.serve\n"
            "qt = ('PySide6', 'pyqtgraph', 'shiboken6')\n"
            "print(','.join(sorted(m for m in sys.modules if m.startswith(qt))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
