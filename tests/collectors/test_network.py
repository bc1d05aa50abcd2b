"""Network collector: interfaces appearing and vanishing, totals, counter resets; the real NIC."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest
from psutil_fakes import FileScript, make_net_tree, net_dev_text, net_io

from perfdeck.collectors.network import NetworkCollector, is_virtual_interface


def test_virtual_interfaces_from_sysfs(tmp_path: Path) -> None:
    make_net_tree(tmp_path, {"eth0": False, "lo": True, "docker0": True, "veth1a2b": True})
    assert not is_virtual_interface(tmp_path, "eth0")
    assert is_virtual_interface(tmp_path, "docker0")
    assert is_virtual_interface(tmp_path, "lo")
    assert not is_virtual_interface(tmp_path, "wlan9")  # unknown to sysfs: not assumed virtual


def test_nic_appearing_and_disappearing(tmp_path: Path) -> None:
    make_net_tree(tmp_path, {"eth0": False, "lo": True, "wlan0": False, "tun0": True})
    dev = FileScript(tmp_path / "proc/net/dev", net_dev_text, [
        {"lo": net_io(500, 500), "eth0": net_io(1000, 2000, 10, 20)},
        {"lo": net_io(900, 900), "eth0": net_io(3000, 6000, 30, 60), "wlan0": net_io(0, 10_000)},
        {"lo": net_io(900, 900), "eth0": net_io(5000, 10000, 50, 100), "wlan0": net_io(100, 11_000)},
        {"lo": net_io(900, 900), "wlan0": net_io(300, 12_000), "tun0": net_io(10, 10)},
        {"lo": net_io(900, 900), "eth0": net_io(9000, 20000), "wlan0": net_io(300, 12_000)},
    ])
    collector = NetworkCollector(root=tmp_path)
    first = dev.read(collector, 0.0)
    assert first.values["net.rx.eth0"] is None and first.values["net.rx.total"] is None
    assert "net.rx.wlan0" not in collector.specs()

    second = dev.read(collector, 2.0)  # wlan0 appears
    assert "net.rx.wlan0" in collector.specs()
    assert second.values["net.rx.wlan0"] is None
    assert second.values["net.rx.eth0"] == pytest.approx(2000)
    assert second.values["net.tx_packets.eth0"] == pytest.approx(10)
    assert second.values["net.rx.lo"] == pytest.approx(200)
    assert second.values["net.rx.total"] is None  # wlan0's share of the interval is unknown

    third = dev.read(collector, 4.0)
    assert third.values["net.rx.total"] == pytest.approx(2000 + 500)  # eth0 + wlan0, not lo
    assert third.values["net.tx.total"] == pytest.approx(1000 + 50)

    fourth = dev.read(collector, 6.0)  # eth0 gone, tun0 (virtual) appears
    specs = collector.specs()
    assert not any(sid.endswith(".eth0") for sid in specs)
    assert "net.rx.tun0" in specs
    assert fourth.values["net.rx.total"] == pytest.approx(500)  # wlan0 only; tun0 is not counted
    assert "(lo and virtual interfaces excluded)" in specs["net.rx.total"].label

    fifth = dev.read(collector, 8.0)  # eth0 back: its old counters were forgotten
    assert fifth.values["net.rx.eth0"] is None


def test_counter_going_backwards_gives_none(tmp_path: Path) -> None:
    make_net_tree(tmp_path, {"eth0": False})
    dev = FileScript(tmp_path / "proc/net/dev", net_dev_text, [
        {"eth0": net_io(0, 5000)}, {"eth0": net_io(0, 100)}, {"eth0": net_io(0, 1100)}])
    collector = NetworkCollector(root=tmp_path)
    dev.read(collector, 0.0)
    reset = dev.read(collector, 1.0)
    assert reset.values["net.rx.eth0"] is None and reset.values["net.rx.total"] is None
    assert dev.read(collector, 2.0).values["net.rx.eth0"] == pytest.approx(1000)


def test_container_with_only_virtual_interfaces(tmp_path: Path) -> None:
    make_net_tree(tmp_path, {"eth0": True, "lo": True})
    dev = FileScript(tmp_path / "proc/net/dev", net_dev_text, [
        {"eth0": net_io(0, 0), "lo": net_io(0, 0)}, {"eth0": net_io(100, 300), "lo": net_io(50, 50)}])
    collector = NetworkCollector(root=tmp_path)
    dev.read(collector, 0.0)
    reading = dev.read(collector, 1.0)
    assert reading.values["net.rx.total"] == pytest.approx(300)
    assert "all interfaces except lo" in collector.specs()["net.rx.total"].label


def test_only_loopback_total_unavailable(tmp_path: Path) -> None:
    make_net_tree(tmp_path, {"lo": True})
    dev = FileScript(tmp_path / "proc/net/dev", net_dev_text, [{"lo": net_io(0, 0)}])
    reading = dev.read(NetworkCollector(root=tmp_path), 0.0)
    assert "net.rx.total" not in reading.values
    assert "loopback" in reading.unavailable["net.rx.total"].reason


def test_interface_names_are_sanitised(tmp_path: Path) -> None:
    make_net_tree(tmp_path, {"eth0.100": True})
    dev = FileScript(tmp_path / "proc/net/dev", net_dev_text, [{"eth0.100": net_io()}])
    collector = NetworkCollector(root=tmp_path)
    dev.read(collector, 0.0)
    assert "net.rx.eth0_100" in collector.specs()
    assert collector.specs()["net.rx.eth0_100"].label == "eth0.100 received"


def test_real_machine_network() -> None:
    collector = NetworkCollector()
    collector.read(time.monotonic())
    time.sleep(0.3)
    reading = collector.read(time.monotonic())
    nics = {sid.split(".", 2)[2] for sid in collector.specs() if sid.startswith("net.rx.")} - {"total"}
    assert nics - {"lo"}, "this machine has a network interface besides lo"
    for series_id, value in reading.values.items():
        assert value is not None and value >= 0, series_id
    assert set(reading.values) == set(collector.specs())
    # The same counters psutil reads from /proc/net/dev, read microseconds apart.
    real = psutil.net_io_counters(pernic=True)
    for name, io in real.items():
        nic = name.replace(".", "_")
        assert abs(reading.totals[f"net.receive_bytes.{nic}"] - io.bytes_recv) <= 1_000_000, name
        assert reading.totals[f"net.transmit_packets.{nic}"] <= io.packets_sent, name
