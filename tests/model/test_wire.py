"""Snapshots through JSON and back: what the agent serves is what the window draws."""

from __future__ import annotations

import json
import math

import pytest

from perfdeck.collectors.processes import ProcessRow
from perfdeck.model import wire
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.registry import create_collectors
from perfdeck.model.series import CounterSpec, Kind, SeriesSpec, Snapshot, Unavailable


def _snapshot(tick: int) -> Snapshot:
    specs = {
        "cpu.util.core3": SeriesSpec("cpu.util.core3", "CPU 3 busy", "%", group="cpu.util.core",
                                     value_range=(0.0, 100.0), metric="cpu.util.core",
                                     labels=(("cpu", "3"),)),
        "net.rx.eth0": SeriesSpec("net.rx.eth0", "eth0 received", "B/s", Kind.RATE, group="net.rx"),
    }
    row = ProcessRow(pid=42, name="python3", user="root", cpu_percent=12.5, rss=4096, threads=2,
                     status="running", cmdline=("python3", "-c", "pass"), create_time=1.5, ppid=1)
    return Snapshot(timestamp=1000.0 + tick, monotonic=10.0 + tick,
                    values={"cpu.util.core3": 12.5 * tick,
                            "net.rx.eth0": None if tick == 0 else float("nan")},
                    specs=specs, unavailable={"perf": Unavailable("no hardware PMU", "give the VM a PMU")},
                    tables={"processes": (row,), "membw": {"source": None, "notes": ["x"]}},
                    failures={"sensors": "OSError: boom"} if tick == 1 else {},
                    totals={"cpu.seconds.core3.user": 3.25 + tick},
                    counter_specs={"cpu.seconds.core3.user": CounterSpec(
                        "cpu.seconds.core3.user", "cpu.seconds", "s", "CPU time",
                        (("cpu", "3"), ("mode", "user")))})


def _families() -> dict:
    return {"cpu": {"title": "CPU", "available": True},
            "perf": {"title": "Hardware counters", "available": False, "reason": "no hardware PMU",
                     "fix": ""}}


def test_round_trip_keeps_values_specs_tables_and_totals() -> None:
    entries = [(7, _snapshot(0)), (8, _snapshot(1))]
    doc = wire.encode_document(entries, host="db-7", version="9.9", interval=1.0, specs_generation=3,
                               include_specs=True, families=_families())
    text = json.dumps(doc, allow_nan=False)  # strict JSON: a NaN would raise here
    pairs, specs, counters = wire.decode_document(json.loads(text), {})
    assert [seq for seq, _ in pairs] == [7, 8]
    first, second = pairs[0][1], pairs[1][1]
    assert first.specs == entries[0][1].specs
    assert first.value("cpu.util.core3") == 0.0 and second.value("cpu.util.core3") == 12.5
    assert first.value("net.rx.eth0") is None and second.value("net.rx.eth0") is None
    assert second.unavailable["perf"] == Unavailable("no hardware PMU", "give the VM a PMU")
    assert second.failures == {"sensors": "OSError: boom"} and not first.failures
    assert second.totals == {"cpu.seconds.core3.user": 4.25}
    assert counters["cpu.seconds.core3.user"].labels == (("cpu", "3"), ("mode", "user"))
    # Tables travel once, with the newest snapshot, and rows come back as the real class.
    assert not first.tables
    (row,) = second.tables["processes"]
    assert isinstance(row, ProcessRow) and row.cmdline == ("python3", "-c", "pass") and row.command
    assert second.tables["membw"] == {"source": None, "notes": ["x"]}
    assert specs["cpu.util.core3"].labels == (("cpu", "3"),)


def test_specs_travel_only_when_asked_and_the_client_keeps_its_own() -> None:
    held = dict(_snapshot(0).specs)
    doc = wire.encode_document([(9, _snapshot(2))], host="h", version="v", interval=1.0, specs_generation=3,
                               include_specs=False, families=_families())
    assert "specs" not in doc
    pairs, specs, _ = wire.decode_document(doc, held)
    assert specs == held and pairs[0][1].specs == held


def test_unknown_row_types_never_build_arbitrary_classes() -> None:
    doc = {"format": wire.FORMAT, "snapshots": [{"seq": 1, "timestamp": 1.0, "monotonic": 1.0, "values": {}}],
           "tables": {"evil": {"__row__": "Popen", "fields": ["args"], "rows": [[["rm", "-rf", "/"]]]}}}
    pairs, _, _ = wire.decode_document(doc, {})
    (row,) = pairs[0][1].tables["evil"]
    assert type(row).__name__ == "SimpleNamespace" and row.args == ("rm", "-rf", "/")


@pytest.mark.parametrize("doc", [None, [], {"format": "something-else"}, {"format": wire.FORMAT, "specs": 5},
                                 {"format": wire.FORMAT, "snapshots": [{"seq": 1, "values": {}}]}])
def test_malformed_documents_raise_one_clear_error(doc: object) -> None:
    with pytest.raises(wire.WireFormatError):
        wire.decode_document(doc, {})


def test_a_real_engine_tick_survives_strict_json() -> None:
    engine = SamplingEngine(create_collectors(["cpu", "mem", "proc"]))
    try:
        engine.sample()
        snap = engine.sample()
    finally:
        engine.close()
    doc = wire.encode_document([(1, snap)], host="h", version="v", interval=1.0, specs_generation=1,
                               include_specs=True, families={})
    (pair,), specs, _ = wire.decode_document(json.loads(json.dumps(doc, allow_nan=False)), {})
    back = pair[1]
    assert set(specs) == set(snap.specs)
    for sid, value in snap.values.items():
        if value is None or not math.isfinite(value):
            assert back.value(sid) is None
        else:
            assert back.value(sid) == pytest.approx(value)
    assert len(back.tables["processes"]) == len(snap.tables["processes"])
