"""GPUs (family ``gpu``): NVIDIA through NVML, amdgpu, i915 and xe through sysfs, every DRM
driver's per-process use through fdinfo.

Series, per GPU (instance = PCI slot with ``:``/``.`` as ``_``, label ``gpu`` = the slot):

- ``gpu.busy.<gpu>`` %: NVML utilisation, amdgpu ``gpu_busy_percent``; on i915/xe, which have no
  such file, the busiest engine from fdinfo (the label says so);
- ``gpu.engine.<engine>.<gpu>`` % per engine class from fdinfo (label ``engine``), plus the raw
  counter ``gpu.engine_busy.<engine>.<gpu>`` (s);
- ``gpu.mem_busy``, ``gpu.encoder``, ``gpu.decoder`` %; ``gpu.vram_used/_total``,
  ``gpu.gtt_used/_total`` B and their ``_pct``; ``gpu.client_mem`` B (resident in fdinfo);
- ``gpu.temp.<sensor>.<gpu>`` °C, ``gpu.power``/``gpu.power_limit`` W (power from the energy
  counter where only that exists), ``gpu.freq``/``gpu.freq_req``/``gpu.mem_freq`` MHz,
  ``gpu.fan_rpm`` RPM, ``gpu.fan_pct`` %, ``gpu.pcie_rx/_tx`` B/s;
- counters ``gpu.energy.<gpu>`` (J) and ``gpu.ecc_errors.<kind>.<gpu>``.

Tables: ``gpus`` (one mapping per GPU: vendor, driver, model, state, sources, throttle reasons)
and ``gpu_processes`` (pid -> ``{"gpu_pct", "gpu_mem", "engines", "gpus"}``).

A runtime-suspended card is not read (that would wake it): its series have no value and its
state is ``asleep``. Without any GPU the family costs a clock comparison per read and one PCI
listing a minute (a GPU can appear: eGPU, driver loaded late).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from perfdeck.collectors._common import instance_id, is_virtual_machine
from perfdeck.gpu.devices import NVIDIA_DRIVERS, GpuDevice, discover_gpus, fill_model_names
from perfdeck.gpu.fdinfo import FdinfoTracker, FdinfoUse, ProcessGpuUse, merge_processes
from perfdeck.gpu.nvml import NvmlSource
from perfdeck.gpu.sysfs import CardSample, SysfsGpuReader
from perfdeck.model.collector import Collector
from perfdeck.model.series import CounterSpec, Reading, SeriesSpec, Unavailable

REDISCOVER_S = 60.0
_PCT = (0.0, 100.0)

# key -> (metric, label suffix, unit, value range)
_GAUGES: dict[str, tuple[str, str, str, tuple[float, float] | None]] = {
    "busy": ("gpu.busy", "busy", "%", _PCT),
    "mem_busy": ("gpu.mem_busy", "memory controller busy", "%", _PCT),
    "enc": ("gpu.encoder", "video encoder busy", "%", _PCT),
    "dec": ("gpu.decoder", "video decoder busy", "%", _PCT),
    "vram_used": ("gpu.vram_used", "VRAM used", "B", None),
    "vram_total": ("gpu.vram_total", "VRAM total", "B", None),
    "vram_used_pct": ("gpu.vram_used_pct", "VRAM used %", "%", _PCT),
    "gtt_used": ("gpu.gtt_used", "GTT (system memory) used", "B", None),
    "gtt_total": ("gpu.gtt_total", "GTT (system memory) total", "B", None),
    "gtt_used_pct": ("gpu.gtt_used_pct", "GTT used %", "%", _PCT),
    "client_mem": ("gpu.client_mem", "memory resident for clients (fdinfo)", "B", None),
    "power": ("gpu.power", "power", "W", None),
    "power_limit": ("gpu.power_limit", "power limit", "W", None),
    "freq": ("gpu.freq", "core clock", "MHz", None),
    "freq_req": ("gpu.freq_req", "requested clock", "MHz", None),
    "mem_freq": ("gpu.mem_freq", "memory clock", "MHz", None),
    "fan_rpm": ("gpu.fan_rpm", "fan", "RPM", None),
    "fan_pct": ("gpu.fan_pct", "fan", "%", _PCT),
    "pcie_rx": ("gpu.pcie_rx", "PCIe receive", "B/s", None),
    "pcie_tx": ("gpu.pcie_tx", "PCIe transmit", "B/s", None),
}
_COUNTERS = {
    "energy": ("gpu.energy", "energy", "J", "Energy used by the GPU since the driver loaded"),
    "ecc_corrected": ("gpu.ecc_errors", "corrected ECC errors", "", "Corrected memory ECC errors (volatile)"),
    "ecc_uncorrected": ("gpu.ecc_errors", "uncorrected ECC errors", "",
                        "Uncorrected memory ECC errors (volatile)"),
}


def no_gpu_reason(root: Path) -> Unavailable:
    reason = "no GPU found: no PCI display controller (class 0x03) under /sys/bus/pci/devices"
    if is_virtual_machine(root):
        return Unavailable(reason + "; this is a virtual machine",
                           "pass a GPU through to the VM (VFIO) to monitor it from inside")
    return Unavailable(reason)


class _Gpu:
    """What the collector keeps per GPU between ticks."""

    def __init__(self, device: GpuDevice) -> None:
        self.device = device
        self.instance = instance_id(device.slot)
        self.sysfs = SysfsGpuReader(device) if device.driver in ("amdgpu", "i915", "xe") else None
        self.energy_before: tuple[float, float] | None = None  # (J, monotonic)
        self.state = "active"
        self.reason = ""


class GpuCollector(Collector):
    """Every GPU on the PCI bus, whole card and per process."""

    family = "gpu"
    title = "GPUs"
    min_interval = 1.0  # drivers refresh their busy % and sensors at most every few hundred ms

    def __init__(self, root: Path | str = Path("/"), nvml_module: Any = None) -> None:
        self.root = Path(root)
        self._nvml_module = nvml_module
        self.nvml: NvmlSource | None = None
        self.nvml_unavailable: Unavailable | None = None
        self._gpus: dict[str, _Gpu] = {}
        self._specs: dict[str, SeriesSpec] = {}
        self._counter_specs: dict[str, CounterSpec] = {}
        self._specs_view: Mapping[str, SeriesSpec] = MappingProxyType({})
        self._counters_view: Mapping[str, CounterSpec] = MappingProxyType({})
        self._fdinfo = FdinfoTracker(self.root / "proc")
        self._walk_fdinfo = False
        self._next_discovery = 0.0
        self._no_gpu: Reading | None = None
        self.discoveries = 0  # how often the PCI bus was listed (the benchmark and tests count it)

    # --- discovery --------------------------------------------------------------------------
    def open(self) -> None:
        self._discover(time.monotonic())

    def _discover(self, now: float) -> None:
        self.discoveries += 1
        self._next_discovery = now + REDISCOVER_S
        devices = discover_gpus(self.root)
        if self.discoveries > 1 and [d.slot for d in devices] == list(self._gpus) and all(
                d.driver == self._gpus[d.slot].device.driver for d in devices):
            return
        fill_model_names(devices, self.root)
        self._gpus = {d.slot: _Gpu(d) for d in devices}
        self._walk_fdinfo = any(d.card and d.driver not in NVIDIA_DRIVERS for d in devices)
        self._no_gpu = None if devices else Reading(unavailable={self.family: no_gpu_reason(self.root)})
        if not any(d.driver in NVIDIA_DRIVERS or d.vendor_id == "0x10de" for d in devices):
            self._close_nvml()

    def _ensure_nvml(self) -> None:
        """Initialise NVML once an NVIDIA card is present and awake (init would wake a sleeping one)."""
        if self.nvml is not None or self.nvml_unavailable is not None:
            return
        nvidia = [g for g in self._gpus.values() if g.device.vendor_id == "0x10de"]
        if not nvidia or all(g.device.asleep() for g in nvidia):
            return
        source = NvmlSource(self._nvml_module)
        self.nvml_unavailable = source.open()
        if self.nvml_unavailable is None:
            self.nvml = source
            for slot, found in source.gpus.items():
                if slot in self._gpus and found.name:
                    self._gpus[slot].device.name = found.name

    def _close_nvml(self) -> None:
        if self.nvml is not None:
            self.nvml.close()
        self.nvml = None
        self.nvml_unavailable = None

    def close(self) -> None:
        self._close_nvml()

    # --- protocol ---------------------------------------------------------------------------
    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._specs_view

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return self._counters_view

    def unavailable(self) -> Unavailable | None:
        return self._no_gpu.unavailable[self.family] if self._no_gpu is not None else None

    def static_facts(self) -> Mapping[str, str]:
        return {f"GPU {g.device.slot}": f"{g.device.name or g.device.vendor} "
                                         f"({g.device.driver or 'no driver'})" for g in self._gpus.values()}

    def read(self, now: float) -> Reading:
        if now >= self._next_discovery:
            self._discover(now)
        if self._no_gpu is not None:
            return self._no_gpu
        self._ensure_nvml()
        values: dict[str, float | None] = {}
        totals: dict[str, float] = {}
        unavailable: dict[str, Unavailable] = {}
        fdinfo = self._fdinfo.update(now) if self._walk_fdinfo else None
        process_parts: list[dict[int, ProcessGpuUse]] = [fdinfo.processes] if fdinfo else []
        table: list[dict[str, Any]] = []
        for slot, gpu in self._gpus.items():
            sample = self._read_card(gpu, now, unavailable)
            if sample is not None:
                self._add_fdinfo(gpu, sample, fdinfo)
                self._emit(gpu, sample, now, values, totals)
                if self.nvml is not None and slot in self.nvml.gpus:
                    process_parts.append(self.nvml.processes(slot, self.root / "proc"))
                    if self.nvml.gpus[slot].lost is not None:
                        gpu.state, gpu.reason = "lost", self.nvml.gpus[slot].lost.reason
            else:
                self._blank(gpu, values)
            table.append(self._row(gpu, sample, fdinfo))
        processes = merge_processes(process_parts)
        tables: dict[str, Any] = {
            "gpus": tuple(table),
            "gpu_processes": MappingProxyType({pid: {"gpu_pct": u.gpu_pct, "gpu_mem": u.gpu_mem,
                                                     "engines": dict(u.engines), "gpus": u.gpus}
                                               for pid, u in processes.items()}),
        }
        if fdinfo is not None and fdinfo.scan.processes_hidden:
            tables["gpu_processes_hidden"] = fdinfo.scan.processes_hidden
        return Reading(values=values, unavailable=unavailable, tables=tables, totals=totals)

    # --- per GPU ----------------------------------------------------------------------------
    def _read_card(self, gpu: _Gpu, now: float, unavailable: dict[str, Unavailable]) -> CardSample | None:
        device = gpu.device
        if device.asleep():
            gpu.state, gpu.reason = "asleep", "runtime-suspended: not woken up to be read"
            gpu.energy_before = None
            return None
        if gpu.sysfs is not None:
            gpu.state, gpu.reason = "active", ""
            return gpu.sysfs.read()
        if device.vendor_id == "0x10de":
            if self.nvml is not None and device.slot in self.nvml.gpus:
                lost = self.nvml.gpus[device.slot].lost
                if lost is None:
                    gpu.state, gpu.reason = "active", ""
                    return self.nvml.read(device.slot)
                gpu.state, gpu.reason = "lost", lost.reason
                why = lost
            else:
                why = self.nvml_unavailable or Unavailable("NVML does not list this GPU")
                gpu.state, gpu.reason = "no source", str(why)
            unavailable[f"gpu.busy.{gpu.instance}"] = why
            for series_id, spec in self._specs.items():
                if dict(spec.labels).get("gpu") == device.slot:
                    unavailable[series_id] = why
            return None
        gpu.state = "no source"
        gpu.reason = (f"driver {device.driver!r} has no whole-card files PerfDeck reads"
                      if device.driver else "no driver is bound to this device")
        # Per-process engine use from fdinfo still works for any DRM driver.
        return CardSample() if device.card else None

    def _add_fdinfo(self, gpu: _Gpu, sample: CardSample, fdinfo: FdinfoUse | None) -> None:
        if fdinfo is None:
            return
        slot = gpu.device.slot
        engines = fdinfo.engines.get(slot)
        if engines:
            for engine, pct in engines.items():
                sample.values[f"engine:{engine}"] = pct
            if "busy" not in sample.values and gpu.device.driver != "amdgpu":
                sample.values["busy"] = max(engines.values())
        for engine, ns in fdinfo.engine_ns.get(slot, {}).items():
            sample.totals[f"engine:{engine}"] = ns / 1e9
        if slot in fdinfo.client_memory:
            sample.values["client_mem"] = float(fdinfo.client_memory[slot])

    def _emit(self, gpu: _Gpu, sample: CardSample, now: float, values: dict[str, float | None],
              totals: dict[str, float]) -> None:
        data = dict(sample.values)
        for prefix in ("vram", "gtt"):
            used, total = data.get(f"{prefix}_used"), data.get(f"{prefix}_total")
            if used is not None and total:
                data[f"{prefix}_used_pct"] = 100.0 * used / total
        energy = sample.totals.get("energy")
        if energy is not None and "power" not in data:
            # Intel discrete cards give energy only: power is its rate over the last interval.
            before, gpu.energy_before = gpu.energy_before, (energy, now)
            if before is not None and now > before[1] and energy >= before[0]:
                data["power"] = (energy - before[0]) / (now - before[1])
            else:
                values[self._spec(gpu, "power").id] = None
        for key, value in data.items():
            values[self._spec(gpu, key).id] = value
        for key in sample.problems:
            if key in _GAUGES or key.startswith(("temp:", "engine:")):
                values[self._spec(gpu, key).id] = None
        for key, value in sample.totals.items():
            totals[self._counter(gpu, key).id] = value

    def _blank(self, gpu: _Gpu, values: dict[str, float | None]) -> None:
        """An asleep or unreadable card: its series have no value this tick (never 0)."""
        for series_id, spec in self._specs.items():
            if dict(spec.labels).get("gpu") == gpu.device.slot:
                values[series_id] = None

    def _row(self, gpu: _Gpu, sample: CardSample | None, fdinfo: FdinfoUse | None) -> dict[str, Any]:
        device = gpu.device
        sources = []
        if gpu.sysfs is not None:
            sources.append("sysfs" + (" + hwmon" if device.hwmon else ""))
        if self.nvml is not None and device.slot in self.nvml.gpus:
            version = self.nvml.driver_version
            sources.append(f"NVML (driver {version})" if version else "NVML")
        if self._walk_fdinfo and device.card and device.driver not in NVIDIA_DRIVERS:
            sources.append("fdinfo")
        return {
            "slot": device.slot, "instance": gpu.instance, "vendor": device.vendor, "driver": device.driver,
            "name": device.name, "title": device.title, "card": device.card, "state": gpu.state,
            "reason": gpu.reason, "sources": tuple(sources),
            "throttle": sample.throttle if sample is not None else (),
            "problems": dict(sample.problems) if sample is not None else {},
            "clients": fdinfo.clients.get(device.slot, 0) if fdinfo is not None else None,
            # Volatile ECC error counts (since the driver loaded), where the card has ECC.
            "ecc": {k.removeprefix("ecc_"): v for k, v in (sample.totals if sample else {}).items()
                    if k.startswith("ecc_")},
        }

    # --- specs ------------------------------------------------------------------------------
    def _spec(self, gpu: _Gpu, key: str) -> SeriesSpec:
        slot = gpu.device.slot
        series_id, labels, metric, text, unit, value_range = self._describe(gpu, key)
        spec = self._specs.get(series_id)
        if spec is None:
            spec = SeriesSpec(series_id, f"GPU {slot} {text}", unit, group=metric, value_range=value_range,
                              metric=metric, labels=labels)
            self._specs[series_id] = spec
            self._specs_view = MappingProxyType(dict(self._specs))
        return spec

    def _describe(self, gpu: _Gpu, key: str) -> tuple[str, tuple[tuple[str, str], ...], str, str, str,
                                                       tuple[float, float] | None]:
        slot, inst = gpu.device.slot, gpu.instance
        if key.startswith("temp:"):
            sensor = key[5:]
            return (f"gpu.temp.{instance_id(sensor)}.{inst}", (("gpu", slot), ("sensor", sensor)), "gpu.temp",
                    f"temperature {sensor}", "°C", None)
        if key.startswith("engine:"):
            engine = key[7:]
            return (f"gpu.engine.{instance_id(engine)}.{inst}", (("gpu", slot), ("engine", engine)),
                    "gpu.engine", f"{engine} engine busy", "%", _PCT)
        metric, text, unit, value_range = _GAUGES[key]
        if key == "busy" and gpu.device.driver in ("i915", "xe"):
            text = "busy (busiest engine)"
        return f"{metric}.{inst}", (("gpu", slot),), metric, text, unit, value_range

    def _counter(self, gpu: _Gpu, key: str) -> CounterSpec:
        slot, inst = gpu.device.slot, gpu.instance
        if key.startswith("engine:"):
            engine = key[7:]
            counter = CounterSpec(f"gpu.engine_busy.{instance_id(engine)}.{inst}", "gpu.engine_busy", "s",
                                  "Busy time of a GPU engine class observed over its DRM clients (fdinfo)",
                                  (("gpu", slot), ("engine", engine)))
        else:
            metric, _text, unit, help_text = _COUNTERS[key]
            if metric == "gpu.ecc_errors":
                kind = key.removeprefix("ecc_")
                counter = CounterSpec(f"{metric}.{kind}.{inst}", metric, unit, help_text,
                                      (("gpu", slot), ("kind", kind)))
            else:
                counter = CounterSpec(f"{metric}.{inst}", metric, unit, help_text, (("gpu", slot),))
        known = self._counter_specs.get(counter.id)
        if known is None:
            self._counter_specs[counter.id] = counter
            self._counters_view = MappingProxyType(dict(self._counter_specs))
            known = counter
        return known
