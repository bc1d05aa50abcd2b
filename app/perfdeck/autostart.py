"""Start at login: the XDG autostart entry. Pure Python, no Qt.

Per the XDG Autostart specification a desktop entry in ``$XDG_CONFIG_HOME/autostart/`` (default
``~/.config/autostart``) is started when the user logs in. The file is named after the app id,
``io.github.perfdeck.PerfDeck.desktop``, and starts PerfDeck hidden in the tray
(``perfdeck --minimized``). Disabling removes the file; nothing else is touched.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from pathlib import Path

from perfdeck.commands.desktop import escape_string, exec_quote, launcher_command
from perfdeck.model.settings import APP_ID


def config_home(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME`` when set to an absolute path (as the spec requires), else ``~/.config``."""
    env = os.environ if environ is None else environ
    value = env.get("XDG_CONFIG_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".config"


def autostart_path(base: Path | None = None) -> Path:
    """Where the entry lives: ``<config home>/autostart/io.github.perfdeck.PerfDeck.desktop``."""
    return (config_home() if base is None else base) / "autostart" / f"{APP_ID}.desktop"


def exec_command() -> str:
    """The Exec= value that starts this installation hidden in the tray.

    Same rules as ``perfdeck install-desktop``: the frozen executable, this installation's
    ``perfdeck`` script, or ``python -m perfdeck``, quoted per the desktop entry spec.
    """
    command = [*launcher_command(), "--minimized"]
    return escape_string(" ".join(exec_quote(part) for part in command))


def desktop_entry(exec_line: str | None = None) -> str:
    """The text of the autostart desktop entry."""
    exec_line = exec_line or exec_command()
    # A desktop entry value may not contain a raw newline; refuse rather than write a broken file.
    if "\n" in exec_line or "\r" in exec_line:
        raise ValueError(f"Exec line contains a newline: {shlex.quote(exec_line)}")
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=PerfDeck\n"
        "GenericName=System Monitor\n"
        "Comment=Start PerfDeck hidden in the system tray\n"
        f"Exec={exec_line}\n"
        f"Icon={APP_ID}\n"
        "Terminal=false\n"
        "Categories=System;Monitor;\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def is_enabled(base: Path | None = None) -> bool:
    return autostart_path(base).is_file()


def set_enabled(enabled: bool, base: Path | None = None, exec_line: str | None = None) -> Path:
    """Write (``enabled``) or remove the entry. Returns its path. Raises OSError with the path in
    the message when the folder cannot be written, so the caller can show it."""
    path = autostart_path(base)
    if enabled:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(desktop_entry(exec_line), encoding="utf-8")
        os.replace(tmp, path)  # atomic: a session starting now never sees half a file
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return path
