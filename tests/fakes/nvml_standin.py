"""A stand-in for ``pynvml`` with the same names, constants and error classes, for arithmetic and
error paths only (no NVIDIA GPU is reachable from the test machines).

Values are given in NVML's own units (mW, mJ, KB/s, bytes, MHz) so the tests check conversions.
``fail`` maps a function name to an NVML error code it raises; ``calls`` records every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_PCIE_UTIL_TX_BYTES = 0
NVML_PCIE_UTIL_RX_BYTES = 1
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class StandInCard:
    bus_id: bytes = b"00000000:01:00.0"
    name: bytes = b"NVIDIA GeForce RTX 4090"
    util_gpu: int = 63
    util_mem: int = 21
    encoder: int = 4
    decoder: int = 9
    mem_used: int = 6 * 1024 ** 3
    mem_total: int = 24 * 1024 ** 3
    temp_c: int = 58
    power_mw: int = 287_450
    limit_mw: int = 450_000
    energy_mj: int = 9_876_543
    sm_mhz: int = 2520
    mem_mhz: int = 10501
    fan_pct: int = 47
    pcie_tx_kbps: int = 2048
    pcie_rx_kbps: int = 512
    throttle: int = 0x4 | 0x20  # software power cap + software thermal slowdown
    ecc: tuple[int, int] = (3, 0)
    compute: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, bytes)
    graphics: list[tuple[int, int | None]] = field(default_factory=list)
    process_samples: list[tuple[int, int, int]] = field(default_factory=list)  # (pid, ts µs, smUtil)


class StandInNvml:
    """Build with the cards; then pass the instance where pynvml would go."""

    NVMLError = NVMLError

    def __init__(self, cards: list[StandInCard] | None = None, *, init_error: int | None = None) -> None:
        self.cards = cards if cards is not None else [StandInCard()]
        self.init_error = init_error
        self.fail: dict[str, int] = {}
        self.calls: list[str] = []
        for name, value in globals().items():
            if name.startswith("NVML_"):
                setattr(self, name, value)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise NVMLError(self.fail[name])

    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self._call("nvmlShutdown")

    def nvmlSystemGetDriverVersion(self) -> str:
        self._call("nvmlSystemGetDriverVersion")
        return "570.86.15"

    def nvmlDeviceGetCount(self) -> int:
        self._call("nvmlDeviceGetCount")
        return len(self.cards)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> StandInCard:
        self._call("nvmlDeviceGetHandleByIndex")
        return self.cards[index]

    def nvmlDeviceGetPciInfo(self, card: StandInCard) -> Any:
        self._call("nvmlDeviceGetPciInfo")
        return SimpleNamespace(busId=card.bus_id)

    def nvmlDeviceGetName(self, card: StandInCard) -> bytes:
        self._call("nvmlDeviceGetName")
        return card.name

    def nvmlDeviceGetUtilizationRates(self, card: StandInCard) -> Any:
        self._call("nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=card.util_gpu, memory=card.util_mem)

    def nvmlDeviceGetEncoderUtilization(self, card: StandInCard) -> list[int]:
        self._call("nvmlDeviceGetEncoderUtilization")
        return [card.encoder, 167000]

    def nvmlDeviceGetDecoderUtilization(self, card: StandInCard) -> list[int]:
        self._call("nvmlDeviceGetDecoderUtilization")
        return [card.decoder, 167000]

    def nvmlDeviceGetMemoryInfo(self, card: StandInCard) -> Any:
        self._call("nvmlDeviceGetMemoryInfo")
        return SimpleNamespace(used=card.mem_used, total=card.mem_total, free=card.mem_total - card.mem_used)

    def nvmlDeviceGetTemperature(self, card: StandInCard, sensor: int) -> int:
        self._call("nvmlDeviceGetTemperature")
        return card.temp_c

    def nvmlDeviceGetPowerUsage(self, card: StandInCard) -> int:
        self._call("nvmlDeviceGetPowerUsage")
        return card.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, card: StandInCard) -> int:
        self._call("nvmlDeviceGetEnforcedPowerLimit")
        return card.limit_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, card: StandInCard) -> int:
        self._call("nvmlDeviceGetTotalEnergyConsumption")
        return card.energy_mj

    def nvmlDeviceGetClockInfo(self, card: StandInCard, clock: int) -> int:
        self._call("nvmlDeviceGetClockInfo")
        return card.sm_mhz if clock == NVML_CLOCK_SM else card.mem_mhz

    def nvmlDeviceGetFanSpeed(self, card: StandInCard) -> int:
        self._call("nvmlDeviceGetFanSpeed")
        return card.fan_pct

    def nvmlDeviceGetPcieThroughput(self, card: StandInCard, counter: int) -> int:
        self._call("nvmlDeviceGetPcieThroughput")
        return card.pcie_tx_kbps if counter == NVML_PCIE_UTIL_TX_BYTES else card.pcie_rx_kbps

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, card: StandInCard) -> int:
        self._call("nvmlDeviceGetCurrentClocksThrottleReasons")
        return card.throttle

    def nvmlDeviceGetTotalEccErrors(self, card: StandInCard, error_type: int, counter_type: int) -> int:
        self._call("nvmlDeviceGetTotalEccErrors")
        return card.ecc[error_type]

    def nvmlDeviceGetComputeRunningProcesses(self, card: StandInCard) -> list[Any]:
        self._call("nvmlDeviceGetComputeRunningProcesses")
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in card.compute]

    def nvmlDeviceGetGraphicsRunningProcesses(self, card: StandInCard) -> list[Any]:
        self._call("nvmlDeviceGetGraphicsRunningProcesses")
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in card.graphics]

    def nvmlDeviceGetProcessUtilization(self, card: StandInCard, since_us: int) -> list[Any]:
        self._call("nvmlDeviceGetProcessUtilization")
        samples = [SimpleNamespace(pid=pid, timeStamp=ts, smUtil=sm, memUtil=0, encUtil=0, decUtil=0)
                   for pid, ts, sm in card.process_samples if ts > since_us]
        if not samples:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return samples
