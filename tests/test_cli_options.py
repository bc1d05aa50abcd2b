"""Window options given before or after the ``gui`` command name both count."""

from __future__ import annotations

from perfdeck.cli import build_parser


def test_window_options_before_the_gui_command_survive() -> None:
    args = build_parser().parse_args(["--interval", "0.5", "--tab", "CPU", "gui"])
    assert (args.interval, args.tab, args.command) == (0.5, "CPU", "gui")


def test_window_options_after_the_gui_command_win_and_defaults_stay() -> None:
    args = build_parser().parse_args(["gui", "--interval", "2", "--open", "a.csv", "--open", "b.csv"])
    assert (args.interval, args.open_recordings, args.minimized) == (2.0, ["a.csv", "b.csv"], False)
    plain = build_parser().parse_args(["gui"])
    assert (plain.interval, plain.tab, plain.open_recordings, plain.connect) == (None, None, [], None)
