"""The environment probe: everything about this machine that decides which counters can work.

Reads only files (and, for the live machine, ``os.geteuid`` and ``RLIMIT_NOFILE``): the
perf_event_paranoid level, effective capabilities, the NMI watchdog, the PMUs under
``/sys/bus/event_source/devices``, VM/container/seccomp hints, the CPU vendor and model, and the
online CPUs. Nothing is opened or changed; ``perfdeck.perf.doctor`` turns the facts into
verdicts and, on the live machine, confirms them with real ``perf_event_open`` calls.

Every function takes ``root`` (the filesystem root, default ``/``) so ``perfdeck doctor --root
DIR`` and the tests can read a snapshot or a fake tree instead of the running machine.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from perfdeck.perf.pmu import Pmu, PmuError, parse_cpulist, scan_pmus

# Capability bit numbers (include/uapi/linux/capability.h).
CAP_SYS_ADMIN = 21
CAP_PERFMON = 38  # Linux >= 5.8

# PMUs that count core events (cycles, instructions, caches) for a CPU. x86 calls it ``cpu``
# (hybrid Intel: ``cpu_core``/``cpu_atom``, some newer parts ``cpu_lowpower``); Arm registers
# one per micro-architecture (``armv8_pmuv3_0``, ``armv8_cortex_a72``, ``armv9_cortex_x2``...).
_CORE_PMU_EXACT = ("cpu", "cpu_core", "cpu_atom", "cpu_lowpower")
_CORE_PMU_PATTERN = re.compile(r"(armv[789]_.*|arm_cortex_.*|apple_\w+_pmu|riscv_pmu\w*)")
HYBRID_CORE_PMUS = ("cpu_core", "cpu_atom", "cpu_lowpower")

# /sys/class/dmi/id/sys_vendor (or product_name) values that mean a virtual machine.
_VM_DMI_HINTS = (
    ("qemu", "QEMU"), ("kvm", "KVM"), ("vmware", "VMware"), ("virtualbox", "VirtualBox"),
    ("innotek", "VirtualBox"), ("microsoft corporation", "Hyper-V"), ("xen", "Xen"),
    ("amazon ec2", "Amazon EC2"), ("google", "Google Compute Engine"), ("parallels", "Parallels"),
    ("bochs", "Bochs"), ("openstack", "OpenStack"), ("firecracker", "Firecracker"),
)
_CONTAINER_CGROUP_HINTS = (("docker", "Docker"), ("kubepods", "Kubernetes"), ("containerd", "containerd"),
                           ("libpod", "Podman"), ("lxc", "LXC"), ("crio", "CRI-O"))


def _read(root: Path, relative: str) -> str | None:
    """The stripped text of ``root/relative``, or None when it is missing, unreadable or not a file.

    ``doctor --root`` reads snapshots that tar extracted as root, which may hold FIFOs or device
    nodes where the real tree had files: a plain open of a FIFO blocks forever. O_NONBLOCK makes
    the open return at once, and fstat tells what was opened (sysfs and procfs attributes are
    regular files).
    """
    try:
        fd = os.open(Path(root) / relative, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", errors="replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_int(root: Path, relative: str) -> int | None:
    text = _read(root, relative)
    if text is None:
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None


def _status_fields(root: Path) -> dict[str, str]:
    """``/proc/self/status`` as a field -> value dict."""
    text = _read(root, "proc/self/status") or ""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def is_core_pmu(name: str) -> bool:
    """True for PMUs that count a CPU's own events (``cpu``, ``cpu_core``, ``armv8_pmuv3_0``...)."""
    return name in _CORE_PMU_EXACT or bool(_CORE_PMU_PATTERN.fullmatch(name))


@dataclass(frozen=True)
class CpuInfo:
    """CPU identity from ``/proc/cpuinfo`` (first processor) plus the processor count."""

    vendor: str = ""  # GenuineIntel, AuthenticAMD, or the Arm "CPU implementer"
    model_name: str = ""
    family: int | None = None
    model: int | None = None
    flags: frozenset[str] = frozenset()
    processors: int = 0

    @property
    def is_intel(self) -> bool:
        return self.vendor == "GenuineIntel"

    @property
    def is_amd(self) -> bool:
        return self.vendor in ("AuthenticAMD", "HygonGenuine")

    @property
    def amd_zen_generation(self) -> int | None:
        """Zen 1..5 from family/model (AMD's public family tables), or None when not AMD Zen."""
        if not self.is_amd or self.family is None or self.model is None:
            return None
        if self.family == 0x17:
            return 2 if self.model >= 0x30 else 1
        if self.family == 0x19:
            # Zen 3: models 00-0F, 20-2F, 40-5F; Zen 4: 10-1F, 60-7F, A0-AF.
            zen4 = 0x10 <= self.model <= 0x1F or 0x60 <= self.model <= 0x7F or 0xA0 <= self.model <= 0xAF
            return 4 if zen4 else 3
        if self.family == 0x1A:
            return 5
        return None


def read_cpuinfo(root: Path = Path("/")) -> CpuInfo:
    """Parse the first processor block of ``/proc/cpuinfo`` and count the blocks."""
    text = _read(root, "proc/cpuinfo")
    if not text:
        return CpuInfo()
    first: dict[str, str] = {}
    processors = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key == "processor":
            processors += 1
        if processors <= 1:
            first.setdefault(key, value.strip())

    def as_int(key: str) -> int | None:
        raw = first.get(key)
        try:
            return int(raw, 0) if raw is not None else None
        except ValueError:
            return None

    vendor = first.get("vendor_id") or first.get("CPU implementer", "")
    name = first.get("model name") or first.get("Hardware") or first.get("cpu model", "")
    flags = first.get("flags") or first.get("Features", "")
    return CpuInfo(vendor=vendor, model_name=name, family=as_int("cpu family"), model=as_int("model"),
                   flags=frozenset(flags.split()), processors=processors)


def parse_cap_mask(text: str | None) -> int | None:
    """A ``CapEff:`` hex mask as an int (None when absent or malformed)."""
    if not text:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


@dataclass(frozen=True)
class Virtualization:
    """Evidence that we run in a VM and/or a container (empty tuples: no evidence found)."""

    vm: str | None  # e.g. "KVM" (from DMI) or "a hypervisor" (only the cpuinfo flag)
    vm_evidence: tuple[str, ...]
    container: str | None  # e.g. "Docker"
    container_evidence: tuple[str, ...]


def detect_virtualization(root: Path = Path("/"), cpu: CpuInfo | None = None) -> Virtualization:
    """Look for a hypervisor (cpuinfo flag, DMI vendor) and a container (env files, cgroup paths)."""
    root = Path(root)
    cpu = cpu if cpu is not None else read_cpuinfo(root)
    vm: str | None = None
    vm_evidence: list[str] = []
    if "hypervisor" in cpu.flags:
        vm = "a hypervisor"
        vm_evidence.append("the 'hypervisor' flag in /proc/cpuinfo")
    vendor = _read(root, "sys/class/dmi/id/sys_vendor") or ""
    product = _read(root, "sys/class/dmi/id/product_name") or ""
    for text, relative in ((vendor, "sys_vendor"), (product, "product_name")):
        lowered = text.lower()
        for hint, name in _VM_DMI_HINTS:
            # Microsoft also makes Surface laptops: only "Virtual Machine" products are Hyper-V.
            if hint in lowered and (name != "Hyper-V" or "virtual" in product.lower()):
                vm = name
                vm_evidence.append(f"/sys/class/dmi/id/{relative} = {text!r}")
                break
        if vm not in (None, "a hypervisor"):
            break
    container: str | None = None
    container_evidence: list[str] = []
    if (root / ".dockerenv").exists():
        container = "Docker"
        container_evidence.append("/.dockerenv exists")
    if (root / "run/.containerenv").exists():
        container = "Podman"
        container_evidence.append("/run/.containerenv exists")
    cgroup = _read(root, "proc/1/cgroup") or ""
    for hint, name in _CONTAINER_CGROUP_HINTS:
        if hint in cgroup:
            container = container or name
            container_evidence.append(f"/proc/1/cgroup mentions {hint!r}")
            break
    env = _read(root, "run/systemd/container")
    if env:
        container = container or env
        container_evidence.append(f"/run/systemd/container = {env!r}")
    return Virtualization(vm, tuple(vm_evidence), container, tuple(container_evidence))


@dataclass(frozen=True)
class SystemProbe:
    """What the machine allows, read from files (plus euid and RLIMIT_NOFILE when live).

    ``None`` for a value means the file was missing or unreadable; the doctor says so rather than
    guessing.
    """

    root: Path
    live: bool
    kernel: str | None
    paranoid: int | None
    cap_eff: int | None
    euid: int | None
    nmi_watchdog: int | None
    seccomp: int | None  # 0 off, 1 strict, 2 filter
    nofile_soft: int | None
    nofile_hard: int | None
    pmus: dict[str, Pmu] = field(hash=False)
    pmu_skipped: dict[str, str] = field(hash=False)
    cpu: CpuInfo = CpuInfo()
    virt: Virtualization = Virtualization(None, (), None, ())
    online_cpus: tuple[int, ...] = ()

    # --- privileges ------------------------------------------------------------------------------
    def has_cap(self, bit: int) -> bool:
        return self.cap_eff is not None and bool(self.cap_eff >> bit & 1)

    @property
    def cap_perfmon(self) -> bool:
        return self.has_cap(CAP_PERFMON)

    @property
    def cap_sys_admin(self) -> bool:
        return self.has_cap(CAP_SYS_ADMIN)

    @property
    def perfmon_capable(self) -> bool:
        """The kernel's ``perfmon_capable()``: CAP_PERFMON or CAP_SYS_ADMIN (effective)."""
        return self.cap_perfmon or self.cap_sys_admin

    # --- PMUs ------------------------------------------------------------------------------------
    @property
    def core_pmus(self) -> tuple[Pmu, ...]:
        """The PMUs that count CPU core events, in name order."""
        return tuple(p for name, p in sorted(self.pmus.items()) if is_core_pmu(name))

    @property
    def hybrid(self) -> bool:
        """Hybrid Intel: separate ``cpu_core``/``cpu_atom`` PMUs, each with its own ``cpus``."""
        return any(p.name in HYBRID_CORE_PMUS for p in self.core_pmus)

    def cpus_of(self, pmu: Pmu | None) -> tuple[int, ...]:
        """CPUs a core PMU's events are opened on: its ``cpus``/``cpumask``, else every online CPU."""
        if pmu is not None and pmu.cpus is not None:
            return pmu.cpus
        return self.online_cpus

    def fds_needed(self, events_per_cpu: int) -> int:
        """File descriptors for system-wide counting: one per event per online CPU."""
        return events_per_cpu * max(1, len(self.online_cpus))


def read_rlimit_nofile() -> tuple[int | None, int | None]:
    """The live process's RLIMIT_NOFILE (soft, hard); None for "unlimited"."""
    import resource  # Unix only; imported here so the module loads anywhere

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinity = resource.RLIM_INFINITY
    return (None if soft == infinity else soft), (None if hard == infinity else hard)


def probe(root: Path = Path("/")) -> SystemProbe:
    """Read every fact about ``root``. ``live`` is True only when ``root`` is ``/``.

    With another root (a snapshot or a fake tree) the euid comes from ``proc/self/status`` and the
    fd limit is unknown (it belongs to the process that would run, not to the files).
    """
    root = Path(root)
    live = root.resolve() == Path("/")
    status = _status_fields(root)
    euid: int | None
    if live:
        euid = os.geteuid()
        soft, hard = read_rlimit_nofile()
    else:
        uids = status.get("Uid", "").split()
        euid = int(uids[1]) if len(uids) > 1 and uids[1].isdigit() else None
        soft = hard = None
    seccomp_text = status.get("Seccomp")
    scan = scan_pmus(root)
    cpu = read_cpuinfo(root)
    online_text = _read(root, "sys/devices/system/cpu/online")
    try:
        online = parse_cpulist(online_text) if online_text else ()
    except PmuError:
        online = ()
    if not online and cpu.processors:
        online = tuple(range(cpu.processors))  # old kernels/containers without the sysfs file
    return SystemProbe(
        root=root,
        live=live,
        kernel=_read(root, "proc/sys/kernel/osrelease"),
        paranoid=_read_int(root, "proc/sys/kernel/perf_event_paranoid"),
        cap_eff=parse_cap_mask(status.get("CapEff")),
        euid=euid,
        nmi_watchdog=_read_int(root, "proc/sys/kernel/nmi_watchdog"),
        seccomp=int(seccomp_text) if seccomp_text and seccomp_text.isdigit() else None,
        nofile_soft=soft,
        nofile_hard=hard,
        pmus=scan.pmus,
        pmu_skipped=scan.skipped,
        cpu=cpu,
        virt=detect_virtualization(root, cpu),
        online_cpus=online,
    )


# --- bug-report snapshots --------------------------------------------------------------------

# Files (relative to root) the probe and the PMU/bandwidth/power parsers read. Globs allowed.
SNAPSHOT_PATTERNS = (
    "proc/cpuinfo", "proc/self/status", "proc/1/cgroup", "proc/filesystems",
    "proc/sys/kernel/perf_event_paranoid", "proc/sys/kernel/nmi_watchdog", "proc/sys/kernel/osrelease",
    "sys/devices/system/cpu/online", "sys/devices/system/cpu/smt/active",
    "sys/devices/system/cpu/cpu*/topology/physical_package_id",
    "sys/class/dmi/id/sys_vendor", "sys/class/dmi/id/product_name",
    ".dockerenv", "run/.containerenv", "run/systemd/container",
    "sys/bus/event_source/devices/*/type", "sys/bus/event_source/devices/*/cpumask",
    "sys/bus/event_source/devices/*/cpus", "sys/bus/event_source/devices/*/perf_event_mux_interval_ms",
    "sys/bus/event_source/devices/*/format/*", "sys/bus/event_source/devices/*/events/*",
    "sys/bus/event_source/devices/*/caps/*",
    "sys/class/powercap/*/name", "sys/class/powercap/*/max_energy_range_uj",
    "sys/fs/resctrl/info/L3_MON/mon_features",
    "proc/pressure/*", "proc/cmdline", "proc/self/mounts", "sys/fs/cgroup/cgroup.controllers",  # PSI, cgroups
    "sys/fs/cgroup/unified/cgroup.controllers",
)


def write_snapshot(out: Path, root: Path = Path("/")) -> int:
    """Write the files the doctor reads into a ``.tar.gz`` (paths relative to ``root``).

    sysfs files claim 4096 bytes whatever they hold, so each is read first and stored with its
    real size; PMU directories are symlinks into /sys/devices and are stored as plain paths under
    ``sys/bus/event_source/devices``. Unreadable files are skipped. Returns the number of files.
    """
    import io
    import tarfile
    import time

    root = Path(root)
    count = 0
    with tarfile.open(out, "w:gz") as tar:
        seen: set[str] = set()
        for pattern in SNAPSHOT_PATTERNS:
            for path in sorted(root.glob(pattern)):
                relative = path.relative_to(root).as_posix()
                if relative in seen or path.is_dir():
                    continue
                try:
                    data = path.read_bytes()
                except OSError:
                    continue  # write-only or permission-protected sysfs file
                seen.add(relative)
                info = tarfile.TarInfo(relative)
                info.size = len(data)
                info.mtime = int(time.time())
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
                count += 1
    return count
