"""The main window: tabs from ``gui.tabs``, menus, toolbar, status bar, redraw scheduling.

Hooks for other parts of the GUI (tray, settings, export, recording):

``self.file_menu``, ``self.view_menu``, ``self.help_menu``
    QMenus to add actions to. File ends with Quit; insert before it with ``add_file_action``.
``self.sampler`` / ``self.history`` / ``self.context``
    The ``gui.sampler.Sampler`` (``snapshot`` signal, ``set_interval``, ``pause``/``resume``),
    the ``model.history.History`` every snapshot is appended to, and the ``ViewContext``
    handed to the views.
``self.views`` / ``view(title)`` / ``view_created`` (signal: title, View)
    Tabs are built lazily, when first shown (building every tab up front cost most of the
    start-up time), so ``self.views`` holds only the views built so far. ``view(title)`` returns
    a tab's view, building it if needed; to act on a view whenever it comes to exist, connect
    ``view_created`` and also handle the ones already in ``self.views``.
``add_status_widget(widget)``
    A permanent widget on the right of the status bar (e.g. a recording indicator).
``close_hooks``
    Callables ``hook(event) -> bool`` asked in order when the user closes the window; one that
    returns True has handled it (e.g. hid the window to the tray) and the app keeps running.
    They are skipped by ``quit_app()`` (File > Quit), which always shuts down.
``about_to_shut_down`` (signal)
    Emitted once before the sampler stops; connect cleanup (stop a recording, remove the tray).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from perfdeck import __version__
from perfdeck.collectors._common import KeptFile
from perfdeck.gui.plots import TIME_WINDOWS
from perfdeck.gui.sampler import Sampler
from perfdeck.gui.tabs import TABS, TabEntry
from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext, fix_label_size
from perfdeck.model.history import History
from perfdeck.model.series import Snapshot, Unavailable
from perfdeck.model.units import format_bytes

log = logging.getLogger(__name__)

# Even at 10 Hz sampling the eye needs no more than a few frames a second; drawing is the cost.
MAX_REDRAWS_PER_SECOND = 4.0
# The status bar's own-usage reading: at most this often, in a frame that draws a sample (0.9, not
# 1: a 1 s sample interval must not skip every other reading on timer jitter), else by a timer.
SELF_USAGE_SECONDS = 0.9
SELF_USAGE_FALLBACK_SECONDS = 2.0
# Slow, costly families read less often while the tab that lists them is not shown:
# family -> (tab title, seconds between reads while hidden). The process walk is ~10-20 ms.
HIDDEN_TAB_FAMILY_INTERVALS: dict[str, tuple[str, float]] = {"proc": ("Processes", 10.0)}
HIDDEN_TAB_FAMILY_INTERVALS["cgroup"] = ("Services", 10.0)  # the cgroup tree, while nobody looks at it
INTERVAL_CHOICES = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
DEFAULT_WINDOW_SECONDS = 300.0


def _parse_pair(value: object, separator: str) -> tuple[int, int] | None:
    """'1200x800' -> (1200, 800); anything else (a corrupt file) -> None."""
    try:
        first, second = str(value).split(separator)
        return int(first), int(second)
    except ValueError:
        return None


def default_size(screen: QSize | None) -> QSize:
    """A first window size for a screen: most of it, within 1000x700 .. 1600x1000."""
    if screen is None or screen.isEmpty():
        return QSize(1100, 720)
    width = max(min(int(screen.width() * 0.8), 1600), min(1000, screen.width()))
    height = max(min(int(screen.height() * 0.8), 1000), min(700, screen.height()))
    return QSize(width, height)


def format_span(seconds: float, whole_minutes: bool = False) -> str:
    """45 -> '45 s', 150 -> '2 min 30 s', 7260 -> '2 h 1 min'. With ``whole_minutes`` a coarse
    reading for a label that should change rarely: '40 s' (tens of seconds from 10 s), '2 min'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds - seconds % 10 if whole_minutes and seconds >= 10 else seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs and not whole_minutes else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def format_duration(seconds: float) -> str:
    """120 -> '2 min', 45 -> '45 s', 5400 -> '1.5 h'."""
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


class _BrokenTab(View):
    """Stands in for a tab whose module failed to import, saying why."""

    def __init__(self, context: ViewContext, entry: TabEntry, error: str) -> None:
        super().__init__(context)
        layout = QVBoxLayout(self)
        label = UnavailableLabel(self)
        label.set_unavailable(Unavailable(f"the {entry.title} tab failed to load ({entry.target}): {error}",
                                          "report this as a bug with the text above"))
        layout.addWidget(label)
        layout.addStretch(1)


class MainWindow(QMainWindow):
    """PerfDeck's window. See the module docstring for the hooks other components use."""

    about_to_shut_down = Signal()
    view_refreshed = Signal(str)  # tab title; lets tests and benchmarks see redraws
    view_created = Signal(str, object)  # tab title, View: a lazily built tab now exists

    def __init__(self, sampler: Sampler, history: History, tabs: Sequence[TabEntry] = TABS,
                 initial_tab: str | None = None, window_seconds: float = DEFAULT_WINDOW_SECONDS,
                 parent: QWidget | None = None, state_path: Path | None = None) -> None:
        """``state_path``: an INI file where the window remembers its size, position and last tab
        (None: nothing is remembered, as in tests)."""
        super().__init__(parent)
        self.setWindowTitle("PerfDeck")
        self.state_path = state_path
        self.resize(default_size(self.screen().availableGeometry().size() if self.screen() else None))
        self.sampler = sampler
        self.history = history
        self.context = ViewContext(history=history, sampler=sampler, window_seconds=window_seconds,
                                   _show_message=self._show_message)
        self.close_hooks: list[Callable[[QCloseEvent], bool]] = []
        self.views: dict[str, View] = {}
        self._shut_down = False
        self._quitting = False
        self._dirty = False
        self._display_paused = False
        self._last_redraw = 0.0
        self._reported_failures: list[str] = []
        self._slowdowns: dict[str, float | None] = {}
        self.refresh_errors: list[str] = []  # "tab: error" for each failed refresh (tests read it)

        self.tab_widget = QTabWidget(self)
        self.tab_widget.setDocumentMode(True)
        # Twelve tabs need more than 1000 px: scroll the tab bar instead of widening the window.
        self.tab_widget.setUsesScrollButtons(True)
        self.tab_widget.tabBar().setExpanding(False)
        self.setCentralWidget(self.tab_widget)
        self._entries: list[TabEntry] = list(tabs)
        for entry in self._entries:
            slot = QWidget()  # the view goes in here the first time the tab is shown
            QVBoxLayout(slot).setContentsMargins(0, 0, 0, 0)
            self.tab_widget.addTab(slot, entry.title)
        self.tab_widget.currentChanged.connect(self._on_tab_changed)

        # One shot timer: coalesces snapshots that arrive faster than the redraw cap.
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.timeout.connect(self._redraw)

        self._build_toolbar()
        self._build_menus()
        self._build_status_bar()

        sampler.snapshot.connect(self.on_snapshot)
        sampler.failure.connect(self._on_failure)
        sampler.interval_changed.connect(self._update_interval_label)
        sampler.paused_changed.connect(self._update_interval_label)
        if sampler.interval_message:
            self._show_message(sampler.interval_message, 10000)
        self._install_tab_shortcuts()
        remembered_tab = self._restore_state()
        if initial_tab:
            self.select_tab(initial_tab)
        elif remembered_tab:
            self.select_tab(remembered_tab)
        self.current_view()  # build the first tab now, so the window opens with it
        self._update_family_intervals()

    # --- construction ---------------------------------------------------------------------------
    def _build_view(self, index: int) -> View:
        entry = self._entries[index]
        existing = self.views.get(entry.title)
        if existing is not None:
            return existing
        try:
            view = entry.load()(self.context)
        except Exception as exc:  # one broken tab must not take the window down
            log.exception("tab %s failed to load", entry.title)
            view = _BrokenTab(self.context, entry, f"{type(exc).__name__}: {exc}")
        slot = self.tab_widget.widget(index)
        slot.layout().addWidget(view)
        self.views[entry.title] = view
        self.view_created.emit(entry.title, view)
        return view

    def view(self, title: str) -> View | None:
        """The view of the tab called ``title`` (built now if it was not yet), or None."""
        for index, entry in enumerate(self._entries):
            if entry.title == title:
                return self._build_view(index)
        return None

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Plot controls", self)
        toolbar.setObjectName("plotToolbar")
        toolbar.setMovable(False)
        self.addToolBar(toolbar)
        toolbar.addWidget(QLabel(" Time window: "))
        self.window_combo = QComboBox(toolbar)
        for label, seconds in TIME_WINDOWS:
            self.window_combo.addItem(label, seconds)
        current = self.context.window_seconds
        if current not in [s for _, s in TIME_WINDOWS]:  # a custom window from the settings
            self.window_combo.addItem(format_duration(current), current)
        self.window_combo.setCurrentIndex(self.window_combo.findData(current))
        self.window_combo.currentIndexChanged.connect(
            lambda index: self.set_time_window(float(self.window_combo.itemData(index))))
        toolbar.addWidget(self.window_combo)
        toolbar.addSeparator()
        self.pause_action = QAction("Pause", self)
        self.pause_action.setCheckable(True)
        self.pause_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.pause_action.setToolTip("Freeze the plots (sampling and recording go on); Space")
        self.pause_action.toggled.connect(self.set_display_paused)
        toolbar.addAction(self.pause_action)
        toolbar.addSeparator()
        # How much history exists, so a plot that shows 40 s of a 5 min window explains itself.
        self.history_label = QLabel("")
        self.history_label.setToolTip("How far back the plots can go: the samples kept so far")
        fix_label_size(self.history_label, " History: 88 min 88 s ")
        toolbar.addWidget(self.history_label)
        self.toolbar = toolbar

    def _build_menus(self) -> None:
        menu_bar = self.menuBar()
        self.file_menu = menu_bar.addMenu("&File")
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.quit_app)
        self.file_menu.addAction(self.quit_action)

        self.view_menu = menu_bar.addMenu("&View")
        self.view_menu.addAction(self.pause_action)
        self.pause_sampling_action = QAction("Pause &sampling", self)
        self.pause_sampling_action.setCheckable(True)
        self.pause_sampling_action.setToolTip("Stop reading the system (no CPU spent, no data kept)")
        self.pause_sampling_action.toggled.connect(
            lambda paused: self.sampler.pause() if paused else self.sampler.resume())
        self.view_menu.addAction(self.pause_sampling_action)
        interval_menu = self.view_menu.addMenu("Sampling &interval")
        group = QActionGroup(self)
        for seconds in INTERVAL_CHOICES:
            action = QAction(f"{seconds:g} s", self, checkable=True)
            action.setChecked(abs(seconds - self.sampler.interval) < 1e-9)
            action.triggered.connect(lambda _checked=False, s=seconds: self.set_interval(s))
            group.addAction(action)
            interval_menu.addAction(action)
        self.interval_menu = interval_menu
        window_menu = self.view_menu.addMenu("Time &window")
        window_group = QActionGroup(self)
        for index, (label, seconds) in enumerate(TIME_WINDOWS):
            action = QAction(label, self, checkable=True)
            action.setChecked(seconds == self.context.window_seconds)
            action.triggered.connect(lambda _checked=False, i=index: self.window_combo.setCurrentIndex(i))
            window_group.addAction(action)
            window_menu.addAction(action)
        theme_menu = self.view_menu.addMenu("&Theme")
        theme_group = QActionGroup(self)
        for mode in ("system", "light", "dark"):
            action = QAction(mode.capitalize(), self, checkable=True)
            action.setChecked(mode == "system")
            action.triggered.connect(lambda _checked=False, m=mode: self._set_theme(m))
            theme_group.addAction(action)
            theme_menu.addAction(action)
        self.view_menu.addSeparator()

        self.help_menu = menu_bar.addMenu("&Help")
        about = QAction("&About PerfDeck", self)
        about.triggered.connect(self.show_about)
        self.help_menu.addAction(about)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.interval_label = QLabel()
        self.self_usage_label = QLabel()
        self.self_usage_label.setToolTip("PerfDeck's own CPU use (% of one core, all threads) and memory")
        # Fixed sizes: text that changes every second must not re-layout the window.
        fix_label_size(self.self_usage_label, "PerfDeck 888.8 % CPU · 8888 MiB", opaque=True)
        fix_label_size(self.interval_label, "Every 0.25 s · sampling paused")
        status.addPermanentWidget(self.interval_label)
        status.addPermanentWidget(self.self_usage_label)
        self._update_interval_label()
        # RSS: the second field of /proc/self/statm (pages), kept open and re-read with one pread;
        # CPU seconds from os.times() (the times() system call: no file at all).
        self._self_statm = KeptFile("/proc/self/statm", 256)
        self._page_size = os.sysconf("SC_PAGE_SIZE")
        # (monotonic time, user+system CPU seconds) of the last readings: the CPU % is averaged
        # over up to 10 s, because over 1 s the kernel's 10 ms tick makes a light process read
        # 0 % or 1 % at random.
        self._self_cpu_samples: collections.deque[tuple[float, float]] = collections.deque(maxlen=11)
        # Read once a second while the window is shown, in the frame that draws a sample: a timer
        # of its own would wake the GUI thread and repaint and flush the window a second time each
        # second. This timer only covers the seconds without a redraw (sampling or plots paused,
        # intervals over 1 s); every reading restarts it. It runs only while the window is shown
        # (_sync_self_usage_timer): nobody reads the status bar of a hidden or minimised window.
        self._self_timer = QTimer(self)
        self._self_timer.setInterval(round(1000 * SELF_USAGE_FALLBACK_SECONDS))
        self._self_timer.timeout.connect(self._update_self_usage)
        self._self_usage_at = -math.inf  # monotonic time of the last reading

    # --- public API -------------------------------------------------------------------------------
    def add_status_widget(self, widget: QWidget, stretch: int = 0) -> None:
        """Add a permanent widget to the right of the status bar (left of the built-in ones)."""
        self.statusBar().insertPermanentWidget(0, widget, stretch)

    def add_file_action(self, action: QAction) -> None:
        """Insert an action in the File menu above Quit."""
        self.file_menu.insertAction(self.quit_action, action)

    def select_tab(self, title: str) -> bool:
        """Show the tab called ``title`` (case-insensitive). Returns False, with a message, if none."""
        for index in range(self.tab_widget.count()):
            if self.tab_widget.tabText(index).lower() == title.lower():
                self.tab_widget.setCurrentIndex(index)
                return True
        names = ", ".join(self.tab_widget.tabText(i) for i in range(self.tab_widget.count()))
        self._show_message(f"no tab called {title!r}; tabs: {names}", 10000)
        return False

    def current_view(self) -> View | None:
        index = self.tab_widget.currentIndex()
        return self._build_view(index) if 0 <= index < len(self._entries) else None

    def set_time_window(self, seconds: float) -> None:
        self.context.window_seconds = seconds
        for view in self.views.values():
            view.time_window_changed(seconds)
        self._refresh_current(force=True)

    def set_interval(self, seconds: float) -> None:
        message = self.sampler.set_interval(seconds)
        if message:
            self._show_message(message, 10000)
        covered = self.history.capacity * self.sampler.interval
        if covered < self.context.window_seconds:
            self._show_message(f"history holds {covered / 60:.0f} min at {self.sampler.interval:g} s "
                               "per sample; older data scrolls out", 10000)

    def set_display_paused(self, paused: bool) -> None:
        """Freeze or unfreeze the plots. Sampling (and recording) continue; nothing is lost."""
        self._display_paused = paused
        if self.pause_action.isChecked() != paused:
            self.pause_action.setChecked(paused)
        self._update_interval_label()
        if not paused:
            self._refresh_current(force=True)

    @property
    def display_paused(self) -> bool:
        return self._display_paused

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About PerfDeck",
            f"<b>PerfDeck {__version__}</b><p>A Linux desktop monitor for what the hardware is really "
            "doing: CPU, memory, disks, network, sensors, processes, hardware counters and DRAM "
            "bandwidth.</p><p>License: GPL-3.0-or-later</p>")

    def quit_app(self) -> None:
        """Shut down and quit, whatever the close hooks would say (File > Quit, tray Quit)."""
        self._quitting = True
        self.close()
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def shutdown(self) -> None:
        """Stop the sampler (collectors closed, thread ended) and the views. Safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        self.save_state()
        # Snapshots cross threads in batches: the held ones reach the history and a recording
        # before the recording stops on about_to_shut_down.
        self.sampler.flush()
        self.about_to_shut_down.emit()
        self._redraw_timer.stop()
        self._self_timer.stop()
        self._self_statm.close()
        with contextlib.suppress(RuntimeError, TypeError):  # already disconnected
            self.sampler.snapshot.disconnect(self.on_snapshot)
        self.sampler.stop()
        for view in self.views.values():
            try:
                view.shutdown()
            except Exception:
                log.exception("view shutdown failed")

    # --- data flow -------------------------------------------------------------------------------
    def on_snapshot(self, snapshot: Snapshot) -> None:
        """A new snapshot from the sampler: keep it, then schedule a capped redraw of one tab."""
        self.history.append_snapshot(snapshot)
        self.context.latest = snapshot
        for view in self.views.values():
            view.observe(snapshot)
        self._dirty = True
        self._schedule_redraw()

    def _schedule_redraw(self) -> None:
        if self._redraw_timer.isActive() or self._display_paused or not self._is_shown():
            return
        wait = self._last_redraw + 1.0 / MAX_REDRAWS_PER_SECOND - time.monotonic()
        self._redraw_timer.start(max(0, round(wait * 1000)))

    def _is_shown(self) -> bool:
        return self.isVisible() and not self.isMinimized()

    def _redraw(self) -> None:
        if self._dirty:
            self._refresh_current()

    def _refresh_current(self, force: bool = False) -> None:
        view = self.current_view()
        snapshot = self.context.latest
        if view is None or snapshot is None or self._shut_down:
            return
        if not force and (self._display_paused or not self._is_shown()):
            return
        self._dirty = False
        self._last_redraw = time.monotonic()
        try:
            view.refresh(snapshot)
        except Exception as exc:  # a bug in one view must not stop the others
            log.exception("refreshing a view failed")
            title = self.tab_widget.tabText(self.tab_widget.currentIndex())
            self.refresh_errors.append(f"{title}: {type(exc).__name__}: {exc}")
            self._show_message(f"drawing this tab failed: {type(exc).__name__}: {exc}", 10000)
        if self._self_timer.isActive() and self._last_redraw - self._self_usage_at >= SELF_USAGE_SECONDS:
            self._update_self_usage()  # in this frame: one repaint and flush of the window a second
        self.view_refreshed.emit(self.tab_widget.tabText(self.tab_widget.currentIndex()))

    def _on_tab_changed(self, _index: int) -> None:
        self._update_family_intervals()
        if not self._display_paused:
            self._refresh_current(force=True)

    def _update_family_intervals(self) -> None:
        # A tab counts as seen only while the window itself is shown (not hidden to the tray).
        title = self.tab_widget.tabText(self.tab_widget.currentIndex()) if self._is_shown() else ""
        for family, (tab, hidden_seconds) in HIDDEN_TAB_FAMILY_INTERVALS.items():
            wanted = None if title == tab else hidden_seconds
            if self._slowdowns.get(family, -1.0) != wanted:
                self._slowdowns[family] = wanted
                self.sampler.set_family_slowdown(family, wanted)

    # --- status bar ------------------------------------------------------------------------------
    def _show_message(self, text: str, timeout_ms: int = 5000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def _on_failure(self, family: str, message: str) -> None:
        text = f"{family} collector failed: {message}; other metrics continue"
        self._reported_failures.append(text)
        log.warning(text)
        self._show_message(text, 15000)

    @property
    def reported_failures(self) -> list[str]:
        return list(self._reported_failures)

    def _update_interval_label(self, *_args: object) -> None:
        text = f"Every {self.sampler.interval:g} s"
        if self.sampler.paused:
            text += " · sampling paused"
        elif self._display_paused:
            text += " · plots paused"
        self.interval_label.setText(text)

    def _self_rss(self) -> int | None:
        """This process's resident set in bytes, as psutil's memory_info().rss reads it (statm)."""
        data = self._self_statm.read()
        try:
            return int(data.split()[1]) * self._page_size if data else None
        except (IndexError, ValueError):
            return None

    def _update_self_usage(self) -> None:
        now = time.monotonic()
        self._self_usage_at = now
        if self._self_timer.isActive():
            self._self_timer.start()  # restarted: it fires only after a stretch without redraws
        self._update_history_label()
        times = os.times()  # every thread's user and system time, as /proc/self/stat has them
        samples = self._self_cpu_samples
        samples.append((now, times.user + times.system))
        (t0, cpu0), (t1, cpu1) = samples[0], samples[-1]
        cpu = f"{100.0 * (cpu1 - cpu0) / (t1 - t0):.1f} %" if t1 > t0 else "—"
        rss = self._self_rss()
        memory = f" · {format_bytes(rss, 0)}" if rss is not None else ""  # unreadable: not shown
        text = f"PerfDeck {cpu} CPU{memory}"
        if self.self_usage_label.text() != text:  # an unchanged label is not repainted
            self.self_usage_label.setText(text)

    def _sync_self_usage_timer(self) -> None:
        """Run the own-usage timer only while the window is shown; restarting, forget the CPU
        samples from before (the average would span the hidden time) and read at once."""
        shown = self._is_shown() and not self._shut_down
        if shown == self._self_timer.isActive():
            return
        if shown:
            self._self_cpu_samples.clear()
            self._update_self_usage()
            self._self_timer.start()
        else:
            self._self_timer.stop()

    def _update_history_label(self) -> None:
        latest, oldest = self.history.latest_time(), self.history.oldest_time()
        if latest is None or oldest is None:
            text = " History: none yet "
        else:
            # Tens of seconds, then whole minutes: a label that changes every second repaints the
            # toolbar and the window behind it every second (it cannot be opaque on a toolbar).
            text = f" History: {format_span(latest - oldest, whole_minutes=True)} "
        if self.history_label.text() != text:
            self.history_label.setText(text)

    # --- keyboard and remembered state --------------------------------------------------------------
    def _install_tab_shortcuts(self) -> None:
        """Tab switching from anywhere in the window, the process table included.

        Window-wide QShortcuts are matched before the focused widget sees the key, so a table
        cannot swallow Ctrl+PgDn (and move its selection) instead.
        """
        bindings: list[tuple[str, Callable[[], None]]] = [
            ("Ctrl+Tab", lambda: self._step_tab(1)), ("Ctrl+PgDown", lambda: self._step_tab(1)),
            ("Ctrl+Shift+Tab", lambda: self._step_tab(-1)), ("Ctrl+Backtab", lambda: self._step_tab(-1)),
            ("Ctrl+PgUp", lambda: self._step_tab(-1))]
        bindings += [(f"Alt+{n}", lambda n=n: self._go_tab(n - 1)) for n in range(1, 10)]
        self.tab_shortcuts: list[QShortcut] = []
        for keys, slot in bindings:
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)
            self.tab_shortcuts.append(shortcut)

    def _step_tab(self, step: int) -> None:
        count = self.tab_widget.count()
        if count:
            self.tab_widget.setCurrentIndex((self.tab_widget.currentIndex() + step) % count)

    def _go_tab(self, index: int) -> None:
        if 0 <= index < self.tab_widget.count():
            self.tab_widget.setCurrentIndex(index)

    def _state(self) -> QSettings | None:
        if self.state_path is None:
            return None
        return QSettings(str(self.state_path), QSettings.Format.IniFormat)

    def _restore_state(self) -> str | None:
        """Size and position from the last session (if they still fit a screen); the last tab."""
        state = self._state()
        if state is None:
            return None
        size = _parse_pair(state.value("window/size"), "x")
        if size is not None and size[0] >= 400 and size[1] >= 300:
            self.resize(*size)
        position = _parse_pair(state.value("window/position"), ",")
        # Only onto a screen that still exists (a monitor may have been unplugged since).
        if position is not None and QGuiApplication.screenAt(QPoint(*position)) is not None:
            self.move(*position)
        tab = state.value("window/tab")
        return str(tab) if tab else None

    def save_state(self) -> None:
        """Remember size, position and tab for the next start (silently skipped if unwritable)."""
        state = self._state()
        if state is None:
            return
        state.setValue("window/size", f"{self.width()}x{self.height()}")
        state.setValue("window/position", f"{self.x()},{self.y()}")
        state.setValue("window/tab", self.tab_widget.tabText(self.tab_widget.currentIndex()))
        state.sync()
        if state.status() != QSettings.Status.NoError:
            log.warning("could not save the window state to %s", self.state_path)

    # --- Qt events --------------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.WindowStateChange:
            self._update_family_intervals()
            self._sync_self_usage_timer()
            # Restored from minimized: draw what arrived meanwhile.
            if not self.isMinimized() and self._dirty:
                QTimer.singleShot(0, lambda: self._refresh_current(force=False))
        super().changeEvent(event)

    def showEvent(self, event: QEvent) -> None:
        super().showEvent(event)
        self._update_family_intervals()
        self._sync_self_usage_timer()
        if self._dirty:
            QTimer.singleShot(0, lambda: self._refresh_current(force=False))

    def hideEvent(self, event: QEvent) -> None:
        super().hideEvent(event)
        self._update_family_intervals()
        self._sync_self_usage_timer()

    def _set_theme(self, mode: str) -> None:
        from perfdeck.gui.theme import apply_theme

        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, mode)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask ``close_hooks`` (unless quitting), then shut down. Extend via hooks or override."""
        if not self._quitting:
            for hook in self.close_hooks:
                try:
                    if hook(event):
                        event.ignore()
                        return
                except Exception:
                    log.exception("close hook failed; closing anyway")
        self.shutdown()
        event.accept()
        super().closeEvent(event)
