"""Whole-card readings of amdgpu, i915 and xe from sysfs and the driver's hwmon.

The files are found once per GPU (``SysfsGpuReader.__init__``) and then read every tick, so a
tick costs one ``read`` per file and no globbing. A file the card does not have is simply not a
series (an APU has no ``mem_busy_percent``, an integrated Intel GPU no hwmon); a file that
exists but fails to read gives no value that tick and a problem line, never 0.

Units as the kernel writes them (Documentation/gpu/amdgpu/thermal.rst, hwmon sysfs-interface):
``temp*_input`` m°C, ``power*_average``/``power*_input``/``power*_cap`` µW, ``energy*_input`` µJ,
``freq*_input`` Hz, ``fan*_input`` RPM, ``mem_info_*`` bytes, ``*_busy_percent`` %, i915
``gt_*_freq_mhz`` and xe ``freq0/*_freq`` MHz.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from perfdeck.gpu.devices import GpuDevice


@dataclass(frozen=True, slots=True)
class FileMetric:
    key: str  # "busy", "vram_used", "temp:edge", "energy" ...
    path: Path
    scale: float  # multiply the integer in the file by this to get the series unit


@dataclass(slots=True)
class CardSample:
    """One tick of one GPU: gauges, raw cumulative totals, and what failed."""

    values: dict[str, float] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=dict)  # "energy" (J), "ecc_corrected" ...
    problems: dict[str, str] = field(default_factory=dict)  # key -> why it has no value
    throttle: tuple[str, ...] = ()


# Keys that are raw cumulative counters (Reading.totals), not gauges.
TOTAL_KEYS = frozenset({"energy"})

_AMDGPU_FILES = (
    ("busy", "gpu_busy_percent", 1.0),
    ("mem_busy", "mem_busy_percent", 1.0),
    ("vram_used", "mem_info_vram_used", 1.0),
    ("vram_total", "mem_info_vram_total", 1.0),
    ("gtt_used", "mem_info_gtt_used", 1.0),
    ("gtt_total", "mem_info_gtt_total", 1.0),
)


def _listdir(path: Path) -> set[str]:
    try:
        return set(os.listdir(path))
    except OSError:
        return set()


def _label(directory: Path, stem: str) -> str:
    try:
        return (directory / f"{stem}_label").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def hwmon_metrics(hwmon: Path) -> list[FileMetric]:
    """The hwmon inputs of one GPU: temperatures by label, power, power cap, energy, clocks, fan."""
    names = _listdir(hwmon)
    metrics: list[FileMetric] = []
    for name in sorted(names):
        stem, _, suffix = name.partition("_")
        if suffix != "input" or not stem.startswith("temp"):
            continue
        label = _label(hwmon, stem) or stem
        metrics.append(FileMetric(f"temp:{label.lower()}", hwmon / name, 1e-3))
    # amdgpu reports power1_average on older cards and power1_input on newer ones (RDNA3, recent
    # APUs); both are µW. Intel discrete cards give only energy (µJ): power is its rate.
    for candidate in ("power1_average", "power1_input"):
        if candidate in names:
            metrics.append(FileMetric("power", hwmon / candidate, 1e-6))
            break
    for candidate in ("power1_cap", "power1_max"):
        if candidate in names:
            metrics.append(FileMetric("power_limit", hwmon / candidate, 1e-6))
            break
    if "energy1_input" in names:
        metrics.append(FileMetric("energy", hwmon / "energy1_input", 1e-6))
    for stem in ("freq1", "freq2"):
        if f"{stem}_input" in names:
            label = _label(hwmon, stem)
            key = {"sclk": "freq", "mclk": "mem_freq"}.get(label, "freq" if stem == "freq1" else "mem_freq")
            metrics.append(FileMetric(key, hwmon / f"{stem}_input", 1e-6))  # Hz -> MHz
    if "fan1_input" in names:
        metrics.append(FileMetric("fan_rpm", hwmon / "fan1_input", 1.0))
    return metrics


def card_metrics(gpu: GpuDevice) -> list[FileMetric]:
    """Every whole-card file this GPU's driver offers, found once."""
    metrics: list[FileMetric] = []
    pci = gpu.pci_path
    if gpu.driver == "amdgpu":
        present = _listdir(pci)
        metrics.extend(FileMetric(key, pci / name, scale) for key, name, scale in _AMDGPU_FILES
                       if name in present)
    elif gpu.driver == "i915" and gpu.card_path is not None:
        present = _listdir(gpu.card_path)
        for key, name in (("freq", "gt_act_freq_mhz"), ("freq_req", "gt_cur_freq_mhz")):
            if name in present:
                metrics.append(FileMetric(key, gpu.card_path / name, 1.0))
    elif gpu.driver == "xe":
        # The primary GT of the root tile; media GTs (gt1) and other tiles are left out.
        freq = pci / "tile0" / "gt0" / "freq0"
        present = _listdir(freq)
        for key, name in (("freq", "act_freq"), ("freq_req", "cur_freq")):
            if name in present:
                metrics.append(FileMetric(key, freq / name, 1.0))
    if gpu.hwmon is not None and gpu.driver in ("amdgpu", "i915", "xe"):
        have = {m.key for m in metrics}
        metrics.extend(m for m in hwmon_metrics(gpu.hwmon) if m.key not in have)
    return metrics


class SysfsGpuReader:
    """Reads one amdgpu/i915/xe card's files each tick (only while the card is awake)."""

    def __init__(self, gpu: GpuDevice) -> None:
        self.gpu = gpu
        self.metrics = card_metrics(gpu)

    @property
    def keys(self) -> list[str]:
        return [m.key for m in self.metrics]

    def read(self) -> CardSample:
        sample = CardSample()
        for metric in self.metrics:
            try:
                with open(metric.path, "rb") as handle:
                    raw = handle.read()
                value = int(raw) * metric.scale
            except OSError as exc:
                # amdgpu answers EOPNOTSUPP/ENODEV for files a card lists but cannot serve.
                sample.problems[metric.key] = f"{metric.path.name}: {exc.strerror or exc}"
                continue
            except ValueError:
                sample.problems[metric.key] = f"{metric.path.name}: not a number"
                continue
            if metric.key in TOTAL_KEYS:
                sample.totals[metric.key] = value
            else:
                sample.values[metric.key] = value
        return sample
