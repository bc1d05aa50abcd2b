"""Debian's real Prometheus scrapes a real `perfdeck serve` every second; we ask it what it stored."""

from __future__ import annotations

import os
import re
import time

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


def test_rate_of_cpu_seconds_matches_proc_stat(stack: Stack) -> None:
    exposition = get(stack.agent + "/metrics").body.decode()
    names = set(re.findall(r"^(perfdeck_cpu\w*seconds_total)\{mode=", exposition, re.M))
    if not names:
        pytest.fail("the agent exports no machine-wide CPU seconds counter "
                    "(perfdeck_cpu_*seconds_total{mode}): the cpu family must list them in counter_specs()")
    metric = names.pop()
    before, started = _proc_stat_seconds(), time.time()
    first = stack.scrapes()
    stack.wait_for_scrapes(first + 8)
    after, ended = _proc_stat_seconds(), time.time()
    window = ended - started
    measured = {mode: (after[mode] - before[mode]) / window for mode in MODES}
    result = stack.query(f'rate({metric}{{job="{stack.job}"}}[{round(window * 1000)}ms])', at=ended)
    rates = {r["metric"]["mode"]: float(r["value"][1]) for r in result}
    cpus = sum(measured.values())  # CPU seconds per second: the number of CPUs that ran
    assert set(rates) == set(MODES)
    assert sum(rates.values()) == pytest.approx(cpus, rel=0.05)
    for mode in MODES:
        # within 5 % of the machine's capacity: the two windows are offset by up to one tick
        assert rates[mode] == pytest.approx(measured[mode], abs=0.05 * cpus), mode


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
