"""Light, dark or system palette for the whole application.

Plots take their colours from the palette (``gui.plots.palette_colors``) and react to palette
change events, so switching theme here repaints them too.

"system" follows the desktop, also when it changes its mind: Qt 6.11 learns the colour scheme
from the XDG portal about 1.5 s after start-up, so the palette is never pinned at start-up;
``QStyleHints.colorSchemeChanged`` re-applies it, and a dark scheme whose platform palette is
still light (a platform theme without dark palettes) gets PerfDeck's dark palette.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("system", "light", "dark")

_system_style: str | None = None
_mode: str | None = None  # the mode last applied: the scheme signal only matters in "system"
_FOLLOWING = "_perfdeck_follows_color_scheme"  # set on the app once its signal is connected


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
    """Apply ``"system"`` (the desktop's palette, followed as it changes), ``"light"`` or ``"dark"``.

    Returns the mode applied; an unknown mode raises ValueError naming the valid ones.
    """
    global _system_style, _mode
    if mode not in THEMES:
        raise ValueError(f"unknown theme {mode!r}; choose one of {', '.join(THEMES)}")
    if _system_style is None:
        _system_style = app.style().name()
    _mode = mode
    _follow_color_scheme(app)
    if mode == "system":
        _apply_system(app, app.styleHints().colorScheme())
    elif mode == "light":
        app.setStyle("Fusion")
        app.setPalette(app.style().standardPalette())
    else:
        app.setStyle("Fusion")
        app.setPalette(_dark_palette())
    return mode


def _follow_color_scheme(app: QApplication) -> None:
    """Connect the desktop's colour-scheme signal once per application."""
    if app.property(_FOLLOWING):
        return
    app.setProperty(_FOLLOWING, True)
    app.styleHints().colorSchemeChanged.connect(lambda scheme: _on_color_scheme(app, scheme))


def _on_color_scheme(app: QApplication, scheme: Qt.ColorScheme) -> None:
    if _mode == "system":
        _apply_system(app, scheme)


def _apply_system(app: QApplication, scheme: Qt.ColorScheme) -> None:
    """The platform's own palette, unpinned; PerfDeck's dark one where the desktop is dark but the
    platform theme has no dark palette to give."""
    if _system_style and app.style().name() != _system_style:
        app.setStyle(_system_style)
    # An empty palette resolves every role against the platform theme and keeps following it
    # (a palette copied at start-up would pin the colours of that moment).
    app.setPalette(QPalette())
    window_is_light = app.palette().color(QPalette.ColorRole.Window).lightness() > 128
    if scheme == Qt.ColorScheme.Dark and window_is_light:
        app.setStyle("Fusion")
        app.setPalette(_dark_palette())
