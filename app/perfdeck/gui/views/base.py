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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

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
    """Inline explanation of why something cannot be shown: the reason and, if any, the fix.

    Hidden while ``set_unavailable(None)``; word-wrapped and selectable so a command in the fix
    can be copied.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.setObjectName("unavailableLabel")
        self.setContentsMargins(8, 8, 8, 8)
        self.setStyleSheet("#unavailableLabel { border: 1px solid palette(mid); border-radius: 4px; }")
        self.reason: Unavailable | None = None
        self.hide()

    @classmethod
    def for_reason(cls, reason: Unavailable | None, parent: QWidget | None = None) -> UnavailableLabel:
        label = cls(parent)
        label.set_unavailable(reason)
        return label

    def set_unavailable(self, reason: Unavailable | str | None, what: str = "") -> None:
        """Show ``reason`` (hide the label when None). ``what`` prefixes it, e.g. "Temperatures"."""
        if isinstance(reason, str):
            reason = Unavailable(reason)
        if reason == self.reason and self.isHidden() == (reason is None):
            return
        self.reason = reason
        if reason is None:
            self.hide()
            return
        text = f"{what} unavailable: {reason.reason}" if what else f"Unavailable: {reason.reason}"
        if reason.fix:
            text += f"\nFix: {reason.fix}"
        self.setText(text)
        self.show()


def fix_label_size(label: QLabel, widest_text: str) -> None:
    """Give a label whose text changes every second a fixed size.

    A label's ``setText`` asks its layout to recompute unless the label has a fixed size; the
    request climbs to the QTabWidget, which then repaints the whole tab, plots included. With a
    fixed size only the label itself repaints (measured: the window repaint stopped).
    """
    metrics = label.fontMetrics()
    label.setFixedSize(metrics.horizontalAdvance(widest_text) + 4, metrics.height() + 2)
