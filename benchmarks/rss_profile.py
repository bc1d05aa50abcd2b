#!/usr/bin/env python3
"""Where the window's resident memory goes: RSS, PSS, the largest mappings, the modules loaded.

    DISPLAY=:84 PYTHONPATH=app python benchmarks/rss_profile.py [--seconds 30] [--runs 2]
        [--interval 1] [--tab Overview] [--top 12] [--modules] [-- extra perfdeck arguments]

Starts the real window (``python -m perfdeck --interval 1 --tab Overview``, as the side-by-side
harness does) on the X server in $DISPLAY, in a fresh HOME and XDG directories (default settings:
every family on, no remembered window state), waits ``--seconds``, then reads from outside the
process, so nothing measured is instrumentation:

- RSS (``/proc/PID/status`` VmRSS, and its peak over the run: VmHWM) and PSS with
  its anonymous and file parts (``/proc/PID/smaps_rollup``);
- the mappings with most RSS (``/proc/PID/smaps``), grouped: shared objects and files by path,
  ``[heap]`` (the main malloc arena), anonymous mappings by kind (a 64 MiB reservation of a
  thread's malloc arena, thread stacks, the rest);
- with ``--dbus``, the launch is wrapped in ``dbus-run-session`` as the side-by-side harness
  does (``measure_peers.sh`` counts the whole tree: dbus-run-session and dbus-daemon add about
  6 MiB of RSS to every GUI row); the tree's RSS is reported beside PerfDeck's own;
- the number of modules the process imported and whether the network/TLS stack (ssl, http.client,
  urllib.request, email) is among them, from ``python -X importtime`` on stderr (``--modules``;
  it prints one line per import and changes nothing in the heap measurably, but it is off by
  default so the RSS is of the plain command).

A measurement script, not a test: numbers depend on the machine; they go to docs/performance.md
as before/after pairs taken back to back.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
KIB = 1024
MIB = 1024 * 1024
# glibc reserves each secondary malloc arena as one 64 MiB-aligned region (HEAP_MAX_SIZE on
# 64-bit), committing only what it uses; a thread stack is 8 MiB by default (ulimit -s).
ARENA_RESERVATION_KIB = 64 * 1024
WATCHED_MODULES = ("ssl", "_ssl", "http.client", "urllib.request", "email.parser", "json", "jeepney",
                   "perfdeck.model.remote", "perfdeck.model.prometheus", "pyqtgraph", "numpy")


@dataclass
class Mapping:
    start: int
    end: int
    path: str
    rss_kib: int = 0
    pss_kib: int = 0

    @property
    def size_kib(self) -> int:
        return (self.end - self.start) // KIB


@dataclass
class Sample:
    rss_mib: float
    rss_peak_mib: float
    pss_mib: float
    pss_anon_mib: float
    pss_file_mib: float
    mappings: list[tuple[str, float, float, int]] = field(default_factory=list)  # name, rss, pss, count
    tree_rss_mib: float | None = None
    modules: int | None = None
    watched: dict[str, bool] = field(default_factory=dict)


def read_status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def read_rollup_kib(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = int(parts[1])
    return values


_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


def read_smaps(pid: int) -> list[Mapping]:
    mappings: list[Mapping] = []
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            header = _HEADER.match(line)
            if header:
                mappings.append(Mapping(int(header[1], 16), int(header[2], 16), header[3].strip()))
            elif line.startswith("Rss:"):
                mappings[-1].rss_kib = int(line.split()[1])
            elif line.startswith("Pss:"):
                mappings[-1].pss_kib = int(line.split()[1])
    return mappings


def classify(mappings: list[Mapping]) -> list[tuple[str, float, float, int]]:
    """RSS and PSS (MiB) and the number of mappings per group, largest RSS first.

    A file's mappings (text, data, relro) are one group. Anonymous mappings are told apart by
    address and shape: a thread's malloc arena starts on a 64 MiB boundary (glibc aligns its
    reservation so it can find the arena from a pointer); a thread stack follows a 4 KiB guard
    page. The rest are mmap'd blocks: pymalloc's 1 MiB arenas, numpy buffers and large mallocs,
    which the kernel merges into one mapping when they are adjacent."""
    groups: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    previous: Mapping | None = None
    for mapping in mappings:
        if mapping.path:
            name = mapping.path if mapping.path.startswith("[") else os.path.basename(mapping.path)
        elif mapping.start % (ARENA_RESERVATION_KIB * KIB) == 0:
            name = "[anon: thread malloc arena]"
        elif (previous is not None and not previous.path and previous.end == mapping.start
              and previous.size_kib == 4 and previous.rss_kib == 0):
            name = "[anon: thread stack]"
        else:
            name = "[anon: mmap'd blocks]"
        group = groups[name]
        group[0] += mapping.rss_kib
        group[1] += mapping.pss_kib
        group[2] += 1
        previous = mapping
    ordered = sorted(groups.items(), key=lambda item: -item[1][0])
    return [(name, rss / KIB, pss / KIB, count) for name, (rss, pss, count) in ordered]


def fresh_environment(home: Path, app_dir: Path) -> dict[str, str]:
    """The launch environment: a fresh HOME and XDG directories, so saved settings or window
    state on this machine do not change what is measured."""
    env = dict(os.environ)
    for sub in (".config", ".cache", ".local/share", ".run"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    (home / ".run").chmod(0o700)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_DATA_HOME=str(home / ".local/share"), XDG_RUNTIME_DIR=str(home / ".run"),
               QT_QPA_PLATFORM=env.get("QT_QPA_PLATFORM", "xcb"), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(app_dir), env.get("PYTHONPATH", "")) if p)
    return env


def stop_tree(proc: subprocess.Popen) -> None:
    """Stop what was launched and everything it started: under ``--dbus`` that is PerfDeck, the
    dbus-daemon and dbus-run-session, which does not pass SIGTERM on to its children."""
    try:
        targets = [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]
    except psutil.NoSuchProcess:
        targets = []
    for process in targets:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()  # PerfDeck quits cleanly on SIGTERM
    _gone, alive = psutil.wait_procs(targets, timeout=15)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    proc.wait(15)


def perfdeck_pid(launched: int, wrapped: bool, timeout: float = 10.0) -> int:
    """PerfDeck's own PID: the launched process, or the Python that dbus-run-session starts."""
    if not wrapped:
        return launched
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(launched).children(recursive=True):
            if "perfdeck" in child.cmdline():
                return child.pid
        time.sleep(0.1)
    raise RuntimeError("dbus-run-session did not start perfdeck")


def imported_modules(stderr_text: str) -> list[str]:
    names = []
    for line in stderr_text.splitlines():
        if line.startswith("import time:") and "|" in line and not line.rstrip().endswith("imported package"):
            names.append(line.rsplit("|", 1)[1].strip())
    return names


def measure(args: argparse.Namespace) -> Sample:
    with tempfile.TemporaryDirectory(prefix="rss-profile-") as tmp:
        env = fresh_environment(Path(tmp), args.app)
        command = [sys.executable, *(["-X", "importtime"] if args.modules else []), "-m", "perfdeck",
                   "--interval", str(args.interval), "--tab", args.tab, *args.app_args]
        if args.dbus:
            command = ["dbus-run-session", "--", *command]
        stderr_path = Path(tmp) / "stderr.txt"
        with open(stderr_path, "w") as stderr:
            proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                pid = perfdeck_pid(proc.pid, args.dbus)
                peak = 0
                deadline = time.monotonic() + args.seconds
                while time.monotonic() < deadline:
                    time.sleep(1.0)
                    if proc.poll() is not None:
                        raise RuntimeError(f"perfdeck exited with {proc.returncode}: "
                                           + stderr_path.read_text()[-2000:])
                    peak = max(peak, read_status_kib(pid, "VmRSS"))
                rss = read_status_kib(pid, "VmRSS")
                high_water = read_status_kib(pid, "VmHWM")  # the kernel's peak, between our samples too
                rollup = read_rollup_kib(pid)
                mappings = classify(read_smaps(pid))
                tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
                tree_rss = sum(p.memory_info().rss for p in tree)
            finally:
                stop_tree(proc)
        sample = Sample(rss_mib=rss / KIB, rss_peak_mib=max(peak, rss, high_water) / KIB,
                        pss_mib=rollup["Pss"] / KIB,
                        pss_anon_mib=rollup.get("Pss_Anon", 0) / KIB,
                        pss_file_mib=rollup.get("Pss_File", 0) / KIB, mappings=mappings,
                        tree_rss_mib=tree_rss / MIB if args.dbus else None)
        if args.modules:
            names = imported_modules(stderr_path.read_text())
            sample.modules = len(set(names))
            sample.watched = {name: name in names for name in WATCHED_MODULES}
        return sample


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds from launch to the reading (30)")
    parser.add_argument("--runs", type=int, default=1, help="fresh launches, one after the other (1)")
    parser.add_argument("--interval", type=float, default=1.0, help="sampling interval (1)")
    parser.add_argument("--tab", default="Overview", help="tab shown (Overview)")
    parser.add_argument("--top", type=int, default=12, help="mapping groups listed (12)")
    parser.add_argument("--modules", action="store_true", help="count imported modules (-X importtime)")
    parser.add_argument("--dbus", action="store_true", help="under dbus-run-session, as the harness runs it")
    parser.add_argument("--app", type=Path, default=REPO / "app",
                        help="the folder holding the perfdeck package (another tree's app/: before/after)")
    parser.add_argument("app_args", nargs="*", help="extra perfdeck arguments (after --)")
    args = parser.parse_args()
    if "DISPLAY" not in os.environ and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        print("set DISPLAY (an Xvfb: Xvfb :84 -screen 0 1280x800x24 &) or QT_QPA_PLATFORM=offscreen",
              file=sys.stderr)
        return 2
    samples = [measure(args) for _ in range(args.runs)]
    print(f"{args.app}: perfdeck --interval {args.interval:g} --tab {args.tab} {' '.join(args.app_args)}; "
          f"reading {args.seconds:g} s after launch; {len(samples)} run(s); Python {sys.version.split()[0]}")
    print("\n| run | RSS MiB | peak RSS MiB | PSS MiB | PSS anon | PSS file | modules | tree RSS (dbus) |")
    print("|---|---|---|---|---|---|---|---|")
    for number, s in enumerate(samples, 1):
        modules = "" if s.modules is None else str(s.modules)
        tree = "" if s.tree_rss_mib is None else f"{s.tree_rss_mib:.1f}"
        print(f"| {number} | {s.rss_mib:.1f} | {s.rss_peak_mib:.1f} | {s.pss_mib:.1f} | "
              f"{s.pss_anon_mib:.1f} | {s.pss_file_mib:.1f} | {modules} | {tree} |")
    if len(samples) > 1:
        print(f"| median | {statistics.median(s.rss_mib for s in samples):.1f} | "
              f"{statistics.median(s.rss_peak_mib for s in samples):.1f} | "
              f"{statistics.median(s.pss_mib for s in samples):.1f} | | | | |")
    last = samples[-1]
    print("\nlargest mappings (last run), RSS / PSS MiB:")
    for name, rss, pss, count in last.mappings[:args.top]:
        print(f"  {rss:7.1f} {pss:7.1f}  {name} ({count} mapping{'s' if count != 1 else ''})")
    if last.watched:
        print("\nimported: " + ", ".join(f"{name} {'yes' if seen else 'no'}"
                                        for name, seen in last.watched.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
