"""``perfdeck doctor``: which metrics work on this machine, why not, and the exact fix.

No Qt. Prints the readable report (or JSON with ``--json``); ``--root DIR`` reads ``DIR/sys`` and
``DIR/proc`` (a bug-report snapshot) without opening any counter. ``--snapshot OUT.tar.gz``
writes such a snapshot of this machine. Nothing on the system is ever changed.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path

HELP = "check which counters work here (paranoid level, PMUs, VM, capabilities) and how to fix the rest"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output: every event with its PMU, type, encoded config "
                             "and CPUs, plus the bandwidth and power sources")
    parser.add_argument("--root", type=Path, default=None, metavar="DIR",
                        help="read DIR/sys and DIR/proc instead of / (a snapshot or a test tree); "
                             "nothing is opened, verdicts come from the files only")
    parser.add_argument("--snapshot", type=Path, default=None, metavar="OUT.tar.gz",
                        help="write a tarball of the /proc and /sys files the doctor reads, to attach "
                             "to a bug report (then print the report as usual)")
    parser.add_argument("--no-core", action="store_true",
                        help="skip opening the psutil collectors (CPU, memory, disks...) once")


def run(args: argparse.Namespace) -> int:
    from perfdeck.perf.doctor import diagnose, render_text  # keeps `perfdeck --help` light

    root = args.root
    if root is not None:
        try:
            os.stat(root)
        except OSError as exc:  # e.g. ENAMETOOLONG, which Path.is_dir() raises instead of saying False
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                print(f"perfdeck doctor: --root {str(root)[:80]}: {exc.strerror}", file=sys.stderr)
                return 2
        if not root.is_dir():
            print(f"perfdeck doctor: --root {root}: not a directory", file=sys.stderr)
            return 2
        if not (root / "proc").is_dir() and not (root / "sys").is_dir():
            print(f"perfdeck doctor: --root {root}: has neither proc/ nor sys/ "
                  "(expected a snapshot made with `perfdeck doctor --snapshot`)", file=sys.stderr)
            return 2
    if args.snapshot is not None:
        from perfdeck.perf.system import write_snapshot

        try:
            count = write_snapshot(args.snapshot, Path("/") if root is None else root)
        except OSError as exc:
            print(f"perfdeck doctor: cannot write {args.snapshot}: {_why_not_written(args.snapshot, exc)}",
                  file=sys.stderr)
            return 2
        print(f"wrote {count} files to {args.snapshot} (read it back with "
              f"`perfdeck doctor --root DIR` after extracting)", file=sys.stderr)
    report = diagnose(Path("/") if root is None else root, include_core=not args.no_core)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(render_text(report))
        from perfdeck.exporter.service import service_lines  # what perfdeck-serve.service could count
        print("\n" + "\n".join(service_lines(report)))
    return 0


def _why_not_written(path: Path, exc: OSError) -> str:
    """The reason in words, naming the folder when that is what is missing (no errno, no repeated path)."""
    folder = path.parent
    if isinstance(exc, FileNotFoundError) and not folder.is_dir():
        return f"the folder {folder} does not exist"
    return exc.strerror or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """``python -m perfdeck.commands.doctor``: the same command without loading the other ones."""
    parser = argparse.ArgumentParser(prog="perfdeck doctor", description=HELP)
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
