"""PerfDeck: a Linux desktop monitor for what the hardware is really doing."""

# The one place the version lives: pyproject, --version, the About dialog and the packages read it.
__version__ = "0.1.0"
