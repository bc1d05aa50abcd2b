"""``perfdeck`` / ``perfdeck gui``: start the desktop window."""

from __future__ import annotations

import argparse

HELP = "open the PerfDeck window (the default)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interval", type=float, default=None, metavar="SECONDS",
                        help="sampling interval, 0.1 to 10 s (default: from settings, 1 s)")
    parser.add_argument("--tab", default=None, help="tab to show first, e.g. 'CPU'")
    parser.add_argument("--minimized", action="store_true", help="start hidden in the system tray")
    parser.add_argument("--open", dest="open_recordings", action="append", default=[], metavar="CSV",
                        help="open a PerfDeck recording (may be given several times)")
    parser.add_argument("--live", action="store_true",
                        help="with --open: also open the live window (by default only the recordings)")
    parser.add_argument("--smoke-test", action="store_true",
                        help="start normally, draw every tab once with live data, then exit "
                             "(status 0 if all of them drew; for checking an installation)")


def run(args: argparse.Namespace) -> int:
    from perfdeck.gui.app import run_gui  # Qt is imported only here

    if getattr(args, "smoke_test", False):
        from perfdeck.gui.smoke import install_smoke_test

        install_smoke_test()
    return run_gui(args)
