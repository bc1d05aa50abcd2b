"""Where PerfDeck's own files (icon, desktop entry, AppStream metainfo) are, however it was installed.

Three layouts, looked up in this order:

1. a PyInstaller bundle: ``sys._MEIPASS/perfdeck/data`` (``packaging/perfdeck.spec`` puts them there);
2. an installed wheel: ``perfdeck/data`` next to this module (``setup.py`` copies the top-level
   ``resources/`` directory there when it builds the wheel);
3. a source checkout (also an editable install): the top-level ``resources/`` directory.

No Qt here: ``perfdeck install-desktop`` runs without a display.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP_ID = "io.github.perfdeck.PerfDeck"
DESKTOP_FILE = f"{APP_ID}.desktop"
METAINFO_FILE = f"{APP_ID}.metainfo.xml"
ICON_SVG = f"{APP_ID}.svg"
# The hicolor sizes the packages render from the SVG (packaging/render_icons.py).
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
# Name of the directory inside the package (wheel, bundle) that holds the resources.
PACKAGE_DATA_DIR = "data"

_PACKAGE_DIR = Path(__file__).resolve().parent


class ResourceNotFoundError(FileNotFoundError):
    """A resource is missing from every layout: the installation is incomplete."""


def candidate_dirs() -> list[Path]:
    """The directories searched, most specific first (only those that exist)."""
    candidates = []
    meipass = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and meipass:
        candidates.append(Path(meipass) / "perfdeck" / PACKAGE_DATA_DIR)
    candidates.append(_PACKAGE_DIR / PACKAGE_DATA_DIR)
    # app/perfdeck/resources.py -> the repository root is two levels above the package.
    candidates.append(_PACKAGE_DIR.parent.parent / "resources")
    return [path for path in dict.fromkeys(candidates) if path.is_dir()]


def resource_dir() -> Path:
    """The directory that holds the desktop entry and the icon.

    Raises ResourceNotFoundError (with the places searched) if no layout has them.
    """
    for directory in candidate_dirs():
        if (directory / DESKTOP_FILE).is_file():
            return directory
    raise ResourceNotFoundError(
        f"PerfDeck's resources ({DESKTOP_FILE}, {ICON_SVG}) were not found next to the package "
        f"({_PACKAGE_DIR / PACKAGE_DATA_DIR}) nor in a source checkout: reinstall PerfDeck")


def resource_path(name: str) -> Path:
    """Path of one resource file, e.g. ``resource_path(ICON_SVG)``."""
    path = resource_dir() / name
    if not path.is_file():
        raise ResourceNotFoundError(f"{name} is missing from {path.parent}: reinstall PerfDeck")
    return path


def icon_svg() -> Path:
    """The scalable application icon (Qt loads it through its SVG image plugin)."""
    return resource_path(ICON_SVG)


def icon_pngs() -> dict[int, Path]:
    """PNG renderings of the icon by size, where the build made them (the frozen bundle and the
    .deb have them; a wheel or a checkout has only the SVG, which every desktop also accepts)."""
    try:
        base = resource_dir() / "icons"
    except ResourceNotFoundError:
        return {}
    found = {}
    for size in ICON_SIZES:
        path = base / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        if path.is_file():
            found[size] = path
    return found
