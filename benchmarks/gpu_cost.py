"""What the gpu family costs: a read with 8 GPUs and 500 processes, the real fdinfo walk, and the
whole family over a simulated hour on a machine without a GPU.

    .venv/bin/python benchmarks/gpu_cost.py [--repeats 21] [--processes 500] [--pause 0.2]

1. ``8 GPUs + 500 processes``: a fake tree (tests/fakes/gpu_trees.py) with 4 amdgpu cards, 2 xe
   and 2 i915 (sysfs, hwmon, runtime PM), and 500 processes with 24 fds each, 120 of them DRM
   clients, each through two fds. Between reads (outside the timing) a quarter of the clients
   advance their engine counters, as busy ones do. One ``GpuCollector.read`` per repeat: the
   card files, the /proc walk (with the walker's memory of non-DRM fds, see
   ``perfdeck.gpu.fdinfo.FdinfoWalker``) and the fdinfo parsing.
   The tree lives on tmpfs, so the kernel's work of generating real sysfs/procfs files is not in
   it; item 2 measures that part on the real /proc.
2. ``fdinfo walk, this machine``: ``scan_fdinfo(/proc)`` on the live system (this machine has no
   GPU, so no fd points into /dev/dri: it is the pure walk cost for its processes and fds), a
   full walk and then the collector's steady state (``FdinfoWalker`` with its memory).
3. ``no GPU, 1 Hz``: the real collector on this machine, read 3600 times with the clock advanced
   1 s per read (a simulated hour, so the once-a-minute re-discovery of the PCI bus happens 60
   times), CPU time divided by 3600 s = the share of one core at 1 Hz.

CPU time is ``time.thread_time_ns`` (user + kernel of this thread), medians over ``--repeats``.
A script, not a test; results go to docs/gpu.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.gpu_trees import (
    add_host_bridge,
    add_process,
    amdgpu_fdinfo,
    i915_fdinfo,
    make_amdgpu_discrete,
    make_i915,
    make_xe,
    xe_fdinfo,
)
from perfdeck.collectors import gpu as gpu_module
from perfdeck.collectors.gpu import GpuCollector
from perfdeck.gpu.fdinfo import FdinfoWalker, scan_fdinfo

AMD = ("0000:03:00.0", "0000:23:00.0", "0000:43:00.0", "0000:63:00.0")
XE = ("0000:83:00.0", "0000:a3:00.0")
I915 = ("0000:00:02.0", "0000:c3:00.0")


def client_text(index: int, gpu: str, busy_ns: int) -> str:
    if gpu in AMD:
        return amdgpu_fdinfo(index, gpu, gfx_ns=busy_ns)
    if gpu in XE:
        return xe_fdinfo(index, gpu, rcs_cycles=busy_ns // 1000, total_cycles=10**9 + busy_ns)
    return i915_fdinfo(index, gpu, render_ns=busy_ns)


def advance_busy_clients(root: Path, processes: int, tick: int) -> None:
    """A quarter of the clients did work since the last read: their fdinfo counters moved."""
    for index in range(0, processes, 25 * 4):
        for offset in range(6):
            if index + offset < processes:
                text = client_text(index + offset, (AMD + XE + I915)[(index + offset) % 8], tick * 10**8)
                for fd in (20, 21):
                    (root / f"proc/{1000 + index + offset}/fdinfo/{fd}").write_text(text)


def build_machine(root: Path, processes: int) -> int:
    """8 GPUs and ``processes`` processes; returns the number of DRM fds."""
    add_host_bridge(root)
    for slot in AMD:
        make_amdgpu_discrete(root, slot)
    for slot in XE:
        make_xe(root, slot)
    for slot in I915:
        make_i915(root, slot)
    drm = 0
    for index in range(processes):
        pid = 1000 + index
        fds: dict[int, tuple[str, str | None]] = {n: (f"socket:[{90000 + n}]", None) for n in range(24)}
        if index % 25 < 6:  # 120 of 500 processes are GPU clients
            text = client_text(index, (AMD + XE + I915)[index % 8], 0)
            fds[20] = ("/dev/dri/renderD128", text)
            fds[21] = ("/dev/dri/renderD128", text)  # the same client through a second fd
            drm += 2
        add_process(root, pid, f"proc{index}", fds=fds)
    return drm


def median_us(samples: list[int]) -> str:
    low, high = min(samples) / 1000, max(samples) / 1000
    return f"{statistics.median(samples) / 1000:.0f} µs (min {low:.0f}, max {high:.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--processes", type=int, default=500)
    parser.add_argument("--pause", type=float, default=0.2, help="idle seconds before each timed read")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        drm = build_machine(root, args.processes)
        collector = GpuCollector(root)
        collector.open()
        collector.read(0.0)
        samples = []
        for repeat in range(args.repeats):
            advance_busy_clients(root, args.processes, repeat + 1)
            time.sleep(args.pause)
            start = time.thread_time_ns()
            reading = collector.read(1.0 + repeat)
            samples.append(time.thread_time_ns() - start)
        series = sum(1 for v in reading.values.values() if v is not None)
        users = len(reading.tables["gpu_processes"])
        print(f"1. 8 GPUs + {args.processes} processes ({args.processes * 24} fds, {drm} DRM fds, "
              f"{users} GPU processes, {series} series): {median_us(samples)} per read")

    walk, seen, fds = [], 0, 0
    for _ in range(args.repeats):
        time.sleep(args.pause)
        start = time.thread_time_ns()
        scan = scan_fdinfo(Path("/proc"))
        walk.append(time.thread_time_ns() - start)
        seen = scan.processes_seen
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                fds += len(os.listdir(f"/proc/{name}/fd"))
    print(f"2. fdinfo walk of this machine's /proc ({seen} processes, ~{fds} fds, "
          f"{scan.drm_fds} DRM fds): {median_us(walk)} full walk")
    walker = FdinfoWalker(Path("/proc"))
    walker.scan()
    steady = []
    for _ in range(args.repeats):
        time.sleep(args.pause)
        start = time.thread_time_ns()
        walker.scan()
        steady.append(time.thread_time_ns() - start)
    share = f"1/{FdinfoWalker.RECHECK_EVERY}"
    print(f"   with the walker's memory (steady state, {share} of the processes re-listed per walk): "
          f"{median_us(steady)}")

    gpu_module.time.monotonic = lambda: 0.0  # open() at simulated t=0; reads get their own clock
    collector = GpuCollector(Path("/"))
    collector.open()
    hour = 3600
    start = time.thread_time_ns()
    for tick in range(hour):
        collector.read(float(tick))
    spent = time.thread_time_ns() - start
    state = "no GPU" if collector.unavailable() else "a GPU is present"
    print(f"3. whole family at 1 Hz on this machine ({state}): {spent / 1e6:.1f} ms CPU per simulated hour, "
          f"{collector.discoveries} PCI listings = {100 * spent / 1e9 / hour:.5f} % of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
