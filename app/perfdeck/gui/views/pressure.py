"""Pressure: the share of wall time tasks lost waiting for CPU, memory, IO and IRQs (PSI).

Also home of ``PressureStrip``, the one-line summary the Overview shows, so the Overview only
needs to create it and call ``update_from``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from perfdeck.collectors.psi import KIND_MEANINGS, RESOURCE_TITLES, RESOURCES, SYSTEM_SERIES, series_id
from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext, fix_label_size
from perfdeck.gui.views.common import PlotPanel, ValueTile, recent_value, set_visible
from perfdeck.model.series import Snapshot, Unavailable
from perfdeck.model.units import format_value

EXPLANATION = ("Pressure is the share of wall time in which tasks were stalled waiting for a resource "
               "(Linux PSI). \"some\": at least one task was waiting, so work was delayed. \"full\": every "
               "non-idle task was waiting at once, so the machine did no useful work on it. Computed from "
               "the kernel's cumulative stall time over each sampling interval.")


def _kinds(resource: str) -> list[str]:
    return [kind for r, kind in SYSTEM_SERIES if r == resource]


def _family_reason(snapshot: Snapshot) -> Unavailable | None:
    return snapshot.unavailable.get("psi")


class PressureStrip(QWidget):
    """One compact row for the Overview: "Pressure  CPU 3.1 %  Memory 0.0 / 0.0 %  IO ...".

    Each resource shows some (and full where it exists); a resource that cannot be read shows
    "unavailable" with the reason as tooltip; without PSI at all, the row is the reason.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(2, 0, 2, 0)
        caption = QLabel("<b>Pressure</b> (some / full, % of time)")
        caption.setToolTip(EXPLANATION)
        row.addWidget(caption)
        self.values: dict[str, QLabel] = {}
        # Per resource, worked out once: its series ids, the start of its text and its tooltip.
        self._layout = {resource: ([series_id(resource, k) for k in _kinds(resource)],
                                   RESOURCE_TITLES[resource],
                                   "; ".join(f"{k}: {KIND_MEANINGS[k]}" for k in _kinds(resource)))
                        for resource in RESOURCES}
        self._shown: dict[str, str] = {}  # resource -> the text its label has
        for resource in RESOURCES:
            label = QLabel("—")
            fix_label_size(label, "Memory 100.0 / 100.0 %", opaque=True)
            self.values[resource] = label
            row.addWidget(label)
        self.reason = QLabel("")
        self.reason.setWordWrap(False)
        self.reason.hide()
        row.addWidget(self.reason, 1)
        row.addStretch(1)

    def update_from(self, snapshot: Snapshot) -> None:
        whole = _family_reason(snapshot)
        set_visible(self.reason, whole is not None)
        if whole is not None:
            text = f"unavailable: {whole.reason}"
            if self.reason.text() != text:
                self.reason.setText(text)
                self.reason.setToolTip(str(whole))
        unavailable = snapshot.unavailable
        for resource, label in self.values.items():
            set_visible(label, whole is None)
            ids, title, tip = self._layout[resource]
            reason = next((unavailable[i] for i in ids if i in unavailable), None)
            if reason is not None:
                text, tip = f"{title} unavailable", str(reason)
            else:
                parts = [format_value(snapshot.value(i), "%").removesuffix(" %") for i in ids]
                text = f"{title} {' / '.join(parts)} %"
            if self._shown.get(resource) != text:  # no call into Qt for the same text
                self._shown[resource] = text
                label.setText(text)
                label.setToolTip(tip)


class PressureView(View):
    """Some and full pressure per resource over time, with the current values."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        intro = QLabel(EXPLANATION)
        intro.setWordWrap(True)
        intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(intro)
        self.reason_label = UnavailableLabel(self)
        layout.addWidget(self.reason_label)
        tiles = QHBoxLayout()
        self.tiles = {r: ValueTile(f"{RESOURCE_TITLES[r]} {' / '.join(_kinds(r))}",
                                   widest_value="100.0 / 100.0 %", widest_detail="% of wall time")
                      for r in RESOURCES}
        for tile in self.tiles.values():
            tiles.addWidget(tile)
        layout.addLayout(tiles)
        grid = QGridLayout()
        self.panels: dict[str, PlotPanel] = {}
        for index, resource in enumerate(RESOURCES):
            # Pressure is usually a few %: an adapting axis shows it, a fixed 0-100 % would flatten it.
            panel = PlotPanel(f"{RESOURCE_TITLES[resource]} pressure", "%")
            panel.plot.set_series([(series_id(resource, k), k) for k in _kinds(resource)])
            self.panels[resource] = panel
            grid.addWidget(panel, index // 2, index % 2)
        layout.addLayout(grid, 1)
        note = QLabel("CPU \"full\" is not defined for the whole machine (the kernel prints zeros there), so "
                      "it is not shown; IRQ pressure has only \"full\". The Services tab shows pressure per "
                      "service and container.")
        note.setWordWrap(True)
        layout.addWidget(note)

    def refresh(self, snapshot: Snapshot) -> None:
        history, window = self.context.history, self.context.window_seconds
        whole = _family_reason(snapshot)
        self.reason_label.set_unavailable(whole, "Pressure stall information")
        for resource in RESOURCES:
            kinds = _kinds(resource)
            ids = [series_id(resource, k) for k in kinds]
            reason = whole or next((snapshot.unavailable[i] for i in ids if i in snapshot.unavailable), None)
            panel = self.panels[resource]
            panel.show_reason(reason)
            tile = self.tiles[resource]
            if reason is not None:
                tile.set_value("unavailable", "reason below")
                tile.setToolTip(str(reason))
                continue
            values = [recent_value(history, i, 5.0) for i in ids]
            shown = " / ".join(format_value(v, "%").removesuffix(" %") for v in values)
            tile.set_value(f"{shown} %", "% of wall time")
            panel.plot.update_from(history, None, window)
