"""Resident memory at start-up, counted: what the window imports and what PySide6 reads.

Counts, not timings or RSS (RSS depends on the machine): the number of sources PySide6's
``__feature__`` hook reads, the ``linecache`` entries it leaves, and which modules are loaded once
the real window has started. ``benchmarks/rss_profile.py`` gives the MiB behind each of them
(docs/performance.md, "Resident memory").
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import perfdeck

PACKAGE = Path(perfdeck.__file__).parent

# What the local window does not need at start, and who imports it when it is needed:
# the HTTP/TLS stack (libssl, libcrypto; --connect, File → Connect, Prometheus hosts), the D-Bus
# client (the first alert notification), the recording viewer (File → Open recording…), hashlib.
LAZY_MODULES = ("ssl", "_ssl", "http.client", "urllib.request", "email.parser", "jeepney",
                "concurrent.futures", "perfdeck.gui.recording_view", "perfdeck.model.recording_file",
                "_hashlib")  # hashlib maps libcrypto too: desktop-file checksums import it on use


def _run_python(code: str, tmp_path: Path, timeout: float = 120.0) -> str:
    """``code`` in a fresh interpreter, offscreen, with a HOME of its own (default settings)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / ".config"), XDG_CACHE_HOME=str(tmp_path / ".cache"),
               XDG_DATA_HOME=str(tmp_path / ".local/share"), XDG_RUNTIME_DIR=str(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE.parent), env.get("PYTHONPATH", "")) if p)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env=env, timeout=timeout, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_gui_import_reads_no_module_source(tmp_path: Path) -> None:
    """Importing the window's entry (and pyqtgraph through it) makes PySide6's hook read no
    module's source; without the patch it calls ``inspect.getsource`` once per module imported
    after PySide6 (about 400) and fills ``linecache`` with their sources."""
    out = _run_python("""
        import inspect, linecache, sys
        calls = []
        real_getsource = inspect.getsource
        def counting_getsource(obj):
            calls.append(getattr(obj, "__name__", repr(obj)))
            return real_getsource(obj)
        inspect.getsource = counting_getsource
        import perfdeck.gui.app
        import pyqtgraph
        feature = sys.modules.get("PySide6.support.feature")
        if feature is None or not hasattr(feature, "pyside_feature_dict"):
            print("nohook yes")
            raise SystemExit(0)
        print("getsource", len(calls), " ".join(calls))
        print("linecache", len(linecache.cache))
        print("patched", feature._mod_uses_pyside.__module__)
        print("selection", feature.pyside_feature_dict.get("perfdeck.gui.plots"),
              feature.pyside_feature_dict.get("pyqtgraph"))
    """, tmp_path)
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    if "nohook" in lines:
        pytest.skip("this PySide6 has no __feature__ import hook: nothing reads sources")
    count, *read = lines["getsource"].split()
    # What ``import PySide6`` itself imports after installing the hook, before the patch can run
    # (shiboken6, enum); nothing of numpy, pyqtgraph or ours.
    assert int(count) <= 3, read
    assert not [name for name in read if name.split(".")[0] in ("perfdeck", "pyqtgraph", "numpy")], read
    assert int(lines["linecache"]) < 20
    assert lines["patched"] == "perfdeck.gui"
    # Our modules and pyqtgraph mention PySide6, so the hook's own answer for them was 0 too
    # (a PySide module with the default feature selection): the patch changes no selection.
    assert lines["selection"] == "0 0"


def test_the_started_window_has_not_loaded_the_lazy_modules(tmp_path: Path) -> None:
    """The real start-up path (``perfdeck --interval 1 --tab Overview``: ``run_gui`` with recording,
    File → Connect, Prometheus hosts, settings, alerts, notifications, tray) runs its event loop
    for a second with the sampler on, and none of ``LAZY_MODULES`` is loaded, nor any source read
    into ``linecache`` by PySide6's hook."""
    out = _run_python("""
        import linecache, sys
        from perfdeck.gui.app import ensure_application
        app = ensure_application()
        from PySide6.QtCore import QTimer
        from perfdeck.gui.mainwindow import MainWindow
        shown = []
        def quit_once_drawn():
            shown.extend(w.isVisible() for w in app.topLevelWidgets() if isinstance(w, MainWindow))
            app.quit()
        QTimer.singleShot(1500, quit_once_drawn)
        from perfdeck.cli import main
        status = main(["--interval", "1", "--tab", "Overview"])
        print("status", status)
        print("shown", shown)
        print("linecache", len(linecache.cache))
        print("modules", " ".join(sorted(sys.modules)))
    """, tmp_path)
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert lines["status"] == "0"
    assert lines["shown"] == "[True]"  # the window really ran, so its start-up path was taken
    assert int(lines["linecache"]) < 20
    modules = set(lines["modules"].split())
    assert {"perfdeck.gui.connect_dialog", "perfdeck.gui.recording", "perfdeck.gui.notify",
            "perfdeck.model.prometheus", "perfdeck.model.remote"} <= modules  # the features are wired
    loaded = sorted(set(LAZY_MODULES) & modules)
    assert loaded == [], f"imported at start although only some actions need them: {loaded}"


def test_remote_and_prometheus_modules_import_without_the_network_stack(tmp_path: Path) -> None:
    """`perfdeck` imports ``model.remote`` for its options on every start; the HTTP and TLS
    modules come with the first request, and the type the window polls lives apart."""
    out = _run_python("""
        import sys
        import perfdeck.model.remote, perfdeck.model.prometheus, perfdeck.gui.sources
        print(" ".join(m for m in ("ssl", "http.client", "urllib.request") if m in sys.modules) or "none")
        from perfdeck.model.poll import PollResult
        print(perfdeck.model.remote.PollResult is PollResult)
    """, tmp_path)
    assert out.split() == ["none", "True"]


def test_the_network_stack_arrives_with_the_first_connection(tmp_path: Path) -> None:
    """The lazy imports are where the requests are: a refused connection to an agent and to a
    Prometheus server still gives the same one-sentence errors."""
    out = _run_python("""
        import socket, sys
        from perfdeck.model.prometheus import PrometheusClient
        from perfdeck.model.remote import AgentClient, ConnectOptions, RemoteError, tls_context
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        listener.close()  # nothing listens there now: connection refused
        for call in (lambda: AgentClient(ConnectOptions(f"http://127.0.0.1:{port}")).fetch(),
                     lambda: PrometheusClient(f"http://127.0.0.1:{port}").hosts()):
            try:
                call()
            except RemoteError as exc:
                print(exc.message)
        print(type(tls_context(ConnectOptions("https://x", insecure=True))).__name__)
        print("http.client" in sys.modules, "ssl" in sys.modules)
    """, tmp_path)
    lines = out.splitlines()
    assert re.fullmatch(r"nothing listens at 127\.0\.0\.1:\d+ \(connection refused\)", lines[0])
    assert re.fullmatch(r"nothing listens at 127\.0\.0\.1:\d+ \(connection refused\)", lines[1])
    assert lines[2:] == ["SSLContext", "True True"]


def test_no_module_selects_pyside_features() -> None:
    """The patch gives every module the default feature selection; that is only right while no
    module asks for another (``from __feature__ import snake_case, true_property``). Checked in
    our sources and pyqtgraph's."""
    import pyqtgraph

    selecting = re.compile(r"^\s*from\s+__feature__\s+import|^\s*import\s+__feature__", re.MULTILINE)
    roots = [PACKAGE, Path(pyqtgraph.__file__).parent]
    checked = 0
    for root in roots:
        for path in root.rglob("*.py"):
            checked += 1
            assert not selecting.search(path.read_text(encoding="utf-8", errors="replace")), path
    assert checked > 300  # both trees were really read


def test_skip_feature_source_scan_is_defensive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a PySide6 whose hook has ``_mod_uses_pyside`` is patched; another PySide6 (a
    rename in 6.12+, or no hook) is left alone and start-up goes on."""
    import perfdeck.gui as gui

    monkeypatch.delitem(sys.modules, "PySide6.support.feature", raising=False)
    assert gui.skip_feature_source_scan() is False
    without = types.ModuleType("PySide6.support.feature")
    monkeypatch.setitem(sys.modules, "PySide6.support.feature", without)
    assert gui.skip_feature_source_scan() is False
    assert not hasattr(without, "_mod_uses_pyside")
    hook = types.ModuleType("PySide6.support.feature")
    hook._mod_uses_pyside = lambda module: False  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "PySide6.support.feature", hook)
    assert gui.skip_feature_source_scan() is True
    assert hook._mod_uses_pyside(types.ModuleType("anything")) is True  # type: ignore[attr-defined]


def test_pyqtgraph_mirrors_fill_on_use_with_the_same_objects(tmp_path: Path) -> None:
    """pyqtgraph's ``pyqtgraph.Qt.QtCore/QtGui/QtWidgets`` no longer make PySide6 create every
    class at import (PySide6 creates a type on first access: ``len(module.__dict__)`` counts the
    ones created); any name asked for is the very PySide6 object, as pyqtgraph's copy gave it."""
    out = _run_python("""
        import sys
        import perfdeck.gui
        import PySide6.QtCore, PySide6.QtGui, PySide6.QtWidgets
        # A PySide6 that creates every class with its module has nothing to save here.
        print("lazy", len(PySide6.QtWidgets.__dict__) < len(dir(PySide6.QtWidgets)) / 2)
        import perfdeck.gui.app
        import pyqtgraph as pg
        for name in ("QtCore", "QtGui", "QtWidgets"):
            source = getattr(PySide6, name)
            print(name, len(source.__dict__), len(dir(source)))
        print("finder_left", any("PyqtgraphQt" in type(f).__name__ for f in sys.meta_path))
        print("dir_left", "dir" in vars(pg.Qt))
        different = []
        for name in ("QtCore", "QtGui", "QtWidgets"):
            source, mirror = getattr(PySide6, name), getattr(pg.Qt, name)
            for attr in dir(source):
                if not attr.startswith("__") and getattr(mirror, attr) is not getattr(source, attr):
                    different.append(f"{name}.{attr}")
        print("different", " ".join(different) or "none")
        print("missing", hasattr(pg.Qt.QtGui, "NoSuchQtClass"))
    """, tmp_path)
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert lines["different"] == "none"  # whatever the PySide6: the mirrors give PySide6's objects
    if lines["lazy"] != "True":
        pytest.skip("this PySide6 creates every class when its module is imported")
    for name in ("QtCore", "QtGui", "QtWidgets"):
        created, names = map(int, lines[name].split())
        assert names > 200
        assert created < names / 2, f"PySide6.{name}: {created} of {names} classes created at import"
    assert lines["finder_left"] == "False"
    assert lines["dir_left"] == "False"
    assert lines["different"] == "none"
    assert lines["missing"] == "False"
