"""Disks tab: filesystems drawn as usage bars (issue 12)."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt

from perfdeck.gui.views.base import ViewContext
from perfdeck.gui.views.common import UsageBarDelegate
from perfdeck.gui.views.disks import USAGE_COLUMN, DisksView
from perfdeck.model.history import History
from perfdeck.model.series import SeriesSpec, Snapshot

pytestmark = pytest.mark.gui


def test_filesystems_are_usage_bars(qtbot):
    specs = {
        "disk.fs_used_pct.root": SeriesSpec("disk.fs_used_pct.root", "/ used (vda1, ext4)", "%"),
        "disk.fs_used.root": SeriesSpec("disk.fs_used.root", "/ used", "B"),
        "disk.fs_total.root": SeriesSpec("disk.fs_total.root", "/ size", "B"),
        "disk.fs_used_pct.srv": SeriesSpec("disk.fs_used_pct.srv", "/srv used (vdb, xfs)", "%"),
    }
    snapshot = Snapshot(timestamp=time.time(), monotonic=1.0, specs=specs,
                        values={"disk.fs_used_pct.root": 62.5, "disk.fs_used.root": 5 * 2**30,
                                "disk.fs_total.root": 8 * 2**30, "disk.fs_used_pct.srv": None})
    history = History(10)
    history.append_snapshot(snapshot)
    view = DisksView(ViewContext(history=history, latest=snapshot))
    qtbot.addWidget(view)
    view.show()
    view.refresh(snapshot)
    assert isinstance(view.fs_table.itemDelegateForColumn(USAGE_COLUMN), UsageBarDelegate)
    root = view.fs_table.item(0, USAGE_COLUMN)
    assert root.text() == "62.5 %" and root.data(Qt.ItemDataRole.UserRole) == 62.5
    srv = view.fs_table.item(1, USAGE_COLUMN)
    assert srv.text() == "—" and srv.data(Qt.ItemDataRole.UserRole) is None  # unknown: no bar, not 0
    view.fs_table.viewport().grab()  # the delegate paints both kinds of cell without error
