"""The event catalogue: exact encodings, hybrid expansion on fake sysfs trees, quirks, try-open."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from fakes.sysfs_trees import add_core_pmu, add_pmu, add_software_pmus
from perfdeck.perf import abi, derived, events
from perfdeck.perf.counters import split_into_groups

# (name, type, config) as perf encodes them (include/uapi/linux/perf_event.h; reference §2.2-2.4).
EXPECTED = {
    "cycles": (0, 0), "instructions": (0, 1), "ref-cycles": (0, 9), "branches": (0, 4),
    "branch-misses": (0, 5), "stalled-cycles-frontend": (0, 7), "stalled-cycles-backend": (0, 8),
    "L1-dcache-loads": (3, 0x0), "L1-dcache-load-misses": (3, 0x10000), "LLC-loads": (3, 0x2),
    "LLC-load-misses": (3, 0x10002), "dTLB-loads": (3, 0x3), "dTLB-load-misses": (3, 0x10003),
    "iTLB-load-misses": (3, 0x10004),
    "task-clock": (1, 1), "context-switches": (1, 3), "cpu-migrations": (1, 4), "page-faults": (1, 2),
    "minor-faults": (1, 5), "major-faults": (1, 6),
}


def test_catalogue_encodings() -> None:
    assert {e.name: (e.type, e.config) for e in events.CATALOGUE} == EXPECTED


def test_every_metric_input_is_in_the_catalogue_and_declared() -> None:
    for metric in derived.METRICS:
        for name in metric.inputs:
            assert metric.name in events.event(name).needed_by, (metric.name, name)
    for event in events.CATALOGUE:
        for metric_name in event.needed_by:
            assert event.name in derived.BY_NAME[metric_name].inputs


def test_unknown_event_lists_known() -> None:
    with pytest.raises(KeyError, match="cycles"):
        events.event("nope")


def test_quirks() -> None:
    assert "Zen" in (events.known_quirk("LLC-loads", "AuthenticAMD") or "")
    assert events.known_quirk("ref-cycles", "AuthenticAMD") is not None
    assert events.known_quirk("stalled-cycles-backend", "AuthenticAMD") is not None
    assert events.known_quirk("stalled-cycles-frontend", "GenuineIntel") is not None
    assert events.known_quirk("cycles", "AuthenticAMD") is None
    assert events.known_quirk("LLC-loads", "GenuineIntel") is None


def make_hybrid(root: Path) -> Path:
    """An Alder Lake-like tree: cpu_core (type 4, CPUs 0-15) and cpu_atom (type 8, CPUs 16-23)."""
    add_software_pmus(root)
    add_pmu(root, "cpu_core", 4, cpus="0-15", formats={"event": "config:0-7", "umask": "config:8-15"})
    add_pmu(root, "cpu_atom", 8, cpus="16-23", formats={"event": "config:0-7", "umask": "config:8-15"})
    return root


def test_core_pmus_hybrid(tmp_path: Path) -> None:
    pmus = events.core_pmus(make_hybrid(tmp_path))
    assert [(p.name, p.type, p.extended_type) for p in pmus] == [("cpu_core", 4, True), ("cpu_atom", 8, True)]
    assert pmus[0].label == "P-cores (0-15)"
    assert pmus[1].label == "E-cores (16-23)"


def test_core_pmus_plain_and_none(tmp_path: Path) -> None:
    add_software_pmus(tmp_path)
    assert events.core_pmus(tmp_path) == []  # a VM without a virtual PMU
    add_core_pmu(tmp_path)
    pmus = events.core_pmus(tmp_path)
    assert [(p.name, p.type, p.extended_type, p.label) for p in pmus] == [("cpu", 4, False, "CPU")]


def test_hybrid_per_cpu_specs_use_extended_type(tmp_path: Path) -> None:
    pmus = events.core_pmus(make_hybrid(tmp_path))
    p_core = {s.name: s for s in events.specs_for_cpu(3, pmus)}
    e_core = {s.name: s for s in events.specs_for_cpu(17, pmus)}
    # perf's own encodings: cycles on cpu_core = 0x400000000, on cpu_atom (type 8) = 0x800000000.
    assert p_core["cycles"].config == 0x400000000 and p_core["cycles"].pmu == "cpu_core"
    assert e_core["cycles"].config == 0x800000000 and e_core["cycles"].pmu == "cpu_atom"
    assert e_core["LLC-load-misses"].config == (8 << 32) | 0x10002
    assert e_core["page-faults"].config == 2 and e_core["page-faults"].pmu == ""


def test_hybrid_thread_specs_one_copy_per_pmu_never_mixed(tmp_path: Path) -> None:
    pmus = events.core_pmus(make_hybrid(tmp_path))
    specs = events.specs_for_thread(pmus)
    cycles = [s for s in specs if s.name == "cycles"]
    assert sorted(s.config for s in cycles) == [0x400000000, 0x800000000]
    assert sum(1 for s in specs if s.name == "task-clock") == 1
    for group in split_into_groups(specs, 4):
        assert len({s.pmu for s in group if not s.is_software}) <= 1
        assert len({s.name for s in group}) == len(group)


def test_plain_pmu_specs_keep_legacy_encoding(tmp_path: Path) -> None:
    add_software_pmus(tmp_path)
    add_core_pmu(tmp_path)
    pmus = events.core_pmus(tmp_path)
    specs = {s.name: s for s in events.specs_for_cpu(0, pmus)}
    assert specs["cycles"].config == 0 and specs["dTLB-load-misses"].config == 0x10003


def test_try_open_software_works_and_bogus_fails() -> None:
    assert events.try_open(events.event("page-faults").spec()) is None
    bogus = events.CatalogEvent("bogus", abi.PERF_TYPE_SOFTWARE, 99, events.SOFTWARE, "")
    err = events.try_open(bogus.spec())
    assert err is not None and err.errno == errno.ENOENT
    assert events.is_unsupported(err)


def test_probe_catalogue_matches_this_machine() -> None:
    pmus = events.core_pmus()
    results = events.probe_catalogue(pmus)
    for event in events.SOFTWARE_EVENTS:
        assert results[event.name] is None
    if not pmus:
        for event in events.HARDWARE_EVENTS:
            err = results[event.name]
            assert err is not None and err.errno == errno.ENOENT
