"""The ctypes perf_event_attr layout, constants, errno messages and real syscalls (software events)."""

from __future__ import annotations

import ctypes
import errno
import os
import struct

import pytest

from perfdeck.perf import abi
from perfdeck.perf.abi import PerfEventAttr, PerfOpenError

# offset, size for every field: the table in reference §1.2 (compiled with offsetof on the 6.1 header).
EXPECTED_LAYOUT = {
    "type": (0, 4), "size": (4, 4), "config": (8, 8), "sample_period": (16, 8),
    "sample_type": (24, 8), "read_format": (32, 8), "flags": (40, 8), "wakeup_events": (48, 4),
    "bp_type": (52, 4), "config1": (56, 8), "config2": (64, 8), "branch_sample_type": (72, 8),
    "sample_regs_user": (80, 8), "sample_stack_user": (88, 4), "clockid": (92, 4),
    "sample_regs_intr": (96, 8), "aux_watermark": (104, 4), "sample_max_stack": (108, 2),
    "reserved_2": (110, 2), "aux_sample_size": (112, 4), "aux_action": (116, 4),
    "sig_data": (120, 8), "config3": (128, 8),
}


def test_struct_size_is_ver8() -> None:
    assert ctypes.sizeof(PerfEventAttr) == 136 == abi.PERF_ATTR_SIZE_VER8


@pytest.mark.parametrize(("field", "offset_size"), EXPECTED_LAYOUT.items())
def test_field_offsets(field: str, offset_size: tuple[int, int]) -> None:
    descriptor = getattr(PerfEventAttr, field)
    assert (descriptor.offset, descriptor.size) == offset_size


def test_layout_covers_every_byte() -> None:
    covered = sorted(EXPECTED_LAYOUT.values())
    position = 0
    for offset, size in covered:
        assert offset == position
        position += size
    assert position == 136


@pytest.mark.parametrize(("name", "bit"), [
    ("disabled", 0), ("inherit", 1), ("pinned", 2), ("exclusive", 3), ("exclude_user", 4),
    ("exclude_kernel", 5), ("exclude_hv", 6), ("exclude_idle", 7), ("enable_on_exec", 12),
    ("exclude_host", 19), ("exclude_guest", 20), ("use_clockid", 25), ("cgroup", 32),
    ("inherit_thread", 35), ("sigtrap", 37),
])
def test_flag_bits(name: str, bit: int) -> None:
    assert abi.ATTR_FLAG_BITS[name] == bit
    attr = PerfEventAttr()
    attr.set_flag(name)
    raw = bytes(attr)
    assert struct.unpack_from("<Q", raw, 40)[0] == 1 << bit
    assert attr.flag(name)
    attr.set_flag(name, False)
    assert attr.flags == 0


def test_named_flag_constants() -> None:
    assert abi.ATTR_DISABLED == 1 and abi.ATTR_INHERIT == 2
    assert abi.ATTR_EXCLUDE_USER == 16 and abi.ATTR_EXCLUDE_KERNEL == 32 and abi.ATTR_EXCLUDE_HV == 64
    assert abi.ATTR_RESERVED_MASK == 0xFFFFFFFFFFFFFFFF ^ ((1 << 38) - 1)


def test_make_attr_zero_except_set_fields() -> None:
    attr = abi.make_attr(9, 0x1234, 0x55, 0x66, read_format=abi.GROUP_READ_FORMAT, disabled=True,
                         inherit=True, exclude_kernel=True, exclude_hv=True, exclude_user=True)
    raw = bytes(attr)
    assert len(raw) == 136
    expected = bytearray(136)
    struct.pack_into("<IIQ", expected, 0, 9, 136, 0x1234)
    struct.pack_into("<Q", expected, 32, 0xF)
    struct.pack_into("<Q", expected, 40, 0b1110011)
    struct.pack_into("<QQ", expected, 56, 0x55, 0x66)
    assert raw == bytes(expected)


def test_make_attr_defaults_only_type_size_config_read_format() -> None:
    raw = bytes(abi.make_attr(1, 3, read_format=abi.PERF_FORMAT_TOTAL_TIME_ENABLED))
    nonzero = {i for i, b in enumerate(raw) if b}
    assert nonzero == {0, 4, 8, 32}


def test_constants() -> None:
    assert (abi.PERF_TYPE_HARDWARE, abi.PERF_TYPE_SOFTWARE, abi.PERF_TYPE_TRACEPOINT,
            abi.PERF_TYPE_HW_CACHE, abi.PERF_TYPE_RAW, abi.PERF_TYPE_BREAKPOINT) == (0, 1, 2, 3, 4, 5)
    assert abi.PERF_COUNT_HW_REF_CPU_CYCLES == 9 and abi.PERF_COUNT_HW_STALLED_CYCLES_BACKEND == 8
    assert abi.PERF_COUNT_SW_PAGE_FAULTS_MAJ == 6 and abi.PERF_COUNT_SW_CGROUP_SWITCHES == 11
    assert (abi.PERF_FORMAT_TOTAL_TIME_ENABLED, abi.PERF_FORMAT_TOTAL_TIME_RUNNING, abi.PERF_FORMAT_ID,
            abi.PERF_FORMAT_GROUP, abi.PERF_FORMAT_LOST) == (1, 2, 4, 8, 16)
    assert (abi.PERF_FLAG_FD_NO_GROUP, abi.PERF_FLAG_FD_OUTPUT, abi.PERF_FLAG_PID_CGROUP,
            abi.PERF_FLAG_FD_CLOEXEC) == (1, 2, 4, 8)
    assert (abi.PERF_EVENT_IOC_ENABLE, abi.PERF_EVENT_IOC_DISABLE, abi.PERF_EVENT_IOC_RESET) == (
        0x2400, 0x2401, 0x2403)
    assert abi.PERF_EVENT_IOC_ID_64 == 0x80082407 and abi.PERF_EVENT_IOC_ID_32 == 0x80042407
    assert abi.PERF_IOC_FLAG_GROUP == 1
    # Reference §2.3 examples.
    assert abi.hw_cache_config(abi.PERF_COUNT_HW_CACHE_L1D, 0, 1) == 0x10000
    assert abi.hw_cache_config(abi.PERF_COUNT_HW_CACHE_LL, 0, 0) == 0x2
    assert abi.hw_cache_config(abi.PERF_COUNT_HW_CACHE_DTLB, 0, 1) == 0x10003
    assert abi.hw_cache_config(abi.PERF_COUNT_HW_CACHE_L1I, 0, 1) == 0x10001


@pytest.mark.parametrize(("machine", "nr"), [
    ("x86_64", 298), ("aarch64", 241), ("riscv64", 241), ("loongarch64", 241), ("armv7l", 364),
    ("i686", 336), ("i386", 336),
])
def test_syscall_numbers(machine: str, nr: int) -> None:
    assert abi.syscall_number(machine) == nr


def test_unknown_architecture_is_enosys() -> None:
    with pytest.raises(PerfOpenError) as info:
        abi.syscall_number("sparc64")
    assert info.value.errno == errno.ENOSYS


# Every errno of reference §4.6 with a distinctive word its message must contain.
ERRNO_WORDS = {
    errno.EACCES: "perf_event_paranoid", errno.EPERM: "seccomp", errno.ENOENT: "not supported",
    errno.EOPNOTSUPP: "not supported by this PMU", errno.EINVAL: "invalid", errno.E2BIG: "size",
    errno.EMFILE: "ulimit -n", errno.ENODEV: "offline", errno.EBUSY: "in use",
    errno.ESRCH: "no longer exists",
    errno.ENOSPC: "buffer", errno.ENOSYS: "CONFIG_PERF_EVENTS", errno.ENFILE: "file-max",
    errno.EFAULT: "pointer", errno.EOVERFLOW: "max_stack", errno.EBADF: "group_fd", errno.EINTR: "retry",
}


@pytest.mark.parametrize(("err", "word"), ERRNO_WORDS.items())
def test_errno_messages(err: int, word: str) -> None:
    message = abi.errno_message(err, "opening cycles on cpu3")
    assert message.startswith("opening cycles on cpu3: ")
    assert word in message
    assert f"({errno.errorcode[err]})" in message


def test_errno_message_unknown_code() -> None:
    assert "EXDEV" in abi.errno_message(errno.EXDEV)


# --- real syscalls: software events work on every Linux with CONFIG_PERF_EVENTS -----------------

def _open_sw(config: int, **kw: bool) -> int:
    attr = abi.make_attr(abi.PERF_TYPE_SOFTWARE, config, read_format=abi.GROUP_READ_FORMAT,
                         exclude_kernel=True, **kw)
    return abi.perf_event_open(attr, 0, -1)


def test_group_of_three_software_events_one_read() -> None:
    leader = _open_sw(abi.PERF_COUNT_SW_TASK_CLOCK, disabled=True)
    fds = [leader]
    try:
        for config in (abi.PERF_COUNT_SW_PAGE_FAULTS, abi.PERF_COUNT_SW_PAGE_FAULTS_MIN):
            attr = abi.make_attr(abi.PERF_TYPE_SOFTWARE, config, read_format=abi.GROUP_READ_FORMAT,
                                 exclude_kernel=True)
            fds.append(abi.perf_event_open(attr, 0, -1, leader))
        ids = [abi.event_id(fd) for fd in fds]
        assert len(set(ids)) == 3
        abi.enable(leader)
        pages = bytearray(64 * 4096)  # touch fresh memory so the fault counters move
        for i in range(0, len(pages), 4096):
            pages[i] = 1
        raw = os.read(leader, 4096)
        assert len(raw) == abi.group_read_size(3) == 72
        nr = struct.unpack_from("<Q", raw)[0]
        assert nr == 3
        result = abi.parse_group_read(raw, 3)
        assert set(result.values) == set(ids)
        assert result.time_running == result.time_enabled > 0
        # Reading a member returns the whole group too.
        again = abi.read_group(fds[2], 3)
        assert set(again.values) == set(ids)
        assert again.values[ids[0]] >= result.values[ids[0]]
        abi.disable(leader)
        frozen = abi.read_group(leader, 3)
        assert abi.read_group(leader, 3).values == frozen.values
    finally:
        for fd in fds:
            abi.close_fd(fd)


def test_read_group_buffer_too_small_is_enospc() -> None:
    fd = _open_sw(abi.PERF_COUNT_SW_TASK_CLOCK)
    try:
        with pytest.raises(OSError) as info:
            os.read(fd, 16)
        assert info.value.errno == errno.ENOSPC
    finally:
        abi.close_fd(fd)


def test_open_failure_raises_with_errno_and_summary() -> None:
    # pid=-1 with cpu=-1 is always invalid.
    attr = abi.make_attr(abi.PERF_TYPE_SOFTWARE, abi.PERF_COUNT_SW_TASK_CLOCK, read_format=0)
    with pytest.raises(PerfOpenError) as info:
        abi.perf_event_open(attr, -1, -1)
    assert info.value.errno == errno.EINVAL
    assert "type=1" in info.value.attr_summary
    assert "pid=-1, cpu=-1" in str(info.value)


def test_unknown_software_id_is_enoent() -> None:
    attr = abi.make_attr(abi.PERF_TYPE_SOFTWARE, 99, read_format=0, exclude_kernel=True)
    with pytest.raises(PerfOpenError) as info:
        abi.perf_event_open(attr, 0, -1)
    assert info.value.errno == errno.ENOENT
    assert "not supported" in str(info.value)


def test_reserved_flag_bit_is_einval() -> None:
    attr = abi.make_attr(abi.PERF_TYPE_SOFTWARE, abi.PERF_COUNT_SW_TASK_CLOCK, read_format=0,
                         exclude_kernel=True)
    attr.flags |= 1 << 40
    with pytest.raises(PerfOpenError) as info:
        abi.perf_event_open(attr, 0, -1)
    assert info.value.errno == errno.EINVAL


def test_nonzero_tail_beyond_kernel_size_is_e2big() -> None:
    # A 256-byte buffer claiming size 256 with a non-zero byte past 136: the kernel refuses and
    # writes its own size back (reference §1.2).
    class Big(ctypes.Structure):
        _fields_ = [("attr", PerfEventAttr), ("tail", ctypes.c_uint8 * 120)]

    big = Big()
    big.attr.type = abi.PERF_TYPE_SOFTWARE
    big.attr.size = 256
    big.attr.flags = abi.ATTR_EXCLUDE_KERNEL
    big.tail[100] = 1
    with pytest.raises(PerfOpenError) as info:
        abi.perf_event_open(big.attr, 0, -1)
    assert info.value.errno == errno.E2BIG
    assert 64 <= big.attr.size <= 4096 and big.attr.size != 256


def test_loading_libc_spawns_no_process_when_libc_so_6_loads(monkeypatch) -> None:
    """``ctypes.util.find_library`` runs `ldconfig -p` in a child process: a child spawned while
    the window starts counts the window's whole RSS again in a process-tree sum. It is the
    fallback only (musl and other layouts), never asked on glibc."""
    import ctypes.util

    asked: list[str] = []
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: asked.append(name) or None)
    monkeypatch.setattr(abi, "_syscall", None)
    monkeypatch.setattr(abi, "_libc", None)
    assert abi._get_syscall() is not None
    assert asked == []
