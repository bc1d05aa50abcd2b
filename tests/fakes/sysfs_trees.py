"""Builders of fake sysfs/procfs trees modelled on real kernel layouts.

Every builder takes ``root`` (a tmp_path standing for the filesystem root ``/``), writes the
files a real machine of that kind has, and returns ``root``; code under test then gets
``root=...``. File contents follow the kernel (see the team reference perf-events.md §6.3):
Intel uncore ``events/*`` have NO trailing newline (``uncore_event_show`` uses "%s"), while
``format/*``, ``type`` and ``cpumask`` end in ``\\n``.

Builders compose: ``make_skx_server(root)`` then ``make_resctrl(root)`` gives a Skylake-SP with
resctrl mounted. ``add_pmu`` writes any PMU for a negative fixture.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

DEVICES = Path("sys/bus/event_source/devices")

# The exact Intel uncore MiB scale: 64 B = 64 / 2^20 MiB.
UNCORE_SCALE = "6.103515625e-5"


def write(root: Path, relative: str | Path, text: str, mode: int | None = None) -> Path:
    """Write one file under ``root`` (creating parents) and return its path."""
    path = Path(root) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


def add_pmu(root: Path, name: str, pmu_type: int, *, cpumask: str | None = None,
            cpus: str | None = None, formats: Mapping[str, str] | None = None,
            events: Mapping[str, str] | None = None, scales: Mapping[str, str] | None = None,
            units: Mapping[str, str] | None = None, event_newline: bool = True,
            extra: Mapping[str, str] | None = None) -> Path:
    """Write ``sys/bus/event_source/devices/<name>/`` like the kernel does.

    ``cpumask``/``cpus`` are written with a trailing newline when given (None = no file).
    ``event_newline=False`` mimics Intel uncore event files.
    """
    base = Path(root) / DEVICES / name
    write(root, DEVICES / name / "type", f"{pmu_type}\n")
    write(root, DEVICES / name / "perf_event_mux_interval_ms", "4\n")
    if cpumask is not None:
        write(root, DEVICES / name / "cpumask", f"{cpumask}\n" if cpumask else "\n")
    if cpus is not None:
        write(root, DEVICES / name / "cpus", f"{cpus}\n")
    for term, spec in (formats or {}).items():
        write(root, DEVICES / name / "format" / term, f"{spec}\n")
    newline = "\n" if event_newline else ""
    for event, terms in (events or {}).items():
        write(root, DEVICES / name / "events" / event, f"{terms}{newline}")
    for event, scale in (scales or {}).items():
        write(root, DEVICES / name / "events" / f"{event}.scale", f"{scale}{newline}")
    for event, unit in (units or {}).items():
        write(root, DEVICES / name / "events" / f"{event}.unit", f"{unit}{newline}")
    for relative, text in (extra or {}).items():
        write(root, DEVICES / name / relative, text)
    return base


def add_software_pmus(root: Path, msr_type: int = 9) -> None:
    """The PMUs every Linux machine has, plus ``msr`` with ``tsc`` (as on the reference VM)."""
    add_pmu(root, "software", 1)
    add_pmu(root, "tracepoint", 2)
    add_pmu(root, "breakpoint", 5)
    add_pmu(root, "uprobe", 8, formats={"retprobe": "config:0", "ref_ctr_offset": "config:32-63"})
    add_pmu(root, "msr", msr_type, formats={"event": "config:0-63"},
            events={"tsc": "event=0x00", "smi": "event=0x04"})


def add_core_pmu(root: Path, pmu_type: int = 4) -> None:
    """A bare-metal Intel ``cpu`` PMU (enough for 'this is not a VM')."""
    add_pmu(root, "cpu", pmu_type, formats={"event": "config:0-7", "umask": "config:8-15",
                                            "edge": "config:18", "inv": "config:23",
                                            "cmask": "config:24-31"},
            events={"cpu-cycles": "event=0x3c", "instructions": "event=0xc0"})


def add_topology(root: Path, packages: Sequence[Iterable[int]]) -> None:
    """``sys/devices/system/cpu/cpuN/topology/physical_package_id`` and ``online``."""
    every: list[int] = []
    for package_id, cpus in enumerate(packages):
        for cpu in cpus:
            write(root, f"sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id", f"{package_id}\n")
            every.append(cpu)
    every.sort()
    write(root, "sys/devices/system/cpu/online", f"{_cpulist(every)}\n")


def _cpulist(cpus: Sequence[int]) -> str:
    parts: list[str] = []
    start = prev = None
    for cpu in cpus:
        if start is None:
            start = prev = cpu
        elif cpu == prev + 1:
            prev = cpu
        else:
            parts.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = prev = cpu
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ",".join(parts)


def add_cpuinfo(root: Path, vendor: str, model_name: str, flags: Iterable[str], ncpus: int = 2) -> None:
    """A ``proc/cpuinfo`` with ``ncpus`` processors and the given flags."""
    blocks = []
    for cpu in range(ncpus):
        blocks.append(f"processor\t: {cpu}\nvendor_id\t: {vendor}\nmodel name\t: {model_name}\n"
                      f"flags\t\t: {' '.join(flags)}\n")
    write(root, "proc/cpuinfo", "\n".join(blocks) + "\n")


def add_paranoid(root: Path, value: int) -> None:
    write(root, "proc/sys/kernel/perf_event_paranoid", f"{value}\n")


def add_filesystems(root: Path, resctrl: bool) -> None:
    """``proc/filesystems``; resctrl is listed when the kernel has CONFIG_X86_CPU_RESCTRL."""
    lines = ["nodev\tsysfs", "nodev\tproc", "nodev\ttmpfs", "\text4"]
    if resctrl:
        lines.append("nodev\tresctrl")
    write(root, "proc/filesystems", "\n".join(lines) + "\n")


_BASE_INTEL_FLAGS = ("fpu", "tsc", "msr", "constant_tsc", "rdtscp", "rapl")


# ---------------------------------------------------------------- machines


def make_vm(root: Path) -> Path:
    """A KVM guest without a virtual PMU: software PMUs and msr/tsc only, paranoid 2."""
    add_software_pmus(root)
    add_topology(root, [[0, 1]])
    add_cpuinfo(root, "AuthenticAMD", "AMD EPYC", ("fpu", "tsc", "msr", "rdtscp", "hypervisor"))
    add_paranoid(root, 2)
    add_filesystems(root, resctrl=False)
    return root


def _intel_server_base(root: Path, sockets: int, cores_per_socket: int, *, mbm: bool = False) -> list[int]:
    add_software_pmus(root, msr_type=9)
    add_core_pmu(root)
    packages = [range(s * cores_per_socket, (s + 1) * cores_per_socket) for s in range(sockets)]
    add_topology(root, packages)
    mbm_flags = ("cqm_llc", "cqm_occup_llc", "cqm_mbm_total", "cqm_mbm_local")
    flags = _BASE_INTEL_FLAGS + (mbm_flags if mbm else ())
    add_cpuinfo(root, "GenuineIntel", "Intel(R) Xeon(R)", flags, ncpus=2)
    add_paranoid(root, 0)
    add_filesystems(root, resctrl=mbm)
    return [s * cores_per_socket for s in range(sockets)]


def _intel_imc(root: Path, name: str, pmu_type: int, cpumask: str, umask_format: str,
               read: str, write_: str) -> None:
    add_pmu(root, name, pmu_type, cpumask=cpumask,
            formats={"event": "config:0-7", "umask": umask_format, "edge": "config:18",
                     "inv": "config:23", "thresh": "config:24-31"},
            events={"clockticks": "event=0x00,umask=0x00", "cas_count_read": read,
                    "cas_count_write": write_},
            scales={"cas_count_read": UNCORE_SCALE, "cas_count_write": UNCORE_SCALE},
            units={"cas_count_read": "MiB", "cas_count_write": "MiB"},
            event_newline=False)


def make_skx_server(root: Path) -> Path:
    """Skylake-SP, 2 sockets x 28 cores, 6 IMC channels per socket (uncore_imc_0..5, cpumask 0,28)."""
    first = _intel_server_base(root, sockets=2, cores_per_socket=28, mbm=True)
    cpumask = ",".join(str(c) for c in first)
    for channel in range(6):
        _intel_imc(root, f"uncore_imc_{channel}", 24 + channel, cpumask, "config:8-15",
                   "event=0x04,umask=0x03", "event=0x04,umask=0x0c")
    add_rapl_pmu(root, pmu_type=30, cpumask=cpumask)
    return root


def make_icx_server(root: Path) -> Path:
    """Ice Lake-SP, 1 socket, 8 channels with the fixed ICX umasks 0x0f/0x30."""
    _intel_server_base(root, sockets=1, cores_per_socket=32)
    for channel in range(8):
        _intel_imc(root, f"uncore_imc_{channel}", 40 + channel, "0", "config:8-15",
                   "event=0x04,umask=0x0f", "event=0x04,umask=0x30")
    return root


def make_spr_server(root: Path) -> Path:
    """Sapphire Rapids, 1 socket x 56 cores, 8 IMC boxes with the split umask config:8-15,32-55."""
    _intel_server_base(root, sockets=1, cores_per_socket=56)
    for channel in range(8):
        _intel_imc(root, f"uncore_imc_{channel}", 60 + channel, "0", "config:8-15,32-55",
                   "event=0x05,umask=0xcf", "event=0x05,umask=0xf0")
    return root


def make_spr_old_kernel(root: Path) -> Path:
    """Sapphire Rapids on a kernel that predates the named SPR cas_count_* events."""
    _intel_server_base(root, sockets=1, cores_per_socket=56)
    for channel in range(8):
        add_pmu(root, f"uncore_imc_{channel}", 60 + channel, cpumask="0",
                formats={"event": "config:0-7", "umask": "config:8-15,32-55"},
                events={"clockticks": "event=0x01,umask=0x00"}, event_newline=False)
    return root


def make_tgl_client(root: Path) -> Path:
    """Tiger Lake laptop: uncore_imc_free_running_0/1 (data_total/read/write), 1 socket x 8 CPUs."""
    add_software_pmus(root)
    add_core_pmu(root)
    add_topology(root, [range(8)])
    add_cpuinfo(root, "GenuineIntel", "11th Gen Intel(R) Core(TM) i7-1185G7", _BASE_INTEL_FLAGS, ncpus=8)
    add_paranoid(root, 2)
    add_filesystems(root, resctrl=False)
    for index in range(2):
        add_pmu(root, f"uncore_imc_free_running_{index}", 14 + index, cpumask="0",
                formats={"event": "config:0-7", "umask": "config:8-15"},
                events={"data_total": "event=0xff,umask=0x10", "data_read": "event=0xff,umask=0x20",
                        "data_write": "event=0xff,umask=0x30"},
                scales=dict.fromkeys(("data_total", "data_read", "data_write"), UNCORE_SCALE),
                units=dict.fromkeys(("data_total", "data_read", "data_write"), "MiB"),
                event_newline=False)
    add_rapl_pmu(root, pmu_type=16, cpumask="0", psys=True)
    return root


def make_snb_client(root: Path) -> Path:
    """Sandy Bridge ... Coffee Lake desktop: a single uncore_imc with data_reads/data_writes."""
    add_software_pmus(root)
    add_core_pmu(root)
    add_topology(root, [range(4)])
    add_cpuinfo(root, "GenuineIntel", "Intel(R) Core(TM) i7-8700", _BASE_INTEL_FLAGS, ncpus=4)
    add_paranoid(root, 0)
    add_filesystems(root, resctrl=False)
    add_pmu(root, "uncore_imc", 12, cpumask="0",
            formats={"event": "config:0-7"},
            events={"data_reads": "event=0x01", "data_writes": "event=0x02",
                    "gt_requests": "event=0x03"},
            scales=dict.fromkeys(("data_reads", "data_writes", "gt_requests"), UNCORE_SCALE),
            units=dict.fromkeys(("data_reads", "data_writes", "gt_requests"), "MiB"),
            event_newline=False)
    return root


def make_zen4(root: Path) -> Path:
    """EPYC Zen 4 (Genoa), 1 socket x 16 CPUs, amd_umc_0..11 (no events/), PerfMonV2 amd_df."""
    add_software_pmus(root)
    add_pmu(root, "cpu", 4, formats={"event": "config:0-7,32-35", "umask": "config:8-15"})
    add_topology(root, [range(16)])
    add_cpuinfo(root, "AuthenticAMD", "AMD EPYC 9124 16-Core Processor", ("fpu", "tsc", "rapl"), 16)
    add_paranoid(root, 0)
    add_filesystems(root, resctrl=True)
    for umc in range(12):
        add_pmu(root, f"amd_umc_{umc}", 20 + umc, cpumask="0",
                formats={"event": "config:0-7", "rdwrmask": "config:8-9"})
    add_pmu(root, "amd_df", 11, cpumask="0",
            formats={"event": "config:0-7,32-37", "umask": "config:8-15,24-27"})
    add_rapl_pmu(root, pmu_type=33, cpumask="0", cores=True, ram=False)
    return root


def make_zen3(root: Path) -> Path:
    """EPYC Zen 3 (Milan), 2 sockets x 32 CPUs, amd_df with the legacy split event format."""
    add_software_pmus(root)
    add_pmu(root, "cpu", 4, formats={"event": "config:0-7,32-35", "umask": "config:8-15"})
    add_topology(root, [range(32), range(32, 64)])
    add_cpuinfo(root, "AuthenticAMD", "AMD EPYC 7313 16-Core Processor", ("fpu", "tsc"), 64)
    add_paranoid(root, -1)
    add_filesystems(root, resctrl=True)
    add_pmu(root, "amd_df", 11, cpumask="0,32",
            formats={"event": "config:0-7,32-35,59-60", "umask": "config:8-15"})
    add_pmu(root, "amd_l3", 12, cpumask="0,8,16,24,32,40,48,56",
            formats={"event": "config:0-7", "umask": "config:8-15"})
    return root


def make_resctrl(root: Path, *, totals: Mapping[str, str] | None = None) -> Path:
    """A mounted resctrl with MBM: root group mon_L3_00/01, CTRL_MON group g1 with MON group m1.

    ``totals`` overrides file contents, keyed by path relative to ``sys/fs/resctrl``.
    mon_L3_01/mbm_local_bytes of the root group reads ``Unavailable``.
    """
    base = "sys/fs/resctrl"
    write(root, f"{base}/info/L3_MON/mon_features", "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes\n")
    write(root, f"{base}/info/L3_MON/num_rmids", "224\n")
    write(root, f"{base}/schemata", "L3:0=7ff;1=7ff\n")
    write(root, f"{base}/tasks", "1\n")
    files = {
        "mon_data/mon_L3_00/mbm_total_bytes": "1000000\n",
        "mon_data/mon_L3_00/mbm_local_bytes": "900000\n",
        "mon_data/mon_L3_00/llc_occupancy": "327680\n",
        "mon_data/mon_L3_01/mbm_total_bytes": "2000000\n",
        "mon_data/mon_L3_01/mbm_local_bytes": "Unavailable\n",
        "mon_data/mon_L3_01/llc_occupancy": "65536\n",
        "g1/mon_data/mon_L3_00/mbm_total_bytes": "500000\n",
        "g1/mon_data/mon_L3_00/mbm_local_bytes": "500000\n",
        "g1/mon_data/mon_L3_01/mbm_total_bytes": "700000\n",
        "g1/mon_data/mon_L3_01/mbm_local_bytes": "600000\n",
        "g1/schemata": "L3:0=00f;1=00f\n",
        "g1/tasks": "\n",
        # A MON group: its traffic is already included in g1's mon_data (kernel mon_event_count).
        "g1/mon_groups/m1/mon_data/mon_L3_00/mbm_total_bytes": "100000\n",
        "g1/mon_groups/m1/mon_data/mon_L3_01/mbm_total_bytes": "100000\n",
        "g1/mon_groups/m1/tasks": "\n",
    }
    files.update(totals or {})
    for relative, text in files.items():
        write(root, f"{base}/{relative}", text)
    return root


def set_resctrl(root: Path, relative: str, text: str) -> None:
    """Change one resctrl file (relative to ``sys/fs/resctrl``) between two reads."""
    write(root, f"sys/fs/resctrl/{relative}", text)


def add_rapl_pmu(root: Path, pmu_type: int, cpumask: str = "0", *, cores: bool = True,
                 ram: bool = True, psys: bool = False) -> None:
    """The perf ``power`` PMU as arch/x86/events/rapl.c writes it (scale 2^-32 J, unit Joules)."""
    events = {"energy-pkg": "event=0x02"}
    if cores:
        events["energy-cores"] = "event=0x01"
    if ram:
        events["energy-ram"] = "event=0x03"
    if psys:
        events["energy-psys"] = "event=0x05"
    scale = "2.3283064365386962890625e-10"
    add_pmu(root, "power", pmu_type, cpumask=cpumask, formats={"event": "config:0-7"},
            events=events, scales=dict.fromkeys(events, scale), units=dict.fromkeys(events, "Joules"))


def add_powercap(root: Path, zones: Mapping[str, tuple[str, int, int]], mode: int = 0o400) -> None:
    """``sys/class/powercap/<zone>/{name,energy_uj,max_energy_range_uj}``; zones: dir -> (name, uj, max)."""
    for zone, (name, energy, max_range) in zones.items():
        write(root, f"sys/class/powercap/{zone}/name", f"{name}\n")
        write(root, f"sys/class/powercap/{zone}/energy_uj", f"{energy}\n", mode=mode)
        write(root, f"sys/class/powercap/{zone}/max_energy_range_uj", f"{max_range}\n")
        write(root, f"sys/class/powercap/{zone}/enabled", "1\n")


def make_rapl_only(root: Path) -> Path:
    """A desktop where only RAPL exists: no uncore IMC, powercap zones plus an empty power PMU.

    The ``power`` PMU has no events (as in a VM that exposes the PMU but not the RAPL MSRs), so
    power must come from powercap.
    """
    add_software_pmus(root)
    add_core_pmu(root)
    add_topology(root, [range(4)])
    add_cpuinfo(root, "GenuineIntel", "Intel(R) Core(TM) i5", _BASE_INTEL_FLAGS, ncpus=4)
    add_paranoid(root, 2)
    add_filesystems(root, resctrl=False)
    add_pmu(root, "power", 9, cpumask="0", formats={"event": "config:0-7"})
    add_powercap(root, {
        "intel-rapl:0": ("package-0", 1_000_000, 262_143_328_850),
        "intel-rapl:0:0": ("core", 400_000, 262_143_328_850),
        "intel-rapl:0:1": ("uncore", 10_000, 262_143_328_850),
        "intel-rapl:0:2": ("dram", 200_000, 65_712_999_613),
        "intel-rapl:1": ("psys", 3_000_000, 262_143_328_850),
    })
    return root


def make_adl_client(root: Path, *, free_running: bool = True) -> Path:
    """Alder Lake laptop: uncore_imc_0/1 (adl_uncore_imc: format files, no events/) and, unless
    ``free_running`` is False, uncore_imc_free_running_0/1 with tgl_uncore_imc_events."""
    add_software_pmus(root)
    add_pmu(root, "cpu_core", 4, cpus="0-7")
    add_pmu(root, "cpu_atom", 10, cpus="8-15")
    add_topology(root, [range(16)])
    add_cpuinfo(root, "GenuineIntel", "12th Gen Intel(R) Core(TM) i7-1260P", _BASE_INTEL_FLAGS, ncpus=16)
    add_paranoid(root, 0)
    add_filesystems(root, resctrl=False)
    for index in range(2):
        add_pmu(root, f"uncore_imc_{index}", 20 + index, cpumask="0",
                formats={"event": "config:0-7", "chmask": "config:8-11"})
        if free_running:
            add_pmu(root, f"uncore_imc_free_running_{index}", 22 + index, cpumask="0",
                    formats={"event": "config:0-7", "umask": "config:8-15"},
                    events={"data_total": "event=0xff,umask=0x10", "data_read": "event=0xff,umask=0x20",
                            "data_write": "event=0xff,umask=0x30"},
                    scales=dict.fromkeys(("data_total", "data_read", "data_write"), UNCORE_SCALE),
                    units=dict.fromkeys(("data_total", "data_read", "data_write"), "MiB"),
                    event_newline=False)
    return root


def make_icx_old_free_running(root: Path) -> Path:
    """Ice Lake-SP on an old kernel: IMC boxes without cas_count_* and the free-running IMC with the
    pre-fix .scale 3.814697266e-6 MiB (4 B per count) on read/write."""
    _intel_server_base(root, sockets=1, cores_per_socket=32)
    for channel in range(2):
        add_pmu(root, f"uncore_imc_{channel}", 40 + channel, cpumask="0",
                formats={"event": "config:0-7", "umask": "config:8-15"},
                events={"clockticks": "event=0x00,umask=0x00"}, event_newline=False)
    add_pmu(root, "uncore_imc_free_running_0", 50, cpumask="0",
            formats={"event": "config:0-7", "umask": "config:8-15"},
            events={"dclk": "event=0xff,umask=0x10", "read": "event=0xff,umask=0x20",
                    "write": "event=0xff,umask=0x21"},
            scales={"read": "3.814697266e-6", "write": "3.814697266e-6"},
            units={"read": "MiB", "write": "MiB"}, event_newline=False)
    return root
