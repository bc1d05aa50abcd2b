"""The "system" theme follows the desktop's colour scheme, also when it arrives late.

Qt 6.11 learns the scheme from the XDG portal about 1.5 s after start-up and then emits
``QStyleHints.colorSchemeChanged``; the tests emit that signal as the platform would.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import SIGNAL, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLabel

from perfdeck.gui.plots import TimePlot
from perfdeck.gui.theme import apply_theme

pytestmark = pytest.mark.gui

WINDOW = QPalette.ColorRole.Window


def _window_lightness(app: QApplication) -> int:
    return app.palette().color(WINDOW).lightness()


def _announce(app: QApplication, scheme: Qt.ColorScheme) -> None:
    """What the platform theme does when the portal answers."""
    app.styleHints().colorSchemeChanged.emit(scheme)
    app.processEvents()


@pytest.fixture
def app(qtbot):
    app = QApplication.instance()
    apply_theme(app, "system")
    yield app
    apply_theme(app, "system")


def test_a_late_dark_scheme_darkens_the_window_and_its_plots(qtbot, app) -> None:
    assert app.styleHints().colorScheme() != Qt.ColorScheme.Dark  # offscreen: no scheme at start
    start = app.palette().color(WINDOW).name()
    assert _window_lightness(app) > 128
    label, plot = QLabel("x"), TimePlot("CPU", unit="%")
    qtbot.addWidget(label)
    qtbot.addWidget(plot)
    label.show()
    plot.show()
    _announce(app, Qt.ColorScheme.Dark)
    assert _window_lightness(app) < 80 and label.palette().color(WINDOW).lightness() < 80
    qtbot.waitUntil(lambda: plot.backgroundBrush().color().lightness() < 80, timeout=2000)
    _announce(app, Qt.ColorScheme.Light)  # the desktop goes back to light: so does the window
    assert app.palette().color(WINDOW).name() == start
    qtbot.waitUntil(lambda: plot.backgroundBrush().color().lightness() > 128, timeout=2000)


def test_a_chosen_theme_ignores_the_desktop(qtbot, app) -> None:
    apply_theme(app, "light")
    _announce(app, Qt.ColorScheme.Dark)
    assert _window_lightness(app) > 200
    apply_theme(app, "dark")
    _announce(app, Qt.ColorScheme.Light)
    assert _window_lightness(app) < 80


def test_system_after_dark_is_the_platform_palette_not_a_pinned_one(qtbot, app) -> None:
    start = app.palette().color(WINDOW).name()
    apply_theme(app, "dark")
    apply_theme(app, "system")
    assert app.palette().color(WINDOW).name() == start
    # Applying the theme again (the settings dialog does, on every change) connects nothing twice.
    hints = app.styleHints()
    assert hints.receivers(SIGNAL("colorSchemeChanged(Qt::ColorScheme)")) == 1
