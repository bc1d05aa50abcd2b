"""The environment probe on fake machines and on this machine's real /proc and /sys."""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

from fakes import doctor_trees as trees
from fakes.sysfs_trees import write
from perfdeck.perf.system import (
    CAP_PERFMON,
    CAP_SYS_ADMIN,
    is_core_pmu,
    parse_cap_mask,
    probe,
    read_cpuinfo,
    write_snapshot,
)


def test_capability_mask_parsing() -> None:
    assert parse_cap_mask("0000004000000000") == 1 << CAP_PERFMON
    assert parse_cap_mask("000001ffffffffff") >> CAP_SYS_ADMIN & 1
    assert parse_cap_mask("zz") is None and parse_cap_mask(None) is None


def test_core_pmu_names() -> None:
    for name in ("cpu", "cpu_core", "cpu_atom", "armv8_pmuv3_0", "armv8_cortex_a72"):
        assert is_core_pmu(name), name
    for name in ("software", "msr", "power", "uncore_imc_0", "amd_umc_3", "cpu_foo"):
        assert not is_core_pmu(name), name


def test_hybrid_probe(tmp_path: Path) -> None:
    sp = probe(trees.make_intel_hybrid(tmp_path))
    assert not sp.live
    assert [p.name for p in sp.core_pmus] == ["cpu_atom", "cpu_core"] and sp.hybrid
    assert sp.cpus_of(sp.pmus["cpu_atom"]) == tuple(range(16, 32))
    assert sp.paranoid == 2 and sp.euid == 1000 and not sp.perfmon_capable
    assert sp.nofile_soft is None  # not knowable from files
    assert sp.cpu.is_intel and sp.cpu.family == 6 and sp.cpu.model == 183
    assert sp.virt.vm is None and sp.virt.container is None
    assert sp.online_cpus == tuple(range(32))
    assert sp.fds_needed(10) == 320


def test_vm_and_container_detection(tmp_path: Path) -> None:
    sp = probe(trees.make_vm_no_pmu(tmp_path))
    assert sp.virt.vm == "QEMU" and not sp.core_pmus
    assert any("hypervisor" in e for e in sp.virt.vm_evidence)
    docker = probe(trees.make_docker_on_host(tmp_path / "docker"))
    assert docker.virt.container == "Docker" and docker.seccomp == 2
    assert len(docker.virt.container_evidence) == 2


def test_surface_laptop_is_not_hyper_v(tmp_path: Path) -> None:
    root = trees.make_intel_desktop(tmp_path, paranoid=2)
    trees.add_dmi(root, "Microsoft Corporation", "Surface Laptop 5")
    assert probe(root).virt.vm is None
    trees.add_dmi(root, "Microsoft Corporation", "Virtual Machine")
    assert probe(root).virt.vm == "Hyper-V"


def test_zen_generation_from_family_and_model(tmp_path: Path) -> None:
    cases = {(0x17, 0x01): 1, (0x17, 0x31): 2, (0x19, 0x01): 3, (0x19, 0x11): 4, (0x19, 0x61): 4,
             (0x19, 0x21): 3, (0x1A, 0x02): 5}
    for (family, model), zen in cases.items():
        trees.add_full_cpuinfo(tmp_path, "AuthenticAMD", "AMD", family, model, (), 1)
        assert read_cpuinfo(tmp_path).amd_zen_generation == zen, (family, model)
    trees.add_full_cpuinfo(tmp_path, "GenuineIntel", "Intel", 6, 85, (), 1)
    assert read_cpuinfo(tmp_path).amd_zen_generation is None


def test_missing_files_are_unknown_not_guessed(tmp_path: Path) -> None:
    sp = probe(tmp_path)  # an empty tree
    assert sp.paranoid is None and sp.cap_eff is None and sp.nmi_watchdog is None
    assert sp.pmus == {} and sp.online_cpus == () and sp.cpu.vendor == ""


def test_online_cpus_fall_back_to_cpuinfo(tmp_path: Path) -> None:
    trees.add_full_cpuinfo(tmp_path, "GenuineIntel", "Intel", 6, 85, (), 3)
    assert probe(tmp_path).online_cpus == (0, 1, 2)
    write(tmp_path, "sys/devices/system/cpu/online", "garbage\n")
    assert probe(tmp_path).online_cpus == (0, 1, 2)


def test_live_probe_matches_the_machine() -> None:
    sp = probe()
    assert sp.live
    assert sp.paranoid == int(Path("/proc/sys/kernel/perf_event_paranoid").read_text())
    assert sp.euid == os.geteuid()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert sp.nofile_soft == (None if soft == resource.RLIM_INFINITY else soft)
    assert sp.nofile_hard == (None if hard == resource.RLIM_INFINITY else hard)
    assert "software" in sp.pmus and sp.pmus["software"].type == 1
    assert len(sp.online_cpus) == os.cpu_count()


def test_snapshot_round_trip(tmp_path: Path) -> None:
    source = trees.make_intel_hybrid(tmp_path / "machine")
    out = tmp_path / "snap.tar.gz"
    count = write_snapshot(out, source)
    assert count > 40
    import tarfile

    extracted = tmp_path / "extracted"
    with tarfile.open(out) as tar:
        tar.extractall(extracted, filter="data")
    original, copy = probe(source), probe(extracted)
    assert copy.pmus.keys() == original.pmus.keys()
    assert copy.pmus["cpu_atom"].cpus == original.pmus["cpu_atom"].cpus
    assert (copy.paranoid, copy.euid, copy.cpu, copy.online_cpus) == (
        original.paranoid, original.euid, original.cpu, original.online_cpus)


def test_live_snapshot_captures_the_real_pmus(tmp_path: Path) -> None:
    out = tmp_path / "live.tar.gz"
    write_snapshot(out)
    import tarfile

    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path / "x", filter="data")
    assert "proc/sys/kernel/perf_event_paranoid" in names
    assert "sys/bus/event_source/devices/software/type" in names
    assert probe(tmp_path / "x").pmus.keys() == probe().pmus.keys()


def test_a_fifo_in_a_snapshot_is_not_read_and_never_blocks(tmp_path: Path) -> None:
    """tar run as root extracts FIFOs; the doctor must treat one as unreadable, not wait on it."""
    from perfdeck.perf.system import probe

    paranoid = tmp_path / "proc/sys/kernel/perf_event_paranoid"
    paranoid.parent.mkdir(parents=True)
    os.mkfifo(paranoid)  # a plain open() for reading would block here until a writer came
    (tmp_path / "proc/cpuinfo").write_text("processor\t: 0\nvendor_id\t: GenuineIntel\n")
    results: list = []
    worker = threading.Thread(target=lambda: results.append(probe(tmp_path)), daemon=True)
    worker.start()
    worker.join(30)  # a blocking open never returns: fail, don't hang the suite
    assert results, "probe() blocked on a FIFO"
    assert results[0].paranoid is None
