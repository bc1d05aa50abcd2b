"""Per-process counters (tiptop-like): live IPC, cache-miss % and branch-miss % of one process.

The panel follows the Processes tab's ``process_selected(pid)`` signal. For the selected process
it opens ``perfdeck.perf.process.ProcessCounters`` (one small counter group set per thread, with
``inherit`` for threads created later) and reads it once a second, only while the panel is
visible; the fds are closed when another process is selected, when the process exits and on
shutdown. Software counters (context switches, page faults, migrations) work in VMs too; any
metric that cannot be counted shows the kernel's reason instead of a number.

A second row shows top-down level 1 (retiring, bad speculation, frontend and backend bound, % of
pipeline slots) from ``perfdeck.perf.process_topdown.ProcessTopdown``, opened with the privilege and
``inherit`` the counters above found; where TMA cannot be counted per process it says why.
"""

from __future__ import annotations

import errno
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import psutil
from PySide6.QtCore import QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from perfdeck.gui.plots import display_value
from perfdeck.gui.views.common import ValueTile
from perfdeck.model.names import plain_reason
from perfdeck.model.series import Unavailable
from perfdeck.perf.abi import PerfOpenError
from perfdeck.perf.topdown import MEANINGS, SMT_CONTENTION

log = logging.getLogger(__name__)

# "(needs cycles)" suffixes and the "perf_event_open(type=0 config=0x1 ..., cpu=-1): " context
# prefix of an open error are noise in a small tile.
_NEEDS = re.compile(r"\s*\(needs [^)]*\)\s*$")
_CONTEXT = re.compile(r"perf_event_open\([^)]*\):\s*")

POLL_MS = 1000


@dataclass(frozen=True)
class Tile:
    """One value: the first derived metric (``perfdeck.perf.derived``) that has a value wins."""

    caption: str
    metrics: tuple[str, ...]
    unit: str


TILES = (
    Tile("IPC", ("ipc",), "IPC"),
    # Last-level cache where the CPU counts it, else L1D (the tile's tooltip says which).
    Tile("Cache misses", ("llc_miss_pct", "l1d_miss_pct"), "%"),
    Tile("Branch misses", ("branch_miss_pct",), "%"),
    Tile("Context switches", ("ctx_switches",), "/s"),  # the caption names the noun
    Tile("Page faults", ("page_faults",), "/s"),
    Tile("CPU migrations", ("migrations",), "/s"),
)


def _default_factory(pid: int):
    from perfdeck.perf.process import ProcessCounters  # imported on first use: keeps the tab light

    return ProcessCounters(pid)


def _default_tma_factory(pid: int, counters: object):
    from perfdeck.perf.process_topdown import ProcessTopdown

    return ProcessTopdown(pid, exclude_kernel=bool(getattr(counters, "exclude_kernel", False)),
                          inherit=bool(getattr(counters, "inherit", True)))


# Level-1 categories of the top-down row (perfdeck.perf.topdown.LEVEL1 order) and their captions.
TMA_TILES = (("retiring", "Retiring"), ("bad_speculation", "Bad speculation"),
             ("frontend_bound", "Frontend bound"), ("backend_bound", "Backend bound"))


def metric_reason(metric: str, unavailable: dict[str, str]) -> str | None:
    """Why ``metric`` has no value: the reason of its first unavailable input event."""
    from perfdeck.perf import derived

    spec = derived.BY_NAME.get(metric)
    if spec is None:
        return None
    for event in spec.inputs:
        if event in unavailable:
            return f"{event}: {unavailable[event]}"
    return None


class ProcessCountersPanel(QGroupBox):
    """Live counters of the process selected in the Processes tab."""

    def __init__(self, parent: QWidget | None = None,
                 counters_factory: Callable[[int], object] | None = None,
                 reason_for: Callable[[str], Unavailable | None] | None = None,
                 tma_factory: Callable[[int, object], object] | None = None) -> None:
        """``reason_for(metric)`` gives the system-wide reason for a metric (e.g. "no hardware
        PMU: this is a virtual machine"), preferred over the raw per-thread open error."""
        super().__init__("Selected process counters", parent)
        self._factory = counters_factory or _default_factory
        self._tma_factory = tma_factory or _default_tma_factory
        self._reason_for = reason_for
        layout = QVBoxLayout(self)
        self.status = QLabel("Select a process in the Processes tab to count its IPC, cache and "
                             "branch misses here.")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        grid = QGridLayout()
        self.tiles: dict[str, ValueTile] = {}
        for index, tile in enumerate(TILES):
            widget = ValueTile(tile.caption)
            if len(tile.metrics) > 1:
                widget.caption.setToolTip("LLC load misses where the CPU counts them, else L1D")
            widget.detail.setWordWrap(True)
            self.tiles[tile.caption] = widget
            grid.addWidget(widget, 0, index)
        layout.addLayout(grid)
        self.tma_status = QLabel("Top-down level 1 (% of pipeline slots): select a process.")
        self.tma_status.setWordWrap(True)
        layout.addWidget(self.tma_status)
        tma_grid = QGridLayout()
        self.tma_tiles: dict[str, ValueTile] = {}
        for index, (category, caption) in enumerate(TMA_TILES):
            widget = ValueTile(caption, widest_value="100.0 %", widest_detail="% of slots")
            widget.setToolTip(MEANINGS[category])
            self.tma_tiles[category] = widget
            tma_grid.addWidget(widget, 0, index)
        layout.addLayout(tma_grid)
        self.tma = None
        self.pid: int | None = None
        self.name = ""
        self.counters = None
        self.exited = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    # --- selection ---------------------------------------------------------------------------------
    def set_pid(self, pid: int | None) -> None:
        """Count ``pid`` from now on (None or <= 0 clears the panel)."""
        if pid == self.pid and not self.exited:
            return
        self._close()
        self.exited = False
        self.pid = pid if pid and pid > 0 else None
        for widget in [*self.tiles.values(), *self.tma_tiles.values()]:
            widget.set_value("—", "")
        if self.pid is None:
            self.status.setText("Select a process in the Processes tab.")
            self._timer.stop()
            return
        try:
            self.name = psutil.Process(self.pid).name()
        except psutil.Error:
            self.name = "?"
        self._open()
        if self.isVisible() and self.counters is not None:
            self._timer.start()

    def _open(self) -> None:
        assert self.pid is not None
        counters = self._factory(self.pid)
        try:
            counters.open()
        except PerfOpenError as exc:
            if exc.errno == errno.ESRCH:
                self._mark_exited()
            else:
                self.status.setText(f"Cannot count {self.name} ({self.pid}): {exc}")
            return
        self.counters = counters
        scope = "user space only" if getattr(counters, "exclude_kernel", False) else "user and kernel"
        self.status.setText(f"{self.name} ({self.pid}): counting every thread, {scope}; first values "
                            "in a second.")
        self._open_tma(counters)

    def _open_tma(self, counters: object) -> None:
        assert self.pid is not None
        tma = self._tma_factory(self.pid, counters)
        try:
            tma.open()
        except PerfOpenError as exc:
            if exc.errno != errno.ESRCH:  # a gone process is reported by the counters above
                self._show_tma_reason(f"top-down groups could not be opened: {exc}", "")
            return
        self.tma = tma
        if tma.unavailable is not None:
            self._show_tma_reason(tma.unavailable.reason, tma.unavailable.fix)
        else:
            self.tma_status.setText("Top-down level 1 (% of pipeline slots): first values in a second.")

    def _show_tma_reason(self, reason: str, fix: str) -> None:
        sentence = reason if reason.endswith(".") else f"{reason}."
        self.tma_status.setText(f"Top-down level 1 unavailable: {sentence}"
                                + (f" Fix: {fix}." if fix else ""))
        self.tma_status.setToolTip(reason)
        for widget in self.tma_tiles.values():
            widget.set_value("n/a", plain_reason(reason))

    def _mark_exited(self) -> None:
        self._close()
        self.exited = True
        self._timer.stop()
        self.status.setText(f"Process {self.pid} ({self.name}) has exited; its counters were closed. "
                            "Select another process.")
        for widget in [*self.tiles.values(), *self.tma_tiles.values()]:
            widget.set_value("—", "process exited")

    def _close(self) -> None:
        if self.counters is not None:
            try:
                self.counters.close()
            except Exception:  # closing must never raise into the GUI
                log.exception("closing process counters failed")
        self.counters = None
        if self.tma is not None:
            try:
                self.tma.close()
            except Exception:  # closing must never raise into the GUI
                log.exception("closing process top-down counters failed")
        self.tma = None

    # --- reading ---------------------------------------------------------------------------------
    def poll(self) -> None:
        """Read once and update the tiles (called by the timer while visible)."""
        if self.counters is None:
            return
        try:
            sample = self.counters.read()
        except PerfOpenError as exc:
            if exc.errno == errno.ESRCH:
                self._mark_exited()
            else:
                self.status.setText(f"Reading {self.name} ({self.pid}) failed: {exc}")
            return
        if not sample.alive:
            self._mark_exited()
            return
        unavailable = dict(sample.unavailable)
        for tile in TILES:
            value, reason = None, None
            for metric in tile.metrics:
                value = sample.metrics.get(metric)
                if value is not None:
                    break
                reason = reason or self._reason(metric, unavailable)
            widget = self.tiles[tile.caption]
            if value is not None:
                widget.set_value(display_value(value, tile.unit), "")
            elif reason:
                widget.set_value("n/a", plain_reason(reason))  # the whole reason in the tooltip
                widget.setToolTip(reason)
            else:
                widget.set_value("—", "did not run")
                widget.setToolTip("not counted this interval: the process did not run")
        ratio = sample.counted_ratio
        counted = "" if ratio is None else f"; hardware counters ran {ratio:.0%} of the time"
        scope = "user space only" if getattr(self.counters, "exclude_kernel", False) else "user and kernel"
        threads = f"{sample.threads} thread{'s' if sample.threads != 1 else ''}"
        self.status.setText(f"{self.name} ({self.pid}): {threads} counted, {scope}{counted}.")
        self._poll_tma()

    def _poll_tma(self) -> None:
        if self.tma is None or self.tma.unavailable is not None:
            return
        try:
            sample = self.tma.read()
        except PerfOpenError as exc:
            self._show_tma_reason(f"reading the top-down groups failed: {exc}", "")
            return
        if sample.unavailable is not None:
            self._show_tma_reason(sample.unavailable.reason, sample.unavailable.fix)
            return
        if sample.shares is None:
            for widget in self.tma_tiles.values():
                widget.set_value("—", "no slots")
            self.tma_status.setText("Top-down level 1 (% of pipeline slots): the process used no pipeline "
                                    "slots this interval (it did not run).")
            return
        for category, widget in self.tma_tiles.items():
            widget.set_value(display_value(sample.shares[category], "%"), "of slots")
        extra = []
        if SMT_CONTENTION in sample.shares:
            extra.append(f"SMT contention {display_value(sample.shares[SMT_CONTENTION], '%')}")
        if sample.counted_ratio is not None and sample.counted_ratio < 0.995:
            extra.append(f"counted {sample.counted_ratio:.0%} of the time, scaled")
        extra.extend(sample.notes)
        self.tma_status.setText("Top-down level 1 (% of pipeline slots)" + (f": {'; '.join(extra)}."
                                                                             if extra else "."))

    def _reason(self, metric: str, unavailable: dict[str, str]) -> str | None:
        """Why a metric has no value: the machine-wide reason if known, else the open error."""
        own = metric_reason(metric, unavailable)
        if own is None:
            return None
        general = self._reason_for(metric) if self._reason_for is not None else None
        if general is not None:
            return _NEEDS.sub("", general.reason)
        return _CONTEXT.sub("", own)

    # --- visibility and shutdown -------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.counters is not None:
            self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        self._timer.stop()  # costs nothing while hidden
        super().hideEvent(event)

    def shutdown(self) -> None:
        self._timer.stop()
        self._close()


def connect_process_selection(view: QWidget, panel: ProcessCountersPanel,
                              title: str = "Processes") -> bool:
    """Connect the Processes tab's ``process_selected`` to ``panel.set_pid``. True once hooked up.

    Tabs are built lazily: if the Processes tab does not exist yet, connect when the window
    reports it created (``view_created``) rather than building it just for this.
    """
    window = view.window()
    views = getattr(window, "views", None)
    if not isinstance(views, dict):
        return False

    def attach(processes: object) -> None:
        signal = getattr(processes, "process_selected", None)
        if signal is not None:
            signal.connect(panel.set_pid)

    if title in views:
        attach(views[title])
        return True
    created = getattr(window, "view_created", None)
    if created is None:
        return False
    created.connect(lambda name, new_view: attach(new_view) if name == title else None)
    return True
