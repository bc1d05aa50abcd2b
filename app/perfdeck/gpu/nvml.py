"""NVIDIA GPUs through NVML (``nvidia-ml-py``, imported only when an NVIDIA card is present).

Every failure becomes a reason and a fix, never a crash and never a 0:

- ``nvidia-ml-py`` not installed -> "pip install 'perfdeck[gpu]'";
- ``libnvidia-ml.so.1`` not found (``NVML_ERROR_LIBRARY_NOT_FOUND``) -> install the NVIDIA driver;
- ``NVML_ERROR_DRIVER_NOT_LOADED`` -> load the kernel module;
- ``NVML_ERROR_NO_PERMISSION`` -> access to /dev/nvidia*;
- ``NVML_ERROR_GPU_IS_LOST`` mid-run -> the card is shown as lost (it needs a reset or a reboot)
  and is not queried again until it is found anew;
- ``NVML_ERROR_NOT_SUPPORTED`` on one query -> that series does not exist on this card.

Units: NVML gives power in mW, energy in mJ, memory in bytes, clocks in MHz, PCIe throughput in
KB/s (1 KB = 1024 B in NVML's header), utilisation in %.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from perfdeck.gpu.fdinfo import ProcessGpuUse
from perfdeck.gpu.sysfs import CardSample
from perfdeck.model.series import Unavailable

INSTALL_BINDINGS = "pip install 'perfdeck[gpu]' (or: pip install nvidia-ml-py)"
INSTALL_DRIVER = ("install the NVIDIA driver (Debian/Ubuntu: `sudo apt install nvidia-driver` or "
                  "`sudo ubuntu-drivers install`), which provides libnvidia-ml.so.1")

# Throttle ("clocks event") reason bits of nvml.h, named for people.
THROTTLE_REASONS = (
    (0x1, "idle"), (0x2, "application clocks setting"), (0x4, "software power cap"),
    (0x8, "hardware slowdown"), (0x10, "sync boost"), (0x20, "software thermal slowdown"),
    (0x40, "hardware thermal slowdown"), (0x80, "hardware power brake"), (0x100, "display clock setting"),
)


def normalise_bus_id(bus_id: bytes | str) -> str:
    """NVML's ``00000000:03:00.0`` (8-digit domain, upper case) as sysfs spells it: ``0000:03:00.0``."""
    text = (bus_id.decode() if isinstance(bus_id, bytes) else str(bus_id)).strip().lower()
    parts = text.split(":")
    if len(parts) == 3:
        return f"{int(parts[0], 16):04x}:{parts[1]}:{parts[2]}"
    return text


def error_code(module: Any, exc: BaseException) -> int | None:
    return getattr(exc, "value", None) if isinstance(exc, module.NVMLError) else None


def explain(module: Any, exc: BaseException, what: str = "NVML") -> Unavailable:
    """The reason and the fix for an NVML error."""
    code = error_code(module, exc)
    if code == module.NVML_ERROR_LIBRARY_NOT_FOUND:
        return Unavailable("NVIDIA driver library not found (libnvidia-ml.so.1)", INSTALL_DRIVER)
    if code == module.NVML_ERROR_DRIVER_NOT_LOADED:
        return Unavailable("the NVIDIA kernel driver is not loaded",
                           "`sudo modprobe nvidia` (or reboot after installing the driver)")
    if code == module.NVML_ERROR_NO_PERMISSION:
        return Unavailable(f"{what}: permission denied opening /dev/nvidia*",
                           "give your user access to /dev/nvidiactl and /dev/nvidia* (the driver's "
                           "NVreg_DeviceFileMode/NVreg_DeviceFileGID options, or the video group)")
    if code == module.NVML_ERROR_GPU_IS_LOST:
        return Unavailable("the GPU has fallen off the bus (NVML: GPU is lost)",
                           "check `sudo dmesg` for Xid errors; the card needs a reset "
                           "(`sudo nvidia-smi -r`) or a reboot")
    return Unavailable(f"{what} failed: {exc}")


@dataclass(slots=True)
class NvmlGpu:
    slot: str
    handle: Any
    name: str = ""
    unsupported: set[str] = field(default_factory=set)
    lost: Unavailable | None = None
    last_process_sample_us: int = 0


class NvmlSource:
    """All NVIDIA GPUs NVML sees, keyed by PCI slot. ``module`` replaces pynvml in tests."""

    def __init__(self, module: ModuleType | Any | None = None) -> None:
        self._module = module
        self.nvml: Any = None
        self.gpus: dict[str, NvmlGpu] = {}
        self.unavailable: Unavailable | None = None
        self.driver_version = ""

    def open(self) -> Unavailable | None:
        """Initialise NVML and list its GPUs. Returns why not, or None."""
        try:
            nvml = self._module or importlib.import_module("pynvml")
        except ImportError:
            if getattr(sys, "frozen", False):  # the .deb / PyInstaller build: pip cannot add to it
                self.unavailable = Unavailable(
                    "this PerfDeck build has no NVML bindings (nvidia-ml-py)",
                    "install PerfDeck with pip instead: pip install 'perfdeck[gpu]'")
            else:
                self.unavailable = Unavailable("the NVML bindings (nvidia-ml-py) are not installed",
                                               INSTALL_BINDINGS)
            return self.unavailable
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            self.unavailable = explain(nvml, exc)
            return self.unavailable
        self.nvml = nvml
        try:
            version = nvml.nvmlSystemGetDriverVersion()
            self.driver_version = version.decode() if isinstance(version, bytes) else str(version)
        except nvml.NVMLError:
            self.driver_version = ""
        try:
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            self.unavailable = explain(nvml, exc)
            return self.unavailable
        for index in range(count):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                slot = normalise_bus_id(nvml.nvmlDeviceGetPciInfo(handle).busId)
            except nvml.NVMLError as exc:
                # One card NVML cannot open (lost, no permission) does not hide the others.
                name = f"nvml-index-{index}"
                self.gpus[name] = NvmlGpu(name, None, lost=explain(nvml, exc))
                continue
            gpu = NvmlGpu(slot, handle)
            try:
                name = nvml.nvmlDeviceGetName(handle)
                gpu.name = name.decode() if isinstance(name, bytes) else str(name)
            except nvml.NVMLError:
                pass
            self.gpus[slot] = gpu
        self.unavailable = None
        return None

    def close(self) -> None:
        if self.nvml is not None:
            with contextlib.suppress(self.nvml.NVMLError):
                self.nvml.nvmlShutdown()
        self.nvml = None
        self.gpus = {}

    def _query(self, gpu: NvmlGpu, sample: CardSample, key: str, call: Callable[[], Any]) -> Any:
        """One NVML call; NOT_SUPPORTED retires the key for this card, GPU_IS_LOST marks it lost."""
        if key in gpu.unsupported or gpu.lost is not None:
            return None
        nvml = self.nvml
        try:
            return call()
        except nvml.NVMLError as exc:
            code = error_code(nvml, exc)
            if code == nvml.NVML_ERROR_NOT_SUPPORTED:
                gpu.unsupported.add(key)
            elif code == nvml.NVML_ERROR_GPU_IS_LOST:
                gpu.lost = explain(nvml, exc)
            else:
                sample.problems[key] = explain(nvml, exc, key).reason
            return None

    def read(self, slot: str) -> CardSample:
        """The whole-card values of one NVIDIA GPU."""
        gpu = self.gpus[slot]
        nvml = self.nvml
        sample = CardSample()
        if gpu.lost is not None or nvml is None:
            return sample
        h = gpu.handle
        q = self._query
        values = sample.values
        util = q(gpu, sample, "busy", lambda: nvml.nvmlDeviceGetUtilizationRates(h))
        if util is not None:
            values["busy"] = float(util.gpu)
            values["mem_busy"] = float(util.memory)
        enc = q(gpu, sample, "enc", lambda: nvml.nvmlDeviceGetEncoderUtilization(h))
        if enc is not None:
            values["enc"] = float(enc[0])
        dec = q(gpu, sample, "dec", lambda: nvml.nvmlDeviceGetDecoderUtilization(h))
        if dec is not None:
            values["dec"] = float(dec[0])
        memory = q(gpu, sample, "vram", lambda: nvml.nvmlDeviceGetMemoryInfo(h))
        if memory is not None:
            values["vram_used"] = float(memory.used)
            values["vram_total"] = float(memory.total)
        temp = q(gpu, sample, "temp", lambda: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))
        if temp is not None:
            values["temp:gpu"] = float(temp)
        power = q(gpu, sample, "power", lambda: nvml.nvmlDeviceGetPowerUsage(h))
        if power is not None:
            values["power"] = power / 1000.0
        limit = q(gpu, sample, "power_limit", lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(h))
        if limit is not None:
            values["power_limit"] = limit / 1000.0
        energy = q(gpu, sample, "energy", lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(h))
        if energy is not None:
            sample.totals["energy"] = energy / 1000.0
        for key, clock in (("freq", nvml.NVML_CLOCK_SM), ("mem_freq", nvml.NVML_CLOCK_MEM)):
            mhz = q(gpu, sample, key, lambda clock=clock: nvml.nvmlDeviceGetClockInfo(h, clock))
            if mhz is not None:
                values[key] = float(mhz)
        fan = q(gpu, sample, "fan_pct", lambda: nvml.nvmlDeviceGetFanSpeed(h))
        if fan is not None:
            values["fan_pct"] = float(fan)
        for key, counter in (("pcie_tx", nvml.NVML_PCIE_UTIL_TX_BYTES),
                             ("pcie_rx", nvml.NVML_PCIE_UTIL_RX_BYTES)):
            kbps = q(gpu, sample, key, lambda counter=counter: nvml.nvmlDeviceGetPcieThroughput(h, counter))
            if kbps is not None:
                values[key] = kbps * 1024.0
        reasons = q(gpu, sample, "throttle", lambda: nvml.nvmlDeviceGetCurrentClocksThrottleReasons(h))
        if reasons is not None:
            sample.throttle = tuple(name for bit, name in THROTTLE_REASONS if reasons & bit)
        for key, kind in (("ecc_corrected", nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
                          ("ecc_uncorrected", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED)):
            count = q(gpu, sample, key, lambda kind=kind: nvml.nvmlDeviceGetTotalEccErrors(
                h, kind, nvml.NVML_VOLATILE_ECC))
            if count is not None:
                sample.totals[key] = float(count)
        return sample

    def processes(self, slot: str, proc: Path) -> dict[int, ProcessGpuUse]:
        """GPU memory and SM % of each process on one GPU; processes that exited are dropped."""
        gpu = self.gpus[slot]
        nvml = self.nvml
        if gpu.lost is not None or nvml is None:
            return {}
        scratch = CardSample()
        memory: dict[int, int | None] = {}
        for key, call in (("compute_processes", nvml.nvmlDeviceGetComputeRunningProcesses),
                          ("graphics_processes", nvml.nvmlDeviceGetGraphicsRunningProcesses)):
            listed = self._query(gpu, scratch, key, lambda call=call: call(gpu.handle)) or []
            for entry in listed:
                used = getattr(entry, "usedGpuMemory", None)
                # pynvml gives None where NVML says NVML_VALUE_NOT_AVAILABLE (no per-process memory).
                previous = memory.get(entry.pid)
                memory[entry.pid] = used if previous is None else max(previous, used or 0)
        busy: dict[int, float] = {}
        measured = True
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(gpu.handle, gpu.last_process_sample_us)
        except nvml.NVMLError as exc:
            code = error_code(nvml, exc)
            if code == nvml.NVML_ERROR_GPU_IS_LOST:
                gpu.lost = explain(nvml, exc)
                return {}
            # NOT_FOUND: no process ran on the SMs since the last sample, so a listed process
            # measured 0 %. Any other error: its % is unknown, not 0.
            measured = code == nvml.NVML_ERROR_NOT_FOUND
            samples = []
        for item in samples:
            busy[item.pid] = max(busy.get(item.pid, 0.0), float(item.smUtil))
            gpu.last_process_sample_us = max(gpu.last_process_sample_us, int(item.timeStamp))
        result: dict[int, ProcessGpuUse] = {}
        for pid in set(memory) | set(busy):
            if not (proc / str(pid)).exists():
                continue  # exited between NVML's list and now: not a row
            pct = busy.get(pid, 0.0 if measured else None)
            result[pid] = ProcessGpuUse(pid, pct, memory.get(pid), {}, (slot,))
        return result
