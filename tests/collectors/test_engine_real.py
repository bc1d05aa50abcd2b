"""The core families together through the sampling engine, on this machine."""

from __future__ import annotations

import re
import time

from perfdeck.collectors.processes import ProcessRow
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.registry import create_collectors

CORE = ["cpu", "mem", "disk", "net", "sensors", "proc"]
ID = re.compile(r"^[a-z]+(\.[a-z0-9_]+)+(\.[A-Za-z0-9_-]+)?$")


def test_core_families_through_the_engine() -> None:
    engine = SamplingEngine(create_collectors(CORE))
    try:
        first = engine.sample()
        time.sleep(0.3)
        second = engine.sample(now=time.monotonic() + 2.0)  # proc is due again (min_interval 2 s)
        facts = engine.static_facts()
    finally:
        engine.close()
    assert first.failures == {} and second.failures == {}
    for snapshot in (first, second):
        # Every value and every unavailable series belongs to a spec, or names a whole family.
        for series_id in snapshot.values:
            assert series_id in snapshot.specs, series_id
        for key in snapshot.unavailable:
            assert key in snapshot.specs or key in CORE or key == "disk.io", key
    for series_id, spec in second.specs.items():
        assert ID.match(series_id), series_id
        assert spec.family in CORE
        if spec.unit == "%":
            assert spec.value_range == (0, 100), series_id
        value = second.value(series_id)
        if value is not None and spec.unit == "%":
            assert 0 <= value <= 100, (series_id, value)
    if "sensors" in second.unavailable:  # a VM: the GUI gets the reason for the whole family
        assert second.unavailable["sensors"].reason
    rows = second.tables["processes"]
    assert rows and all(isinstance(row, ProcessRow) for row in rows)
    assert facts["cpu"]["threads"]
