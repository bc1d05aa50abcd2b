"""The ``perfdeck`` command line: the window by default, plus terminal sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from perfdeck import __version__

# name -> module under perfdeck.commands. Listed explicitly; each module is light (no Qt).
COMMANDS = {
    "gui": "perfdeck.commands.gui",
    "doctor": "perfdeck.commands.doctor",
    "record": "perfdeck.commands.record",
    "install-desktop": "perfdeck.commands.desktop",
    "serve": "perfdeck.commands.serve",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perfdeck",
        description="PerfDeck: a desktop monitor for CPU, memory, disks, network, sensors, "
        "processes, hardware counters (perf_event_open) and DRAM bandwidth.",
        epilog="Run 'perfdeck COMMAND --help' for a command's options. With no command, the window opens.",
    )
    parser.add_argument("--version", action="version", version=f"perfdeck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `perfdeck --interval 0.5` means the window: default to the gui command when none is named.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "gui")
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
