"""The Qt side of PerfDeck: sampler thread, main window, views, tray and dialogs.

Importing this package first turns off PySide6's source scan of every later import (below). Python
imports a package before any of its modules, so every ``perfdeck.gui.*`` module, and pyqtgraph
which only they import, comes after it.
"""

from __future__ import annotations

import sys
from types import ModuleType

import PySide6  # noqa: F401  (installs the __feature__ import hook patched below)


def _treat_as_pyside_module(module: ModuleType) -> bool:
    """Every module is a PySide module with default features (what ``_mod_uses_pyside`` answers
    for a module whose source mentions PySide6), without reading its source."""
    return True


def skip_feature_source_scan() -> bool:
    """Stop PySide6's ``__feature__`` hook from reading the source of every module imported.

    PySide6 6.x (``PySide6.support.feature``, pinned <6.12 in pyproject.toml) records for each
    newly imported module whether it "uses PySide", to know which modules may switch on
    ``from __feature__ import snake_case, true_property``. It decides by
    ``inspect.getsource(module)`` and a search for "PySide6" in the text: the whole source of
    the ~400 modules imported after PySide6 (pyqtgraph, numpy's parts, ours) is read, tokenised
    and kept in ``linecache``. That is 11 MiB of RSS at import and 15-18 MiB in the running window,
    and clearing ``linecache`` later gives none of it back (the heap stays fragmented).

    The answer only matters to a module that selects features; no PerfDeck module does (a test
    checks the sources) and neither does pyqtgraph, so every module gets the default selection
    (0, no features), as a PySide module would. The patch is defensive: it only replaces the
    function when the hook exists and has it. Returns whether it did.
    """
    feature = sys.modules.get("PySide6.support.feature")
    if feature is None or not callable(getattr(feature, "_mod_uses_pyside", None)):
        return False
    feature._mod_uses_pyside = _treat_as_pyside_module
    return True


skip_feature_source_scan()
