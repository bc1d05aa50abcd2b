"""Light, dark or system palette for the whole application.

Plots take their colours from the palette (``gui.plots.palette_colors``) and react to palette
change events, so switching theme here repaints them too.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("system", "light", "dark")

_system_palette: QPalette | None = None
_system_style: str | None = None


def _dark_palette() -> QPalette:
    palette = QPalette()
    role = QPalette.ColorRole
    colours = {
        role.Window: "#2b2b2b", role.WindowText: "#e6e6e6", role.Base: "#1e1e1e",
        role.AlternateBase: "#2f2f2f", role.ToolTipBase: "#3a3a3a", role.ToolTipText: "#e6e6e6",
        role.Text: "#e6e6e6", role.Button: "#353535", role.ButtonText: "#e6e6e6",
        role.BrightText: "#ff5555", role.Link: "#6ea8fe", role.Highlight: "#3d6fb4",
        role.HighlightedText: "#ffffff", role.PlaceholderText: "#8a8a8a", role.Mid: "#555555",
        role.Dark: "#202020", role.Light: "#4a4a4a", role.Shadow: "#111111",
    }
    for colour_role, value in colours.items():
        palette.setColor(colour_role, QColor(value))
    disabled = QPalette.ColorGroup.Disabled
    for colour_role in (role.Text, role.WindowText, role.ButtonText):
        palette.setColor(disabled, colour_role, QColor("#7a7a7a"))
    return palette


def apply_theme(app: QApplication, mode: str = "system") -> str:
    """Apply ``"system"`` (the desktop's palette), ``"light"`` or ``"dark"``.

    Returns the mode applied; an unknown mode raises ValueError naming the valid ones.
    """
    global _system_palette, _system_style
    if mode not in THEMES:
        raise ValueError(f"unknown theme {mode!r}; choose one of {', '.join(THEMES)}")
    if _system_palette is None:
        _system_palette = QPalette(app.palette())
        _system_style = app.style().name()
    if mode == "system":
        if _system_style:
            app.setStyle(_system_style)
        app.setPalette(_system_palette)
    elif mode == "light":
        app.setStyle("Fusion")
        app.setPalette(app.style().standardPalette())
    else:
        app.setStyle("Fusion")
        app.setPalette(_dark_palette())
    return mode
