"""Per-interface network throughput, packet, error and drop rates, and machine totals.

The counters come from ``/proc/net/dev``, kept open and re-read with one ``pread`` per tick
(``KeptFile``), with the fields ``psutil.net_io_counters(pernic=True)`` reports. The kernel keeps
them in 64 bits (``rtnl_link_stats64``), so psutil's ``nowrap`` bookkeeping is not needed; a counter
that goes backwards (a driver reset) gives None for that tick, as before.

Interfaces come and go while we run (VPN up, USB tethering, containers starting): each read
lists what /proc/net/dev reports now, new interfaces get series (so
``specs()`` changes) whose rates start with None, and vanished ones lose their series and their
rate state (a re-created interface re-bases instead of showing a bogus jump).

``net.rx.total`` / ``net.tx.total`` add up the *physical* interfaces only: loopback never leaves
the machine, and virtual interfaces (bridges, veth, tun, bond, VLAN...) carry traffic that is also
counted on the physical interface beneath them, so including them would count it twice. When the
machine has no physical interface at all (a container whose ``eth0`` is a veth), every interface
except ``lo`` is added instead; the series label says which rule applies. The total is None for a
tick in which any counted interface has no rate (its first read or a counter reset), because the
sum would then be short by an unknown amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from perfdeck.collectors._common import InstanceIds, KeptFile
from perfdeck.model.collector import Collector
from perfdeck.model.rates import MonotonicTotals
from perfdeck.model.series import CounterSpec, Kind, Reading, SeriesSpec, Unavailable

# (series metric, field of a /proc/net/dev line after the name, unit, label). Fields 0-7 are the
# receive side (bytes packets errs drop fifo frame compressed multicast), 8-15 the transmit side.
_METRICS: tuple[tuple[str, int, str, str], ...] = (
    ("rx", 0, "B/s", "received"),
    ("tx", 8, "B/s", "sent"),
    ("rx_packets", 1, "pkt/s", "packets received"),
    ("tx_packets", 9, "pkt/s", "packets sent"),
    ("rx_errors", 2, "/s", "receive errors"),
    ("tx_errors", 10, "/s", "send errors"),
    ("rx_drops", 3, "/s", "received packets dropped"),
    ("tx_drops", 11, "/s", "sent packets dropped"),
)
# The raw cumulative counters behind those rates, per interface: (counter metric, field, unit,
# help). Names follow node_exporter's (receive/transmit).
_COUNTERS: tuple[tuple[str, int, str, str], ...] = (
    ("net.receive_bytes", 0, "B", "Bytes received"),
    ("net.transmit_bytes", 8, "B", "Bytes sent"),
    ("net.receive_packets", 1, "", "Packets received"),
    ("net.transmit_packets", 9, "", "Packets sent"),
    ("net.receive_errors", 2, "", "Receive errors"),
    ("net.transmit_errors", 10, "", "Transmit errors"),
    ("net.receive_drops", 3, "", "Received packets dropped"),
    ("net.transmit_drops", 11, "", "Packets dropped on sending"),
)
_RATE_FIELDS = tuple(field for _metric, field, _unit, _label in _METRICS)
_COUNTER_FIELDS = tuple(field for _metric, field, _unit, _help in _COUNTERS)
LOOPBACK = "lo"


def parse_net_dev(data: bytes) -> dict[str, list[int]]:
    """Interface -> its 16 counters, from the bytes of /proc/net/dev (two header lines)."""
    counters: dict[str, list[int]] = {}
    for line in data.split(b"\n")[2:]:
        name, sep, rest = line.partition(b":")
        if not sep:
            continue
        fields = rest.split()
        if len(fields) < 16:
            continue
        try:
            counters[name.strip().decode("utf-8", "replace")] = [int(field) for field in fields[:16]]
        except ValueError:
            continue
    return counters


def is_virtual_interface(root: Path, name: str) -> bool:
    """True when ``/sys/class/net/<name>`` resolves under ``/sys/devices/virtual`` (or is absent)."""
    link = root / "sys/class/net" / name
    try:
        target = link.resolve(strict=True)
    except OSError:
        return name == LOOPBACK
    return "/devices/virtual/" in target.as_posix() or name == LOOPBACK


class NetworkCollector(Collector):
    """Rates per network interface plus received/sent totals."""

    family = "net"
    title = "Network"

    def __init__(self, root: Path | str = Path("/")) -> None:
        self.root = Path(root)
        # Interface -> (its rate counters at the previous read, ``now`` of that read). Rates are
        # computed for all eight at once per interface (one comprehension), and written with
        # series ids built once per interface (``_series_ids``), instead of a RateTracker call and
        # two f-strings per metric: this loop runs on every tick.
        self._last: dict[str, tuple[list[int], float]] = {}
        self._series_ids: dict[str, tuple[str, ...]] = {}
        self._counter_ids: dict[str, tuple[str, ...]] = {}
        self._ids = InstanceIds()
        self._virtual: dict[str, bool] = {}  # interface -> is virtual, looked up once per name
        self._interfaces: tuple[str, ...] = ()
        self._counted: tuple[str, ...] = ()
        self._physical_only = True
        self._specs: Mapping[str, SeriesSpec] = MappingProxyType({})
        self._dev_file = KeptFile(self.root / "proc/net/dev", size=8192)
        self._counter_specs: Mapping[str, CounterSpec] = MappingProxyType({})
        self._monotonic = MonotonicTotals()

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return self._counter_specs

    def _rebuild_specs(self) -> None:
        specs: dict[str, SeriesSpec] = {}
        counters: dict[str, CounterSpec] = {}
        for name in self._interfaces:
            nic = self._ids(name)
            interface = (("interface", name),)
            for metric, _field, unit, label in _METRICS:
                spec = SeriesSpec(f"net.{metric}.{nic}", f"{name} {label}", unit, Kind.RATE,
                                  group=f"net.{metric}", metric=f"net.{metric}", labels=interface)
                specs[spec.id] = spec
            for metric, _field, unit, help_text in _COUNTERS:
                counters[f"{metric}.{nic}"] = CounterSpec(f"{metric}.{nic}", metric, unit,
                                                         f"{help_text} (/proc/net/dev)", interface)
            self._series_ids[name] = tuple(f"net.{metric}.{nic}" for metric, *_ in _METRICS)
            self._counter_ids[name] = tuple(f"{metric}.{nic}" for metric, *_ in _COUNTERS)
        self._counter_specs = MappingProxyType(counters)
        scope = ("physical interfaces (lo and virtual interfaces excluded)" if self._physical_only
                 else "all interfaces except lo (no physical interface found)")
        specs["net.rx.total"] = SeriesSpec("net.rx.total", f"Received, {scope}", "B/s", Kind.RATE,
                                           group="net.total")
        specs["net.tx.total"] = SeriesSpec("net.tx.total", f"Sent, {scope}", "B/s", Kind.RATE,
                                           group="net.total")
        self._specs = MappingProxyType(specs)

    def _is_virtual(self, name: str) -> bool:
        virtual = self._virtual.get(name)
        if virtual is None:
            virtual = self._virtual[name] = is_virtual_interface(self.root, name)
        return virtual

    def read(self, now: float) -> Reading:
        values: dict[str, float | None] = {}
        data = self._dev_file.read()
        if data is None:
            reason = Unavailable("/proc/net/dev cannot be read", "mount procfs: `mount -t proc proc /proc`")
            return Reading(unavailable={series_id: reason for series_id in self._specs}
                           or {"net.rx.total": reason, "net.tx.total": reason})
        counters = parse_net_dev(data)
        interfaces = tuple(sorted(counters))
        if interfaces != self._interfaces:
            self._virtual = {n: v for n, v in self._virtual.items() if n in counters}
            physical = tuple(n for n in interfaces if not self._is_virtual(n))
            self._physical_only = bool(physical)
            self._counted = physical or tuple(n for n in interfaces if n != LOOPBACK)
            self._interfaces = interfaces
            # A vanished interface forgets its counters, so one re-created later re-bases.
            self._last = {n: v for n, v in self._last.items() if n in counters}
            self._series_ids, self._counter_ids = {}, {}
            self._rebuild_specs()

        totals: dict[str, float | None] = {"rx": 0.0, "tx": 0.0}
        raw: dict[str, float] = {}
        last, counted = self._last, self._counted
        for name in interfaces:
            io = counters[name]
            raw.update(zip(self._counter_ids[name], [float(io[f]) for f in _COUNTER_FIELDS], strict=True))
            current = [io[f] for f in _RATE_FIELDS]
            previous = last.get(name)
            last[name] = (current, now)
            rates: list[float | None] = [None] * len(current)
            if previous is not None and now > previous[1]:
                elapsed = now - previous[1]
                # A counter that went backwards (a driver reset) has no rate this tick.
                rates = [(c - p) / elapsed if c >= p else None
                         for c, p in zip(current, previous[0], strict=True)]
            values.update(zip(self._series_ids[name], rates, strict=True))
            if name in counted:
                for index, metric in ((0, "rx"), (1, "tx")):  # _METRICS starts with rx, tx
                    so_far, rate = totals[metric], rates[index]
                    totals[metric] = None if so_far is None or rate is None else so_far + rate
        unavailable: dict[str, Unavailable] = {}
        for metric, total in totals.items():
            if self._counted:
                values[f"net.{metric}.total"] = total
            else:
                unavailable[f"net.{metric}.total"] = Unavailable(
                    "this machine has no network interface other than loopback (lo)")
        return Reading(values=values, unavailable=unavailable, totals=self._monotonic.accept(raw))

    def close(self) -> None:
        self._dev_file.close()
