"""Which GPUs this machine has: PCI display controllers, their driver, DRM card and hwmon.

A GPU is a PCI function of class 0x03xxxx (VGA 0x0300, 3D 0x0302, display 0x0380) under
``/sys/bus/pci/devices``. Its instance id is the PCI slot (``0000:03:00.0``), stable across
reboots as long as the card stays in its slot, and the same whichever driver is bound.

Nothing here reads a file that wakes a runtime-suspended device: the PCI ``class``, ``vendor``
and ``device`` files come from config space the kernel cached at enumeration, and
``power/runtime_status`` is the PM core's own state. Drivers' files (``gpu_busy_percent``,
hwmon) are only read after ``runtime_status`` says the card is awake.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from perfdeck.collectors._common import read_text

PCI_DEVICES = Path("sys/bus/pci/devices")
DISPLAY_CLASS_PREFIX = "0x03"  # PCI base class 03h: display controller

VENDORS = {"0x10de": "NVIDIA", "0x1002": "AMD", "0x1022": "AMD", "0x8086": "Intel"}
# Drivers whose whole-card files PerfDeck reads from sysfs (NVIDIA goes through NVML).
SYSFS_DRIVERS = ("amdgpu", "i915", "xe")
NVIDIA_DRIVERS = ("nvidia",)
# Places pci.ids lives on Debian/Ubuntu (hwdata, pciutils), for the model name.
PCI_IDS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids")


@dataclass(slots=True)
class GpuDevice:
    """One GPU as found on the PCI bus."""

    slot: str  # PCI address, e.g. "0000:03:00.0": the instance label
    vendor_id: str  # "0x1002"
    device_id: str  # "0x73bf"
    driver: str  # "amdgpu", "i915", "xe", "nvidia", or "" when no driver is bound
    pci_path: Path  # .../sys/bus/pci/devices/<slot>
    card: str = ""  # "card1" when the driver registered a DRM device
    hwmon: Path | None = None  # the driver's hwmon directory, if any
    name: str = ""  # model name when known (pci.ids, product_name or NVML)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def vendor(self) -> str:
        return VENDORS.get(self.vendor_id, f"vendor {self.vendor_id}")

    @property
    def card_path(self) -> Path | None:
        return self.pci_path / "drm" / self.card if self.card else None

    @property
    def title(self) -> str:
        """How the GPU is named to people: ``AMD Navi 21 (0000:03:00.0)``."""
        return f"{self.name or self.vendor + ' GPU ' + self.device_id} ({self.slot})"

    def runtime_status(self) -> str:
        """The PM core's runtime state: active, suspended, suspending, resuming, unsupported or ''."""
        return read_text(self.pci_path / "power" / "runtime_status") or ""

    def asleep(self) -> bool:
        """True while the card is runtime-suspended; reading its driver files would wake it."""
        return self.runtime_status() in ("suspended", "suspending")


def _driver_name(pci_path: Path) -> str:
    try:
        return os.path.basename(os.readlink(pci_path / "driver"))
    except OSError:
        return ""


def _first(directory: Path, prefix: str) -> str:
    try:
        names = sorted(n for n in os.listdir(directory) if n.startswith(prefix) and n[len(prefix):].isdigit())
    except OSError:
        return ""
    return names[0] if names else ""


def discover_gpus(root: Path = Path("/")) -> list[GpuDevice]:
    """Every PCI display controller under ``root``, in slot order. Cheap: a listdir and ~3 reads each."""
    base = Path(root) / PCI_DEVICES
    try:
        slots = sorted(os.listdir(base))
    except OSError:
        return []
    gpus: list[GpuDevice] = []
    for slot in slots:
        path = base / slot
        pci_class = read_text(path / "class") or ""
        if not pci_class.startswith(DISPLAY_CLASS_PREFIX):
            continue
        gpu = GpuDevice(slot=slot, vendor_id=(read_text(path / "vendor") or "").lower(),
                        device_id=(read_text(path / "device") or "").lower(),
                        driver=_driver_name(path), pci_path=path)
        gpu.card = _first(path / "drm", "card")
        hwmon = _first(path / "hwmon", "hwmon")
        gpu.hwmon = path / "hwmon" / hwmon if hwmon else None
        # amdgpu publishes the board name on some cards; it is a plain attribute (no wake-up).
        gpu.name = read_text(path / "product_name") or ""
        gpus.append(gpu)
    return gpus


def fill_model_names(gpus: list[GpuDevice], root: Path = Path("/")) -> None:
    """Name GPUs from pci.ids (the hwdata database) when it is installed. Read once, not per tick."""
    wanted = {(g.vendor_id[2:], g.device_id[2:]) for g in gpus if not g.name and g.vendor_id and g.device_id}
    if not wanted:
        return
    names = _pci_ids_lookup(root, wanted)
    for gpu in gpus:
        if not gpu.name:
            gpu.name = names.get((gpu.vendor_id[2:], gpu.device_id[2:]), "")


def _pci_ids_lookup(root: Path, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    vendors = {v for v, _ in wanted}
    for relative in PCI_IDS:
        try:
            handle = open(Path(root) / relative, encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError:
            continue
        found: dict[tuple[str, str], str] = {}
        with handle:
            vendor = ""
            for line in handle:
                if not line.strip() or line.startswith("#"):
                    continue
                if not line.startswith("\t"):
                    vendor = line[:4].lower() if line[:4].lower() in vendors else ""
                    continue
                if vendor and not line.startswith("\t\t"):
                    device = line[1:5].lower()
                    if (vendor, device) in wanted:
                        found[(vendor, device)] = line[5:].strip()
        return found
    return {}
