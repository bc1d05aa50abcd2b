"""Generic sysfs PMU layer: discover PMUs, parse their format/ and events/ files, encode events.

Every dynamic PMU (uncore IMC, AMD UMC/DF, msr, power/RAPL, hybrid ``cpu_core``...) describes
itself under ``/sys/bus/event_source/devices/<pmu>/``:

``type``
    the dynamic ``perf_event_attr.type`` (an integer).
``cpumask`` (or ``cpus`` on hybrid core PMUs)
    the CPUs to open on, in cpulist syntax (``0,28``, ``0-3,8``). Uncore PMUs list one CPU per
    package; opening on others would count the same box several times.
``format/<term>``
    where a term's bits go: ``config:0-7``, ``config:18``, split ranges ``config:8-15,32-55``.
``events/<name>``
    the event as terms: ``event=0x04,umask=0x03`` (a bare term means 1, ``param=?`` must be
    supplied by the caller), plus optional ``<name>.scale``, ``.unit``, ``.per-pkg``, ``.snapshot``.
    Intel uncore writes these without a trailing newline, other PMUs with one.

Nothing here opens a file descriptor: ``perfdeck.perf.counters`` does that with what
``Pmu.encode_event`` returns. Everything takes a filesystem ``root`` so tests and
``perfdeck doctor --root DIR`` can point at a fake tree.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

DEVICES_DIR = Path("sys/bus/event_source/devices")
CONFIG_TARGETS = ("config", "config1", "config2", "config3")
# Targets ``EncodedConfig`` carries (config3 exists only for Arm SPE; nothing here needs it).
ENCODABLE_TARGETS = ("config", "config1", "config2")
REQUIRED_PARAM = "?"

Target = Literal["config", "config1", "config2", "config3"]


# Linux's CONFIG_NR_CPUS is at most 8192 (x86) or 4096 (arm64); anything far beyond is damage.
MAX_CPUS = 1 << 16


class PmuError(ValueError):
    """A PMU description is malformed, or an event cannot be encoded with it."""


def parse_cpulist(text: str) -> tuple[int, ...]:
    """Parse the kernel's cpulist syntax (``0-3,8``; whitespace ignored; empty -> ``()``).

    Raises ``PmuError`` on anything else, e.g. a hex cpumask bitmap (``ff``) or ``3-1``.
    """
    text = text.strip()
    if not text:
        return ()
    cpus: list[int] = []
    for chunk in text.split(","):
        chunk = chunk.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", chunk)
        if match is None:
            raise PmuError(f"malformed cpulist {text!r}: cannot parse {chunk!r}")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise PmuError(f"malformed cpulist {text!r}: range {chunk!r} is reversed")
        if hi >= MAX_CPUS:  # "0-4294967295" from a damaged snapshot must not allocate 4 G integers
            raise PmuError(f"malformed cpulist {text[:40]!r}: CPU {hi} is beyond any kernel's limit")
        cpus.extend(range(lo, hi + 1))
    return tuple(sorted(set(cpus)))


@dataclass(frozen=True)
class FormatField:
    """One ``format/<name>`` file: which bits of which config word the term's value fills.

    ``bits`` holds inclusive ``(lo, hi)`` ranges. A value is deposited low bit first into the
    bits in ascending order, which is what perf's ``pmu_format_value`` does, so
    ``config:8-15,32-55`` puts value bits 0-7 into config bits 8-15 and bits 8-31 into 32-55.
    """

    name: str
    target: Target
    bits: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, name: str, text: str) -> FormatField:
        """Parse ``config:8-15,32-55`` (grammar: ``target:lo[-hi](,lo[-hi])*``)."""
        text = text.strip()
        target, sep, ranges = text.partition(":")
        if not sep or target not in CONFIG_TARGETS:
            raise PmuError(f"format {name!r}: expected 'config[123]:lo-hi', got {text!r}")
        bits: list[tuple[int, int]] = []
        for chunk in ranges.split(","):
            match = re.fullmatch(r"\s*(\d+)(?:-(\d+))?\s*", chunk)
            if match is None:
                raise PmuError(f"format {name!r}: cannot parse bit range {chunk!r} in {text!r}")
            lo = int(match.group(1))
            hi = int(match.group(2)) if match.group(2) is not None else lo
            if hi < lo or hi > 63:
                raise PmuError(f"format {name!r}: bit range {chunk!r} is outside 0-63 or reversed")
            bits.append((lo, hi))
        return cls(name=name, target=target, bits=tuple(bits))  # type: ignore[arg-type]

    @property
    def width(self) -> int:
        """How many value bits fit in this field."""
        return sum(hi - lo + 1 for lo, hi in self.bits)

    def spec(self) -> str:
        """The field as the kernel writes it, e.g. ``config:8-15,32-55``."""
        parts = [f"{lo}-{hi}" if hi != lo else f"{lo}" for lo, hi in self.bits]
        return f"{self.target}:{','.join(parts)}"

    def deposit(self, value: int) -> int:
        """The config-word bits for ``value``. Raises ``PmuError`` if it does not fit."""
        if value < 0:
            raise PmuError(f"term {self.name!r}: negative value {value} is not allowed")
        if value >> self.width:
            raise PmuError(
                f"term {self.name!r}: value {value:#x} is wider than the field "
                f"({self.width} bits: {self.spec()})")
        word = 0
        position = 0
        for lo, hi in sorted(self.bits):
            for bit in range(lo, hi + 1):
                if value >> position & 1:
                    word |= 1 << bit
                position += 1
        return word


def parse_event_terms(text: str) -> dict[str, int | str]:
    """Parse an ``events/<name>`` string: ``event=0x04,umask=0x03``, bare ``inv`` -> 1, ``p=?`` kept.

    Values are integers in any Python literal base (the kernel writes ``0x..`` hex). Raises
    ``PmuError`` on an empty string, an empty term or a value that is neither a number nor ``?``.
    """
    text = text.strip()
    if not text:
        raise PmuError("empty event description")
    terms: dict[str, int | str] = {}
    for chunk in text.split(","):
        name, sep, raw = chunk.strip().partition("=")
        name = name.strip()
        raw = raw.strip()
        if not name:
            raise PmuError(f"empty term in event description {text!r}")
        if not sep:
            terms[name] = 1
        elif raw == REQUIRED_PARAM:
            terms[name] = REQUIRED_PARAM
        else:
            try:
                terms[name] = int(raw, 0)
            except ValueError:
                raise PmuError(f"term {name!r} in {text!r} has a non-numeric value {raw!r}") from None
    return terms


@dataclass(frozen=True)
class PmuEvent:
    """One ``events/<name>`` entry with its optional ``.scale``, ``.unit``, ``.per-pkg``, ``.snapshot``.

    ``scale`` is None when no ``.scale`` file exists (perf then uses 1). Display value =
    count x scale, in ``unit``. ``terms`` values are ints, or ``"?"`` for a required parameter.
    """

    name: str
    terms: dict[str, int | str] = field(hash=False)
    scale: float | None = None
    unit: str | None = None
    per_pkg: bool = False
    snapshot: bool = False

    @property
    def required_params(self) -> tuple[str, ...]:
        """Terms written ``term=?`` that the caller must supply."""
        return tuple(k for k, v in self.terms.items() if v == REQUIRED_PARAM)

    @property
    def effective_scale(self) -> float:
        return 1.0 if self.scale is None else self.scale


@dataclass(frozen=True)
class EncodedConfig:
    """The ``perf_event_attr`` config words of one event."""

    config: int
    config1: int = 0
    config2: int = 0

    def as_hex(self) -> dict[str, str]:
        """JSON-friendly form for ``perfdeck doctor --json``."""
        return {"config": hex(self.config), "config1": hex(self.config1), "config2": hex(self.config2)}


# Terms perf accepts on every PMU without a format file: raw config words.
_RAW_TERMS = ENCODABLE_TARGETS


@dataclass(frozen=True)
class Pmu:
    """One PMU under ``/sys/bus/event_source/devices``.

    ``cpus`` is the ``cpumask`` (or hybrid ``cpus``) list, or None when the PMU has neither file
    (core-scope PMUs such as ``msr``, openable on any CPU). An empty tuple means the file exists
    but is empty, which happens when every CPU of the box is offline.
    """

    name: str
    type: int
    cpus: tuple[int, ...] | None
    formats: dict[str, FormatField] = field(hash=False)
    events: dict[str, PmuEvent] = field(hash=False)
    path: Path = Path()

    def encode(self, terms: Mapping[str, int]) -> EncodedConfig:
        """Encode integer terms through this PMU's format files.

        Raises ``PmuError`` for a term not in ``format/`` (and not a raw ``config``/``config1``/
        ``config2``), a value too wide for its field, a ``?`` left unresolved, or a field that
        targets ``config3``.
        """
        words = dict.fromkeys(ENCODABLE_TARGETS, 0)
        for name, value in terms.items():
            if value == REQUIRED_PARAM:
                raise PmuError(f"{self.name}: term {name!r} is a required parameter ('?'); give it a value")
            if not isinstance(value, int) or isinstance(value, bool):
                raise PmuError(f"{self.name}: term {name!r} must be an integer, got {value!r}")
            fmt = self.formats.get(name)
            if fmt is None:
                if name in _RAW_TERMS:
                    if not 0 <= value < 1 << 64:
                        raise PmuError(f"{self.name}: raw {name} value {value:#x} does not fit 64 bits")
                    words[name] |= value
                    continue
                known = ", ".join(sorted(self.formats)) or "none"
                raise PmuError(f"{self.name}: unknown term {name!r}; its format/ directory defines: {known}")
            if fmt.target not in ENCODABLE_TARGETS:
                raise PmuError(f"{self.name}: term {name!r} targets {fmt.target}, which is not supported")
            try:
                words[fmt.target] |= fmt.deposit(value)
            except PmuError as exc:
                raise PmuError(f"{self.name}: {exc}") from None
        return EncodedConfig(words["config"], words["config1"], words["config2"])

    def event(self, name: str) -> PmuEvent:
        """The named event, or ``PmuError`` listing what exists."""
        try:
            return self.events[name]
        except KeyError:
            known = ", ".join(sorted(self.events)) or "none (no events/ directory)"
            raise PmuError(f"{self.name}: no event {name!r}; it has: {known}") from None

    def encode_event(self, name: str, **params: int) -> EncodedConfig:
        """Encode a named event, filling its ``?`` parameters (and optionally overriding terms)."""
        event = self.event(name)
        missing = [p for p in event.required_params if p not in params]
        if missing:
            needed = ", ".join(f"{p}=..." for p in missing)
            raise PmuError(f"{self.name}/{name}: required parameter(s) not given: {needed}")
        terms: dict[str, int] = {}
        for key, value in event.terms.items():
            if isinstance(value, int):
                terms[key] = value
        terms.update(params)
        return self.encode(terms)


def _read_text(path: Path) -> str:
    return path.read_text(encoding="ascii", errors="replace")


def _read_optional(path: Path) -> str | None:
    try:
        return _read_text(path).strip()
    except FileNotFoundError:
        return None


def _read_event(events_dir: Path, name: str) -> PmuEvent:
    terms = parse_event_terms(_read_text(events_dir / name))
    scale_text = _read_optional(events_dir / f"{name}.scale")
    scale = None
    if scale_text:
        try:
            scale = float(scale_text)
        except ValueError:
            raise PmuError(f"event {name!r}: .scale {scale_text!r} is not a number") from None
    unit = _read_optional(events_dir / f"{name}.unit") or None
    per_pkg = (_read_optional(events_dir / f"{name}.per-pkg") or "0") == "1"
    snapshot = (_read_optional(events_dir / f"{name}.snapshot") or "0") == "1"
    return PmuEvent(name=name, terms=terms, scale=scale, unit=unit, per_pkg=per_pkg, snapshot=snapshot)


_EVENT_SUFFIXES = (".scale", ".unit", ".per-pkg", ".snapshot")


def read_pmu(path: Path) -> Pmu:
    """Read one PMU directory. Raises ``PmuError`` (or ``OSError``) when its type or formats are bad.

    A single malformed event file only drops that event (logged): the PMU's other events and
    the generic encoding path still work.
    """
    name = path.name
    try:
        pmu_type = int(_read_text(path / "type").strip())
    except FileNotFoundError:
        raise PmuError(f"{name}: no 'type' file") from None
    except ValueError:
        raise PmuError(f"{name}: 'type' is not an integer") from None
    cpus: tuple[int, ...] | None = None
    for mask_name in ("cpumask", "cpus"):
        mask = _read_optional(path / mask_name)
        if mask is not None:
            cpus = parse_cpulist(mask)
            break
    formats: dict[str, FormatField] = {}
    format_dir = path / "format"
    if format_dir.is_dir():
        for entry in sorted(format_dir.iterdir()):
            formats[entry.name] = FormatField.parse(entry.name, _read_text(entry))
    events: dict[str, PmuEvent] = {}
    events_dir = path / "events"
    if events_dir.is_dir():
        for entry in sorted(events_dir.iterdir()):
            if entry.name.endswith(_EVENT_SUFFIXES) or not entry.is_file():
                continue
            try:
                events[entry.name] = _read_event(events_dir, entry.name)
            except (PmuError, OSError) as exc:
                log.info("PMU %s: skipping event %s: %s", name, entry.name, exc)
    return Pmu(name=name, type=pmu_type, cpus=cpus, formats=formats, events=events, path=path)


@dataclass(frozen=True)
class PmuScan:
    """Result of a sysfs scan: the PMUs that parsed, and why the others were skipped."""

    pmus: dict[str, Pmu] = field(hash=False)
    skipped: dict[str, str] = field(hash=False)
    devices_dir: Path = Path()


def scan_pmus(root: Path = Path("/")) -> PmuScan:
    """Read every PMU under ``root/sys/bus/event_source/devices``, recording why bad ones were skipped."""
    devices = Path(root) / DEVICES_DIR
    pmus: dict[str, Pmu] = {}
    skipped: dict[str, str] = {}
    try:
        entries = sorted(devices.iterdir())
    except OSError as exc:
        log.info("no PMUs: cannot list %s: %s", devices, exc)
        return PmuScan({}, {}, devices)
    for entry in entries:
        try:
            pmus[entry.name] = read_pmu(entry)
        except (PmuError, OSError) as exc:
            reason = str(exc)
            log.info("skipping PMU %s: %s", entry.name, reason)
            skipped[entry.name] = reason
    return PmuScan(pmus, skipped, devices)


def list_pmus(root: Path = Path("/")) -> dict[str, Pmu]:
    """Every readable PMU under ``root/sys/bus/event_source/devices``, by name.

    Unreadable or malformed PMUs are skipped with a logged reason (``scan_pmus`` also returns them).
    """
    return scan_pmus(root).pmus


def online_cpus(root: Path = Path("/")) -> tuple[int, ...]:
    """CPUs listed in ``/sys/devices/system/cpu/online`` (empty when the file is missing)."""
    text = _read_optional(Path(root) / "sys/devices/system/cpu/online")
    return parse_cpulist(text) if text else ()


def package_of_cpu(cpu: int, root: Path = Path("/")) -> int | None:
    """The socket (``physical_package_id``) of a CPU, or None when the topology file is missing."""
    text = _read_optional(Path(root) / f"sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id")
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def pmu_cpus(pmu: Pmu, root: Path = Path("/")) -> tuple[int, ...]:
    """The CPUs to open a PMU's events on: its cpumask, or every online CPU when it has none."""
    if pmu.cpus is not None:
        return pmu.cpus
    return online_cpus(root)
