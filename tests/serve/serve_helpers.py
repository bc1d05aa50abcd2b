"""Shared helpers for the agent tests: free ports, a real `perfdeck serve` process, HTTP GETs, and
small collectors that declare the exporter protocol (metric, labels, counters) for arithmetic tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import perfdeck
from perfdeck.model.collector import Collector
from perfdeck.model.series import (
    CollectorUnavailableError,
    CounterSpec,
    Kind,
    Reading,
    SeriesSpec,
    Unavailable,
)

# The tree this test process imports perfdeck from, so the agent under test runs the same code.
APP = Path(perfdeck.__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


def get(url: str, headers: Mapping[str, str] | None = None, context: ssl.SSLContext | None = None,
        timeout: float = 10) -> Response:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
            return Response(reply.status, dict(reply.headers), reply.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, dict(exc.headers), exc.read())


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "perfdeck", "serve", "--quiet", *args]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(APP) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@contextlib.contextmanager
def running_agent(*args: str, port: int | None = None, scheme: str = "http",
                  context: ssl.SSLContext | None = None,
                  headers: Mapping[str, str] | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """A real ``perfdeck serve`` on loopback; yields (process, base URL) once ``/`` answers."""
    port = port or free_port()
    process = subprocess.Popen(serve_command("--listen", f"127.0.0.1:{port}", *args), env=environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"{scheme}://127.0.0.1:{port}"
    try:
        wait_until_answers(base + "/", process, context=context, headers=headers)
        yield process, base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stderr_text = process.stderr.read()  # type: ignore[attr-defined] - for the tests
        process.stdout.close()
        process.stderr.close()


def wait_until_answers(url: str, process: subprocess.Popen | None = None, *, attempts: int = 300,
                       context: ssl.SSLContext | None = None,
                       headers: Mapping[str, str] | None = None) -> None:
    """Poll until the URL answers (any HTTP status): a bounded number of tries, not a timing assertion."""
    for _ in range(attempts):
        if process is not None and process.poll() is not None:
            raise AssertionError(f"perfdeck serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            get(url, headers=headers, context=context, timeout=2)
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@dataclass
class Stack:
    prometheus: str  # base URL of the Prometheus HTTP API
    agent: str  # base URL of the agent
    job: str

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        reply = get(f"{self.prometheus}/api/v1/query?{urllib.parse.urlencode(params)}")
        doc = json.loads(reply.body)
        if doc.get("status") != "success":
            raise AssertionError(f"Prometheus rejected {promql!r}: {doc.get('errorType')}: "
                                 f"{doc.get('error')}")
        return doc["data"]["result"]

    def scrapes(self) -> int:
        """Samples of `up` Prometheus holds for the agent (one per scrape)."""
        result = self.query(f'count_over_time(up{{job="{self.job}"}}[10m])')
        return int(float(result[0]["value"][1])) if result else 0

    def wait_for_scrapes(self, count: int) -> None:
        """Wait until Prometheus scraped the agent ``count`` times (bounded polling, no timing asserts)."""
        for _ in range(1200):
            if self.scrapes() >= count:
                return
            time.sleep(0.1)
        raise AssertionError(f"Prometheus did not scrape the agent {count} times")


class FakeCounterCollector(Collector):
    """A family declaring the exporter protocol: per-CPU gauges, per-mode counters, one unavailable series.

    Values are fixed so the test can check the arithmetic (units, ratio convention, counters).
    """

    family = "fake"
    title = "Fake"

    def __init__(self, cpus: int = 2) -> None:
        self.cpus = cpus
        self.reads = 0

    def specs(self) -> dict[str, SeriesSpec]:
        specs = {f"fake.util.cpu{n}": SeriesSpec(f"fake.util.cpu{n}", f"CPU {n} busy", "%", group="fake.util",
                                                 metric="fake.util", labels=(("cpu", str(n)),))
                 for n in range(self.cpus)}
        specs["fake.freq"] = SeriesSpec("fake.freq", "Clock", "MHz")
        specs["fake.bw"] = SeriesSpec("fake.bw", "Bandwidth", "GB/s", kind=Kind.RATE)
        specs["fake.missing"] = SeriesSpec("fake.missing", "Missing", "W")
        specs["fake.first"] = SeriesSpec("fake.first", "No value yet", "B/s", kind=Kind.RATE)
        return specs

    def counter_specs(self) -> dict[str, CounterSpec]:
        return {f"fake.seconds.cpu{n}.{mode}": CounterSpec(
                    f"fake.seconds.cpu{n}.{mode}", "fake.seconds", "s", "CPU time by mode",
                    (("cpu", str(n)), ("mode", mode)))
                for n in range(self.cpus) for mode in ("user", "system")}

    def read(self, now: float) -> Reading:
        self.reads += 1
        values: dict[str, float | None] = {f"fake.util.cpu{n}": 25.0 * (n + 1) for n in range(self.cpus)}
        values.update({"fake.freq": 2400.0, "fake.bw": 1.5, "fake.first": None})
        totals = {f"fake.seconds.cpu{n}.{mode}": 100.0 * self.reads + n + (0.5 if mode == "system" else 0)
                  for n in range(self.cpus) for mode in ("user", "system")}
        return Reading(values=values, totals=totals,
                       unavailable={"fake.missing": Unavailable("no meter here", "plug one in")})


class FakeAbsentCollector(Collector):
    """A family that cannot work on this machine."""

    family = "absent"
    title = "Absent"

    def open(self) -> None:
        raise CollectorUnavailableError(Unavailable("no such hardware here", "buy some"))

    def specs(self) -> dict[str, SeriesSpec]:
        return {}

    def read(self, now: float) -> Reading:
        raise AssertionError("never read: open() said unavailable")
