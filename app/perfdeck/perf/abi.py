"""The perf_event_open ABI in pure ctypes: the attr struct, constants, the syscall and the ioctls.

No compiled code: the syscall goes through glibc's variadic ``syscall()``, reads are plain
``os.read`` and the ioctls use ``fcntl.ioctl``. Offsets, bit positions and numbers follow
``/usr/include/linux/perf_event.h`` and were checked against a C compiler (see
docs/perf-counters.md and the reference note this module was written from).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import platform
import struct
from dataclasses import dataclass

# --- perf_event_attr.type ---------------------------------------------------------------------
PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_TYPE_TRACEPOINT = 2
PERF_TYPE_HW_CACHE = 3
PERF_TYPE_RAW = 4
PERF_TYPE_BREAKPOINT = 5

# Hybrid Intel: the core PMU's type goes into config[63:32] for HARDWARE/HW_CACHE events.
PERF_PMU_TYPE_SHIFT = 32
PERF_HW_EVENT_MASK = 0xFFFFFFFF

# --- PERF_TYPE_HARDWARE configs ---------------------------------------------------------------
PERF_COUNT_HW_CPU_CYCLES = 0
PERF_COUNT_HW_INSTRUCTIONS = 1
PERF_COUNT_HW_CACHE_REFERENCES = 2
PERF_COUNT_HW_CACHE_MISSES = 3
PERF_COUNT_HW_BRANCH_INSTRUCTIONS = 4
PERF_COUNT_HW_BRANCH_MISSES = 5
PERF_COUNT_HW_BUS_CYCLES = 6
PERF_COUNT_HW_STALLED_CYCLES_FRONTEND = 7
PERF_COUNT_HW_STALLED_CYCLES_BACKEND = 8
PERF_COUNT_HW_REF_CPU_CYCLES = 9

# --- PERF_TYPE_HW_CACHE: config = id | op << 8 | result << 16 ----------------------------------
PERF_COUNT_HW_CACHE_L1D = 0
PERF_COUNT_HW_CACHE_L1I = 1
PERF_COUNT_HW_CACHE_LL = 2
PERF_COUNT_HW_CACHE_DTLB = 3
PERF_COUNT_HW_CACHE_ITLB = 4
PERF_COUNT_HW_CACHE_BPU = 5
PERF_COUNT_HW_CACHE_NODE = 6

PERF_COUNT_HW_CACHE_OP_READ = 0
PERF_COUNT_HW_CACHE_OP_WRITE = 1
PERF_COUNT_HW_CACHE_OP_PREFETCH = 2

PERF_COUNT_HW_CACHE_RESULT_ACCESS = 0
PERF_COUNT_HW_CACHE_RESULT_MISS = 1


def hw_cache_config(cache: int, op: int, result: int) -> int:
    """The PERF_TYPE_HW_CACHE config for (cache id, op, result)."""
    return cache | (op << 8) | (result << 16)


# --- PERF_TYPE_SOFTWARE configs ---------------------------------------------------------------
PERF_COUNT_SW_CPU_CLOCK = 0
PERF_COUNT_SW_TASK_CLOCK = 1
PERF_COUNT_SW_PAGE_FAULTS = 2
PERF_COUNT_SW_CONTEXT_SWITCHES = 3
PERF_COUNT_SW_CPU_MIGRATIONS = 4
PERF_COUNT_SW_PAGE_FAULTS_MIN = 5
PERF_COUNT_SW_PAGE_FAULTS_MAJ = 6
PERF_COUNT_SW_ALIGNMENT_FAULTS = 7
PERF_COUNT_SW_EMULATION_FAULTS = 8
PERF_COUNT_SW_DUMMY = 9
PERF_COUNT_SW_BPF_OUTPUT = 10
PERF_COUNT_SW_CGROUP_SWITCHES = 11

# --- read_format ------------------------------------------------------------------------------
PERF_FORMAT_TOTAL_TIME_ENABLED = 1 << 0
PERF_FORMAT_TOTAL_TIME_RUNNING = 1 << 1
PERF_FORMAT_ID = 1 << 2
PERF_FORMAT_GROUP = 1 << 3
PERF_FORMAT_LOST = 1 << 4  # Linux 6.0+

# What every counter group in PerfDeck uses: one read() gives all values, both times and ids.
GROUP_READ_FORMAT = (PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED
                     | PERF_FORMAT_TOTAL_TIME_RUNNING | PERF_FORMAT_ID)

# --- perf_event_open flags --------------------------------------------------------------------
PERF_FLAG_FD_NO_GROUP = 1 << 0
PERF_FLAG_FD_OUTPUT = 1 << 1
PERF_FLAG_PID_CGROUP = 1 << 2
PERF_FLAG_FD_CLOEXEC = 1 << 3

# --- the flags bit-field word at offset 40 (little-endian bit n = 1 << n) ----------------------
ATTR_FLAG_BITS: dict[str, int] = {
    "disabled": 0, "inherit": 1, "pinned": 2, "exclusive": 3,
    "exclude_user": 4, "exclude_kernel": 5, "exclude_hv": 6, "exclude_idle": 7,
    "mmap": 8, "comm": 9, "freq": 10, "inherit_stat": 11, "enable_on_exec": 12, "task": 13,
    "watermark": 14, "precise_ip": 15,  # 2 bits: 15-16
    "mmap_data": 17, "sample_id_all": 18, "exclude_host": 19, "exclude_guest": 20,
    "exclude_callchain_kernel": 21, "exclude_callchain_user": 22, "mmap2": 23, "comm_exec": 24,
    "use_clockid": 25, "context_switch": 26, "write_backward": 27, "namespaces": 28,
    "ksymbol": 29, "bpf_event": 30, "aux_output": 31, "cgroup": 32, "text_poke": 33,
    "build_id": 34, "inherit_thread": 35, "remove_on_exec": 36, "sigtrap": 37,
}
ATTR_DISABLED = 1 << 0
ATTR_INHERIT = 1 << 1
ATTR_PINNED = 1 << 2
ATTR_EXCLUSIVE = 1 << 3
ATTR_EXCLUDE_USER = 1 << 4
ATTR_EXCLUDE_KERNEL = 1 << 5
ATTR_EXCLUDE_HV = 1 << 6
ATTR_EXCLUDE_IDLE = 1 << 7
ATTR_ENABLE_ON_EXEC = 1 << 12
ATTR_EXCLUDE_HOST = 1 << 19
ATTR_EXCLUDE_GUEST = 1 << 20
# Bits 38..63 are __reserved_1: the kernel returns EINVAL if any is set.
ATTR_RESERVED_MASK = ~((1 << 38) - 1) & 0xFFFFFFFFFFFFFFFF

# --- struct sizes -----------------------------------------------------------------------------
PERF_ATTR_SIZE_VER0 = 64
PERF_ATTR_SIZE_VER1 = 72
PERF_ATTR_SIZE_VER2 = 80
PERF_ATTR_SIZE_VER3 = 96
PERF_ATTR_SIZE_VER4 = 104
PERF_ATTR_SIZE_VER5 = 112
PERF_ATTR_SIZE_VER6 = 120
PERF_ATTR_SIZE_VER7 = 128
PERF_ATTR_SIZE_VER8 = 136

# --- ioctls (asm-generic _IOC layout: x86, arm, arm64, riscv) ----------------------------------
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_REFRESH = 0x2402
PERF_EVENT_IOC_RESET = 0x2403
PERF_EVENT_IOC_SET_OUTPUT = 0x2405
# Pointer-sized argument: the size field differs between 64-bit and 32-bit ABIs.
PERF_EVENT_IOC_PERIOD = 0x40082404
PERF_EVENT_IOC_SET_FILTER_64 = 0x40082406
PERF_EVENT_IOC_SET_FILTER_32 = 0x40042406
PERF_EVENT_IOC_ID_64 = 0x80082407
PERF_EVENT_IOC_ID_32 = 0x80042407
PERF_EVENT_IOC_SET_BPF = 0x40042408
PERF_EVENT_IOC_PAUSE_OUTPUT = 0x40042409
PERF_EVENT_IOC_QUERY_BPF_64 = 0xC008240A
PERF_EVENT_IOC_QUERY_BPF_32 = 0xC004240A
PERF_EVENT_IOC_MODIFY_ATTRIBUTES_64 = 0x4008240B
PERF_EVENT_IOC_MODIFY_ATTRIBUTES_32 = 0x4004240B
PERF_IOC_FLAG_GROUP = 1

_POINTER_64 = ctypes.sizeof(ctypes.c_void_p) == 8
PERF_EVENT_IOC_ID = PERF_EVENT_IOC_ID_64 if _POINTER_64 else PERF_EVENT_IOC_ID_32
PERF_EVENT_IOC_SET_FILTER = PERF_EVENT_IOC_SET_FILTER_64 if _POINTER_64 else PERF_EVENT_IOC_SET_FILTER_32

# --- syscall numbers --------------------------------------------------------------------------
SYSCALL_NUMBERS: dict[str, int] = {
    "x86_64": 298, "amd64": 298,
    "aarch64": 241, "arm64": 241, "riscv64": 241, "loongarch64": 241,
    "i386": 336, "i486": 336, "i586": 336, "i686": 336, "x86": 336,
}


def syscall_number(machine: str | None = None) -> int:
    """``__NR_perf_event_open`` for ``platform.machine()`` (or the given machine string).

    Raises ``PerfOpenError(ENOSYS)`` on an architecture whose number is not known, rather than
    guessing a number that would call some other system call.
    """
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine in SYSCALL_NUMBERS:
        return SYSCALL_NUMBERS[machine]
    if machine.startswith("arm"):  # armv7l, armv6l: 32-bit EABI
        return 364
    raise PerfOpenError(errno.ENOSYS, f"perf_event_open syscall number unknown for architecture {machine!r}")


class PerfEventAttr(ctypes.Structure):
    """``struct perf_event_attr`` at PERF_ATTR_SIZE_VER8 (136 bytes).

    Unions are declared as their first member (each is 8 bytes, or 4 for the wakeup union) and the
    bit-field word as one u64 ``flags`` (see ``ATTR_FLAG_BITS``). Unused bytes stay zero, which is
    what lets older kernels accept the larger struct.
    """

    _fields_ = [
        ("type", ctypes.c_uint32),            # 0
        ("size", ctypes.c_uint32),            # 4
        ("config", ctypes.c_uint64),          # 8
        ("sample_period", ctypes.c_uint64),   # 16  (union sample_freq)
        ("sample_type", ctypes.c_uint64),     # 24
        ("read_format", ctypes.c_uint64),     # 32
        ("flags", ctypes.c_uint64),           # 40  bit-field word
        ("wakeup_events", ctypes.c_uint32),   # 48  (union wakeup_watermark)
        ("bp_type", ctypes.c_uint32),         # 52
        ("config1", ctypes.c_uint64),         # 56  (union bp_addr, kprobe_func, uprobe_path)
        ("config2", ctypes.c_uint64),         # 64  (union bp_len, kprobe_addr, probe_offset)
        ("branch_sample_type", ctypes.c_uint64),  # 72
        ("sample_regs_user", ctypes.c_uint64),    # 80
        ("sample_stack_user", ctypes.c_uint32),   # 88
        ("clockid", ctypes.c_int32),              # 92
        ("sample_regs_intr", ctypes.c_uint64),    # 96
        ("aux_watermark", ctypes.c_uint32),       # 104
        ("sample_max_stack", ctypes.c_uint16),    # 108
        ("reserved_2", ctypes.c_uint16),          # 110
        ("aux_sample_size", ctypes.c_uint32),     # 112
        ("aux_action", ctypes.c_uint32),          # 116 (__reserved_3 on older headers)
        ("sig_data", ctypes.c_uint64),            # 120
        ("config3", ctypes.c_uint64),             # 128
    ]

    def set_flag(self, name: str, on: bool = True) -> None:
        """Set or clear one named bit of the flags word."""
        bit = 1 << ATTR_FLAG_BITS[name]
        self.flags = (self.flags | bit) if on else (self.flags & ~bit)

    def flag(self, name: str) -> bool:
        return bool(self.flags & (1 << ATTR_FLAG_BITS[name]))

    def summary(self) -> str:
        """A compact description for error messages and logs."""
        names = [n for n, b in ATTR_FLAG_BITS.items() if n != "precise_ip" and self.flags & (1 << b)]
        return (f"type={self.type} config={self.config:#x} config1={self.config1:#x} "
                f"config2={self.config2:#x} read_format={self.read_format:#x} "
                f"flags=[{','.join(names)}] size={self.size}")


assert ctypes.sizeof(PerfEventAttr) == PERF_ATTR_SIZE_VER8


def make_attr(type: int, config: int, config1: int = 0, config2: int = 0, *, read_format: int,
              disabled: bool = False, inherit: bool = False, exclude_kernel: bool = False,
              exclude_hv: bool = False, exclude_user: bool = False) -> PerfEventAttr:
    """A zeroed counting (non-sampling) attr with ``size`` = 136 and only the given fields set."""
    attr = PerfEventAttr()  # ctypes zero-fills every byte
    attr.type = type
    attr.size = PERF_ATTR_SIZE_VER8
    attr.config = config
    attr.config1 = config1
    attr.config2 = config2
    attr.read_format = read_format
    flags = 0
    if disabled:
        flags |= ATTR_DISABLED
    if inherit:
        flags |= ATTR_INHERIT
    if exclude_user:
        flags |= ATTR_EXCLUDE_USER
    if exclude_kernel:
        flags |= ATTR_EXCLUDE_KERNEL
    if exclude_hv:
        flags |= ATTR_EXCLUDE_HV
    attr.flags = flags
    return attr


# --- errors -----------------------------------------------------------------------------------

_PRIVILEGE_FIX = ("System-wide counters need kernel.perf_event_paranoid <= 0 "
                  "(`sudo sysctl kernel.perf_event_paranoid=0`) or CAP_PERFMON (Linux >= 5.8); "
                  "without them only your own processes can be counted, user space only.")

_ERRNO_MESSAGES: dict[int, str] = {
    errno.EACCES: ("permission denied by kernel.perf_event_paranoid (or the process belongs to another "
                   "user). " + _PRIVILEGE_FIX),
    errno.EPERM: ("perf_event_open is blocked by a container/seccomp policy or a missing capability "
                  "(CAP_PERFMON or CAP_SYS_ADMIN); on some architectures an exclude_* bit is not allowed"),
    errno.ENOENT: ("event not supported by this CPU/PMU: no PMU handles this event type here "
                   "(a virtual machine without a virtual PMU has none) or the CPU does not map it"),
    errno.EINVAL: ("invalid event attributes for this PMU: an exclude bit or sampling on an uncore/msr PMU, "
                   "a CPU number that does not exist, a group larger than the PMU's counters, or "
                   "an option this kernel does not know"),
    errno.EMFILE: ("too many open files: the counters need one file descriptor per event per CPU; "
                   "raise the soft limit (`ulimit -n`) or monitor fewer events"),
    errno.ENFILE: "the system-wide limit on open files is reached (fs.file-max)",
    errno.ENODEV: "the CPU is offline (or the feature is not supported by this CPU); rescan on hotplug",
    errno.EOPNOTSUPP: "not supported by this PMU (sampling, branch stacks or precise events unavailable)",
    errno.E2BIG: ("the kernel does not accept this perf_event_attr size (it wrote its own size back); "
                  "retry with that size"),
    errno.EBUSY: "the counters are in use by another tool holding them exclusively; try again later",
    errno.ESRCH: "the process or thread no longer exists",
    errno.ENOSPC: "read buffer too small for the group (a bug: size it from read_format and the event count)",
    errno.ENOSYS: ("kernel perf events unavailable: the kernel lacks CONFIG_PERF_EVENTS or a seccomp "
                   "filter hides perf_event_open"),
    errno.EFAULT: "the attr pointer was invalid (a bug)",
    errno.EOVERFLOW: "sample_max_stack larger than kernel.perf_event_max_stack",
    errno.EBADF: "group_fd is not a valid perf event file descriptor",
    errno.EINTR: "interrupted by a signal; retry",
}


def errno_message(err: int, context: str = "") -> str:
    """A user-facing explanation of a perf_event_open errno, prefixed by ``context`` if given.

    Never just ``os.strerror``: "No such file or directory" for ENOENT would mislead, it means the
    event is not supported here.
    """
    name = errno.errorcode.get(err, f"errno {err}")
    text = _ERRNO_MESSAGES.get(err, os.strerror(err) if err > 0 else "unknown error")
    prefix = f"{context}: " if context else ""
    return f"{prefix}{text} ({name})"


class PerfOpenError(OSError):
    """perf_event_open (or a perf ioctl/read) failed. ``errno`` is the kernel's code."""

    def __init__(self, err: int, message: str, attr_summary: str = "") -> None:
        super().__init__(err, message)
        self.errno = err
        self.message = message
        self.attr_summary = attr_summary

    @property
    def errno_name(self) -> str:
        return errno.errorcode.get(self.errno, str(self.errno))

    def __str__(self) -> str:
        return self.message


# --- the syscall ------------------------------------------------------------------------------

_libc: ctypes.CDLL | None = None
_syscall = None


def _get_syscall():  # returns the ctypes function pointer
    """Load libc once and declare ``syscall`` with long arguments (glibc reads every one as long)."""
    global _libc, _syscall
    if _syscall is None:
        # glibc is libc.so.6; find_library covers musl and other layouts. It runs `ldconfig -p` in
        # a child process, so it is asked only when libc.so.6 cannot be loaded: a child spawned
        # while the window starts shows up in a process-tree RSS sum with the window's whole RSS.
        for find in (lambda: "libc.so.6", lambda: ctypes.util.find_library("c")):
            name = find()
            if not name:
                continue
            try:
                _libc = ctypes.CDLL(name, use_errno=True)
                break
            except OSError:
                continue
        else:
            raise PerfOpenError(errno.ENOSYS, "cannot load the C library to call perf_event_open")
        fn = _libc.syscall
        fn.restype = ctypes.c_long
        fn.argtypes = [ctypes.c_long, ctypes.POINTER(PerfEventAttr), ctypes.c_long, ctypes.c_long,
                       ctypes.c_long, ctypes.c_ulong]
        _syscall = fn
    return _syscall


def perf_event_open(attr: PerfEventAttr, pid: int, cpu: int, group_fd: int = -1,
                    flags: int = PERF_FLAG_FD_CLOEXEC) -> int:
    """Open one perf event and return its file descriptor.

    ``pid=-1, cpu=N`` counts everything on CPU N (privileged); ``pid=TID, cpu=-1`` counts one
    thread on any CPU. Raises ``PerfOpenError`` with an explanation on failure.
    """
    nr = syscall_number()
    fn = _get_syscall()
    ctypes.set_errno(0)
    fd = fn(nr, ctypes.byref(attr), pid, cpu, group_fd, flags)
    err = ctypes.get_errno()  # captured immediately, before anything else can touch errno
    if fd < 0:
        summary = attr.summary()
        context = f"perf_event_open({summary}, pid={pid}, cpu={cpu})"
        raise PerfOpenError(err, errno_message(err, context), summary)
    return int(fd)


# --- ioctls and reads -------------------------------------------------------------------------

def _ioctl(fd: int, request: int, arg: int, what: str) -> None:
    try:
        fcntl.ioctl(fd, request, arg)
    except OSError as exc:
        raise PerfOpenError(exc.errno or 0, errno_message(exc.errno or 0, what)) from exc


def enable(fd: int, group: bool = True) -> None:
    """PERF_EVENT_IOC_ENABLE (the whole group when ``group``)."""
    _ioctl(fd, PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP if group else 0, "enable counters")


def disable(fd: int, group: bool = True) -> None:
    """PERF_EVENT_IOC_DISABLE (the whole group when ``group``)."""
    _ioctl(fd, PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP if group else 0, "disable counters")


def reset(fd: int, group: bool = True) -> None:
    """PERF_EVENT_IOC_RESET. Zeroes counts but NOT time_enabled/running: prefer deltas."""
    _ioctl(fd, PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP if group else 0, "reset counters")


def event_id(fd: int) -> int:
    """The kernel's unique id of an event (PERF_EVENT_IOC_ID), as it appears in group reads."""
    buf = bytearray(8)
    try:
        fcntl.ioctl(fd, PERF_EVENT_IOC_ID, buf, True)
    except OSError as exc:
        raise PerfOpenError(exc.errno or 0, errno_message(exc.errno or 0, "read event id")) from exc
    return struct.unpack("=Q", buf)[0]


@dataclass(frozen=True, slots=True)
class GroupRead:
    """One read() of a group leader: shared times (ns) and each member's raw cumulative value by id."""

    time_enabled: int
    time_running: int
    values: dict[int, int]


def group_read_size(nr_events: int) -> int:
    """Bytes of one GROUP|TOTAL_TIME_ENABLED|TOTAL_TIME_RUNNING|ID read: 8·(3 + 2·nr)."""
    return 8 * (3 + 2 * nr_events)


def parse_group_read(data: bytes, nr_events: int) -> GroupRead:
    """Decode the bytes of a group read (``nr, enabled, running, {value, id}*nr``)."""
    if len(data) < 24:
        raise PerfOpenError(errno.EIO, f"short perf group read: {len(data)} bytes")
    nr, enabled, running = struct.unpack_from("=QQQ", data, 0)
    if nr > nr_events or len(data) < group_read_size(nr):
        raise PerfOpenError(errno.EIO, f"perf group read reports {nr} events in {len(data)} bytes, "
                                       f"expected at most {nr_events}")
    pairs = struct.unpack_from(f"={2 * nr}Q", data, 24)
    return GroupRead(enabled, running, {pairs[i + 1]: pairs[i] for i in range(0, 2 * nr, 2)})


def read_group(fd: int, nr_events: int) -> GroupRead:
    """Read a whole group with one ``os.read`` on any of its fds (GROUP_READ_FORMAT)."""
    try:
        data = os.read(fd, group_read_size(nr_events))
    except OSError as exc:
        raise PerfOpenError(exc.errno or 0, errno_message(exc.errno or 0, "read counter group")) from exc
    if not data:
        # A pinned group that could not be scheduled is in error state: read() returns EOF.
        raise PerfOpenError(errno.EIO, "counter group is in error state (pinned and unschedulable)")
    return parse_group_read(data, nr_events)


def close_fd(fd: int) -> None:
    """Close a perf fd, ignoring an already-closed one."""
    with contextlib.suppress(OSError):
        os.close(fd)
