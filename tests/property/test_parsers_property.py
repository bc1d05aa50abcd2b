"""Property-based tests (hypothesis) on the three parsers that read what users and machines hand
PerfDeck: the CSV loader, the settings parser and the sysfs PMU parser. Whatever the input, each
either returns a result or raises its one documented exception: ``CsvFormatError`` (loader),
nothing at all (settings: bad values fall back to defaults, with a note), nothing at all
(``scan_pmus``: a bad PMU is skipped with its reason; encoding raises only ``PmuError``).

The default run tries a few hundred inputs of each. ``test_ten_thousand_sysfs_trees`` (marked
``slow``; the default ``pytest`` run, and so CI, includes it) generates 10,000 PMU trees.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from perfdeck.model.csvformat import CsvFormatError, format_row, header_line
from perfdeck.model.recording_file import Recording, load_recording
from perfdeck.model.settings import (
    ALERT_FIELDS,
    FIELDS,
    MAX_PROBLEM_CHARS,
    V0_KEYS,
    VERSION_KEY,
    from_mapping,
    validate,
)
from perfdeck.perf.doctor import diagnose, render_text
from perfdeck.perf.pmu import DEVICES_DIR, PmuError, scan_pmus

# No example database in the checkout, no per-example deadline (this machine is shared and slow).
COMMON = {"deadline": None, "database": None,
          "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


# Memory-backed when the machine has it: 10,000 trees are about 200,000 small files.
SCRATCH_BASE = "/dev/shm" if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else None


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory per example (pytest's tmp_path is shared by all examples of a test)."""
    path = Path(tempfile.mkdtemp(prefix="perfdeck-prop-", dir=SCRATCH_BASE))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- the CSV loader -------------------------------------------------------------------------------
SERIES = ["cpu.util.total", "mem.used", "net.rx.eth0", "sensors.temp.k10temp_Tctl"]
UNITS = ["%", "B", "B/s", "°C", ""]

number_cells = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: format(v, ".12g")),
    st.integers(-10**15, 10**15).map(str),
    st.just(""),
)
hostile_cells = st.one_of(
    number_cells,
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "-1e999", " ", "1_000", "0x10", "1,5",
                     '"3"', '"unterminated', "\u0663", "１", "1e", "--1", "+", "."]),
    st.text(max_size=12),
)
time_cells = st.one_of(
    st.integers(1_700_000_000_000, 1_900_000_000_000).map(
        lambda ms: format_row(ms / 1000, 0.0, []).split(",")[0]),
    st.sampled_from(["2026-11-18T11:06:40", "yesterday", "", "2026-13-40T99:99:99+00:00",
                     "2026-11-18 11:06:40+05:30"]),
)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """Files that look like PerfDeck CSV, damaged in every way hypothesis finds."""
    width = draw(st.integers(0, 4))
    columns = [f"{SERIES[i]} [{draw(st.sampled_from(UNITS))}]" for i in range(width)]
    header = ["time", "elapsed_s", *columns]
    if draw(st.booleans()):
        header = draw(st.lists(st.sampled_from(["time", "elapsed_s", "", *columns, "x [y", "a,b"]),
                               max_size=6)) if draw(st.booleans()) else ["", *header]
    lines = [",".join(header)]
    elapsed = 0.0
    for _ in range(draw(st.integers(0, 6))):
        elapsed += draw(st.sampled_from([0.0, 0.5, 1.0, -1.0]))
        cells = [draw(time_cells), draw(st.sampled_from([f"{elapsed:.3f}", "", "nan", "x"]))]
        cells += [draw(hostile_cells) for _ in range(width + draw(st.sampled_from([0, 0, 0, -1, 1])))]
        lines.append(",".join(cells))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(lines) + draw(st.sampled_from([end, "", end + end]))
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = draw(st.sampled_from([b"\xef\xbb\xbf", b""])) + data
    if draw(st.integers(0, 9)) == 0:  # some binary damage
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data


@settings(max_examples=400, **COMMON)
@given(data=csv_files())
def test_the_loader_returns_a_recording_or_raises_csv_format_error(data: bytes) -> None:
    with scratch() as folder:
        path = folder / "run.csv"
        path.write_bytes(data)
        try:
            recording = load_recording(path)
        except CsvFormatError as exc:
            assert str(exc) and len(str(exc)) < 2000
            return
        assert isinstance(recording, Recording)
        for values in recording.values.values():
            assert not any(math.isinf(v) for v in values)  # the format never holds infinities
            assert len(values) == len(recording)
        assert all(b >= a for a, b in zip(recording.elapsed, recording.elapsed[1:], strict=False))


@settings(max_examples=200, **COMMON)
@given(rows=st.lists(st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False,
                                                                    min_value=-1e300, max_value=1e300)),
                              min_size=3, max_size=3), min_size=1, max_size=20))
def test_written_rows_load_back_to_twelve_significant_digits(rows: list[list[float | None]]) -> None:
    from perfdeck.model.csvformat import Column

    columns = [Column("a.b", "%"), Column("c.d", "B"), Column("e.f", "")]
    with scratch() as folder:
        path = folder / "ok.csv"
        body = "".join(format_row(1.8e9 + i, float(i), row) for i, row in enumerate(rows))
        text = header_line(columns) + body
        path.write_text(text, encoding="utf-8")
        recording = load_recording(path)
        assert len(recording) == len(rows)
        for index, row in enumerate(rows):
            for column, value in zip(columns, row, strict=True):
                got = recording.values[column.series_id][index]
                if value is None:
                    assert math.isnan(got)
                else:
                    assert got == pytest.approx(value, rel=1e-11, abs=1e-300)


# --- the settings parser --------------------------------------------------------------------------
known_keys = [VERSION_KEY, *(f.key for f in FIELDS), *V0_KEYS, "alerts/size",
              *(f"alerts/{i}/{name}" for i in (0, 1, 2, 101) for name in ALERT_FIELDS)]
raw_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["1", "0", "-1", "0.5", "1e400", "nan", "inf", "true", "no", "dark", "cpu.util.total",
                     "sensors.temp.*", "/tmp", "perf,membw", "above", "below", "100", "99999"]),
    st.lists(st.text(max_size=8), max_size=3),
    st.integers(-10**6, 10**6),
    st.just("x" * 100_000),
)


@settings(max_examples=500, **COMMON)
@given(raw=st.dictionaries(st.one_of(st.sampled_from(known_keys), st.text(max_size=20)), raw_values,
                           max_size=25))
def test_the_settings_parser_never_raises_and_always_gives_valid_settings(raw: dict) -> None:
    result = from_mapping(raw)
    assert validate(result.settings) == []
    assert all(len(p) <= MAX_PROBLEM_CHARS for p in result.problems)
    assert "\n" not in result.note


# --- the sysfs PMU parser -------------------------------------------------------------------------
pmu_names = st.one_of(
    st.sampled_from(["cpu", "cpu_core", "cpu_atom", "armv8_pmuv3_0", "uncore_imc_0",
                     "uncore_imc_free_running_0", "amd_df", "amd_umc_0", "power", "msr", "software",
                     "tracepoint", "breakpoint"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12),
)
small_ints = st.integers(-3, 2**33).map(str)
file_text = st.one_of(
    small_ints,
    st.sampled_from(["", "\n", "0x10", "abc", "4\n", " 8 ", "99999999999999999999999", "-1"]),
    st.text(max_size=30),
)
cpulists = st.one_of(
    st.lists(st.integers(0, 300), max_size=6).map(lambda cpus: ",".join(map(str, cpus))),
    st.tuples(st.integers(0, 300), st.integers(0, 300)).map(lambda r: f"{r[0]}-{r[1]}"),
    st.sampled_from(["ff", "0-4294967295", "3-1", "0,,1", "0-", "", "\n"]),
    st.text(max_size=12),
)
format_specs = st.one_of(
    st.tuples(st.sampled_from(["config", "config1", "config2", "config3", "config9", "conf"]),
              st.lists(st.tuples(st.integers(0, 70), st.integers(0, 70)), min_size=1, max_size=3))
    .map(lambda t: f"{t[0]}:" + ",".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in t[1])),
    st.text(max_size=20),
)
valid_formats = st.tuples(st.sampled_from(["config", "config1", "config2"]), st.integers(0, 56),
                          st.integers(0, 7)).map(lambda t: f"{t[0]}:{t[1]}-{t[1] + t[2]}\n".encode())
event_specs = st.one_of(
    st.dictionaries(st.sampled_from(["event", "umask", "inv", "edge", "cmask", "period", "any", "nope"]),
                    st.one_of(st.integers(0, 255).map(hex), st.integers(0, 2**65).map(hex), st.just("?"),
                              st.just(""), st.text(max_size=5)),
                    min_size=1, max_size=4)
    .map(lambda terms: ",".join(f"{k}={v}" if v else k for k, v in terms.items())),
    st.text(max_size=30),
)
nodes = st.one_of(st.none(), file_text.map(str.encode), st.binary(max_size=16), st.just("dir"))
# Mostly well-formed, so the parsing paths after the type (cpus, formats, events, encoding) get
# exercised too, not only the early refusals.
valid_types = st.integers(0, 2**31).map(lambda n: f"{n}\n".encode())
valid_cpulists = st.lists(st.integers(0, 300), min_size=1, max_size=6).map(
    lambda cpus: ",".join(map(str, sorted(set(cpus)))).encode())


TERMS = ["event", "umask", "inv", "edge", "cmask", "any"]
EVENT_NAMES = ["cycles", "instructions", "cas_count_read", "data_read", "energy-pkg", "cycles.scale",
               "energy-pkg.scale", "energy-pkg.unit", "x.per-pkg"]


@st.composite
def pmu_trees(draw: st.DrawFn) -> dict[str, dict]:
    """name -> {"type", "cpumask", "cpus", "format": {term: spec}, "events": {name: spec}}.

    A quarter of the PMUs are well formed everywhere (so the format, event and encoding paths run,
    not only the early refusals); the rest take any damage, in any file."""
    tree = {}
    for name in draw(st.lists(pmu_names, max_size=5, unique=True)):
        if draw(st.integers(0, 3)) == 0:
            formats = draw(st.dictionaries(st.sampled_from(TERMS), valid_formats, min_size=1, max_size=5))
            events = draw(st.dictionaries(
                st.sampled_from(EVENT_NAMES[:5]),
                st.dictionaries(st.sampled_from([*formats, "config", "nope"]),
                                st.one_of(st.integers(0, 300).map(hex), st.just("?")), min_size=1, max_size=3)
                .map(lambda terms: ",".join(f"{k}={v}" for k, v in terms.items()).encode()), max_size=4))
            tree[name] = {"type": draw(valid_types), "cpumask": draw(st.one_of(st.none(), valid_cpulists)),
                          "cpus": None, "format": formats, "events": events}
            continue
        tree[name] = {
            "type": draw(st.one_of(valid_types, nodes)),
            "cpumask": draw(st.one_of(st.none(), valid_cpulists, cpulists.map(str.encode), st.just("dir"))),
            "cpus": draw(st.one_of(st.none(), cpulists.map(str.encode))),
            "format": draw(st.one_of(st.none(), st.just("file"), st.dictionaries(
                st.sampled_from(TERMS),
                st.one_of(valid_formats, format_specs.map(str.encode), st.just("dir")), max_size=5))),
            "events": draw(st.one_of(st.none(), st.just("file"), st.dictionaries(
                st.sampled_from(EVENT_NAMES),
                st.one_of(event_specs.map(str.encode), st.binary(max_size=8), st.just("dir")), max_size=5))),
        }
    return tree


def _write_node(path: Path, node: object) -> None:
    if node is None:
        return
    if node == "dir":
        path.mkdir(parents=True, exist_ok=True)
    elif node == "file":
        path.write_bytes(b"not a folder\n")
    else:
        assert isinstance(node, bytes)
        path.write_bytes(node)


def write_tree(root: Path, tree: dict[str, dict]) -> Path:
    devices = root / DEVICES_DIR
    devices.mkdir(parents=True)
    for name, parts in tree.items():
        pmu = devices / name
        pmu.mkdir()
        for leaf in ("type", "cpumask", "cpus"):
            _write_node(pmu / leaf, parts[leaf])
        for folder in ("format", "events"):
            content = parts[folder]
            if isinstance(content, dict):
                (pmu / folder).mkdir()
                for entry, node in content.items():
                    _write_node(pmu / folder / entry, node)
            else:
                _write_node(pmu / folder, content)
    return root


def check_scan(root: Path, tree: dict[str, dict]) -> None:
    scan = scan_pmus(root)  # never raises: bad PMUs are skipped with a reason
    assert set(scan.pmus) | set(scan.skipped) == set(tree)
    assert not set(scan.pmus) & set(scan.skipped)
    assert all(reason for reason in scan.skipped.values())
    for pmu in scan.pmus.values():
        for event in pmu.events:
            try:
                params = {t: 1 for t, v in pmu.events[event].terms.items() if v == "?"}
                encoded = pmu.encode_event(event, **params)
            except PmuError:
                continue
            assert all(0 <= word < 2**64 for word in (encoded.config, encoded.config1, encoded.config2))


@settings(max_examples=300, **COMMON)
@given(tree=pmu_trees())
def test_any_sysfs_tree_is_scanned_without_an_exception(tree: dict[str, dict]) -> None:
    with scratch() as root:
        check_scan(write_tree(root, tree), tree)


@settings(max_examples=60, **COMMON)
@given(tree=pmu_trees(), paranoid=st.one_of(st.none(), file_text.map(str.encode)),
       cpuinfo=st.one_of(st.none(), st.binary(max_size=40),
                         st.just(b"processor\t: 0\nflags\t: hypervisor\n")))
@example(tree={}, paranoid=b"-1", cpuinfo=b"\x80")  # found once: a cpuinfo that is not UTF-8
def test_the_doctor_judges_any_tree_without_an_exception(tree: dict[str, dict], paranoid: bytes | None,
                                                         cpuinfo: bytes | None) -> None:
    with scratch() as root:
        write_tree(root, tree)
        (root / "proc/sys/kernel").mkdir(parents=True)
        _write_node(root / "proc/sys/kernel/perf_event_paranoid", paranoid)
        _write_node(root / "proc/cpuinfo", cpuinfo)
        report = diagnose(root, include_core=False)
        assert render_text(report)
        assert report.to_dict()


TREES_PER_EXAMPLE = 10


@pytest.mark.slow
@settings(max_examples=10_000 // TREES_PER_EXAMPLE, **COMMON)
@given(trees=st.lists(pmu_trees(), min_size=TREES_PER_EXAMPLE, max_size=TREES_PER_EXAMPLE))
def test_ten_thousand_sysfs_trees(trees: list[dict[str, dict]]) -> None:
    """10,000 generated trees: 1,000 examples of 10 (fewer examples keep hypothesis' own
    bookkeeping, not the parser, from dominating the run)."""
    with scratch() as base:
        for index, tree in enumerate(trees):
            root = base / str(index)
            check_scan(write_tree(root, tree), tree)
