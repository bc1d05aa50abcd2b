"""Build hook, the only thing not declared in pyproject.toml.

The desktop entry, icon and AppStream metainfo live once, in the top-level ``resources/`` directory
(the Debian package and the PyInstaller bundle take them from there). The wheel needs them too, for
``perfdeck install-desktop``: this copies them into the built package as ``perfdeck/data/``, where
``perfdeck.resources`` finds them. An editable install needs no copy: ``perfdeck.resources`` finds
the checkout's ``resources/`` directly.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
APP_ID = "io.github.perfdeck.PerfDeck"
# What the installed app reads at run time (the man page and packaging files are not needed there).
WHEEL_RESOURCES = (f"{APP_ID}.desktop", f"{APP_ID}.svg", f"{APP_ID}.metainfo.xml")


class BuildPyWithResources(build_py):
    """build_py, plus the run-time resources copied into ``perfdeck/data``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "perfdeck" / "data"
        self.mkpath(str(target))
        for name in WHEEL_RESOURCES:
            self.copy_file(str(HERE / "resources" / name), str(target / name))


setup(cmdclass={"build_py": BuildPyWithResources})
