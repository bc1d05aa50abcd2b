#!/usr/bin/env python3
"""What the PerfDeck window costs: CPU % of one core, RSS and time to first painted window.

Launches ``python -m perfdeck --interval I`` with the window shown on an X server (an Xvfb this
script starts, or the one in $DISPLAY with --use-display), lets it settle, then measures over
``--seconds``:

- CPU: the whole process tree's user+system time delta / wall time, in % of one core (psutil);
  the X server's own CPU delta is reported beside it, since drawing costs there too;
- RSS: sampled every second (min, max, last), to see whether memory stays flat;
- first window: from just before the launch to the ``PERFDECK_FIRST_PAINT`` line the app prints
  when ``PERFDECK_BENCH=1`` (median over --launches fresh launches, after one warm-up launch).

This is a measurement script, not a test: numbers depend on the machine and its load. Results
are recorded in docs/performance.md.

    .venv/bin/python benchmarks/gui_overhead.py --seconds 60 --intervals 1 0.1
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


@dataclass
class RunResult:
    interval: float
    tab: str
    cpu_pct: float
    xserver_cpu_pct: float | None
    rss_min: float
    rss_max: float
    rss_last: float
    first_paint_s: float | None


def tree_cpu_seconds(process: psutil.Process) -> float:
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def launch(interval: float, tab: str, env: dict[str, str], extra: list[str]
           ) -> tuple[subprocess.Popen, float]:
    command = [sys.executable, "-m", "perfdeck", "--interval", str(interval), "--tab", tab, *extra]
    started = time.time()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, cwd=REPO)
    return proc, started


def wait_first_paint(proc: subprocess.Popen, started: float, timeout: float = 30.0) -> float | None:
    """Seconds from launch to the first paint line, or None if the app never printed it."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                return None
            continue
        if line.startswith("PERFDECK_FIRST_PAINT"):
            return float(line.split()[1]) - started
    return None


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # the app quits cleanly on SIGTERM
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def measure(interval: float, tab: str, seconds: float, settle: float, env: dict[str, str],
            xserver: psutil.Process | None, extra: list[str]) -> RunResult:
    proc, started = launch(interval, tab, env, extra)
    first_paint = wait_first_paint(proc, started)
    if first_paint is None:
        stop(proc)
        raise RuntimeError("perfdeck did not paint a window (is the X server up? try --use-display)")
    ps = psutil.Process(proc.pid)
    time.sleep(settle)
    cpu0, x0, t0 = tree_cpu_seconds(ps), _cpu(xserver), time.monotonic()
    rss: list[int] = []
    while time.monotonic() - t0 < seconds:
        time.sleep(1.0)
        rss.append(tree_rss(ps))
    elapsed = time.monotonic() - t0
    cpu1, x1 = tree_cpu_seconds(ps), _cpu(xserver)
    stop(proc)
    mib = 1024 * 1024
    return RunResult(
        interval=interval, tab=tab, cpu_pct=100.0 * (cpu1 - cpu0) / elapsed,
        xserver_cpu_pct=None if x0 is None or x1 is None else 100.0 * (x1 - x0) / elapsed,
        rss_min=min(rss) / mib, rss_max=max(rss) / mib, rss_last=rss[-1] / mib, first_paint_s=first_paint)


def _cpu(process: psutil.Process | None) -> float | None:
    if process is None:
        return None
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


def find_xserver(display: str) -> psutil.Process | None:
    """The X server process serving ``display`` (to report its CPU too), if we can see it."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] in ("Xvfb", "Xorg", "X") and display in cmdline:
            return proc
    return None


def first_paint_times(launches: int, env: dict[str, str], extra: list[str]) -> list[float]:
    times = []
    for _ in range(launches + 1):  # the first launch warms the page cache and is dropped
        proc, started = launch(1.0, "Overview", env, extra)
        value = wait_first_paint(proc, started)
        stop(proc)
        if value is not None:
            times.append(value)
    return times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measurement window per run (60)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait before measuring (10)")
    parser.add_argument("--intervals", type=float, nargs="+", default=[1.0, 0.1],
                        help="sampling intervals to measure (1 0.1)")
    parser.add_argument("--tabs", nargs="+", default=["Overview"], help="tab shown while measuring")
    parser.add_argument("--launches", type=int, default=3, help="launches for first-window time (3)")
    parser.add_argument("--display", default=":99", help="Xvfb display to start (:99)")
    parser.add_argument("--use-display", action="store_true", help="use $DISPLAY instead of starting Xvfb")
    parser.add_argument("--offscreen", action="store_true", help="QT_QPA_PLATFORM=offscreen, no X server")
    parser.add_argument("app_args", nargs="*", help="extra perfdeck arguments (after --)")
    args = parser.parse_args()

    env = dict(os.environ, PERFDECK_BENCH="1", PYTHONUNBUFFERED="1")
    xvfb: subprocess.Popen | None = None
    xserver: psutil.Process | None = None
    if args.offscreen:
        env["QT_QPA_PLATFORM"] = "offscreen"
    else:
        env["QT_QPA_PLATFORM"] = "xcb"
        if not args.use_display:
            if shutil.which("Xvfb") is None:
                print("Xvfb is not installed (apt install xvfb), or pass --use-display/--offscreen",
                      file=sys.stderr)
                return 2
            xvfb = subprocess.Popen(["Xvfb", args.display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            env["DISPLAY"] = args.display
            xserver = psutil.Process(xvfb.pid)
        elif "DISPLAY" not in env:
            print("--use-display needs $DISPLAY", file=sys.stderr)
            return 2
        else:
            xserver = find_xserver(env["DISPLAY"])
    try:
        paints = first_paint_times(args.launches, env, args.app_args)
        print(f"machine: {os.cpu_count()} CPUs; Python {sys.version.split()[0]}; "
              f"platform {env['QT_QPA_PLATFORM']}")
        if paints:
            print(f"first painted window (warm, {len(paints)} launches): median "
                  f"{statistics.median(paints):.2f} s, all {', '.join(f'{p:.2f}' for p in paints)}")
        print("\n| interval | tab | PerfDeck CPU % of a core | X server CPU % | RSS MiB min / max / last |")
        print("|---|---|---|---|---|")
        for tab in args.tabs:
            for interval in args.intervals:
                r = measure(interval, tab, args.seconds, args.settle, env, xserver, args.app_args)
                xs = "—" if r.xserver_cpu_pct is None else f"{r.xserver_cpu_pct:.2f}"
                print(f"| {interval:g} s | {tab} | {r.cpu_pct:.2f} | {xs} | "
                      f"{r.rss_min:.0f} / {r.rss_max:.0f} / {r.rss_last:.0f} |", flush=True)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
