"""Starting the desktop application: collectors, sampler thread, history, main window.

``run_gui(args)`` is what ``perfdeck`` (no arguments) and ``perfdeck gui`` call. ``build_window``
does the same wiring without running the event loop, for tests and for other entry points.

Set ``PERFDECK_BENCH=1`` to print ``PERFDECK_FIRST_PAINT <epoch seconds>`` on stdout when the
window is first painted (``benchmarks/gui_overhead.py`` measures the time to first window with it).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# PySide6 first, so pyqtgraph (imported by the views) binds to it.
import numpy as np
from PySide6.QtCore import QEvent, QObject, QSocketNotifier
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from perfdeck import __version__
from perfdeck.gui.mainwindow import DEFAULT_WINDOW_SECONDS, MainWindow
from perfdeck.gui.sampler import Sampler, clamp_interval
from perfdeck.gui.sources import SnapshotSource
from perfdeck.gui.tabs import TABS, TabEntry
from perfdeck.gui.theme import apply_theme
from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import DEFAULT_HISTORY_SECONDS, History, capacity_for
from perfdeck.model.registry import FAMILIES
from perfdeck.model.series import Unavailable
from perfdeck.resources import ResourceNotFoundError, icon_svg

log = logging.getLogger(__name__)

APP_ID = "io.github.perfdeck.PerfDeck"


def load_engine(families: Sequence[str] | None = None) -> SamplingEngine:
    """An engine over every registered family; a family whose module fails to load is reported
    as unavailable (with the error) instead of stopping the app."""
    collectors: list[Collector] = []
    missing: dict[str, Unavailable] = {}
    for family in FAMILIES:
        if families is not None and family.name not in families:
            continue
        try:
            collectors.append(family.load()())
        except Exception as exc:
            log.exception("collector %s failed to load", family.name)
            missing[family.name] = Unavailable(
                f"the {family.title} collector failed to load: {type(exc).__name__}: {exc}",
                "report this as a bug with the text above")
    engine = SamplingEngine(collectors)
    engine.family_unavailable.update(missing)
    return engine


class _FirstPaintProbe(QObject):
    """Prints the time of the window's first paint once (benchmark support)."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._done = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self._done and event.type() == QEvent.Type.Paint:
            self._done = True
            print(f"PERFDECK_FIRST_PAINT {time.time():.6f}", flush=True)
            watched.removeEventFilter(self)
        return False


def install_signal_handlers(app: QApplication) -> None:
    """Quit cleanly (sampler stopped, collectors closed) on SIGINT and SIGTERM.

    Python runs signal handlers only between bytecodes, and Qt's event loop is C++, so the
    handler would wait for the next Python callback. ``signal.set_wakeup_fd`` writes to a socket
    that a ``QSocketNotifier`` watches: the loop wakes at once, with no polling timer.
    """
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, app)

    def on_signal() -> None:
        with contextlib.suppress(OSError):
            reader.recv(64)
        app.quit()

    notifier.activated.connect(on_signal)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)  # the wakeup fd does the work
    app._perfdeck_signal_sockets = (reader, writer, notifier)  # type: ignore[attr-defined]


def ensure_application(argv: Sequence[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName("PerfDeck")
    app.setApplicationDisplayName("PerfDeck")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("PerfDeck")
    app.setDesktopFileName(APP_ID)
    with contextlib.suppress(ResourceNotFoundError):  # a broken install still runs, iconless
        app.setWindowIcon(QIcon(str(icon_svg())))
    return app


def build_window(interval: float = 1.0, history_seconds: float = DEFAULT_HISTORY_SECONDS,
                 initial_tab: str | None = None, engine: SamplingEngine | None = None,
                 tabs: Sequence[TabEntry] = TABS, window_seconds: float = DEFAULT_WINDOW_SECONDS,
                 families: Sequence[str] | None = None, source: SnapshotSource | None = None,
                 state_path: Path | None = None) -> MainWindow:
    """Wire engine -> sampler -> history -> window. The sampler is not started yet.

    ``families`` limits the collectors (default: every registered family); ``window_seconds`` is
    the time window the plots show first. ``source`` replaces the local engine (a remote agent).
    """
    origin = source if source is not None else engine if engine is not None else load_engine(families)
    sampler = Sampler(origin, interval)
    # float32: half the memory of a long history on a many-CPU machine; recordings are written from
    # the snapshots at full precision, so only exports from the history are rounded (7 digits).
    history = History(capacity_for(history_seconds, sampler.interval), dtype=np.float32)
    return MainWindow(sampler, history, tabs=tabs, initial_tab=initial_tab, window_seconds=window_seconds,
                      state_path=state_path)


def run_gui(args: argparse.Namespace) -> int:
    """Open the window and run until it is closed. Returns the process exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = ensure_application()
    install_signal_handlers(app)
    from perfdeck.gui.integration import install_desktop, load_settings

    store, stored = load_settings()  # never raises: bad values fall back to defaults, with a note
    prefs = stored.settings
    apply_theme(app, getattr(args, "theme", None) or prefs.theme)
    interval, interval_message = clamp_interval(prefs.interval if args.interval is None else args.interval)
    if interval_message:
        print(f"perfdeck: {interval_message}", file=sys.stderr)
    remote = getattr(args, "connect_options", None)  # perfdeck --connect URL: an agent, not this machine
    from perfdeck.gui.connect_dialog import (
        attach_remote,
        install_connect_action,
        install_prometheus_action,
        remote_source,
        remote_tabs,
    )

    window = build_window(interval=interval, history_seconds=prefs.history_seconds, initial_tab=args.tab,
                          window_seconds=prefs.window_seconds, families=prefs.families,
                          source=remote_source(remote, interval) if remote else None,
                          tabs=remote_tabs() if remote else TABS,
                          state_path=store.path.with_name("window.ini"))  # size, position, last tab
    from perfdeck.gui.recording import install_recording, open_recordings

    install_recording(window)  # File > Open recording / Export CSV / Record; before the tray reads it
    install_connect_action(window)  # File > Connect to host…
    # File > Hosts on Prometheus…; perfdeck --prometheus URL shows its hosts once the window runs.
    install_prometheus_action(window, getattr(args, "prometheus", None) or "",
                              getattr(args, "agent_options", None) or remote,
                              show_at_start=bool(getattr(args, "prometheus", None)) and remote is None)
    attach_remote(window)  # the host in the title and status bar, when it shows one
    desktop = install_desktop(window, stored, store)  # settings, alerts, notifications, tray
    if os.environ.get("PERFDECK_BENCH") == "1":
        window.installEventFilter(_FirstPaintProbe(window))
    # Belt and braces: whatever ends the event loop, the sampler thread is stopped.
    app.aboutToQuit.connect(window.shutdown)
    recordings = list(getattr(args, "open_recordings", None) or [])
    if recordings and not getattr(args, "live", False):
        # perfdeck --open run.csv: the recordings only, no live window, tray or sampling; closing
        # the last recording window quits.
        if desktop.tray is not None:
            desktop.tray.hide()
        app.setQuitOnLastWindowClosed(True)
        open_recordings(window, recordings)
        if not [w for w in app.topLevelWidgets() if w.isVisible()]:
            return 1  # none could be opened (each said why)
    else:
        # Hidden in the tray when there is one, else minimised; nothing is drawn while hidden.
        desktop.start(minimized=args.minimized or prefs.start_minimized)
        window.sampler.start()
        open_recordings(window, recordings)  # perfdeck --open CSV --live
    status = app.exec()
    window.shutdown()
    return int(status)
