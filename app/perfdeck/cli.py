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
    # The window's options also work without naming the gui command (`perfdeck --interval 0.5`),
    # so they are listed here too: `perfdeck --help` shows every option the README documents.
    window_options = parser.add_argument_group("window options (also: perfdeck gui --help)")
    importlib.import_module(COMMANDS["gui"]).configure(window_options)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command_parser)
        if name == "gui":
            # The window's options are on the top level too (`perfdeck --interval 0.5 gui`): the
            # gui command's own defaults must not overwrite what was given before its name.
            for action in command_parser._actions:
                if action.dest != "help":
                    action.default = argparse.SUPPRESS
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    # No command named (`perfdeck`, `perfdeck --interval 0.5`): the window, with the options given.
    run = getattr(args, "_run", None) or importlib.import_module(COMMANDS["gui"]).run
    return int(run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
