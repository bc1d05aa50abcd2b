"""``perfdeck doctor``: text, --json, --root, --snapshot, in-process and as a subprocess."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import doctor_trees as trees
from perfdeck.commands import doctor as command


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    command.configure(parser)
    rc = command.run(parser.parse_args(list(argv)))
    out, err = capsys.readouterr()
    return rc, out, err


def test_text_report_on_a_vm_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = trees.make_vm_no_pmu(tmp_path)
    rc, out, _ = _run(capsys, "--root", str(root))
    assert rc == 0
    assert "✗ cycles" in out and "✓ page-faults" in out
    assert "no hardware PMU: this is a virtual machine (QEMU)" in out
    assert "files only" in out and "nothing was opened" in out
    assert "Counting mode: per-process only" in out
    assert "fix: sudo sysctl kernel.perf_event_paranoid=0" in out


def test_json_keys_and_encodings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = trees.make_intel_server(tmp_path)
    rc, out, _ = _run(capsys, "--json", "--root", str(root))
    assert rc == 0
    data = json.loads(out)
    assert {"live", "root", "checked_by", "system", "counting_mode", "multiplexing", "findings",
            "families", "pmus"} <= data.keys()
    assert data["live"] is False
    events = {e["name"]: e for f in data["families"] for e in f["events"]}
    assert events["L1-dcache-load-misses"]["config"] == "0x10000"
    assert events["LLC-loads"]["config"] == "0x2"
    assert events["dTLB-load-misses"]["config"] == "0x10003"
    for event in events.values():
        assert {"pmu", "pmu_type", "type", "config", "cpus", "available", "reason", "fixes"} <= event.keys()
    assert events["cycles"]["pmu"] == "cpu" and events["cycles"]["pmu_type"] == 4
    assert len(events["cycles"]["cpus"]) == 56
    membw = next(f for f in data["families"] if f["key"] == "membw")
    assert membw["details"]  # D's bandwidth report: source, PMUs, configs, CPUs
    pmu_names = {p["name"] for p in data["pmus"]}
    assert {"cpu", "uncore_imc_0", "software"} <= pmu_names


def test_bad_root_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, "--root", str(tmp_path / "missing"))
    assert rc == 2 and "not a directory" in err and not out
    rc, _, err = _run(capsys, "--root", str(tmp_path))
    assert rc == 2 and "neither proc/ nor sys/" in err


def test_subprocess_live_and_snapshot(tmp_path: Path) -> None:
    """The real command on this machine: live JSON, then a snapshot read back with --root."""
    snap = tmp_path / "snap.tar.gz"
    result = subprocess.run([sys.executable, "-m", "perfdeck.commands.doctor", "--json", "--no-core",
                             "--snapshot", str(snap)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    live = json.loads(result.stdout)
    assert live["live"] is True and "opened" in live["checked_by"]
    software = next(f for f in live["families"] if f["key"] == "software")
    assert any(e["available"] for e in software["events"])
    import tarfile

    with tarfile.open(snap) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    again = subprocess.run([sys.executable, "-m", "perfdeck.commands.doctor", "--json", "--root",
                            str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    offline = json.loads(again.stdout)
    assert offline["live"] is False and "files only" in offline["checked_by"]
    assert [p["name"] for p in offline["pmus"]] == [p["name"] for p in live["pmus"]]
    assert offline["system"]["perf_event_paranoid"] == live["system"]["perf_event_paranoid"]


def test_through_the_perfdeck_cli(tmp_path: Path) -> None:
    from perfdeck import cli

    missing = [m for m in cli.COMMANDS.values() if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the CLI cannot load yet: missing {missing}")
    root = trees.make_amd_zen4(tmp_path)
    result = subprocess.run([sys.executable, "-m", "perfdeck", "doctor", "--root", str(root)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "✗ LLC-loads" in result.stdout and "✓ L1-dcache-load-misses" in result.stdout
