"""The base class of every tab, the context it receives, and small shared widgets.

Writing a tab (the whole API)
-----------------------------
Subclass ``View`` and add one ``TabEntry`` line in ``perfdeck.gui.tabs``::

    class MyView(View):
        def __init__(self, context: ViewContext, parent=None):
            super().__init__(context, parent)
            layout = QVBoxLayout(self)
            self.plot = TimePlot("IPC", unit="IPC")          # perfdeck.gui.plots
            layout.addWidget(self.plot)

        def refresh(self, snapshot: Snapshot) -> None:
            # Called only while this tab is visible, only when new data arrived since the last
            # call, and at most a few times a second (even at 10 Hz sampling).
            self.plot.update_from(self.context.history, ["perf.ipc.total"], self.context.window_seconds)

Hooks a view may override (all optional except ``refresh``):

``refresh(snapshot)``
    Redraw from ``self.context.history`` (numpy rings, every series on one timeline) and/or the
    latest ``snapshot`` (tables such as ``snapshot.tables["processes"]``, ``snapshot.unavailable``).
    Called with the latest snapshot when the tab becomes visible too. Never called while hidden.
``observe(snapshot)``
    Called for EVERY snapshot on every BUILT view, visible or not. Default: nothing. Keep it O(1)
    cheap; use it only for state that History does not keep (e.g. a log of events). Views are
    built when their tab is first shown (``MainWindow.view_created``), so a view never sees the
    snapshots before that; anything that must see every snapshot from the start belongs outside
    the view (connect ``sampler.snapshot``).
``time_window_changed(seconds)``
    The shared time-window selector changed; default: nothing (the next ``refresh`` sees
    ``context.window_seconds``; the window also forces a refresh of the visible tab).
``shutdown()``
    The window is closing: release what the view holds (file descriptors, timers).

The context (``ViewContext``) gives: ``history`` (``model.history.History``), ``latest``
(the latest ``Snapshot`` or None), ``window_seconds`` (the selected time window),
``sampler`` (``gui.sampler.Sampler``: ``interval``, ``pause()``, ``resume()``),
``show_message(text, ms)`` (the status bar) and ``unavailable(series_id_or_family)``.

Cheap redraws: a QLabel whose text changes on every refresh makes Qt re-layout and repaint the
whole tab (plots included) unless it has a fixed size; use ``fix_label_size(label, widest_text)``
for such labels, and change widgets' visibility only when it really changes.

Building blocks: ``gui.plots.TimePlot`` (live curves against "seconds ago", fixed or slowly
adapting y axis, NaN drawn as gaps, hover readout with units), ``HeatmapPlot`` (many series as
an image, e.g. per CPU) and ``BarStrip`` (current value per series); ``views.common.PlotPanel``
(a TimePlot that gives way to its unavailability reason) and ``ValueTile``.

Anything that cannot be shown says why inline: use ``UnavailableLabel`` (reason + fix) instead of
an empty plot, e.g. ``UnavailableLabel.for_reason(snapshot.unavailable.get("sensors"))``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from perfdeck.model.names import is_fact, plain_reason
from perfdeck.model.series import Snapshot, Unavailable

if TYPE_CHECKING:
    from perfdeck.gui.sampler import Sampler
    from perfdeck.model.history import History


@dataclass
class ViewContext:
    """What every view receives from the main window. Owned by the window; views only read it."""

    history: History
    sampler: Sampler | None = None
    window_seconds: float = 300.0
    latest: Snapshot | None = None
    _show_message: Callable[[str, int], None] | None = field(default=None, repr=False)

    def show_message(self, text: str, timeout_ms: int = 5000) -> None:
        """Show a transient message in the status bar."""
        if self._show_message is not None:
            self._show_message(text, timeout_ms)

    def unavailable(self, key: str) -> Unavailable | None:
        """Why a series id, a group or a family is unavailable in the latest snapshot (or None).

        Looks up ``key`` itself, then each dotted prefix (``net.rx.eth0`` -> ``net.rx`` -> ``net``),
        because collectors may report a whole family or a single series.
        """
        if self.latest is None:
            return None
        unavailable = self.latest.unavailable
        parts = key.split(".")
        for n in range(len(parts), 0, -1):
            reason = unavailable.get(".".join(parts[:n]))
            if reason is not None:
                return reason
        return None


class View(QWidget):
    """Base class of a tab. See the module docstring for the hooks."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context

    def refresh(self, snapshot: Snapshot) -> None:
        """Redraw with new data. Only called while visible, at a capped rate."""

    def observe(self, snapshot: Snapshot) -> None:
        """Called for every snapshot, visible or not. Keep it cheap."""

    def time_window_changed(self, seconds: float) -> None:
        """The shared time-window selector changed."""

    def shutdown(self) -> None:
        """The window is closing."""


class UnavailableLabel(QLabel):
    """A compact banner saying why something cannot be shown.

    Plain words first on one line ("Frequency: This virtual machine does not report CPU clock
    speeds"), with the collector's exact reason and fix behind "Details" (and in Diagnostics). A
    fact about the machine (no swap) reads as a quiet note, without a frame or a fix. Hidden while
    ``set_unavailable(None)``; the text is selectable so a command in the fix can be copied.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.setObjectName("unavailableLabel")
        self.setContentsMargins(6, 3, 6, 3)
        self.linkActivated.connect(self._on_link)
        self.reason: Unavailable | None = None
        self.what = ""
        self.expanded = False
        self.hide()

    @classmethod
    def for_reason(cls, reason: Unavailable | None, parent: QWidget | None = None) -> UnavailableLabel:
        label = cls(parent)
        label.set_unavailable(reason)
        return label

    def set_unavailable(self, reason: Unavailable | str | None, what: str = "") -> None:
        """Show ``reason`` (hide the banner when None). ``what`` names the thing, e.g. "Temperatures"."""
        if isinstance(reason, str):
            reason = Unavailable(reason)
        if reason == self.reason and what == self.what and self.isHidden() == (reason is None):
            return
        self.reason, self.what = reason, what
        if reason is None:
            self.hide()
            return
        self.setToolTip(self.full_text())
        self._render()
        self.show()

    def full_text(self) -> str:
        """The whole explanation in plain text: the thing, the reason and the fix."""
        if self.reason is None:
            return ""
        text = f"{self.what} unavailable: {self.reason.reason}" if self.what else self.reason.reason
        return f"{text}\nFix: {self.reason.fix}" if self.reason.fix else text

    def _render(self) -> None:
        reason = self.reason
        assert reason is not None
        fact = is_fact(reason.reason)
        plain = html.escape(plain_reason(reason.reason))
        # "Power (RAPL): Power readings (RAPL) are not available here" says it twice: the plain
        # sentence alone, in bold, when it starts with the thing's own name.
        repeats = self.what and plain.split()[:1] == html.escape(self.what).split()[:1]
        if repeats:
            head = f"<b>{plain}</b>"
        else:
            head = f"<b>{html.escape(self.what)}</b>: {plain}" if self.what else plain
        self.setStyleSheet("" if fact else
                           "#unavailableLabel { border: 1px solid palette(mid); border-radius: 4px; }")
        if fact and not reason.fix:
            self.setText(head)
            return
        if not self.expanded:
            self.setText(f"{'' if fact else '⚠ '}{head} &nbsp;<a href='details'>Details</a>")
            return
        body = html.escape(reason.reason)
        if reason.fix:
            body += f"<br><b>Fix:</b> {html.escape(reason.fix)}"
        self.setText(f"{head} &nbsp;<a href='hide'>Hide details</a><br>{body}")

    def _on_link(self, href: str) -> None:
        self.expanded = href == "details"
        self._render()


def fix_label_size(label: QLabel, widest_text: str, opaque: bool = False) -> None:
    """Give a label whose text changes every second a fixed size.

    A label's ``setText`` asks its layout to recompute unless the label has a fixed size; the
    request climbs to the QTabWidget, which then repaints the whole tab, plots included. With a
    fixed size only the label itself repaints (measured: the window repaint stopped).
    """
    metrics = label.fontMetrics()
    label.setFixedSize(metrics.horizontalAdvance(widest_text) + 4, metrics.height() + 2)
    # ``opaque`` (for a label on a plain window-coloured background, such as a value tile): it
    # fills its own background, so a new text repaints the label alone, not the tile, tab, stack
    # and window behind it, which a transparent label makes Qt repaint first (measured: 5 of the
    # Overview's 17 paint events a second). Not on a toolbar, whose gradient it would cover.
    label.setAutoFillBackground(opaque)
