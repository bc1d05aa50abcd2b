"""The top-level ``perfdeck`` command line (issue 13 item 14): the window's options are listed in
``perfdeck --help`` and work together with ``--version``; no command means the window."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from perfdeck import __version__, cli
from perfdeck.commands import gui as gui_command


def test_top_level_help_lists_every_window_option_the_readme_documents(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--interval", "--minimized", "--open", "--tab", "--version"):
        assert option in out, option
    for command in cli.COMMANDS:
        assert command in out


def test_window_options_combine_with_version() -> None:
    result = subprocess.run([sys.executable, "-m", "perfdeck", "--interval", "0.5", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"perfdeck {__version__}"


WINDOW_OPTIONS = ["--interval", "0.5", "--tab", "CPU", "--minimized", "--open", "a.csv"]


@pytest.mark.parametrize("argv", [[], WINDOW_OPTIONS, ["gui", *WINDOW_OPTIONS]])
def test_no_command_runs_the_window_with_the_options(monkeypatch, argv: list[str]) -> None:
    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(gui_command, "run", lambda args: seen.append(args) or 0)
    assert cli.main(argv) == 0
    assert len(seen) == 1
    if argv:
        args = seen[0]
        options = (args.interval, args.tab, args.minimized, args.open_recordings)
        assert options == (0.5, "CPU", True, ["a.csv"])


def test_a_sub_command_keeps_its_own_options(monkeypatch) -> None:
    from perfdeck.commands import record

    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(record, "run", lambda args: seen.append(args) or 0)
    parser = cli.build_parser()
    args = parser.parse_args(["record", "--interval", "2", "--duration", "3"])
    assert (args.interval, args.duration, args.command) == (2.0, 3.0, "record")
