"""The GPU section of ``perfdeck doctor``: each GPU, its vendor, driver, slot and model, and which
sources work, with a reason and a fix for each that does not.

Only files are read (no driver file of a sleeping card: its runtime PM state is reported instead);
on the live machine NVML is also initialised when an NVIDIA card is present and awake.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from perfdeck.collectors.gpu import no_gpu_reason
from perfdeck.gpu.devices import GpuDevice, discover_gpus, fill_model_names
from perfdeck.gpu.nvml import NvmlSource
from perfdeck.gpu.sysfs import card_metrics
from perfdeck.model.series import Unavailable

_DRIVER_FIX = {
    "0x10de": "install the NVIDIA driver (Debian/Ubuntu: `sudo ubuntu-drivers install` or "
              "`sudo apt install nvidia-driver`)",
    "0x1002": "load amdgpu: `sudo modprobe amdgpu` (the firmware-amd-graphics package must be installed)",
    "0x8086": "load i915 or xe: `sudo modprobe i915` (or `xe` on Lunar Lake, Battlemage and newer)",
}


def _source(name: str, ok: bool, detail: str, fix: str = "") -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail, "fix": "" if ok else fix}


def _sysfs_sources(gpu: GpuDevice) -> list[dict[str, Any]]:
    metrics = card_metrics(gpu)
    in_hwmon = [m.key for m in metrics if gpu.hwmon is not None and gpu.hwmon in m.path.parents]
    on_card = [m.key for m in metrics if m.key not in in_hwmon]
    sources = [_source("sysfs", bool(on_card),
                       f"reads {', '.join(on_card)}" if on_card
                       else f"{gpu.driver} published none of the files PerfDeck reads",
                       "update the kernel (amdgpu has them since Linux 4.19, xe since 6.8)")]
    if gpu.hwmon is not None:
        detail = f"{gpu.hwmon.name}: {', '.join(in_hwmon) or 'no input PerfDeck reads'}"
        sources.append(_source("hwmon", bool(in_hwmon), detail))
    else:
        sources.append(_source("hwmon", False, "the driver registered no hwmon (integrated GPUs have "
                               "none): no temperature or power for this GPU", ""))
    return sources


def _fdinfo_source(live: bool) -> dict[str, Any]:
    if not live:
        return _source("fdinfo", True, "per-process engine time and memory from /proc/PID/fdinfo "
                       "(drm-* keys)")
    if os.geteuid() == 0:
        return _source("fdinfo", True, "per-process engine time and memory of every process "
                       "(running as root)")
    return _source("fdinfo", False, "per-process GPU use of your own processes only: other users' "
                   "/proc/PID/fd cannot be read", "run PerfDeck as root to see every process's GPU use")


def _nvml_source(gpu: GpuDevice, nvml: NvmlSource | None, why: Unavailable | None,
                 live: bool) -> dict[str, Any]:
    if not live:
        return _source("NVML", False, "not checked: a snapshot cannot be queried through NVML", "")
    if why is not None:
        return _source("NVML", False, why.reason, why.fix)
    if nvml is None:
        return _source("NVML", False, "not queried: the card is asleep (NVML would wake it)", "")
    found = nvml.gpus.get(gpu.slot)
    if found is None:
        return _source("NVML", False, "NVML does not list this GPU", "check `nvidia-smi -L`")
    if found.lost is not None:
        return _source("NVML", False, found.lost.reason, found.lost.fix)
    if found.name:
        gpu.name = found.name
    version = f" {nvml.driver_version}" if nvml.driver_version else ""
    return _source("NVML", True, f"driver{version}: utilisation, memory, power, clocks, temperature, "
                   "per-process memory and SM %")


def gpu_report(root: Path = Path("/"), nvml_module: Any = None, live: bool | None = None) -> dict[str, Any]:
    """A JSON-ready report (``available``, ``reason``, ``fix``, ``gpus``, ``lines`` for the text).

    ``live`` (default: ``root`` is ``/``) allows NVML; a snapshot is judged from its files only.
    """
    root = Path(root)
    live = root == Path("/") if live is None else live
    gpus = discover_gpus(root)
    fill_model_names(gpus, root)
    if not gpus:
        why = no_gpu_reason(root)
        return {"available": False, "reason": why.reason, "fix": why.fix, "gpus": [], "lines": []}
    nvml: NvmlSource | None = None
    nvml_why: Unavailable | None = None
    nvidia = [g for g in gpus if g.vendor_id == "0x10de" and g.driver == "nvidia"]
    if live and nvidia and not all(g.asleep() for g in nvidia):
        source = NvmlSource(nvml_module)
        nvml_why = source.open()
        nvml = source if nvml_why is None else None
    entries: list[dict[str, Any]] = []
    try:
        for gpu in gpus:
            entries.append(_describe(gpu, nvml, nvml_why, live))
    finally:
        if nvml is not None:
            nvml.close()
    working = [e for e in entries if any(s["ok"] for s in e["sources"] if s["name"] != "fdinfo")
               or e["state"] == "asleep"]
    reason = (f"{len(entries)} GPU{'s' if len(entries) > 1 else ''}, {len(working)} readable: "
              + "; ".join(f"{e['slot']} {e['vendor']} {e['driver'] or 'no driver'}" for e in entries))
    fixes = [s["fix"] for e in entries for s in e["sources"] if not s["ok"] and s["fix"]]
    lines: list[str] = []
    for e in entries:
        model = e["name"] or "(model unknown)"
        lines.append(f"    {e['slot']}  {e['vendor']}  {e['driver'] or 'no driver'}  {model}  [{e['state']}]")
        for s in e["sources"]:
            lines.append(f"      {'✓' if s['ok'] else '✗'} {s['name']}: {s['detail']}")
            if s["fix"]:
                lines.append(f"        fix: {s['fix']}")
    return {"available": bool(working), "reason": reason, "fix": fixes[0] if fixes and not working else "",
            "gpus": entries, "lines": lines}


def _describe(gpu: GpuDevice, nvml: NvmlSource | None, nvml_why: Unavailable | None,
              live: bool) -> dict[str, Any]:
    status = gpu.runtime_status()
    state = "asleep" if gpu.asleep() else ("active" if status in ("active", "unsupported", "") else status)
    sources: list[dict[str, Any]] = []
    if not gpu.driver:
        sources.append(_source("driver", False, "no driver is bound to this device",
                               _DRIVER_FIX.get(gpu.vendor_id, "install the vendor's GPU driver")))
    elif gpu.driver in ("amdgpu", "i915", "xe"):
        sources.extend(_sysfs_sources(gpu))
    elif gpu.driver == "nvidia":
        sources.append(_nvml_source(gpu, nvml, nvml_why, live))
    else:
        fix = _DRIVER_FIX["0x10de"] + " (nouveau reports no utilisation)" if gpu.driver == "nouveau" else ""
        sources.append(_source("sysfs", False, f"driver {gpu.driver!r}: PerfDeck reads no whole-card "
                               "metrics from it", fix))
    if gpu.card and gpu.driver != "nvidia":
        sources.append(_fdinfo_source(live))
    if state == "asleep":
        sources.append(_source("runtime PM", True, "runtime-suspended: shown as asleep, never woken "
                               "to be read"))
    return {"slot": gpu.slot, "vendor": gpu.vendor, "vendor_id": gpu.vendor_id, "device_id": gpu.device_id,
            "driver": gpu.driver, "name": gpu.name, "card": gpu.card, "state": state,
            "runtime_status": status, "sources": sources}
