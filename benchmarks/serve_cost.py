"""What `perfdeck serve` costs, next to Debian's prometheus-node-exporter, and what 256 CPUs cost.

    PYTHONPATH=app .venv/bin/python benchmarks/serve_cost.py [--slow-seconds 180] [--fast-seconds 120]

1. Live, side by side in one run: `perfdeck serve --interval 1` (every family), the same with
   `--idle-interval 15` (no window connects, so it ticks every 15 s) and `prometheus-node-exporter`
   (Debian's defaults), all scraped by one real Prometheus, first every
   15 s for ``--slow-seconds``, then every 1 s for ``--fast-seconds``. For each phase: CPU % of one
   core (utime + stime from /proc/PID/stat over the phase), RSS at the end, the mean scrape duration
   and samples per scrape as Prometheus saw them.
2. Background tick or read at scrape time: the CPU cost of one engine tick (all families) and of one
   exposition, in this process, and what each design costs per second at 1 s and 15 s scrapes.
3. 256 CPUs: the real CPU collector on a fake 256-CPU sysfs tree (psutil's per-CPU times replaced by
   a double with 256 entries), plus a collector shaped like the perf family on 256 CPUs (every derived
   metric and raw event counter per CPU; perf_event_open cannot be faked). Exposition time (CPU, median
   of 25), size plain and gzipped, and tick time.

A script, not a test: the numbers depend on the machine and its load. Results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import namedtuple
from pathlib import Path
from unittest import mock

from prometheus_client import generate_latest

from perfdeck.exporter.agent import Agent
from perfdeck.exporter.prometheus import build_registry
from perfdeck.model import registry
from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.series import CounterSpec, Kind, Reading, SeriesSpec
from perfdeck.perf import derived

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_http(url: str, attempts: int = 300) -> None:
    for _ in range(attempts):
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} never answered")


def prom_query(base: str, promql: str) -> list:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    return json.loads(urllib.request.urlopen(url, timeout=10).read())["data"]["result"]


def live(slow_seconds: float, fast_seconds: float) -> None:
    exporter = shutil.which("prometheus-node-exporter")
    prometheus = shutil.which("prometheus")
    if exporter is None or prometheus is None:
        print("live part skipped: needs Debian's prometheus and prometheus-node-exporter", file=sys.stderr)
        return
    work = Path(tempfile.mkdtemp(prefix="serve-cost-"))
    serve_port, idle_port, node_port = free_port(), free_port(), free_port()
    env = dict(os.environ)
    serve = subprocess.Popen([sys.executable, "-m", "perfdeck", "serve", "--quiet", "--interval", "1",
                              "--listen", f"127.0.0.1:{serve_port}"], env=env)
    # The same agent ticking every 15 s while no window is connected (--idle-interval).
    idle = subprocess.Popen([sys.executable, "-m", "perfdeck", "serve", "--quiet", "--interval", "1",
                             "--idle-interval", "15", "--listen", f"127.0.0.1:{idle_port}"], env=env)
    node = subprocess.Popen([exporter, f"--web.listen-address=127.0.0.1:{node_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{serve_port}/")
        wait_http(f"http://127.0.0.1:{idle_port}/")
        wait_http(f"http://127.0.0.1:{node_port}/metrics")
        time.sleep(5)  # past start-up (imports, first reads)
        print("\n## live: perfdeck serve (1 s ticks, every family) vs prometheus-node-exporter (defaults)")
        print("| scrape interval | phase | process | CPU % of one core | RSS MiB | scrape ms (mean) "
              "| samples |")
        print("|---|---|---|---|---|---|---|")
        for interval, seconds in ((15, slow_seconds), (1, fast_seconds)):
            prom_port = free_port()
            config = work / f"prometheus-{interval}.yml"
            config.write_text(
                f"global:\n  scrape_interval: {interval}s\n  scrape_timeout: {min(interval, 10)}s\n"
                "scrape_configs:\n"
                f"  - job_name: perfdeck\n    static_configs:\n      - targets: ['127.0.0.1:{serve_port}']\n"
                f"  - job_name: idle\n    static_configs:\n      - targets: ['127.0.0.1:{idle_port}']\n"
                f"  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n")
            prom = subprocess.Popen([prometheus, f"--config.file={config}",
                                     f"--storage.tsdb.path={work / f'data-{interval}'}",
                                     f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=error"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base = f"http://127.0.0.1:{prom_port}"
            try:
                wait_http(base + "/-/ready", attempts=600)
                start = {pid: cpu_seconds(pid) for pid in (serve.pid, idle.pid, node.pid)}
                started = time.monotonic()
                time.sleep(seconds)
                elapsed = time.monotonic() - started
                used = {pid: cpu_seconds(pid) - start[pid] for pid in start}
                window = f"{int(seconds)}s"
                for name, pid, job in (("perfdeck serve", serve.pid, "perfdeck"),
                                       ("perfdeck serve --idle-interval 15", idle.pid, "idle"),
                                       ("node_exporter", node.pid, "node")):
                    duration = prom_query(
                        base, f'avg_over_time(scrape_duration_seconds{{job="{job}"}}[{window}])')
                    samples = prom_query(base, f'scrape_samples_scraped{{job="{job}"}}')
                    ms = float(duration[0]["value"][1]) * 1000 if duration else float("nan")
                    count = samples[0]["value"][1] if samples else "?"
                    print(f"| {interval} s | {elapsed:.0f} s | {name} | {100 * used[pid] / elapsed:.2f} | "
                          f"{rss_mib(pid):.1f} | {ms:.1f} | {count} |")
            finally:
                prom.send_signal(signal.SIGTERM)
                prom.wait(60)
    finally:
        for process in (serve, idle, node):
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        shutil.rmtree(work, ignore_errors=True)


def cpu_time_of(function, repeats: int) -> list[float]:
    """CPU seconds of this thread per call (time.thread_time: far less disturbed by other load)."""
    out = []
    for _ in range(repeats):
        before = time.thread_time()
        function()
        out.append(time.thread_time() - before)
    return out


def tick_versus_scrape() -> None:
    engine = SamplingEngine(registry.create_collectors())
    agent = Agent(engine, {f.name: f.title for f in registry.FAMILIES}, interval=1.0, version="bench",
                  host="bench")
    engine.open()
    reg = build_registry(agent)
    ticks, scrapes = [], []
    for _ in range(20):  # interleaved, 0.25 s apart: rates and the process walk behave as in serve
        ticks.extend(cpu_time_of(agent.tick, 1))
        scrapes.extend(cpu_time_of(lambda: generate_latest(reg), 1))
        time.sleep(0.25)
    engine.close()
    tick, scrape = statistics.median(ticks) * 1000, statistics.median(scrapes) * 1000
    print("\n## one tick vs one exposition (this machine's families, CPU ms, median of 20)")
    print(f"tick (engine.sample, every family): {tick:.2f} ms; exposition (text format): {scrape:.2f} ms; "
          f"{len(generate_latest(reg))} bytes")
    print("| scrape interval | background tick at 1 s: CPU ms per s | read at scrape time: CPU ms per s |")
    print("|---|---|---|")
    for interval in (1, 15):
        print(f"| {interval} s | {tick + scrape / interval:.2f} | {(tick + scrape) / interval:.2f} |")


scputimes = namedtuple("scputimes", "user nice system idle iowait irq softirq steal guest guest_nice")
scpustats = namedtuple("scpustats", "ctx_switches interrupts soft_interrupts syscalls")


class PerfShaped(Collector):
    """The perf family's shape on ``cpus`` CPUs: every derived metric per CPU and in total, and one raw
    counter per event and CPU, with made-up values (only the exporter's arithmetic is measured)."""

    family = "perf"
    title = "Hardware counters (shape only)"
    EVENTS = ("cycles", "instructions", "ref-cycles", "branches", "branch-misses", "l1-dcache-loads",
              "l1-dcache-load-misses", "llc-loads", "llc-load-misses", "dtlb-load-misses", "itlb-load-misses",
              "context-switches", "cpu-migrations", "page-faults", "task-clock")

    def __init__(self, cpus: int) -> None:
        self.instances = [f"cpu{n}" for n in range(cpus)] + ["total"]
        self._specs = {}
        for metric in derived.METRICS:
            for inst in self.instances:
                sid = f"perf.{metric.name}.{inst}"
                labels = (("cpu", inst[3:]),) if inst != "total" else ()
                self._specs[sid] = SeriesSpec(sid, metric.label, metric.unit, Kind.GAUGE,
                                              metric=f"perf.{metric.name}.{'cpu' if labels else 'total'}",
                                              labels=labels)
        self._counters = {}
        for event in self.EVENTS:
            for inst in self.instances:
                cid = f"perf.count.{event}.{inst}"
                labels = (("cpu", inst[3:]),) if inst != "total" else ()
                self._counters[cid] = CounterSpec(cid, f"perf.count.{event}.{'cpu' if labels else 'total'}",
                                                  "s" if event == "task-clock" else "", f"{event} events",
                                                  labels)
        self.reads = 0

    def specs(self):
        return self._specs

    def counter_specs(self):
        return self._counters

    def read(self, now: float) -> Reading:
        self.reads += 1
        return Reading(values={sid: 1.0 + self.reads % 7 for sid in self._specs},
                       totals={cid: 1e9 * self.reads for cid in self._counters})


def many_cpus(cpus: int = 256) -> None:
    from perfdeck.collectors.cpu import CpuCollector

    root = Path(tempfile.mkdtemp(prefix="cpu256-"))
    base = root / "sys/devices/system/cpu"
    base.mkdir(parents=True)
    (base / "online").write_text(f"0-{cpus - 1}\n")
    (base / "present").write_text(f"0-{cpus - 1}\n")
    for n in range(cpus):
        (base / f"cpu{n}/cpufreq").mkdir(parents=True)
        (base / f"cpu{n}/cpufreq/scaling_cur_freq").write_text(f"{2_400_000 + n * 1000}\n")
    (root / "proc").mkdir()
    (root / "proc/cpuinfo").write_text("processor\t: 0\nmodel name\t: Simulated 256-CPU server\n"
                                       "flags\t\t: fpu\n")
    calls = {"n": 0}

    def cpu_times(percpu: bool = False):
        calls["n"] += 1
        k = calls["n"]
        one = scputimes(10.0 * k, 0.5 * k, 3.0 * k, 80.0 * k, 1.0 * k, 0.1 * k, 0.2 * k, 0.0, 0.0, 0.0)
        if not percpu:
            return scputimes(*(v * cpus for v in one))
        return [one] * cpus

    with mock.patch("psutil.cpu_times", cpu_times), \
            mock.patch("psutil.cpu_count", lambda logical=True: cpus), \
            mock.patch("psutil.cpu_stats", lambda: scpustats(1000 * calls["n"], 500 * calls["n"], 0, 0)), \
            mock.patch("psutil.getloadavg", lambda: (1.0, 2.0, 3.0)):
        engine = SamplingEngine([CpuCollector(root), PerfShaped(cpus)])
        agent = Agent(engine, {"cpu": "CPU", "perf": "Hardware counters"}, interval=1.0, version="bench",
                      host="bench")
        engine.open()
        ticks = []
        for step in range(6):
            ticks.extend(cpu_time_of(lambda s=step: agent.tick(now=float(s)), 1))
        reg = build_registry(agent)
        times = cpu_time_of(lambda: generate_latest(reg), 25)
        text = generate_latest(reg)
        latest = agent.latest()
        series = len(latest[1].values) + len(latest[1].totals) if latest else 0
        document = json.dumps(agent.document(None, None)).encode()
    shutil.rmtree(root, ignore_errors=True)
    samples = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    print(f"\n## {cpus} simulated CPUs (cpu: real collector on a fake tree; perf: the family's shape)")
    print(f"series + counters in a snapshot: {series}; exposition samples: {samples}")
    print(f"exposition: {statistics.median(times) * 1000:.1f} ms CPU (median of 25; min "
          f"{min(times) * 1000:.1f}, max {max(times) * 1000:.1f}); {len(text) / 1024:.0f} KiB plain, "
          f"{len(gzip.compress(text, 5)) / 1024:.0f} KiB gzipped")
    print(f"tick (engine.sample of both): {statistics.median(ticks[1:]) * 1000:.1f} ms CPU (median of 5)")
    print(f"/api/v1/snapshots with specs: {len(document) / 1024:.0f} KiB, "
          f"{len(gzip.compress(document, 5)) / 1024:.0f} KiB gzipped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow-seconds", type=float, default=180.0, help="phase length at 15 s scrapes")
    parser.add_argument("--fast-seconds", type=float, default=120.0, help="phase length at 1 s scrapes")
    parser.add_argument("--skip-live", action="store_true", help="only the in-process parts")
    args = parser.parse_args()
    print(f"# perfdeck serve cost on {os.uname().nodename}, {os.cpu_count()} CPUs, load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    many_cpus()
    tick_versus_scrape()
    if not args.skip_live:
        live(args.slow_seconds, args.fast_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
