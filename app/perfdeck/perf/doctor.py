"""The doctor: for every metric family and every event, is it available here, why not, and the fix.

``diagnose(root)`` combines the facts of ``perfdeck.perf.system.probe`` into verdicts:

- the environment findings (perf_event_paranoid, capabilities, VM/container, seccomp, the NMI
  watchdog, the fd limit, multiplexing), each with exact fix commands and their trade-offs;
- per event (hardware, hardware-cache, software): the PMU it goes to, its encoded config, the
  CPUs it would be opened on, available or not and why;
- per family: the psutil families, per-process and system-wide counting, memory bandwidth and
  power (the last two from ``perfdeck.perf.bandwidth`` / ``perfdeck.perf.power``).

On the live machine (``root == /``) each event is confirmed by actually opening it once (on the
first CPU it would use, in the counting mode PerfDeck would use) and closing it at once; the errno
decides the verdict. With another root (a snapshot) nothing is opened: verdicts are derived from
the files only, and the report says so. PerfDeck never changes any setting itself: every fix is a
command for the user to run, with its security trade-off stated.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from perfdeck.perf import abi
from perfdeck.perf.doctor_deeper import deeper_families
from perfdeck.perf.events import CACHE, CATALOGUE, HARDWARE, SOFTWARE, known_quirk
from perfdeck.perf.pmu import Pmu
from perfdeck.perf.process import KERNEL_ONLY_EVENTS
from perfdeck.perf.system import SystemProbe, is_core_pmu, probe

# --- fixes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fix:
    """One way to make something work: an exact command (empty for a manual step) and its cost."""

    command: str
    note: str

    def __str__(self) -> str:
        return f"{self.command}  ({self.note})" if self.command else self.note


PARANOID_SECURITY = ("Trade-off: every local user can then count system-wide, kernel included, which "
                     "exposes other users' activity to timing/side-channel analysis; on a single-user "
                     "desktop this is usually acceptable.")


def fix_paranoid(level: int) -> tuple[Fix, Fix]:
    """Lower kernel.perf_event_paranoid to ``level``: until reboot, and persistently."""
    if level >= 1:
        effect = ("until reboot; lets users count their own processes including kernel time "
                  "(still no system-wide counting). Trade-off: small, kernel activity of your own "
                  "processes becomes visible to you.")
    else:
        effect = f"until reboot. {PARANOID_SECURITY}"
    return (
        Fix(f"sudo sysctl kernel.perf_event_paranoid={level}", effect),
        Fix(f"echo 'kernel.perf_event_paranoid = {level}' | sudo tee /etc/sysctl.d/60-perfdeck.conf "
            "&& sudo sysctl --system",
            "persistent across reboots (delete /etc/sysctl.d/60-perfdeck.conf to undo). Same trade-off."),
    )


def fix_setcap() -> Fix:
    """CAP_PERFMON on a dedicated copy of the running interpreter, usable only by one group.

    Why a copy: the kernel applies file capabilities to the ELF binary it executes, so setcap on a
    ``.py`` file does nothing, and setcap on the system ``python3`` grants CAP_PERFMON to every
    Python program anyone runs with it. A copy inside the virtual environment keeps finding the
    environment's packages (Python locates ``pyvenv.cfg`` next to its executable).
    """
    real = Path(sys.executable).resolve()
    if sys.prefix != sys.base_prefix:
        copy = Path(sys.prefix) / "bin" / "python3-perfmon"
    else:
        copy = real.parent / "perfdeck-python3"
    q_real, q_copy = shlex.quote(str(real)), shlex.quote(str(copy))
    command = (f"sudo groupadd -f perf_users && sudo usermod -aG perf_users \"$USER\" && "
               f"sudo install -m 0750 -g perf_users {q_real} {q_copy} && "
               f"sudo setcap cap_perfmon+ep {q_copy}")
    note = (f"then start PerfDeck with `{q_copy} -m perfdeck` (log in again for the group). Grants "
            "CAP_PERFMON (Linux >= 5.8) to any Python code run with that copy, so only members of "
            "perf_users may execute it. Never setcap the system python3: that would give the "
            "capability to every Python program on the machine; setcap on a .py script has no "
            "effect. File capabilities are ignored under no_new_privs (containers, systemd "
            "NoNewPrivileges=).")
    return Fix(command, note)


FIX_NMI = (
    Fix("sudo sysctl kernel.nmi_watchdog=0",
        "until reboot; frees the hardware counter the watchdog pins on every CPU. Trade-off: hard "
        "lockups (a CPU stuck with interrupts off) are no longer detected or reported."),
    Fix("echo 'kernel.nmi_watchdog = 0' | sudo tee /etc/sysctl.d/60-perfdeck-nmi.conf "
        "&& sudo sysctl --system",
        "persistent (delete the file to undo). Same trade-off."),
)

FIX_VM = Fix("", "Run on bare metal, or give the VM a virtual PMU: QEMU/KVM `-cpu host,pmu=on` "
             "(libvirt: <cpu mode='host-passthrough'/> with <pmu state='on'/>), VMware 'Virtualize CPU "
             "performance counters', Hyper-V `Set-VMProcessor -Perfmon @('pmu')`. Firecracker and "
             "many cloud instance types offer none. Software counters keep working meanwhile.")

FIX_CONTAINER = Fix("", "Start the container with `--cap-add PERFMON` (Podman with a current "
                    "containers-common allows perf_event_open then), or with `--security-opt "
                    "seccomp=unconfined` (trade-off: removes the whole syscall filter), or run "
                    "PerfDeck on the host.")


def fix_nofile(needed: int) -> Fix:
    return Fix(f"echo \"$USER hard nofile {needed}\" | sudo tee /etc/security/limits.d/60-perfdeck.conf",
               f"raises the hard RLIMIT_NOFILE to {needed} at the next login (PerfDeck raises its soft "
               "limit up to the hard one itself); for a systemd unit use LimitNOFILE= instead. "
               "Trade-off: none beyond a larger per-process fd table.")


# --- verdict model --------------------------------------------------------------------------------

STATUS_OK = "available"
STATUS_PARTIAL = "partial"
STATUS_NO = "unavailable"
STATUS_UNKNOWN = "unknown"


@dataclass(frozen=True)
class Finding:
    """One fact about the environment that affects counting, with its fixes (if it needs any)."""

    key: str
    title: str
    ok: bool
    detail: str
    fixes: tuple[Fix, ...] = ()


@dataclass(frozen=True)
class EventVerdict:
    """One perf event: where it would be opened, with which encoding, and whether it works here."""

    name: str
    family: str  # "hardware", "cache", "software"
    pmu: str | None  # PMU name ("cpu", "cpu_core", "software") or None when no PMU exists for it
    pmu_type: int | None  # that PMU's sysfs type
    type: int  # perf_event_attr.type
    config: int
    cpus: tuple[int, ...]
    available: bool
    reason: str
    fixes: tuple[Fix, ...] = ()
    checked: str = "files"  # "opened" (confirmed by perf_event_open) or "files" (derived only)
    errno: str | None = None

    @property
    def label(self) -> str:
        """``cycles`` or, on hybrid machines, ``cpu_core/cycles``."""
        return f"{self.pmu}/{self.name}" if self.pmu and self.pmu.startswith("cpu_") else self.name


@dataclass(frozen=True)
class FamilyVerdict:
    """A metric family (or counting mode): overall status, why, the fixes and its events."""

    key: str
    title: str
    status: str
    reason: str
    fixes: tuple[Fix, ...] = ()
    events: tuple[EventVerdict, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.status in (STATUS_OK, STATUS_PARTIAL)


@dataclass(frozen=True)
class CountingMode:
    """How PerfDeck would count here: system-wide per CPU, per process, or not at all."""

    scope: str  # "system-wide", "per-process", "none"
    exclude_kernel: bool
    summary: str


@dataclass(frozen=True)
class DoctorReport:
    """Everything ``perfdeck doctor`` prints, in text or JSON."""

    live: bool
    root: str
    checked_by: str
    system: dict[str, Any]
    findings: tuple[Finding, ...]
    mode: CountingMode
    families: tuple[FamilyVerdict, ...]
    pmus: tuple[dict[str, Any], ...]
    multiplexing: dict[str, Any]
    generated: float = field(default_factory=time.time)
    # The perf stat line counting the same events, groups and CPUs (perfdeck.perf.perfstat).
    perf_stat: str = ""

    def family(self, key: str) -> FamilyVerdict:
        for fam in self.families:
            if fam.key == key:
                return fam
        raise KeyError(key)

    def events(self) -> list[EventVerdict]:
        return [e for fam in self.families for e in fam.events]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: configs in hex, fixes as {command, note}."""
        def event_dict(e: EventVerdict) -> dict[str, Any]:
            return {"name": e.name, "label": e.label, "family": e.family, "pmu": e.pmu,
                    "pmu_type": e.pmu_type, "type": e.type, "config": f"{e.config:#x}",
                    "cpus": list(e.cpus), "available": e.available, "reason": e.reason,
                    "errno": e.errno, "checked": e.checked, "fixes": [asdict(f) for f in e.fixes]}

        return {
            "live": self.live,
            "root": self.root,
            "checked_by": self.checked_by,
            "generated": self.generated,
            "system": self.system,
            "counting_mode": asdict(self.mode),
            "multiplexing": self.multiplexing,
            "perf_stat": self.perf_stat,
            "findings": [{"key": f.key, "title": f.title, "ok": f.ok, "detail": f.detail,
                          "fixes": [asdict(x) for x in f.fixes]} for f in self.findings],
            "families": [{"key": fam.key, "title": fam.title, "status": fam.status,
                          "available": fam.available, "reason": fam.reason,
                          "fixes": [asdict(x) for x in fam.fixes],
                          "events": [event_dict(e) for e in fam.events],
                          "details": fam.details} for fam in self.families],
            "pmus": list(self.pmus),
        }


# --- the event catalogue the doctor checks --------------------------------------------------------
# Exactly the events PerfDeck counts (``perfdeck.perf.events.CATALOGUE``), so a ✓ here means the
# collector will get it. The sysfs alias is the name x86 lists under ``<core pmu>/events/``.

HARDWARE_EVENTS: tuple[tuple[str, int, str | None], ...] = tuple(
    (e.name, e.config, {"cycles": "cpu-cycles", "branches": "branch-instructions"}.get(e.name, e.name))
    for e in CATALOGUE if e.kind == HARDWARE)
CACHE_EVENTS: tuple[tuple[str, int], ...] = tuple((e.name, e.config) for e in CATALOGUE if e.kind == CACHE)
SOFTWARE_EVENTS: tuple[tuple[str, int], ...] = tuple(
    (e.name, e.config) for e in CATALOGUE if e.kind == SOFTWARE)

# Intel cores count these on fixed counters, so they do not take a general-purpose one.
_INTEL_FIXED = ("cycles", "instructions", "ref-cycles")

# Hybrid Intel E-core PMUs (intel_pmu_init_grt and later: glp_hw_cache_event_ids) map no L1D
# read-miss event, so it gives ENOENT there while P-cores count it.
HYBRID_E_CORE_PMUS = ("cpu_atom", "cpu_lowpower")
HYBRID_E_CORE_MISSING = {
    "L1-dcache-load-misses": ("the E-core PMU has no L1D read-miss event (glp_hw_cache_event_ids): ENOENT; "
                              "L1D miss metrics are per P-core only and have no machine total"),
}

# Families that are not psutil-based; the doctor checks them itself.
_PERF_FAMILIES = ("perf", "membw", "power")


# --- the environment ---------------------------------------------------------------------------

PARANOID_FILE = "proc/sys/kernel/perf_event_paranoid"


def _why_unread(root: Path, relative: str) -> str:
    """Why the probe has no value for ``root/relative``: missing, unreadable, or not a number.

    The probe keeps only ``None``; a verdict must not blame the kernel for a file that exists but
    could not be read or holds garbage (an unreadable fact is unknown, never guessed)."""
    path = Path(root) / relative
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"could not be read ({exc.strerror or type(exc).__name__})"
    shown = text if len(text) <= 40 else text[:40] + "…"
    return f"holds {shown!r}, which is not a number" if text else "is empty"


def _paranoid_unknown(sp: SystemProbe) -> str:
    why = _why_unread(sp.root, PARANOID_FILE)
    if why == "missing":
        return "missing (kernel without CONFIG_PERF_EVENTS?)"
    return why

def counting_mode(sp: SystemProbe) -> CountingMode:
    """Which counting PerfDeck would use, from privileges and perf_event_paranoid."""
    who = ("root (CAP_SYS_ADMIN)" if sp.cap_sys_admin and sp.euid == 0 else
           "CAP_SYS_ADMIN" if sp.cap_sys_admin else "CAP_PERFMON" if sp.cap_perfmon else "")
    if who:
        return CountingMode("system-wide", False,
                            f"system-wide, one counter group per CPU, user and kernel: allowed by {who}")
    level = sp.paranoid
    if level is None:
        return CountingMode("none", True, "unknown: /proc/sys/kernel/perf_event_paranoid is "
                                          + _paranoid_unknown(sp))
    if level <= 0:
        return CountingMode("system-wide", False,
                            f"system-wide, one counter group per CPU, user and kernel: "
                            f"perf_event_paranoid is {level}")
    if level == 1:
        return CountingMode("per-process", False,
                            "per-process only (your own processes, user and kernel): perf_event_paranoid "
                            "is 1, which refuses per-CPU counting")
    if level == 2:
        return CountingMode("per-process", True,
                            "per-process only (your own processes, user space only): perf_event_paranoid "
                            "is 2, which refuses per-CPU and kernel counting")
    return CountingMode("none", True,
                        f"none: perf_event_paranoid is {level} (a Debian/Ubuntu level that refuses every "
                        "perf_event_open without CAP_PERFMON)")


def _paranoid_finding(sp: SystemProbe, mode: CountingMode) -> Finding:
    level = sp.paranoid
    if level is None:
        why = _why_unread(sp.root, PARANOID_FILE)
        if why != "missing":
            return Finding("paranoid", "kernel.perf_event_paranoid", False,
                           f"unknown: /proc/sys/kernel/perf_event_paranoid {why}, so which counting the "
                           "kernel allows cannot be judged from the files.",
                           (Fix("cat /proc/sys/kernel/perf_event_paranoid",
                                "check the value (a number from -1 to 4) on the machine itself"),))
        return Finding("paranoid", "kernel.perf_event_paranoid", False,
                       "/proc/sys/kernel/perf_event_paranoid does not exist: this kernel may lack "
                       "CONFIG_PERF_EVENTS, so no perf counter can work.")
    effects = {
        -1: "-1: everything is allowed, including raw tracepoints.",
        0: "0: per-process and system-wide (per-CPU) counting, user and kernel.",
        1: "1: per-process counting only (user and kernel); per-CPU counting is refused (EACCES).",
        2: "2 (the mainline default): per-process counting of your own processes, user space only; "
           "per-CPU and kernel counting are refused (EACCES). Context switches cannot be seen "
           "(they happen in the kernel).",
    }
    effect = effects.get(level) or (
        f"{level}: a Debian/Ubuntu extension (mainline never checks above 2) that refuses every "
        "unprivileged perf_event_open, even counting your own processes.")
    privileged = sp.perfmon_capable
    ok = level <= 0 or privileged
    detail = f"perf_event_paranoid is {effect}"
    if privileged:
        detail += " It does not apply here: this process has " + (
            "CAP_SYS_ADMIN" if sp.cap_sys_admin else "CAP_PERFMON") + "."
    fixes: tuple[Fix, ...] = ()
    if not ok:
        fixes = (*fix_paranoid(0), fix_setcap())
        if level >= 3:
            fixes = (Fix("sudo sysctl kernel.perf_event_paranoid=2",
                         "until reboot; restores the mainline default: your own processes, user space "
                         "only. Lower risk than 0."), *fixes)
    return Finding("paranoid", "kernel.perf_event_paranoid", ok, detail, fixes)


def _capability_finding(sp: SystemProbe) -> Finding:
    if sp.cap_eff is None:
        return Finding("capabilities", "Capabilities", False,
                       "CapEff is missing from /proc/self/status; capabilities are unknown.")
    held = [name for name, has in (("CAP_PERFMON", sp.cap_perfmon), ("CAP_SYS_ADMIN", sp.cap_sys_admin))
            if has]
    euid = "unknown" if sp.euid is None else str(sp.euid)
    if held:
        return Finding("capabilities", "Capabilities", True,
                       f"euid {euid}, effective capabilities {sp.cap_eff:#x}: {', '.join(held)} "
                       "(system-wide counting allowed whatever perf_event_paranoid says).")
    return Finding("capabilities", "Capabilities", sp.paranoid is not None and sp.paranoid <= 0,
                   f"euid {euid}, effective capabilities {sp.cap_eff:#x}: neither CAP_PERFMON (bit 38) "
                   "nor CAP_SYS_ADMIN (bit 21).",
                   (fix_setcap(),) if not (sp.paranoid is not None and sp.paranoid <= 0) else ())


def _virt_finding(sp: SystemProbe) -> Finding:
    v = sp.virt
    has_core = bool(sp.core_pmus)
    parts = []
    if v.vm:
        parts.append(f"virtual machine ({v.vm}; evidence: {', '.join(v.vm_evidence)})")
    if v.container:
        parts.append(f"container ({v.container}; evidence: {', '.join(v.container_evidence)})")
    if not parts and not sp.cpu.processors:
        # Without /proc/cpuinfo the hypervisor flag cannot be seen: unknown, never "bare metal".
        why = _why_unread(sp.root, "proc/cpuinfo")
        if why.startswith("holds") or why == "is empty":
            why = "has no processor entry"
        where = (f"unknown: /proc/cpuinfo {why}, so the hypervisor flag cannot be checked (no VM in DMI, "
                 "no container hints)")
    elif not parts:
        where = "bare metal (no hypervisor flag, no container hints)"
    else:
        where = " inside a ".join(reversed(parts)) if len(parts) == 2 else parts[0]
    pmu_text = ("core PMU(s): " + ", ".join(f"{p.name} (type {p.type})" for p in sp.core_pmus)
                if has_core else _skipped_core_text(sp) or "no core PMU under /sys/bus/event_source/devices")
    ok = has_core
    fixes = () if ok else ((FIX_VM,) if v.vm else ())
    return Finding("virtualization", "Machine", ok, f"{where}; {pmu_text}.", fixes)


def _seccomp_finding(sp: SystemProbe, seccomp_eperm: bool | None) -> Finding:
    mode = sp.seccomp
    names = {0: "off", 1: "strict", 2: "filter"}
    if mode is None:
        detail = "Seccomp: field missing from /proc/self/status (unknown)."
    else:
        detail = f"seccomp mode {mode} ({names.get(mode, '?')})."
    if seccomp_eperm:
        return Finding("seccomp", "Sandbox", False,
                       detail + " perf_event_open was refused with EPERM: a container/seccomp policy "
                       "blocks it.", (FIX_CONTAINER,))
    if mode == 2:
        detail += (" A syscall filter is active; container profiles often block perf_event_open "
                   "(EPERM). " + ("A real open succeeded, so this one does not." if seccomp_eperm is False
                                  else "Not confirmed from files."))
    return Finding("seccomp", "Sandbox", True, detail)


def _nmi_finding(sp: SystemProbe) -> Finding:
    if sp.nmi_watchdog is None:
        return Finding("nmi_watchdog", "NMI watchdog", True,
                       "/proc/sys/kernel/nmi_watchdog is missing (no hard-lockup detector): no counter held.")
    if sp.nmi_watchdog == 0:
        return Finding("nmi_watchdog", "NMI watchdog", True, "off: every hardware counter is free.")
    relevant = bool(sp.core_pmus)
    return Finding("nmi_watchdog", "NMI watchdog", not relevant,
                   "on: it pins one hardware counter (cycles) on every CPU, so one fewer general-purpose "
                   "counter is left and more events multiplex" + ("" if relevant else
                                                                  " (irrelevant here: no core PMU)") + ".",
                   FIX_NMI if relevant else ())


def _fd_finding(sp: SystemProbe, events_per_cpu: int) -> Finding:
    needed = sp.fds_needed(events_per_cpu)
    cpus = max(1, len(sp.online_cpus))
    base = (f"system-wide counting needs {events_per_cpu} events x {cpus} CPUs = {needed} file "
            "descriptors")
    if not sp.live:
        return Finding("fd_limit", "File descriptors", True,
                       base + "; RLIMIT_NOFILE belongs to the running process, so it is not known from a "
                       "snapshot.")
    soft, hard = sp.nofile_soft, sp.nofile_hard
    if hard is None or hard >= needed + 64:
        return Finding("fd_limit", "File descriptors", True,
                       base + f"; RLIMIT_NOFILE soft {soft or 'unlimited'}, hard {hard or 'unlimited'}: "
                       "enough (PerfDeck raises the soft limit to what it needs).")
    return Finding("fd_limit", "File descriptors", False,
                   base + f", but the hard RLIMIT_NOFILE is {hard}: opens would fail with EMFILE, so "
                   "PerfDeck counts fewer events.", (fix_nofile(needed + 256),))


# --- events ------------------------------------------------------------------------------------

_Opener = Callable[[abi.PerfEventAttr, int, int], int]


def _try_open(attr: abi.PerfEventAttr, pid: int, cpu: int) -> int:
    fd = abi.perf_event_open(attr, pid, cpu)
    abi.close_fd(fd)
    return 0


def _errno_reason(err: int, sp: SystemProbe, mode: CountingMode, family: str) -> tuple[str, tuple[Fix, ...]]:
    """Why a real open failed, in this machine's terms, and the fixes."""
    name = errno.errorcode.get(err, str(err))
    if err == errno.ENOENT:
        if family in ("hardware", "cache") and not sp.core_pmus:
            return _no_pmu_reason(sp), ((FIX_VM,) if sp.virt.vm else ())
        return (f"not supported by this CPU: the kernel does not map this event here ({name})", ())
    if err == errno.EACCES:
        return (f"permission denied ({name}): {mode.summary}", (*fix_paranoid(0), fix_setcap()))
    if err in (errno.EPERM, errno.ENOSYS):
        return (f"blocked by a container/seccomp policy or a missing capability ({name})", (FIX_CONTAINER,))
    if err == errno.EMFILE:
        return (abi.errno_message(err), (fix_nofile(sp.fds_needed(32) + 256),))
    return abi.errno_message(err), ()


def _skipped_core_text(sp: SystemProbe) -> str:
    """'the core PMU cpu was skipped: type 'abc' is not a number', when a core PMU exists but is broken."""
    broken = [(name, why) for name, why in sorted(sp.pmu_skipped.items()) if is_core_pmu(name)]
    if not broken:
        return ""
    return "; ".join(f"the core PMU {name} under /sys/bus/event_source/devices could not be used: {why}"
                     for name, why in broken)


def _no_pmu_reason(sp: SystemProbe) -> str:
    skipped = _skipped_core_text(sp)
    if skipped:
        return f"no usable hardware PMU: {skipped}"
    if sp.virt.vm:
        which = "" if sp.virt.vm == "a hypervisor" else f" ({sp.virt.vm})"
        return (f"no hardware PMU: this is a virtual machine{which} without a virtual PMU "
                "(no cpu PMU under /sys/bus/event_source/devices)")
    if sp.virt.container:
        return ("no hardware PMU visible: no cpu PMU under /sys/bus/event_source/devices (the container "
                "may hide the host's /sys, or the host is a VM without a virtual PMU)")
    return ("no hardware PMU: the kernel registered no core PMU for this CPU (no cpu PMU under "
            "/sys/bus/event_source/devices)")


def _predict_hardware(sp: SystemProbe, pmu: Pmu, name: str, alias: str | None) -> tuple[bool, str]:
    """File-only verdict for a generic hardware event on ``pmu``.

    x86 shows a generic event in ``<pmu>/events/`` only when the CPU maps it (``is_visible`` hides
    map entries of 0, which give ENOENT), so the alias file is the evidence when the PMU has an
    events directory. Arm/others without it: assume supported.
    """
    if alias is None or not pmu.events:
        return True, f"{pmu.name} PMU present (no events/ listing to check against)"
    if alias in pmu.events:
        return True, f"listed as {pmu.name}/events/{alias}"
    quirk = known_quirk(name, sp.cpu.vendor)
    listing = f"not listed in {pmu.name}/events/ (the kernel does not map {alias} on this CPU): ENOENT"
    return False, f"{quirk}; {listing}" if quirk else listing


def _predict_cache(sp: SystemProbe, name: str, pmu: Pmu | None = None) -> tuple[bool, str]:
    # No sysfs listing exists for hardware-cache events: only the kernel's known AMD Zen gaps
    # (every LLC entry of amd_hw_cache_event_ids_f17h is 0) and the hybrid E-core gap can be
    # predicted from files.
    if pmu is not None and pmu.name in HYBRID_E_CORE_PMUS and name in HYBRID_E_CORE_MISSING:
        return False, HYBRID_E_CORE_MISSING[name]
    quirk = known_quirk(name, sp.cpu.vendor) if sp.cpu.amd_zen_generation else None
    if quirk:
        return False, f"{quirk}: ENOENT, as perf's <not supported>"
    return True, "generic hardware-cache event, mapped by the core PMU driver"


def _event_verdicts(sp: SystemProbe, mode: CountingMode, opener: _Opener | None
                    ) -> tuple[list[EventVerdict], list[EventVerdict], list[EventVerdict], bool | None]:
    """Verdicts for hardware, cache and software events; and whether an open hit EPERM (sandbox)."""
    live = opener is not None
    pid, exclude_kernel = (-1, False) if mode.scope == "system-wide" else (0, mode.exclude_kernel)
    sandbox_eperm: bool | None = None

    def confirm(ev_type: int, config: int, cpus: tuple[int, ...]) -> int:
        nonlocal sandbox_eperm
        attr = abi.make_attr(ev_type, config, read_format=abi.PERF_FORMAT_TOTAL_TIME_ENABLED
                             | abi.PERF_FORMAT_TOTAL_TIME_RUNNING, exclude_kernel=exclude_kernel,
                             exclude_hv=exclude_kernel)
        cpu = (cpus[0] if cpus else 0) if pid == -1 else -1
        try:
            assert opener is not None
            opener(attr, pid, cpu)
        except abi.PerfOpenError as exc:
            if exc.errno == errno.EPERM:
                sandbox_eperm = True
            return exc.errno
        if sandbox_eperm is None:
            sandbox_eperm = False
        return 0

    def verdict(name: str, family: str, pmu: Pmu | None, ev_type: int, config: int,
                cpus: tuple[int, ...], predicted: tuple[bool, str]) -> EventVerdict:
        pmu_name = pmu.name if pmu else None
        pmu_type = pmu.type if pmu else None
        if live and mode.scope != "none":
            err = confirm(ev_type, config, cpus)
            where = f"cpu {cpus[0] if cpus else 0}" if pid == -1 else "this process"
            if err == 0:
                return EventVerdict(name, family, pmu_name, pmu_type, ev_type, config, cpus, True,
                                    f"opened on {where} ({mode.scope}"
                                    f"{', user space only' if exclude_kernel else ''})", (), "opened")
            reason, fixes = _errno_reason(err, sp, mode, family)
            return EventVerdict(name, family, pmu_name, pmu_type, ev_type, config, cpus, False, reason,
                                fixes, "opened", errno.errorcode.get(err, str(err)))
        ok, why = predicted
        fixes: tuple[Fix, ...] = ()
        if ok and mode.scope == "none":
            ok, why = False, f"supported by the CPU ({why}) but no counting is allowed: {mode.summary}"
            fixes = (*fix_paranoid(0), fix_setcap())
        return EventVerdict(name, family, pmu_name, pmu_type, ev_type, config, cpus, ok, why, fixes, "files")

    hardware: list[EventVerdict] = []
    cache: list[EventVerdict] = []
    core = sp.core_pmus
    if not core:
        reason = _no_pmu_reason(sp)
        fixes = (FIX_VM,) if sp.virt.vm else ()
        for name, config, _alias in HARDWARE_EVENTS:
            v = verdict(name, "hardware", None, abi.PERF_TYPE_HARDWARE, config, sp.online_cpus,
                        (False, reason))
            hardware.append(v if v.available or v.checked == "opened" else replace(v, fixes=fixes))
        for name, config in CACHE_EVENTS:
            v = verdict(name, "cache", None, abi.PERF_TYPE_HW_CACHE, config, sp.online_cpus, (False, reason))
            cache.append(v if v.available or v.checked == "opened" else replace(v, fixes=fixes))
    for pmu in core:
        # Hybrid: the PMU type goes into config[63:32] so the event runs on that PMU's cores only.
        extended = pmu.name in ("cpu_core", "cpu_atom", "cpu_lowpower")
        shift = (pmu.type << abi.PERF_PMU_TYPE_SHIFT) if extended else 0
        cpus = sp.cpus_of(pmu)
        for name, config, alias in HARDWARE_EVENTS:
            hardware.append(verdict(name, "hardware", pmu, abi.PERF_TYPE_HARDWARE, shift | config, cpus,
                                    _predict_hardware(sp, pmu, name, alias)))
        for name, config in CACHE_EVENTS:
            cache.append(verdict(name, "cache", pmu, abi.PERF_TYPE_HW_CACHE, shift | config, cpus,
                                 _predict_cache(sp, name, pmu)))
    software: list[EventVerdict] = []
    sw_pmu = sp.pmus.get("software")
    for name, config in SOFTWARE_EVENTS:
        predicted = (True, "software event, counted by the kernel itself (works in VMs too)")
        if mode.exclude_kernel and mode.scope != "none" and name in KERNEL_ONLY_EVENTS:
            # Both are counted by the scheduler with kernel-mode registers (__perf_sw_event_sched).
            predicted = (False, "counts 0 in user-space-only mode (the scheduler accounts it in the "
                                "kernel): PerfDeck shows it as unavailable rather than 0")
        v = verdict(name, "software", sw_pmu, abi.PERF_TYPE_SOFTWARE, config, sp.online_cpus, predicted)
        if v.available and not predicted[0]:
            v = replace(v, available=False, reason=predicted[1], fixes=(*fix_paranoid(1), fix_setcap()))
        elif not v.available and not v.fixes and not predicted[0]:
            v = replace(v, fixes=(*fix_paranoid(1), fix_setcap()))
        software.append(v)
    return hardware, cache, software, sandbox_eperm


def _family_from_events(key: str, title: str, events: list[EventVerdict], extra_reason: str = ""
                        ) -> FamilyVerdict:
    ok = [e for e in events if e.available]
    if events and len(ok) == len(events):
        status, reason = STATUS_OK, f"all {len(events)} events available"
    elif ok:
        status, reason = STATUS_PARTIAL, f"{len(ok)} of {len(events)} events available"
    else:
        status = STATUS_NO
        reasons = sorted({e.reason for e in events})
        reason = reasons[0] if len(reasons) == 1 else "; ".join(reasons[:3])
    if extra_reason:
        reason = f"{reason}. {extra_reason}"
    fixes: list[Fix] = []
    for e in events:
        for f in e.fixes:
            if f not in fixes:
                fixes.append(f)
    return FamilyVerdict(key, title, status, reason, tuple(fixes) if status != STATUS_OK else (),
                         tuple(events))


# --- psutil families ----------------------------------------------------------------------------

def _core_families(live: bool) -> list[FamilyVerdict]:
    """Open each psutil-based collector once (live only) and report its own unavailability."""
    from perfdeck.model import registry
    from perfdeck.model.series import CollectorUnavailableError

    out = []
    for fam in registry.FAMILIES:
        if fam.name in _PERF_FAMILIES:
            continue
        if not live:
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_UNKNOWN,
                                     "not evaluated from a snapshot: this family reads the live machine "
                                     "through psutil"))
            continue
        try:
            collector = fam.load()()
        except Exception as exc:  # an unfinished or broken module must not stop the doctor
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_NO, f"cannot load the collector: {exc}"))
            continue
        try:
            collector.open()
            reading = collector.read(time.monotonic())
            whole = collector.unavailable()
        except CollectorUnavailableError as exc:
            u = exc.unavailable
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_NO, u.reason,
                                     (Fix("", u.fix),) if u.fix else ()))
            continue
        except Exception as exc:
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_NO, f"the collector failed: {exc}"))
            continue
        finally:
            with contextlib.suppress(Exception):  # closing a failed collector is best effort
                collector.close()
        if whole is not None:
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_NO, whole.reason,
                                     (Fix("", whole.fix),) if whole.fix else ()))
            continue
        missing = dict(reading.unavailable)
        n = len(collector.specs())
        if missing:
            first = next(iter(missing.items()))
            fixes = tuple(dict.fromkeys(Fix("", u.fix) for u in missing.values() if u.fix))
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_PARTIAL,
                                     f"{n} series; {len(missing)} unavailable, e.g. "
                                     f"{first[0]}: {first[1].reason}",
                                     fixes, details={"unavailable": {k: str(v) for k, v in missing.items()}}))
        else:
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_OK, f"{n} series, read through psutil"))
    return out


def core_families_from_snapshot(snapshot: Any) -> list[FamilyVerdict]:
    """The psutil families' verdicts from a running sampler's latest ``Snapshot``.

    The GUI already samples these families, so its Diagnostics tab reads their state from the
    snapshot (``unavailable`` and ``failures``) instead of opening a second set of collectors.
    """
    from perfdeck.model import registry

    out = []
    for fam in registry.FAMILIES:
        if fam.name in _PERF_FAMILIES:
            continue
        whole = snapshot.unavailable.get(fam.name)
        failure = snapshot.failures.get(fam.name)
        prefix = f"{fam.name}."
        series = [sid for sid in snapshot.specs if sid.startswith(prefix)]
        missing = {k: v for k, v in snapshot.unavailable.items() if k.startswith(prefix)}
        if failure:
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_NO, f"the collector failed: {failure}"))
        elif whole is not None:
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_NO, whole.reason,
                                     (Fix("", whole.fix),) if whole.fix else ()))
        elif missing:
            first_id, first = next(iter(missing.items()))
            fixes = tuple(dict.fromkeys(Fix("", u.fix) for u in missing.values() if u.fix))
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_PARTIAL,
                                     f"{len(series)} series; {len(missing)} unavailable, e.g. "
                                     f"{first_id}: {first.reason}", fixes))
        elif series:
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_OK, f"{len(series)} series"))
        else:
            out.append(FamilyVerdict(fam.name, fam.title, STATUS_UNKNOWN, "not sampled by this window"))
    return out


# --- bandwidth and power (D's reports) ----------------------------------------------------------

def _report_family(key: str, title: str, module_name: str, function: str, root: Path) -> FamilyVerdict:
    """Wrap ``bandwidth_report``/``power_report`` (JSON-ready dicts) as a family verdict."""
    try:
        module = importlib.import_module(module_name)
        report = getattr(module, function)(root)
    except ImportError:
        return FamilyVerdict(key, title, STATUS_UNKNOWN, f"{module_name} is not part of this build")
    except Exception as exc:  # a parser bug must not hide the rest of the report
        return FamilyVerdict(key, title, STATUS_UNKNOWN, f"{function} failed: {exc}")
    if not isinstance(report, dict):
        return FamilyVerdict(key, title, STATUS_UNKNOWN, f"{function} returned {type(report).__name__}")
    available = report.get("available")
    status = STATUS_OK if available is True else STATUS_NO if available is False else STATUS_UNKNOWN
    reason = str(report.get("reason") or report.get("summary") or report.get("source") or "")
    if not reason:
        reason = "source found" if available else "no source found"
    fix_text = report.get("fix") or ""
    fixes = (Fix("", str(fix_text)),) if fix_text and status != STATUS_OK else ()
    return FamilyVerdict(key, title, status, reason, fixes, details=report)


# --- the whole report ---------------------------------------------------------------------------

def _multiplexing(sp: SystemProbe, hardware: list[EventVerdict], cache: list[EventVerdict],
                  root: Path) -> tuple[dict[str, Any], Finding]:
    """Estimate whether the available hardware events exceed the counters (→ multiplexing)."""
    usable = [e for e in hardware + cache if e.available]
    if not usable:
        info = {"events": 0, "counters": None, "ratio": None,
                "note": "no hardware events available, so nothing multiplexes (software events never do)"}
        return info, Finding("multiplexing", "Multiplexing", True, info["note"])
    try:
        from perfdeck.perf.counters import counter_budget
        budget = counter_budget(root)
        counters, why, fixed = budget.per_group, budget.reason, budget.fixed
    except Exception as exc:  # C1's module missing or failing: say so, do not guess
        info = {"events": len(usable), "counters": None, "ratio": None,
                "note": f"counter count unknown ({exc})"}
        return info, Finding("multiplexing", "Multiplexing", True, info["note"])
    per_pmu: dict[str, int] = {}
    for e in usable:
        if e.name in fixed:
            continue  # a fixed-function counter (Intel; cycles not while the NMI watchdog holds it)
        per_pmu[e.pmu or "cpu"] = per_pmu.get(e.pmu or "cpu", 0) + 1
    worst = max(per_pmu.values(), default=0)
    ratio = min(1.0, counters / worst) if worst else 1.0
    info = {"events": worst, "counters": counters, "counters_reason": why, "ratio": round(ratio, 3),
            "per_pmu": per_pmu}
    if ratio >= 1.0:
        note = (f"{worst} general-purpose events per CPU fit the {counters} counters ({why}): no "
                "multiplexing expected")
        return {**info, "note": note}, Finding("multiplexing", "Multiplexing", True, note)
    note = (f"{worst} general-purpose events per CPU but {counters} counters ({why}): the kernel "
            f"time-shares them, each event is counted about {ratio:.0%} of the time and scaled by "
            "time_enabled/time_running (the CPU performance tab shows the measured ratio)")
    fixes = FIX_NMI if sp.nmi_watchdog == 1 else ()
    return {**info, "note": note}, Finding("multiplexing", "Multiplexing", not fixes, note, fixes)


def _system_dict(sp: SystemProbe) -> dict[str, Any]:
    return {
        "kernel": sp.kernel, "cpu_vendor": sp.cpu.vendor, "cpu_model": sp.cpu.model_name,
        "cpu_family": sp.cpu.family, "cpu_model_number": sp.cpu.model,
        "amd_zen": sp.cpu.amd_zen_generation, "online_cpus": list(sp.online_cpus),
        "perf_event_paranoid": sp.paranoid, "cap_eff": None if sp.cap_eff is None else f"{sp.cap_eff:#x}",
        "cap_perfmon": sp.cap_perfmon, "cap_sys_admin": sp.cap_sys_admin, "euid": sp.euid,
        "nmi_watchdog": sp.nmi_watchdog, "seccomp": sp.seccomp,
        "rlimit_nofile": {"soft": sp.nofile_soft, "hard": sp.nofile_hard} if sp.live else None,
        "virtual_machine": sp.virt.vm, "vm_evidence": list(sp.virt.vm_evidence),
        "container": sp.virt.container, "container_evidence": list(sp.virt.container_evidence),
        "core_pmus": [p.name for p in sp.core_pmus], "hybrid": sp.hybrid,
    }


def _pmu_dicts(sp: SystemProbe) -> tuple[dict[str, Any], ...]:
    out = []
    for name, p in sorted(sp.pmus.items()):
        out.append({"name": name, "type": p.type, "cpus": None if p.cpus is None else list(p.cpus),
                    "formats": {k: f.spec() for k, f in p.formats.items()},
                    "events": sorted(p.events), "core": p in sp.core_pmus})
    for name, why in sorted(sp.pmu_skipped.items()):
        out.append({"name": name, "skipped": why})
    return tuple(out)


def diagnose(root: Path = Path("/"), *, confirm: bool | None = None,
             opener: _Opener | None = None, include_core: bool = True) -> DoctorReport:
    """Build the full report for ``root``.

    ``confirm`` (default: True exactly when ``root`` is ``/``) opens each event once for real;
    ``opener`` replaces the real open in tests. ``include_core=False`` skips opening the psutil
    collectors (the GUI's Diagnostics tab already runs them in the sampler).
    """
    root = Path(root)
    sp = probe(root)
    confirm = sp.live if confirm is None else confirm
    if confirm and opener is None:
        opener = _try_open
    if not confirm:
        opener = None
    mode = counting_mode(sp)
    hardware, cache, software, sandbox_eperm = _event_verdicts(sp, mode, opener)
    if sandbox_eperm and mode.scope != "none":
        mode = CountingMode("none", mode.exclude_kernel,
                            "none: perf_event_open is refused with EPERM (container/seccomp policy)")
    mux_info, mux_finding = _multiplexing(sp, hardware, cache, root)
    hw_events = sum(1 for e in hardware + cache if e.available)
    sw_events = sum(1 for e in software if e.available)
    findings = (
        _virt_finding(sp),
        _paranoid_finding(sp, mode),
        _capability_finding(sp),
        _seccomp_finding(sp, sandbox_eperm),
        _nmi_finding(sp),
        _fd_finding(sp, max(1, hw_events + sw_events)),
        mux_finding,
    )
    families: list[FamilyVerdict] = []
    if include_core:
        families.extend(_core_families(sp.live))
    families.append(_family_from_events("hardware", "Hardware events (IPC, GHz, branches, stalls)", hardware))
    families.append(_family_from_events("cache", "Cache and TLB events", cache))
    families.append(_family_from_events("software", "Software events (context switches, migrations, faults)",
                                        software))
    families.append(_mode_family(sp, "per_process", opener))
    families.append(_mode_family(sp, "system_wide", opener))
    families.append(_report_family("membw", "Memory bandwidth", "perfdeck.perf.bandwidth", "bandwidth_report",
                                   root))
    families.append(_report_family("power", "Power (RAPL)", "perfdeck.perf.power", "power_report", root))
    families.append(_report_family("gpu", "GPUs", "perfdeck.gpu.doctor", "gpu_report", root))
    families.extend(deeper_families(root, _report_family))  # PSI, cgroups, top-down (doctor_deeper.py)
    checked = ("each event opened once with perf_event_open (then closed) on this machine"
               if opener is not None else
               f"files only under {root} (a snapshot): nothing was opened, verdicts are derived from "
               "/proc and /sys contents")
    return DoctorReport(live=sp.live, root=str(root), checked_by=checked, system=_system_dict(sp),
                        findings=findings, mode=mode, families=tuple(families), pmus=_pmu_dicts(sp),
                        multiplexing=mux_info, perf_stat=_perf_stat_line(sp, mode, hardware + cache, software,
                                                                          root))


def _perf_stat_line(sp: SystemProbe, mode: CountingMode, hardware: list[EventVerdict],
                    software: list[EventVerdict], root: Path) -> str:
    """``perf stat`` counting what PerfDeck would count here (available events only)."""
    if mode.scope == "none":
        return ""
    from perfdeck.perf.counters import counter_budget
    from perfdeck.perf.perfstat import perf_stat_command

    by_pmu: dict[str, list[str]] = {}
    for e in hardware:
        if e.available and e.pmu:
            by_pmu.setdefault(e.pmu, []).append(e.name)
    if mode.scope != "system-wide" and len(by_pmu) > 1:
        # Per process PerfDeck drops an event one core type lacks (it would be extrapolated).
        common = set.intersection(*(set(names) for names in by_pmu.values()))
        by_pmu = {pmu: [n for n in names if n in common] for pmu, names in by_pmu.items()}
    cpus = sp.online_cpus if mode.scope == "system-wide" else ()
    return perf_stat_command(by_pmu, [e.name for e in software if e.available], counter_budget(root),
                             scope=mode.scope, cpus=cpus, exclude_kernel=mode.exclude_kernel)


def _mode_family(sp: SystemProbe, which: str, opener: _Opener | None) -> FamilyVerdict:
    """Per-process or system-wide counting: allowed here, why, and (live) a real task-clock open."""
    level = sp.paranoid
    capable = sp.perfmon_capable
    if which == "system_wide":
        title = "System-wide (per-CPU) counting"
        allowed = capable or (level is not None and level <= 0)
        why = ("allowed: " + ("CAP_SYS_ADMIN" if sp.cap_sys_admin else "CAP_PERFMON") if capable else
               f"allowed: perf_event_paranoid is {level}" if allowed else
               f"refused: perf_event_paranoid is {level} (needs <= 0) and no CAP_PERFMON/CAP_SYS_ADMIN"
               if level is not None else "refused: perf_event_paranoid unknown")
        pid, cpu, exclude_kernel = -1, (sp.online_cpus[0] if sp.online_cpus else 0), False
        fixes = () if allowed else (*fix_paranoid(0), fix_setcap())
    else:
        title = "Per-process counting (tiptop-style)"
        allowed = capable or (level is not None and level <= 2)
        if capable:
            why = "allowed for every process, user and kernel (capability)"
        elif level is not None and level <= 1:
            why = f"allowed for your own processes, user and kernel (perf_event_paranoid {level})"
        elif level == 2:
            why = ("allowed for your own processes, user space only (perf_event_paranoid 2); other users' "
                   "processes need CAP_PERFMON")
        else:
            why = f"refused: perf_event_paranoid is {level}: every unprivileged open is refused"
        pid, cpu, exclude_kernel = 0, -1, (not capable and (level is None or level >= 2))
        fixes = () if allowed else (Fix("sudo sysctl kernel.perf_event_paranoid=2",
                                        "until reboot; allows counting your own processes, user space "
                                        "only (the mainline default)."), fix_setcap())
    status = STATUS_OK if allowed else STATUS_NO
    details: dict[str, Any] = {"checked": "files"}
    if opener is not None:
        attr = abi.make_attr(abi.PERF_TYPE_SOFTWARE, abi.PERF_COUNT_SW_TASK_CLOCK,
                             read_format=abi.PERF_FORMAT_TOTAL_TIME_ENABLED, exclude_kernel=exclude_kernel,
                             exclude_hv=exclude_kernel)
        try:
            opener(attr, pid, cpu)
            status, why = STATUS_OK, why + "; confirmed: task-clock opened"
        except abi.PerfOpenError as exc:
            status = STATUS_NO
            why = f"task-clock open failed with {exc.errno_name}: {abi.errno_message(exc.errno)}"
            if exc.errno in (errno.EPERM, errno.ENOSYS):
                fixes = (FIX_CONTAINER,)
            elif exc.errno == errno.EACCES and not fixes:
                fixes = (*fix_paranoid(0), fix_setcap())
        details["checked"] = "opened"
    return FamilyVerdict(which, title, status, why, fixes, details=details)


# --- text rendering -----------------------------------------------------------------------------

def render_text(report: DoctorReport) -> str:
    """The human-readable report of ``perfdeck doctor`` (also shown in the Diagnostics tab)."""
    ok_mark, no_mark, unk_mark = "✓", "✗", "?"
    lines: list[str] = []
    s = report.system
    lines.append("PerfDeck doctor")
    lines.append(f"  {'live machine' if report.live else 'snapshot at ' + report.root}; checked by: "
                 f"{report.checked_by}")
    lines.append(f"  CPU: {s['cpu_model'] or '?'} ({s['cpu_vendor'] or '?'}), "
                 f"{len(s['online_cpus'])} online; kernel {s['kernel'] or '?'}")
    lines.append("")
    lines.append(f"Counting mode: {report.mode.summary}")
    lines.append(f"Multiplexing: {report.multiplexing.get('note', '')}")
    if report.perf_stat:
        lines.append(f"Compare with perf stat (same events, groups and CPUs): {report.perf_stat}")
    lines.append("")
    lines.append("Environment")
    for f in report.findings:
        lines.append(f"  {ok_mark if f.ok else no_mark} {f.title}: {f.detail}")
        lines.extend(_fix_lines(f.fixes, "      "))
    for fam in report.families:
        lines.append("")
        mark = {STATUS_OK: ok_mark, STATUS_PARTIAL: "~", STATUS_NO: no_mark}.get(fam.status, unk_mark)
        lines.append(f"{mark} {fam.title} [{fam.status}]: {fam.reason}")
        if fam.events:
            # One line per event; repeated reasons are printed once below the list.
            shared = _shared_reason(fam)
            for e in fam.events:
                where = f"{e.pmu}, type {e.pmu_type}" if e.pmu else "no PMU"
                mark = ok_mark if e.available else no_mark
                text = f"    {mark} {e.label:<32} config {e.config:#x} ({where})"
                if e.reason != shared:
                    text += f": {e.reason}"
                lines.append(text)
            if shared:
                lines.append(f"    reason: {shared}")
        lines.extend(fam.details.get("lines") or ())  # per-device lines (the GPU section)
        lines.extend(_fix_lines(fam.fixes, "    "))
    lines.append("")
    lines.append("PerfDeck never changes these settings itself; every fix above is for you to run.")
    return "\n".join(lines)


def _shared_reason(fam: FamilyVerdict) -> str:
    reasons = {e.reason for e in fam.events}
    return next(iter(reasons)) if len(reasons) == 1 and len(fam.events) > 1 else ""


def _fix_lines(fixes: tuple[Fix, ...], indent: str) -> list[str]:
    out = []
    for fix in fixes:
        if fix.command:
            out.append(f"{indent}fix: {fix.command}")
            out.append(f"{indent}     {fix.note}")
        else:
            out.append(f"{indent}fix: {fix.note}")
    return out
