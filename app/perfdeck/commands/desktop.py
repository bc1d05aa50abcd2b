"""``perfdeck install-desktop [--uninstall]``: put PerfDeck in the desktop's application menu.

The Debian package installs the desktop entry and the icons system-wide. A wheel cannot (pip
installs into a prefix, not into /usr/share), so this command copies them into the user's data
directory: ``$XDG_DATA_HOME`` (default ``~/.local/share``)``/applications`` and
``.../icons/hicolor/*/apps``. The entry's ``Exec=`` is rewritten to the absolute path of the
``perfdeck`` launcher that runs this command, so a virtual environment need not be on ``PATH``.

What was written is listed, with checksums, in ``$XDG_DATA_HOME/perfdeck/install-desktop.json``;
``--uninstall`` removes exactly those files (and the directories it created, when empty), and
leaves a file alone if it was changed after it was installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from perfdeck import __version__
from perfdeck.resources import (
    APP_ID,
    DESKTOP_FILE,
    ResourceNotFoundError,
    icon_pngs,
    icon_svg,
    resource_path,
)

HELP = "add PerfDeck to the desktop's application menu (for pip installs; --uninstall removes it)"

MANIFEST_NAME = "install-desktop.json"
# Characters that force an Exec argument into double quotes (Desktop Entry spec, "The Exec key").
_EXEC_RESERVED = re.compile(r"""[\s"'\\><~|&;$*?#()`]""")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uninstall", action="store_true",
                        help="remove the desktop entry and icons this command installed")


def xdg_data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` when it is unset, empty or relative (the XDG Base
    Directory spec says a relative path there is invalid and must be ignored)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def manifest_path(data_home: Path) -> Path:
    return data_home / "perfdeck" / MANIFEST_NAME


def launcher_command() -> list[str]:
    """The command that starts this PerfDeck: the frozen executable, the ``perfdeck`` script of
    this installation, or ``python -m perfdeck`` as the last resort."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).resolve())]
    script_dirs = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        script_dirs.append(Path(sysconfig.get_path("scripts", user_scheme)))
    for directory in script_dirs:
        script = directory / "perfdeck"
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "perfdeck"]


def exec_quote(argument: str) -> str:
    """Quote one argument for a desktop entry's ``Exec`` key (before the key's string escaping)."""
    argument = argument.replace("%", "%%")
    if not _EXEC_RESERVED.search(argument):
        return argument
    escaped = re.sub(r'(["`$\\])', r"\\\1", argument)
    return f'"{escaped}"'


def escape_string(value: str) -> str:
    """Escape a desktop entry ``string`` value (backslash, and the control characters)."""
    return (value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
            .replace("\r", "\\r"))


def desktop_entry_text(template: str, command: list[str]) -> str:
    """The packaged desktop entry with ``Exec``/``TryExec`` pointing at ``command``."""
    exec_value = escape_string(" ".join(exec_quote(part) for part in command))
    try_exec = escape_string(command[0])
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_value}"
        elif line.startswith("TryExec="):
            line = f"TryExec={try_exec}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _sha256(data: bytes) -> str:
    import hashlib  # here, not at the top: every start imports this module to build the parser,
    # and hashlib maps libcrypto (3.6 MiB of the window's RSS, measured) for this one use

    return hashlib.sha256(data).hexdigest()


@dataclass
class Manifest:
    """What ``install-desktop`` wrote: file path -> sha256, and the directories it created."""

    files: dict[str, str] = field(default_factory=dict)
    created_dirs: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        """The manifest at ``path``; None if there is none. Raises ValueError if it is unreadable."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} cannot be read ({exc}); remove it and the files it lists by hand"
                             ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise ValueError(f"{path} is not a PerfDeck install-desktop manifest")
        return cls(files={str(k): str(v) for k, v in data["files"].items()},
                   created_dirs=[str(d) for d in data.get("created_dirs", [])])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"perfdeck_version": __version__, "files": self.files,
                   "created_dirs": self.created_dirs}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)


def _make_dirs(directory: Path, manifest: Manifest) -> None:
    """mkdir -p, remembering each directory that did not exist (parents first)."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir()
        if str(path) not in manifest.created_dirs:
            manifest.created_dirs.append(str(path))


def _write(path: Path, data: bytes, manifest: Manifest) -> None:
    _make_dirs(path.parent, manifest)
    tmp = path.with_name(f".{path.name}.perfdeck-tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    tmp.replace(path)
    manifest.files[str(path)] = _sha256(data)


def planned_files(data_home: Path) -> dict[Path, bytes]:
    """Target path -> content for everything ``install-desktop`` installs."""
    icons = data_home / "icons" / "hicolor"
    template = resource_path(DESKTOP_FILE).read_text(encoding="utf-8")
    plan = {
        data_home / "applications" / DESKTOP_FILE:
            desktop_entry_text(template, launcher_command()).encode("utf-8"),
        icons / "scalable" / "apps" / f"{APP_ID}.svg": icon_svg().read_bytes(),
    }
    for size, png in icon_pngs().items():
        plan[icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png"] = png.read_bytes()
    return plan


def _refresh_caches(data_home: Path) -> None:
    """Tell icon themes that something changed. (Menus watch the applications directory
    themselves; ``update-desktop-database`` only builds a MIME cache, which PerfDeck does not need
    and which would be a file this command leaves behind.)"""
    hicolor = data_home / "icons" / "hicolor"
    if hicolor.is_dir():
        # The icon theme spec: caches are stale when the theme directory's mtime changes.
        os.utime(hicolor)


def _remove_unchanged(paths: dict[str, str], out: list[str]) -> list[str]:
    """Delete each file whose content still has the recorded checksum; returns the ones kept."""
    kept = []
    for name, digest in paths.items():
        path = Path(name)
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            out.append(f"already gone: {path}")
            continue
        if _sha256(current) != digest:
            out.append(f"left in place (changed since it was installed): {path}")
            kept.append(name)
            continue
        path.unlink()
        out.append(f"removed {path}")
    return kept


def _remove_created_dirs(manifest: Manifest, out: list[str]) -> list[str]:
    """rmdir the directories install-desktop created, deepest first, when they are empty."""
    remaining = []
    for name in sorted(manifest.created_dirs, key=lambda d: d.count(os.sep), reverse=True):
        try:
            Path(name).rmdir()
            out.append(f"removed {name}/")
        except FileNotFoundError:
            pass
        except OSError:
            remaining.append(name)  # not empty: something else lives there now
    return remaining


def install(data_home: Path) -> tuple[int, list[str]]:
    """Install the entry and icons under ``data_home``; returns (exit status, messages)."""
    out: list[str] = []
    where = manifest_path(data_home)
    try:
        previous = Manifest.load(where)
        plan = planned_files(data_home)
    except (ValueError, ResourceNotFoundError) as exc:
        return 1, [str(exc)]
    manifest = Manifest(created_dirs=list(previous.created_dirs) if previous else [])
    status = 0
    try:
        for target, data in plan.items():
            _write(target, data, manifest)
            out.append(f"installed {target}")
    except OSError as exc:
        out.append(f"could not write {exc.filename}: {exc.strerror}")
        status = 1
    finally:
        # Files of an earlier install that this one no longer writes (e.g. icon sizes).
        if previous:
            stale = {k: v for k, v in previous.files.items() if k not in manifest.files}
            kept = _remove_unchanged(stale, out)
            manifest.files.update({k: stale[k] for k in kept})
        _make_dirs(where.parent, manifest)
        manifest.save(where)
    _refresh_caches(data_home)
    if status == 0:
        out.append(f"PerfDeck is in the application menu (remove it with 'perfdeck install-desktop "
                   f"--uninstall'); list of files: {where}")
    return status, out


def uninstall(data_home: Path) -> tuple[int, list[str]]:
    """Remove what ``install`` recorded; returns (exit status, messages)."""
    out: list[str] = []
    where = manifest_path(data_home)
    try:
        manifest = Manifest.load(where)
    except ValueError as exc:
        return 1, [str(exc)]
    if manifest is None:
        return 0, [f"nothing to remove: 'perfdeck install-desktop' has not installed anything under "
                   f"{data_home} (no {where})"]
    kept = _remove_unchanged(manifest.files, out)
    if kept:
        # Keep a record of what is left so a later run can still clean it up.
        manifest.files = {k: manifest.files[k] for k in kept}
        manifest.save(where)
        return 0, out
    where.unlink()
    manifest.created_dirs = _remove_created_dirs(manifest, out)
    _refresh_caches(data_home)
    return 0, out


def run(args: argparse.Namespace) -> int:
    data_home = xdg_data_home()
    status, messages = (uninstall if args.uninstall else install)(data_home)
    stream = sys.stdout if status == 0 else sys.stderr
    for line in messages:
        print(line, file=stream)
    return status
