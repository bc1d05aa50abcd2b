"""The Services tab and the Processes tab's Service/container column, through the real collector."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from fakes.cgroup_trees import DOCKER_ID, make_hybrid, make_unified
from perfdeck.collectors.cgroup_tree import ServiceNames
from perfdeck.collectors.cgroups import CgroupCollector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import History
from perfdeck.model.series import Snapshot

pytestmark = pytest.mark.gui
T0 = 1_750_000_000.0
NGINX = "/system.slice/nginx.service"
MEMORY = "200.0 MiB / 512.0 MiB"
IO_WRITE = "1.0 MB/s"  # 1 MiB/s in the shared SI formatter


def replay(root: Path, ticks: int, view=None, hybrid: bool = False) -> tuple[History, Snapshot]:
    """nginx uses 0.5 CPU and writes 1 MiB/s; the docker container 0.25 CPU."""
    cgroups = make_hybrid(root) if hybrid else make_unified(root)
    if not hybrid:
        cgroups[NGINX].memory_current = 200 << 20
    engine = SamplingEngine([CgroupCollector(root, counters=False)])
    engine.open()
    history = History(600)
    snapshot = None
    for tick in range(ticks):
        if tick and not hybrid:
            cgroups[NGINX].advance(usage_usec=500_000, write=1 << 20, memory_some=20_000)
            cgroups[f"/system.slice/docker-{DOCKER_ID}.scope"].advance(usage_usec=250_000)
        snapshot = engine.sample(now=float(tick), timestamp=T0 + tick)
        history.append_snapshot(snapshot)
        if view is not None:
            view.observe(snapshot)
    engine.close()
    assert snapshot is not None
    return history, snapshot


def make_view(qtbot, history: History, snapshot: Snapshot):
    from perfdeck.gui.views.base import ViewContext
    from perfdeck.gui.views.services import ServicesView

    view = ServicesView(ViewContext(history=history, window_seconds=60.0, latest=snapshot))
    qtbot.addWidget(view)
    view.resize(1300, 900)
    view.show()
    view.refresh(snapshot)
    return view


def _visible_names(view) -> list[str]:
    names = []

    def walk(parent) -> None:
        for row in range(view.proxy.rowCount(parent)):
            index = view.proxy.index(row, 0, parent)
            names.append(index.data())
            walk(index)

    from PySide6.QtCore import QModelIndex
    walk(QModelIndex())
    return names


def test_tree_names_sorting_filter_and_plots(qtbot, tmp_path: Path) -> None:
    from perfdeck.gui.views.services import COLUMN_INDEX

    history, snapshot = replay(tmp_path, 30)
    view = make_view(qtbot, history, snapshot)
    names = _visible_names(view)
    assert "nginx" in names and f"docker {DOCKER_ID[:12]}" in names and "session 3" in names
    nginx = view._items[NGINX]
    assert nginx[COLUMN_INDEX["cpu"]].text() == "50.0"
    assert nginx[COLUMN_INDEX["memory"]].text() == MEMORY
    assert nginx[COLUMN_INDEX["io_write"]].text() == IO_WRITE
    assert nginx[COLUMN_INDEX["psi_memory"]].text() == "2.0 / 0.0"
    system = view._items["/system.slice"]
    assert system[COLUMN_INDEX["procs"]].text() == "7"  # its children: nginx 3, ssh 1, journald 1, docker 2
    # Sorting by CPU (descending, the default) puts nginx above the container among system.slice's children.
    parent = view.proxy.mapFromSource(system[0].index())
    children = [view.proxy.index(r, 0, parent).data() for r in range(view.proxy.rowCount(parent))]
    assert children.index("nginx") < children.index(f"docker {DOCKER_ID[:12]}")
    # Filtering keeps matching rows and their ancestors.
    view.filter_edit.setText("container")
    names = _visible_names(view)
    assert f"docker {DOCKER_ID[:12]}" in names and "system services" in names and "nginx" not in names
    view.filter_edit.setText("")
    # Nothing selected: no empty plots, one line saying what to do.
    assert all(panel.isHidden() for panel in view.panels.values())
    assert view.detail_label.text().startswith("Select a service")
    # Selecting nginx plots its history (it has series: it is among the busiest).
    view.select_path(NGINX)
    assert view.selected_path == NGINX
    view.refresh(snapshot)
    assert not any(panel.isHidden() for panel in view.panels.values())
    cpu = view.cpu_plot._curves["cpu"].getData()[1]
    np.testing.assert_allclose(cpu[-5:], 50.0)
    assert "nginx (service)" in view.detail_label.text() and "512.0 MiB" in view.detail_label.text()


def test_hybrid_banner_says_what_is_missing(qtbot, tmp_path: Path) -> None:
    from perfdeck.gui.views.services import COLUMN_INDEX

    history, snapshot = replay(tmp_path, 3, hybrid=True)
    view = make_view(qtbot, history, snapshot)
    assert "hybrid" in view.layout_label.text()
    # One compact banner: plain words first, each column's reason and the one shared fix behind Details.
    banner = view.missing_label
    assert not banner.isHidden() and "cannot be read on this host" in banner.text()
    assert "memory controller is bound to cgroup v1" not in banner.text()
    details = banner.full_text()
    assert "memory controller is bound to cgroup v1" in details and details.count("Fix:") == 1
    cron = view._items["/system.slice/cron.service"]
    assert cron[COLUMN_INDEX["memory"]].text() == "—"
    assert "cgroup v1" in cron[COLUMN_INDEX["memory"]].toolTip()
    view.select_path("/system.slice/cron.service")
    assert view.panels["memory"].plot.isHidden() and "cgroup v1" in view.panels["memory"].reason_label.text()
    assert not view.panels["cpu"].plot.isHidden()


def test_service_column_in_the_process_table(qtbot) -> None:
    from perfdeck.gui.views.base import ViewContext
    from perfdeck.gui.views.processes import COLUMN_INDEX, ProcessesView

    view = ProcessesView(ViewContext(history=History(10)))
    qtbot.addWidget(view)
    rows = [{"pid": os.getpid(), "name": "python", "user": "root", "cpu_percent": 1.0, "rss": 1,
             "num_threads": 1, "status": "running", "cmdline": ("python",), "create_time": None},
            {"pid": 2**22 + 12345, "name": "gone", "user": "root", "cpu_percent": 0.0, "rss": 1,
             "num_threads": 1, "status": "running", "cmdline": ("gone",), "create_time": None}]
    view.model.set_rows(rows)
    column = COLUMN_INDEX["service"]
    mine = view.model.index(view.model.slot_of(os.getpid()), column).data()
    expected = ServiceNames().lookup(os.getpid(), "python")
    assert expected is not None and mine == expected[0]
    assert view.model.index(view.model.slot_of(2**22 + 12345), column).data() == "—"
    assert view.model.headerData(column, Qt.Orientation.Horizontal) == "Service / container"
    reads = view.model.service_names.reads
    view.model.set_rows(rows)  # the same processes again: no new /proc reads
    assert view.model.service_names.reads == reads
