"""Debian's real Prometheus scrapes a real `perfdeck serve` every second; we ask it what it stored."""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
from pathlib import Path

import pytest
from serve_helpers import Stack, get

MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _proc_stat_seconds() -> dict[str, float]:
    """The machine-wide `cpu` line of /proc/stat, in seconds per mode."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {mode: int(value) / ticks for mode, value in zip(MODES, fields[1:9], strict=True)}


def test_prometheus_scrapes_the_agent(stack: Stack) -> None:
    result = stack.query(f'up{{job="{stack.job}"}}')
    assert [float(r["value"][1]) for r in result] == [1.0]
    assert stack.query("scrape_samples_scraped")[0]["value"][1] != "0"


class _ProcStatRecorder(threading.Thread):
    """Reads /proc/stat ten times a second, so its counters can be interpolated at any moment."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append((time.time(), _proc_stat_seconds()))
            self.done.wait(0.1)

    def at(self, moment: float, mode: str) -> float:
        for (t0, v0), (t1, v1) in itertools.pairwise(self.samples):
            if t0 <= moment <= t1:
                return v0[mode] + (v1[mode] - v0[mode]) * (moment - t0) / (t1 - t0)
        raise AssertionError(f"{moment} is outside the recorded /proc/stat span")


def _matrix(stack: Stack, promql: str, at: float) -> list[tuple[float, float]]:
    result = stack.query(promql, at=at)
    assert len(result) == 1, (promql, result)
    return [(float(t), float(v)) for t, v in result[0]["values"]]


def test_rate_of_cpu_seconds_matches_proc_stat(stack: Stack) -> None:
    """Prometheus' rate() over the exported CPU seconds against /proc/stat over the same interval.

    The agent reads its counters on its tick, and a scrape returns the newest tick: the interval a
    rate() spans in scrape time is, in the agent's time, from the first scrape's tick to the last
    one's (perfdeck_last_collection_timestamp_seconds, scraped along). /proc/stat is recorded at
    10 Hz and interpolated at those two ticks.
    """
    exposition = get(stack.agent + "/metrics").body.decode()
    names = set(re.findall(r"^(perfdeck_cpu\w*seconds_total)\{mode=", exposition, re.M))
    if not names:
        pytest.fail("the agent exports no machine-wide CPU seconds counter "
                    "(perfdeck_cpu_*seconds_total{mode}): the cpu family must list them in counter_specs()")
    metric = names.pop()
    recorder = _ProcStatRecorder()
    recorder.start()
    try:
        first = stack.scrapes()
        stack.wait_for_scrapes(first + 10)
    finally:
        recorder.done.set()
        recorder.join()
    now = time.time()
    ticks = _matrix(stack, f'perfdeck_last_collection_timestamp_seconds{{job="{stack.job}"}}[60s]', now)
    span = (recorder.samples[0][0], recorder.samples[-1][0])
    inside = [(scraped, tick) for scraped, tick in ticks if span[0] < tick < span[1]]
    assert len(inside) >= 6, "too few scrapes while /proc/stat was recorded"
    (first_scrape, first_tick), (last_scrape, last_tick) = inside[0], inside[-1]
    window_ms = round((last_scrape - first_scrape) * 1000) + 1  # just includes the first scrape
    online = sum(1 for line in Path("/proc/stat").read_text().splitlines() if re.match(r"cpu\d", line))
    cpus = 0.0
    for mode in MODES:
        result = stack.query(f'rate({metric}{{job="{stack.job}", mode="{mode}"}}[{window_ms}ms])',
                             at=last_scrape)
        assert len(result) == 1, mode
        rate = float(result[0]["value"][1])
        delta = recorder.at(last_tick, mode) - recorder.at(first_tick, mode)
        expected = delta / (last_scrape - first_scrape)
        cpus += expected
        # within a few percent of the machine's capacity: /proc/stat ticks are 10 ms, and between
        # two 0.1 s readings the interpolation can miss a burst
        assert rate == pytest.approx(expected, abs=0.01 * online + 0.01), mode
    assert cpus == pytest.approx(online, rel=0.1)  # every mode together: one CPU-second per second per CPU


def test_an_unavailable_family_has_no_samples_and_says_why(stack: Stack) -> None:
    result = stack.query(f'perfdeck_family_available{{job="{stack.job}"}} == 0')
    families = sorted(r["metric"]["family"] for r in result)
    if not families:
        pytest.skip("every metric family is available on this machine: nothing to check")
    for family in families:
        assert stack.query(f'{{__name__=~"perfdeck_{family}_.*", job="{stack.job}"}}') == []
        why = stack.query(f'perfdeck_family_unavailable_info{{family="{family}", job="{stack.job}"}}')
        assert len(why) == 1 and why[0]["metric"]["reason"]
    available = stack.query(f'perfdeck_family_available{{family="cpu", job="{stack.job}"}}')
    assert float(available[0]["value"][1]) == 1.0
