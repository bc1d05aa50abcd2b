"""The model stays pure Python: no Qt in collectors, model, perf layer or commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import perfdeck

PACKAGE = Path(perfdeck.__file__).parent
PURE_PACKAGES = ("model", "collectors", "perf", "commands", "gpu")


def _pure_modules() -> list[str]:
    modules = []
    for package in PURE_PACKAGES:
        for path in sorted((PACKAGE / package).rglob("*.py")):
            relative = path.relative_to(PACKAGE.parent).with_suffix("")
            modules.append(".".join(relative.parts).removesuffix(".__init__"))
    return modules


def test_pure_modules_exist() -> None:
    assert "perfdeck.model.history" in _pure_modules()


def test_pure_modules_import_no_qt() -> None:
    """Import every pure module in a fresh interpreter and check no Qt module got loaded."""
    code = (
        "import importlib, sys\n"
        f"for name in {_pure_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'shiboken6')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"Qt imported by the pure model: {result.stdout}"
