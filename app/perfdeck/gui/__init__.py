"""The Qt side of PerfDeck: sampler thread, main window, views, tray and dialogs.

Importing this package first sets up two things that keep the window's resident memory down
(docs/performance.md, "Resident memory"): PySide6's source scan of every later import is turned
off, and pyqtgraph's mirrors of QtCore, QtGui and QtWidgets are filled on use instead of all at once.
Python imports a package before any of its modules, so every ``perfdeck.gui.*`` module, and
pyqtgraph which only they import, comes after it.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

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
    and kept in ``linecache``. That is 11 MiB of RSS at import and 12 MiB of the running window,
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


# The PySide6 modules pyqtgraph mirrors (as pyqtgraph.Qt.QtCore...), and the module that does it.
MIRRORED_QT_MODULES = ("QtCore", "QtGui", "QtWidgets")
PYQTGRAPH_QT = "pyqtgraph.Qt"


def _mirror_getattr(qt_package: ModuleType, mirror: ModuleType, source: ModuleType) -> Callable[[str], Any]:
    """The mirror's module ``__getattr__`` (PEP 562): a name the mirror lacks is looked up in
    PySide6 on first use and kept, which is what pyqtgraph's up-front copy gave it."""

    def __getattr__(name: str) -> Any:
        # pyqtgraph picked another binding: it copied that one up front, so a missing name is missing.
        if getattr(qt_package, "QT_LIB", None) != "PySide6":
            raise AttributeError(f"module {mirror.__name__!r} has no attribute {name!r}")
        try:
            value = getattr(source, name)
        except AttributeError:
            raise AttributeError(f"module {mirror.__name__!r} has no attribute {name!r}") from None
        setattr(mirror, name, value)
        return value

    return __getattr__


def _exec_pyqtgraph_qt(real_exec: Callable[[ModuleType], None], module: ModuleType) -> None:
    """Run pyqtgraph.Qt with its mirrors filled lazily (see ``fill_pyqtgraph_mirrors_on_use``)."""
    sources = {name: importlib.import_module(f"PySide6.{name}") for name in MIRRORED_QT_MODULES}
    skipped = {id(source) for source in sources.values()}
    for name, source in sources.items():
        mirror = importlib.import_module(f"{module.__name__}.{name}")  # its own empty package
        mirror.__getattr__ = _mirror_getattr(module, mirror, source)  # type: ignore[attr-defined]

    def dir_without_pyside_modules(*args: Any) -> Sequence[str]:
        if not args:
            return sorted(sys._getframe(1).f_locals)
        if len(args) == 1 and id(args[0]) in skipped:
            return []  # nothing to copy up front: the mirror's __getattr__ finds it on use
        return builtins.dir(*args)

    # pyqtgraph's `_copy_attrs` finds `dir` in its module's globals before the builtin.
    module.dir = dir_without_pyside_modules  # type: ignore[attr-defined]
    try:
        real_exec(module)
    finally:
        if module.__dict__.get("dir") is dir_without_pyside_modules:
            del module.__dict__["dir"]


class _PyqtgraphQtFinder(importlib.abc.MetaPathFinder):
    """Finds pyqtgraph.Qt as the path finder does, with its loader's ``exec_module`` wrapped. One
    use: it leaves ``sys.meta_path`` when pyqtgraph.Qt is found."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PYQTGRAPH_QT:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = getattr(spec, "loader", None)
        real_exec = getattr(loader, "exec_module", None)
        if spec is None or real_exec is None:
            return spec
        loader.exec_module = lambda module: _exec_pyqtgraph_qt(real_exec, module)  # type: ignore[union-attr]
        return spec


def fill_pyqtgraph_mirrors_on_use() -> bool:
    """Make pyqtgraph's copies of QtCore, QtGui and QtWidgets lazy.

    pyqtgraph 0.13-0.14 keeps its own modules ``pyqtgraph.Qt.QtCore``, ``.QtGui`` and ``.QtWidgets``
    and fills them at import with ``setattr(mirror, name, getattr(PySide6_module, name))`` for every
    name in ``dir()`` of the PySide6 module. PySide6 (6.11 here) creates a class's Python type, its
    enums and signatures on first access, so that loop creates all ~720 of them where the running
    window uses about 350: 8 MiB at import, 3.5 MiB of the running window. Here the loop finds nothing to
    copy (``dir`` of those three modules is empty for it) and each mirror gets a module
    ``__getattr__`` that copies a name from PySide6 on first use: the same object under the same
    name, as before. Only when pyqtgraph is not imported yet (it is imported by ``perfdeck.gui``
    modules only, after this package); returns whether the finder was installed.
    """
    if PYQTGRAPH_QT in sys.modules or any(isinstance(f, _PyqtgraphQtFinder) for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _PyqtgraphQtFinder())
    return True


skip_feature_source_scan()
fill_pyqtgraph_mirrors_on_use()
