"""Fake sysfs and procfs trees of GPUs, modelled on what the kernel really publishes.

PCI devices live under ``sys/devices/pci0000:00/...`` with ``sys/bus/pci/devices/<slot>`` a
symlink to them, and ``driver`` a symlink to ``sys/bus/pci/drivers/<name>``, as on a real
machine. File contents end in ``\\n`` (sysfs_emit). Units: hwmon temp m°C, power µW, energy µJ,
freq Hz; amdgpu ``mem_info_*`` bytes; i915 ``gt_*_freq_mhz`` and xe ``freq0/*_freq`` MHz.

fdinfo files follow Documentation/gpu/drm-usage-stats.rst and the drivers' show_fdinfo: the
common ``pos``/``flags``/``mnt_id``/``ino`` lines first, then ``drm-*`` (tab-separated), with
driver-private keys (``amd-*``, ``pasid``) mixed in. ``/proc/PID/fd/N`` are symlinks to the
device node (``/dev/dri/renderD128``), dangling here as they would be in a snapshot.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from fakes.sysfs_trees import write

GiB = 1024 ** 3
MiB = 1024 ** 2

AMD_DISCRETE = "0000:03:00.0"
AMD_APU = "0000:c1:00.0"
INTEL_IGPU = "0000:00:02.0"
INTEL_XE = "0000:04:00.0"
NVIDIA_SLOT = "0000:01:00.0"


def add_pci_device(root: Path, slot: str, *, pci_class: str, vendor: str, device: str, driver: str | None,
                   runtime_status: str = "active", files: Mapping[str, str] | None = None) -> Path:
    """One PCI function under sys/devices, linked from sys/bus/pci/devices and bound to ``driver``."""
    root = Path(root)
    real = root / "sys/devices/pci0000:00" / slot
    real.mkdir(parents=True, exist_ok=True)
    write(real, "class", f"{pci_class}\n")
    write(real, "vendor", f"{vendor}\n")
    write(real, "device", f"{device}\n")
    write(real, "power/runtime_status", f"{runtime_status}\n")
    for name, text in (files or {}).items():
        write(real, name, text if text.endswith("\n") else text + "\n")
    if driver:
        (root / "sys/bus/pci/drivers" / driver).mkdir(parents=True, exist_ok=True)
        os.symlink(f"../../../bus/pci/drivers/{driver}", real / "driver")
    link = root / "sys/bus/pci/devices" / slot
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(f"../../../devices/pci0000:00/{slot}", link)
    return real


def add_drm_nodes(real: Path, card: str, render: str) -> None:
    (real / "drm" / card).mkdir(parents=True, exist_ok=True)
    (real / "drm" / render).mkdir(parents=True, exist_ok=True)


def add_hwmon(real: Path, index: int, name: str, files: Mapping[str, str]) -> Path:
    hwmon = real / "hwmon" / f"hwmon{index}"
    write(hwmon, "name", f"{name}\n")
    for file_name, text in files.items():
        write(hwmon, file_name, f"{text}\n")
    return hwmon


def add_host_bridge(root: Path) -> None:
    """Non-GPU PCI functions, which discovery must skip."""
    add_pci_device(root, "0000:00:00.0", pci_class="0x060000", vendor="0x8086", device="0x4660", driver=None)
    add_pci_device(root, "0000:00:14.0", pci_class="0x0c0330", vendor="0x8086", device="0x7ae0",
                   driver="xhci_hcd")


def make_amdgpu_discrete(root: Path, slot: str = AMD_DISCRETE, *, runtime_status: str = "active",
                         busy: int = 37, vram_used: int = 2 * GiB) -> Path:
    """A Radeon RX 6800 XT (Navi 21) on amdgpu: busy %, VRAM and GTT, hwmon with fan and cap."""
    real = add_pci_device(root, slot, pci_class="0x030000", vendor="0x1002", device="0x73bf",
                          driver="amdgpu", runtime_status=runtime_status, files={
                              "gpu_busy_percent": str(busy), "mem_busy_percent": "12",
                              "mem_info_vram_used": str(vram_used), "mem_info_vram_total": str(16 * GiB),
                              "mem_info_gtt_used": str(30 * MiB), "mem_info_gtt_total": str(16 * GiB),
                              "product_name": "AMD Radeon RX 6800 XT"})
    add_drm_nodes(real, "card1", "renderD129")
    add_hwmon(real, 4, "amdgpu", {
        "temp1_input": "45000", "temp1_label": "edge", "temp2_input": "52000", "temp2_label": "junction",
        "temp3_input": "60000", "temp3_label": "mem", "power1_average": "48000000", "power1_cap": "255000000",
        "freq1_input": "2321000000", "freq1_label": "sclk", "freq2_input": "1000000000",
        "freq2_label": "mclk", "fan1_input": "1234", "in0_input": "906", "in0_label": "vddgfx"})
    return real


def make_amdgpu_apu(root: Path, slot: str = AMD_APU) -> Path:
    """A Ryzen 7840U's Radeon 780M: 512 MiB VRAM carve-out, the rest in GTT, no fan, power1_input."""
    real = add_pci_device(root, slot, pci_class="0x030000", vendor="0x1002", device="0x15bf",
                          driver="amdgpu", runtime_status="active", files={
                              "gpu_busy_percent": "5",
                              "mem_info_vram_used": str(400 * MiB), "mem_info_vram_total": str(512 * MiB),
                              "mem_info_gtt_used": str(3 * GiB), "mem_info_gtt_total": str(15 * GiB)})
    add_drm_nodes(real, "card0", "renderD128")
    add_hwmon(real, 5, "amdgpu", {"temp1_input": "41000", "temp1_label": "edge", "power1_input": "9000000",
                                  "freq1_input": "800000000", "freq1_label": "sclk", "in0_input": "1003",
                                  "in0_label": "vddgfx", "in1_input": "1100", "in1_label": "vddnb"})
    return real


def make_i915(root: Path, slot: str = INTEL_IGPU) -> Path:
    """An Alder Lake iGPU (i915): actual and requested frequency, no hwmon (integrated)."""
    real = add_pci_device(root, slot, pci_class="0x030000", vendor="0x8086", device="0x46a6", driver="i915")
    add_drm_nodes(real, "card0", "renderD128")
    for name, text in {"gt_act_freq_mhz": "350", "gt_cur_freq_mhz": "400", "gt_max_freq_mhz": "1400",
                       "gt_min_freq_mhz": "100", "gt_boost_freq_mhz": "1400"}.items():
        write(real / "drm/card0", name, f"{text}\n")
    return real


def make_xe(root: Path, slot: str = INTEL_XE, *, energy_uj: int = 123_456_789) -> Path:
    """A Battlemage B580 on xe: tile0/gt0/freq0, hwmon with card energy and power limit."""
    real = add_pci_device(root, slot, pci_class="0x030000", vendor="0x8086", device="0xe20b", driver="xe")
    add_drm_nodes(real, "card1", "renderD129")
    for name, text in {"act_freq": "2400", "cur_freq": "2850", "min_freq": "400", "max_freq": "2850",
                       "rp0_freq": "2850"}.items():
        write(real / "tile0/gt0/freq0", name, f"{text}\n")
    add_hwmon(real, 3, "xe", {"energy1_input": str(energy_uj), "energy1_label": "card",
                              "power1_max": "190000000", "power1_label": "card", "temp2_input": "54000",
                              "temp2_label": "pkg"})
    return real


def make_nvidia(root: Path, slot: str = NVIDIA_SLOT, *, runtime_status: str = "active") -> Path:
    """An NVIDIA card on the proprietary driver (read through NVML; nvidia-drm gives card0)."""
    real = add_pci_device(root, slot, pci_class="0x030000", vendor="0x10de", device="0x2684", driver="nvidia",
                          runtime_status=runtime_status)
    add_drm_nodes(real, "card0", "renderD128")
    return real


# --- fdinfo ---------------------------------------------------------------------------------------
_PLAIN_FDINFO = "pos:\t0\nflags:\t02\nmnt_id:\t26\nino:\t5\n"


def _head(driver: str, client_id: int, pdev: str) -> str:
    return (f"pos:\t0\nflags:\t02100002\nmnt_id:\t26\nino:\t1075\ndrm-driver:\t{driver}\n"
            f"drm-client-id:\t{client_id}\ndrm-pdev:\t{pdev}\n")


def amdgpu_fdinfo(client_id: int, pdev: str = AMD_DISCRETE, *, gfx_ns: int = 0, compute_ns: int = 0,
                  vram_kib: int = 139264, gtt_kib: int = 2048, legacy: bool = False) -> str:
    """amdgpu_show_fdinfo: legacy drm-memory-* (before 6.10) or drm-total/resident-* (after)."""
    head = _head("amdgpu", client_id, pdev) + "pasid:\t32771\n"
    if legacy:
        memory = (f"drm-memory-vram:\t{vram_kib} KiB\ndrm-memory-gtt:\t{gtt_kib} KiB\n"
                  "drm-memory-cpu:\t0 KiB\n")
    else:
        memory = ""
        for region, kib in (("cpu", 0), ("gtt", gtt_kib), ("vram", vram_kib)):
            memory += (f"drm-total-{region}:\t{kib} KiB\ndrm-shared-{region}:\t0\ndrm-active-{region}:\t0\n"
                       f"drm-resident-{region}:\t{kib} KiB\ndrm-purgeable-{region}:\t0\n")
    extra = (f"amd-memory-visible-vram:\t{vram_kib} KiB\namd-evicted-vram:\t0 KiB\n"
             f"amd-requested-gtt:\t{gtt_kib} KiB\n")
    engines = (f"drm-engine-gfx:\t{gfx_ns} ns\ndrm-engine-compute:\t{compute_ns} ns\n"
               "drm-engine-dma:\t0 ns\ndrm-engine-dec:\t0 ns\n")
    return head + memory + extra + engines


def i915_fdinfo(client_id: int, pdev: str = INTEL_IGPU, *, render_ns: int = 0, video_ns: int = 0,
                system_kib: int = 8192) -> str:
    return (_head("i915", client_id, pdev) + f"drm-total-system0:\t{system_kib} KiB\ndrm-shared-system0:\t0\n"
            f"drm-active-system0:\t0\ndrm-resident-system0:\t{system_kib} KiB\ndrm-purgeable-system0:\t0\n"
            "drm-total-stolen-system0:\t0\ndrm-shared-stolen-system0:\t0\ndrm-active-stolen-system0:\t0\n"
            "drm-resident-stolen-system0:\t0\ndrm-purgeable-stolen-system0:\t0\n"
            f"drm-engine-render:\t{render_ns} ns\ndrm-engine-copy:\t0 ns\ndrm-engine-video:\t{video_ns} ns\n"
            "drm-engine-capacity-video:\t2\ndrm-engine-video-enhance:\t0 ns\n")


def xe_fdinfo(client_id: int, pdev: str = INTEL_XE, *, rcs_cycles: int = 0, total_cycles: int = 0,
              ccs_cycles: int = 0, vram_kib: int = 23992) -> str:
    """xe_drm_client show_meminfo + show_run_ticks: cycles only, no drm-engine-* lines."""
    text = _head("xe", client_id, pdev)
    for region, kib in (("system", 0), ("gtt", 192), ("vram0", vram_kib)):
        text += (f"drm-total-{region}:\t{kib} KiB\ndrm-shared-{region}:\t0\ndrm-active-{region}:\t0\n"
                 f"drm-resident-{region}:\t{kib} KiB\ndrm-purgeable-{region}:\t0\n")
    for engine, cycles, capacity in (("rcs", rcs_cycles, 1), ("bcs", 0, 1), ("vcs", 0, 2), ("vecs", 0, 2),
                                     ("ccs", ccs_cycles, 4)):
        text += f"drm-cycles-{engine}:\t{cycles}\ndrm-total-cycles-{engine}:\t{total_cycles}\n"
        if capacity > 1:
            text += f"drm-engine-capacity-{engine}:\t{capacity}\n"
    return text


def add_process(root: Path, pid: int, comm: str, *, fds: Mapping[int, tuple[str, str | None]] | None = None,
                hidden: bool = False) -> Path:
    """``proc/<pid>`` with ``comm`` and fds: fd -> (symlink target, fdinfo text or None)."""
    base = Path(root) / "proc" / str(pid)
    write(base, "comm", f"{comm}\n")
    (base / "fd").mkdir(parents=True, exist_ok=True)
    (base / "fdinfo").mkdir(parents=True, exist_ok=True)
    for fd, (target, info) in (fds or {}).items():
        link = base / "fd" / str(fd)
        if link.is_symlink():
            link.unlink()
        os.symlink(target, link)
        write(base, f"fdinfo/{fd}", info if info is not None else _PLAIN_FDINFO)
    if hidden:
        (base / "fd").chmod(0)
    return base


def set_fdinfo(root: Path, pid: int, fd: int, text: str) -> None:
    write(Path(root) / "proc" / str(pid), f"fdinfo/{fd}", text)


def usual_fds() -> dict[int, tuple[str, str | None]]:
    """The fds every process has that are not GPUs (and must be skipped)."""
    return {0: ("/dev/null", None), 1: ("pipe:[41230]", None), 2: ("socket:[41231]", None),
            3: ("/home/user/.cache/mesa_shader_cache/index", None), 4: ("anon_inode:[eventfd]", None)}
