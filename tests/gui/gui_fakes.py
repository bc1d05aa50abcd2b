"""Test doubles for the GUI tests: collectors that count, raise, or pretend to be a 256-CPU box.

They implement the real ``Collector`` protocol, so the real ``SamplingEngine`` drives them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping

from perfdeck.model.collector import Collector
from perfdeck.model.series import Reading, SeriesSpec, Snapshot, Unavailable


class CountingCollector(Collector):
    """Produces ``fake.value`` = number of reads; records the threads it is called from."""

    family = "fake"
    title = "Fake"

    def __init__(self) -> None:
        self.reads = 0
        self.read_threads: set[int] = set()
        self.close_thread: int | None = None
        self.closed = False

    def specs(self) -> Mapping[str, SeriesSpec]:
        return {"fake.value": SeriesSpec("fake.value", "Fake value", "%", value_range=(0, 100))}

    def read(self, now: float) -> Reading:
        self.reads += 1
        self.read_threads.add(threading.get_ident())
        return Reading(values={"fake.value": float(self.reads)})

    def close(self) -> None:
        self.closed = True
        self.close_thread = threading.get_ident()


class RaisingCollector(Collector):
    """Raises on every read."""

    family = "broken"
    title = "Broken"

    def __init__(self) -> None:
        self.attempts = 0
        self.closed = False

    def specs(self) -> Mapping[str, SeriesSpec]:
        return {}

    def read(self, now: float) -> Reading:
        self.attempts += 1
        raise RuntimeError("sensor bus on fire")

    def close(self) -> None:
        self.closed = True


def many_cpu_snapshot(cpus: int, tick: int, missing: frozenset[int] = frozenset(),
                      timestamp: float | None = None) -> Snapshot:
    """A snapshot shaped like the cpu collector's on a ``cpus``-CPU machine.

    Core n is busy ``(n * 7 + tick * 3) % 101`` %, so rows differ and change over time; cores in
    ``missing`` have no value this tick (None), as after a CPU went offline.
    """
    specs: dict[str, SeriesSpec] = {
        "cpu.util.total": SeriesSpec("cpu.util.total", "CPU busy, all CPUs", "%", group="cpu.util",
                                     value_range=(0, 100)),
    }
    values: dict[str, float | None] = {}
    for n in range(cpus):
        sid = f"cpu.util.core{n}"
        specs[sid] = SeriesSpec(sid, f"CPU {n} busy", "%", group="cpu.util.core", value_range=(0, 100))
        values[sid] = None if n in missing else float((n * 7 + tick * 3) % 101)
    present = [v for v in values.values() if v is not None]
    values["cpu.util.total"] = sum(present) / len(present) if present else math.nan
    return Snapshot(timestamp=time.time() + tick if timestamp is None else timestamp,
                    monotonic=float(tick), values=values, specs=specs)


def sensors_unavailable_snapshot() -> Snapshot:
    return Snapshot(timestamp=time.time(), monotonic=time.monotonic(), values={}, specs={},
                    unavailable={"sensors": Unavailable("no hwmon here (test)", "load the it87 driver")})
