"""Pressure stall information (family ``psi``): how much wall time tasks lose waiting for a resource.

``/proc/pressure/{cpu,memory,io,irq}`` hold lines such as::

    some avg10=0.00 avg60=0.26 avg300=0.36 total=2138292
    full avg10=0.00 avg60=0.24 avg300=0.33 total=1960978

``total`` is the cumulative stall time in microseconds. "some" is the share of wall time in which
at least one task was stalled on the resource, "full" the share in which every non-idle task was
(Documentation/accounting/psi.rst). PerfDeck turns the ``total`` deltas into % of wall time over its
own sampling interval instead of showing the kernel's fixed avg10/avg60/avg300 windows, so a plot at
0.5 s sampling shows 0.5 s spikes, and the exporter gets the raw totals (as seconds) for ``rate()``.

What cannot be read is said, never shown as 0:
- no ``/proc/pressure`` at all: a kernel without ``CONFIG_PSI``, or booted with ``psi=0``;
- reads fail with EOPNOTSUPP: PSI compiled in but disabled at boot (``CONFIG_PSI_DEFAULT_DISABLED``);
- no ``irq`` file: IRQ pressure needs Linux 6.1+ with ``CONFIG_IRQ_TIME_ACCOUNTING``;
- CPU "full" of the whole machine is undefined (the kernel prints zeros since 5.13 only for the
  format's sake), so it is not offered; per cgroup it is real and the cgroup family reads it.

The parser (``parse_pressure``) and the µs-to-% arithmetic (``StallRates``) are shared with the
cgroup family, whose ``<cgroup>/{cpu,memory,io,irq}.pressure`` files have the same format.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from perfdeck.model.collector import Collector
from perfdeck.model.rates import RateTracker
from perfdeck.model.series import CollectorUnavailableError, CounterSpec, Reading, SeriesSpec, Unavailable

RESOURCES = ("cpu", "memory", "io", "irq")
RESOURCE_TITLES = {"cpu": "CPU", "memory": "Memory", "io": "IO", "irq": "IRQ"}
KIND_MEANINGS = {
    "some": "some tasks stalled",
    "full": "all non-idle tasks stalled",
}
# The series the machine-wide files really carry: irq has only "full", CPU "full" is undefined
# system-wide (see the module docstring).
SYSTEM_SERIES: tuple[tuple[str, str], ...] = (
    ("cpu", "some"), ("memory", "some"), ("memory", "full"), ("io", "some"), ("io", "full"), ("irq", "full"),
)
_PERCENT = (0.0, 100.0)

PSI_BOOT_FIX = ("add psi=1 to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then "
                "`sudo update-grub` and reboot)")
PSI_KERNEL_FIX = ("add psi=1 to the kernel command line if it says psi=0; otherwise use a kernel built "
                  "with CONFIG_PSI=y (every current Debian, Ubuntu and Fedora kernel is)")
IRQ_REASON = ("this kernel has no /proc/pressure/irq: IRQ pressure needs Linux 6.1 or later built with "
              "CONFIG_IRQ_TIME_ACCOUNTING=y")
IRQ_FIX = "a kernel with CONFIG_IRQ_TIME_ACCOUNTING=y (Debian and Ubuntu kernels for x86 have it)"

Reader = Callable[[str], str]


def series_id(resource: str, kind: str) -> str:
    return f"psi.{resource}.{kind}"


def series_label(resource: str, kind: str) -> str:
    """A human label alerts and plots show: "Memory pressure, full (all non-idle tasks stalled)"."""
    return f"{RESOURCE_TITLES[resource]} pressure, {kind} ({KIND_MEANINGS[kind]})"


def parse_pressure(text: str) -> dict[str, int]:
    """The ``total`` (µs) of each line of a pressure file: {"some": 3883184, "full": 0}.

    Lines without a parseable ``total=`` are skipped, so a damaged line loses only itself.
    """
    totals: dict[str, int] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind not in KIND_MEANINGS:
            continue
        for field in rest.split():
            # field[:6] == "total=" is partition("=") giving name "total", without the call.
            if field[:6] == "total=" and (value := field[6:]).isdigit():
                totals[kind] = int(value)
    return totals


def read_small_file(path: str) -> str:
    """A small procfs/cgroupfs file's text with raw os calls (called every tick)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 4096).decode("ascii", "replace")
    finally:
        os.close(fd)


class StallRates(RateTracker):
    """% of wall time stalled, from successive cumulative ``total`` µs counters.

    The rate arithmetic is ``RateTracker``'s (first sight, a counter that went backwards or no
    elapsed time give None, never 0): µs stalled per second / 10^4 is the %. Values are clamped to
    100: the kernel aggregates per-CPU state lazily, so a delta over a short interval can exceed
    that interval by a few microseconds.
    """

    __slots__ = ()

    def percent(self, key: str, total_us: int, now: float) -> float | None:
        us_per_second = self.rate(key, total_us, now)
        return None if us_per_second is None else min(100.0, us_per_second / 1e4)


def _unsupported(error: OSError) -> bool:
    return error.errno in (errno.EOPNOTSUPP, errno.ENOTSUP)


def _disabled_reason(root: Path) -> Unavailable:
    return Unavailable("PSI is built into this kernel but disabled at boot (CONFIG_PSI_DEFAULT_DISABLED=y "
                       f"or psi=0): reading {root / 'proc/pressure'} fails with EOPNOTSUPP", PSI_BOOT_FIX)


def _absent_reason(root: Path) -> Unavailable:
    cmdline = ""
    with contextlib.suppress(OSError):  # no /proc/cmdline (a snapshot): the general reason below
        cmdline = (root / "proc/cmdline").read_text(encoding="utf-8", errors="replace")
    if "psi=0" in cmdline.split():
        return Unavailable("PSI is switched off: the kernel was booted with psi=0, so there is no "
                           f"{root / 'proc/pressure'}",
                           PSI_BOOT_FIX.replace("add psi=1", "replace psi=0 by psi=1"))
    return Unavailable(f"this kernel has no {root / 'proc/pressure'}: it was built without CONFIG_PSI or "
                       "booted with psi=0", PSI_KERNEL_FIX)


@dataclass(frozen=True, slots=True)
class PsiProbe:
    """What the machine-wide PSI files offer here: the readable resources and why others are not."""

    readable: tuple[str, ...]
    missing: Mapping[str, Unavailable]
    family_reason: Unavailable | None


def probe_psi(root: Path = Path("/"), reader: Reader = read_small_file) -> PsiProbe:
    """Try each /proc/pressure file once."""
    directory = root / "proc/pressure"
    if not directory.is_dir():
        return PsiProbe((), {}, _absent_reason(root))
    readable: list[str] = []
    missing: dict[str, Unavailable] = {}
    disabled = False
    for resource in RESOURCES:
        path = directory / resource
        try:
            reader(str(path))
        except FileNotFoundError:
            missing[resource] = (Unavailable(IRQ_REASON, IRQ_FIX) if resource == "irq" else
                                 Unavailable(f"this kernel has no {path}", PSI_KERNEL_FIX))
            continue
        except OSError as exc:
            if _unsupported(exc):
                disabled = True
                missing[resource] = _disabled_reason(root)
            else:
                missing[resource] = Unavailable(f"cannot read {path}: {exc.strerror or exc}")
            continue
        readable.append(resource)
    if not readable:
        reason = _disabled_reason(root) if disabled else Unavailable(
            f"no file under {directory} can be read", PSI_KERNEL_FIX)
        return PsiProbe((), missing, reason)
    return PsiProbe(tuple(readable), missing, None)


def psi_report(root: Path = Path("/")) -> dict[str, Any]:
    """The doctor's view of PSI (JSON-ready): available, reason, fix, per resource."""
    probe = probe_psi(root)
    resources = {r: ({"available": True} if r in probe.readable else
                     {"available": False, "reason": probe.missing[r].reason, "fix": probe.missing[r].fix})
                 for r in RESOURCES if r in probe.readable or r in probe.missing}
    if probe.family_reason is not None:
        return {"available": False, "reason": probe.family_reason.reason, "fix": probe.family_reason.fix,
                "resources": resources}
    absent = [r for r in RESOURCES if r not in probe.readable]
    summary = f"{root / 'proc/pressure'}: {', '.join(probe.readable)} readable"
    if absent:
        summary += "; " + "; ".join(f"{r}: {probe.missing[r].reason}" for r in absent if r in probe.missing)
    return {"available": True, "reason": summary, "resources": resources}


class PsiCollector(Collector):
    """Machine-wide "some" and "full" pressure per resource, as % of wall time."""

    family = "psi"
    title = "Pressure stalls"
    # At most twice a second: generating the files costs ~0.15 ms here (the kernel aggregates
    # per-CPU state on read), which at 10 Hz sampling would be 0.15 % of a core for little gain.
    min_interval = 0.5

    def __init__(self, root: Path = Path("/"), reader: Reader = read_small_file) -> None:
        self.root = Path(root)
        self._reader = reader
        self._rates = StallRates()
        self._probe: PsiProbe | None = None
        self._specs: Mapping[str, SeriesSpec] = MappingProxyType({})
        self._counter_specs: Mapping[str, CounterSpec] = MappingProxyType({})
        # Each readable file kept open and re-read with pread at offset 0 (psi_show() runs again
        # for every read at 0, as for the fast families' KeptFile); opened on first read.
        self._fds: dict[str, int] = {}
        # Laid out at open: per readable resource its path and (kind, series id, counter id);
        # and the series of the resources this kernel lacks, with their reasons.
        self._plan: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = ()
        self._missing: dict[str, Unavailable] = {}

    def open(self) -> None:
        self.close()
        self._probe = probe_psi(self.root, self._reader)
        if self._probe.family_reason is not None:
            raise CollectorUnavailableError(self._probe.family_reason)
        self._plan = tuple(
            (r, f"{self.root}/proc/pressure/{r}",
             tuple((k, series_id(r, k), f"psi.stall_seconds.{r}.{k}") for k in ("some", "full")
                   if (r, k) in SYSTEM_SERIES))
            for r in self._probe.readable)
        self._missing = {series_id(r, k): reason for r, reason in self._probe.missing.items()
                         for k in ("some", "full") if (r, k) in SYSTEM_SERIES}
        wanted = [(r, k) for r, k in SYSTEM_SERIES if r in self._probe.readable]
        self._specs = MappingProxyType({
            series_id(r, k): SeriesSpec(series_id(r, k), series_label(r, k), "%", group=f"psi.{r}",
                                        value_range=_PERCENT, metric="psi.stall_pct",
                                        labels=(("resource", r), ("kind", k)))
            for r, k in wanted})
        self._counter_specs = MappingProxyType({
            f"psi.stall_seconds.{r}.{k}": CounterSpec(
                f"psi.stall_seconds.{r}.{k}", "psi.stall_seconds", "s",
                f"Cumulative wall time with {KIND_MEANINGS[k]} on {RESOURCE_TITLES[r]} (/proc/pressure)",
                (("resource", r), ("kind", k)))
            for r, k in wanted})

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return self._counter_specs

    def unavailable(self) -> Unavailable | None:
        return self._probe.family_reason if self._probe else None

    def _read_text(self, resource: str, path: str) -> str:
        """The file's text: pread on the kept descriptor, or the injected reader (tests)."""
        if self._reader is not read_small_file:
            return self._reader(path)
        fd = self._fds.get(resource)
        if fd is None:
            fd = self._fds[resource] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.pread(fd, 4096, 0).decode("ascii", "replace")
        except OSError:
            self._close_fd(resource)  # opened afresh next time: a failure may be transient
            raise

    def _close_fd(self, resource: str) -> None:
        fd = self._fds.pop(resource, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        for resource in list(self._fds):
            self._close_fd(resource)

    def __del__(self) -> None:
        # A collector dropped without close() (a test, a doctor read) must not leak descriptors.
        self.close()

    def read(self, now: float) -> Reading:
        if self._probe is None:
            self.open()
        values: dict[str, float | None] = {}
        unavailable: dict[str, Unavailable] = dict(self._missing)
        totals: dict[str, float] = {}
        rates = self._rates
        for resource, path, outputs in self._plan:
            try:
                parsed = parse_pressure(self._read_text(resource, path))
            except OSError as exc:
                reason = (_disabled_reason(self.root) if _unsupported(exc)
                          else Unavailable(f"cannot read {path}: {exc.strerror or exc}"))
                for _kind, sid, _cid in outputs:
                    unavailable[sid] = reason
                    rates.forget(sid)
                continue
            for kind, sid, cid in outputs:
                total = parsed.get(kind)
                if total is None:
                    unavailable[sid] = Unavailable(f"{path} has no {kind!r} line on this kernel")
                    rates.forget(sid)
                    continue
                values[sid] = rates.percent(sid, total, now)
                totals[cid] = total / 1e6
        return Reading(values=values, unavailable=unavailable, totals=totals)
