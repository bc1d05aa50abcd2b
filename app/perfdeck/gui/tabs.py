"""The explicit list of tabs in the main window.

Adding a tab is one line: ``TabEntry(title, "module:Class")``. The class is a QWidget subclass of
``perfdeck.gui.views.base.View``; it is imported and built when its tab is first shown
(``MainWindow.view_created`` reports it), so a slow or broken tab costs nothing until opened.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TabEntry:
    title: str
    target: str  # "module:Class"

    def load(self) -> type:
        module_name, class_name = self.target.split(":")
        return getattr(importlib.import_module(module_name), class_name)


TABS: tuple[TabEntry, ...] = (
    TabEntry("Overview", "perfdeck.gui.views.overview:OverviewView"),
    TabEntry("CPU", "perfdeck.gui.views.cpu:CpuView"),
    TabEntry("Memory", "perfdeck.gui.views.memory:MemoryView"),
    TabEntry("Disks", "perfdeck.gui.views.disks:DisksView"),
    TabEntry("Network", "perfdeck.gui.views.network:NetworkView"),
    TabEntry("Sensors", "perfdeck.gui.views.sensors:SensorsView"),
    TabEntry("Processes", "perfdeck.gui.views.processes:ProcessesView"),
    TabEntry("Services", "perfdeck.gui.views.services:ServicesView"),
    TabEntry("CPU performance", "perfdeck.gui.views.perfcpu:PerfCpuView"),
    TabEntry("Top-down", "perfdeck.gui.views.topdown:TopdownView"),
    TabEntry("Cache", "perfdeck.gui.views.cache:CacheView"),
    TabEntry("Memory bandwidth", "perfdeck.gui.views.membw:MemoryBandwidthView"),
    TabEntry("GPU", "perfdeck.gui.views.gpu:GpuView"),
    TabEntry("Pressure", "perfdeck.gui.views.pressure:PressureView"),
    TabEntry("Alerts", "perfdeck.gui.views.alerts:AlertsView"),
    TabEntry("Diagnostics", "perfdeck.gui.views.diagnostics:DiagnosticsView"),
)
