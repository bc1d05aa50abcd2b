"""Network tab: loopback and idle virtual interfaces are folded away, and said so (issue 12)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from perfdeck.gui.views.base import ViewContext
from perfdeck.gui.views.network import NetworkView, is_virtual
from perfdeck.model.history import History
from perfdeck.model.series import SeriesSpec, Snapshot

pytestmark = pytest.mark.gui


def test_virtual_interfaces_are_told_from_sysfs_like_the_kernel(tmp_path: Path):
    # /sys/class/net/<if>/device is a link to the bus device for hardware, absent for software ones.
    net = tmp_path / "sys/class/net"
    pci = tmp_path / "sys/devices/pci0000:00/0000:00:03.0"
    pci.mkdir(parents=True)
    for name in ("eth0", "enp0s3", "br0", "lo"):
        (net / name).mkdir(parents=True)
    (net / "enp0s3" / "device").symlink_to(pci)
    assert not is_virtual("enp0s3", tmp_path)
    assert is_virtual("eth0", tmp_path)  # no device link: a software interface, whatever its name
    assert is_virtual("br0", tmp_path) and is_virtual("lo", tmp_path)
    assert is_virtual("veth12ab", tmp_path) and not is_virtual("wlan0", tmp_path)  # not in sysfs: by name


def _snapshot(t: float, rates: dict[str, float]) -> Snapshot:
    values, specs = {}, {}
    for name, rate in rates.items():
        for direction in ("rx", "tx"):
            sid = f"net.{direction}.{name}"
            specs[sid] = SeriesSpec(sid, f"{name} {direction}", "B/s", group=f"net.{direction}")
            values[sid] = rate
    return Snapshot(timestamp=t, monotonic=t, values=values, specs=specs)


def test_loopback_and_idle_virtual_interfaces_are_folded(qtbot):
    history = History(100)
    view = NetworkView(ViewContext(history=history, window_seconds=60.0))
    qtbot.addWidget(view)
    view.show()
    now = time.time()
    rates = {"eth9": 5e5, "ifb7": 0.0, "veth3": 1e3, "lo": 2e6}
    for t in range(5):
        snapshot = _snapshot(now + t, rates)
        history.append_snapshot(snapshot)
    view.context.latest = snapshot
    view.refresh(snapshot)
    plotted = view.throughput.plot.series_ids
    assert plotted == ["net.rx.eth9", "net.tx.eth9", "net.rx.veth3", "net.tx.veth3"]  # busy veth stays
    assert view.folded_label.text() == "Not plotted: ifb7 (idle virtual), lo (loopback)."
    table = [view.table.item(row, 0).text() for row in range(view.table.rowCount())]
    assert table[-1] == "lo" and set(table) == set(rates)  # the table lists every interface
    view.show_all.setChecked(True)
    assert len(view.throughput.plot.series_ids) == 8 and view.folded_label.text() == ""
    view.show_all.setChecked(False)
    assert "net.rx.lo" not in view.throughput.plot.series_ids  # folded again, its curve removed
