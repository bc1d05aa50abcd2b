"""Sensors: temperatures, fans and battery, or the reason each cannot be read here."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from perfdeck.gui.views.base import UnavailableLabel, View, ViewContext
from perfdeck.gui.views.common import PlotPanel, instances, set_visible
from perfdeck.model.series import Snapshot

KINDS = (("temp", "Temperatures", "°C"), ("fan", "Fans", "RPM"))


class SensorsView(View):
    """One plot per sensor kind; a kind with no sensor shows the collector's reason inline."""

    def __init__(self, context: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        layout = QVBoxLayout(self)
        self.reason_label = UnavailableLabel(self)
        layout.addWidget(self.reason_label)
        self.panels: dict[str, PlotPanel] = {}
        for kind, title, unit in KINDS:
            panel = PlotPanel(title, unit)
            self.panels[kind] = panel
            layout.addWidget(panel, 1)
        self.battery = PlotPanel("Battery", "%", (0, 100))
        self.battery.plot.set_series([("sensors.battery.percent", "charge")])
        layout.addWidget(self.battery, 1)
        layout.addStretch(0)
        self._stretched: tuple[bool, ...] = ()

    def refresh(self, snapshot: Snapshot) -> None:
        ctx = self.context
        history, window = ctx.history, ctx.window_seconds
        family_reason = snapshot.unavailable.get("sensors")
        self.reason_label.set_unavailable(family_reason, "Sensors")
        for panel in (*self.panels.values(), self.battery):
            # One reason for the whole family is said once, at the top.
            set_visible(panel, family_reason is None)
        for kind, title, _unit in KINDS:
            panel = self.panels[kind]
            names = instances(snapshot.specs, f"sensors.{kind}")
            ids = [f"sensors.{kind}.{n}" for n in names]
            if ids:
                panel.show_reason(None)
                labels = {i: snapshot.specs[i].label for i in ids}
                panel.update_from(history, ids, window, labels)
            else:
                panel.show_reason(ctx.unavailable(f"sensors.{kind}") or family_reason
                                  or f"the sensors collector reports no {title.lower()} on this machine")
        if "sensors.battery.percent" in snapshot.specs:
            self.battery.show_reason(None)
            self.battery.plot.update_from(history, None, window)
        else:
            self.battery.show_reason(ctx.unavailable("sensors.battery") or family_reason
                                     or "the sensors collector reports no battery on this machine")
        # Panels that only carry a reason need no vertical space.
        visible = tuple(not p.isHidden() and not p.plot.isHidden()
                        for p in (*self.panels.values(), self.battery))
        if visible != self._stretched:  # re-layout only when what is shown changed
            self._stretched = visible
            layout = self.layout()
            for panel, shown in zip((*self.panels.values(), self.battery), visible, strict=True):
                layout.setStretchFactor(panel, 1 if shown else 0)
            layout.setStretch(layout.count() - 1, 0 if any(visible) else 1)
