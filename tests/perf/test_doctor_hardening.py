"""The doctor on broken input (issue 13 item 7): garbage is reported as such, never as a missing
kernel feature, a missing PMU or bare metal. And the snapshot error (item 16) is one plain line."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from fakes import doctor_trees as trees
from perfdeck.commands import doctor as command
from perfdeck.perf.doctor import diagnose, render_text


def _text(root: Path) -> str:
    return render_text(diagnose(root, include_core=False))


def test_garbage_paranoid_is_unknown_not_a_missing_kernel_feature(tmp_path: Path) -> None:
    root = trees.make_paranoid(tmp_path, 2)
    (root / "proc/sys/kernel/perf_event_paranoid").write_text("banana\n")
    text = _text(root)
    assert "CONFIG_PERF_EVENTS" not in text
    assert "does not exist" not in text
    assert "perf_event_paranoid holds 'banana', which is not a number" in text


def test_a_missing_paranoid_still_points_at_the_kernel(tmp_path: Path) -> None:
    root = trees.make_paranoid(tmp_path, 2)
    (root / "proc/sys/kernel/perf_event_paranoid").unlink()
    assert "CONFIG_PERF_EVENTS" in _text(root)


def test_unreadable_paranoid_says_it_could_not_be_read(tmp_path: Path) -> None:
    root = trees.make_paranoid(tmp_path, 2)
    paranoid = root / "proc/sys/kernel/perf_event_paranoid"
    paranoid.unlink()
    paranoid.mkdir()  # reading a folder fails with EISDIR even for root
    text = _text(root)
    assert "CONFIG_PERF_EVENTS" not in text and "could not be read (Is a directory)" in text


def test_a_core_pmu_with_a_garbage_type_is_named_in_the_text(tmp_path: Path) -> None:
    root = trees.make_paranoid(tmp_path, 0)
    (root / "sys/bus/event_source/devices/cpu/type").write_text("abc\n")
    report = diagnose(root, include_core=False)
    text = render_text(report)
    assert "the kernel registered no core PMU" not in text
    assert "the core PMU cpu under /sys/bus/event_source/devices could not be used" in text
    skipped = [p for p in report.to_dict()["pmus"] if p.get("skipped")]
    assert [p["name"] for p in skipped] == ["cpu"]


@pytest.mark.parametrize("damage", ["unreadable", "missing", "empty"])
def test_no_cpuinfo_gives_an_unknown_machine_never_bare_metal(tmp_path: Path, damage: str) -> None:
    root = trees.make_paranoid(tmp_path, 2)
    cpuinfo = root / "proc/cpuinfo"
    cpuinfo.unlink()
    if damage == "unreadable":
        cpuinfo.mkdir()
    elif damage == "empty":
        cpuinfo.write_text("")
    text = _text(root)
    assert "bare metal" not in text
    assert "unknown: /proc/cpuinfo" in text and "hypervisor flag cannot be checked" in text


def test_an_intact_desktop_is_still_bare_metal(tmp_path: Path) -> None:
    assert "bare metal" in _text(trees.make_paranoid(tmp_path, 2))


def test_snapshot_to_a_missing_folder_is_one_plain_line(tmp_path: Path, capsys) -> None:
    parser = argparse.ArgumentParser()
    command.configure(parser)
    target = tmp_path / "nonexistent" / "x.tgz"
    rc = command.run(parser.parse_args(["--snapshot", str(target), "--no-core"]))
    err = capsys.readouterr().err
    assert rc == 2
    assert err == f"perfdeck doctor: cannot write {target}: the folder {target.parent} does not exist\n"
    assert "Errno" not in err


def test_snapshot_to_a_folder_path_says_is_a_directory(tmp_path: Path, capsys) -> None:
    parser = argparse.ArgumentParser()
    command.configure(parser)
    rc = command.run(parser.parse_args(["--snapshot", str(tmp_path), "--no-core"]))
    err = capsys.readouterr().err
    assert rc == 2 and "Errno" not in err and err.count(str(tmp_path)) == 1
    assert os.listdir(tmp_path) == []


def test_a_huge_cpulist_is_refused_instead_of_allocating_billions() -> None:
    # Found by the property tests: a damaged snapshot's cpumask "0-4294967295" built a 4 G list.
    from perfdeck.perf.pmu import PmuError, parse_cpulist

    with pytest.raises(PmuError, match="beyond any kernel's limit"):
        parse_cpulist("0-4294967295")
    assert parse_cpulist("0-8191")[-1] == 8191
