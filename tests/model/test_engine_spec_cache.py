"""The engine merges every family's specs only when one of them publishes new ones.

A family changes its specs by publishing a new read-only mapping; the engine keeps its merge
while each family hands back the very same ``MappingProxyType``. A plain dict may be edited in
place by its owner, so a tick with one among its sources is merged afresh. Whatever is cached,
each snapshot's specs and counter specs must equal the fresh merge of what the families say now.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType

from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.history import History
from perfdeck.model.registry import create_collectors
from perfdeck.model.series import CounterSpec, Reading, SeriesSpec, Snapshot


def _spec(sid: str) -> SeriesSpec:
    return SeriesSpec(sid, sid, "")


class Publishing(Collector):
    """Publishes a new read-only mapping whenever its series change (as every real family does)."""

    family = "pub"

    def __init__(self) -> None:
        self.names = ["pub.a"]
        self._published: Mapping[str, SeriesSpec] = MappingProxyType({})
        self._counters = MappingProxyType({"pub.count": CounterSpec("pub.count", "pub.count", "", "n")})
        self.publish()

    def publish(self) -> None:
        self._published = MappingProxyType({n: _spec(n) for n in self.names})

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._published

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        return self._counters

    def read(self, now: float) -> Reading:
        return Reading(values=dict.fromkeys(self.names, 1.0), totals={"pub.count": now})


class EditsInPlace(Collector):
    """Hands back one plain dict that it edits in place: must never be served a stale merge."""

    family = "edit"

    def __init__(self) -> None:
        self.live: dict[str, SeriesSpec] = {"edit.x": _spec("edit.x")}
        self.fail = False

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self.live

    def read(self, now: float) -> Reading:
        if self.fail:
            raise OSError("gone for a tick")
        return Reading(values=dict.fromkeys(self.live, 2.0))


def test_proxies_are_merged_once_and_a_new_publication_is_seen() -> None:
    pub = Publishing()
    engine = SamplingEngine([pub])
    first = engine.sample(now=1.0)
    kept = engine._specs._merged
    second = engine.sample(now=2.0)
    assert engine._specs._merged is kept, "nothing changed: the merge is reused"
    assert dict(first.specs) == dict(second.specs) == {"pub.a": _spec("pub.a")}
    # The snapshots carry the kept merge itself, read-only: no copy of every spec a tick.
    assert second.specs is kept and first.specs is kept
    assert type(kept) is MappingProxyType
    assert set(second.counter_specs) == {"pub.count"}
    pub.names.append("pub.b")
    pub.publish()
    third = engine.sample(now=3.0)
    assert set(third.specs) == {"pub.a", "pub.b"}
    assert engine._specs._merged is not kept
    pub.names.remove("pub.a")
    pub.publish()
    assert set(engine.sample(now=4.0).specs) == {"pub.b"}
    # A later merge is a new mapping: it cannot change a delivered snapshot.
    assert set(third.specs) == {"pub.a", "pub.b"}
    assert set(second.specs) == {"pub.a"}


def test_a_snapshot_copies_specs_it_is_handed_as_a_plain_dict() -> None:
    # Only a read-only proxy is kept as it is; a dict its owner may still edit is copied.
    live = {"x.a": _spec("x.a")}
    counters = {"x.n": CounterSpec("x.n", "x.n", "", "n")}
    snapshot = Snapshot(timestamp=1.0, monotonic=1.0, values={}, specs=live, counter_specs=counters)
    live["x.late"] = _spec("x.late")
    del counters["x.n"]
    assert set(snapshot.specs) == {"x.a"} and set(snapshot.counter_specs) == {"x.n"}
    assert type(snapshot.specs) is MappingProxyType
    published = MappingProxyType({"x.a": _spec("x.a")})
    assert Snapshot(timestamp=2.0, monotonic=2.0, values={}, specs=published).specs is published


def test_the_history_merges_a_kept_specs_mapping_once_and_sees_a_new_one() -> None:
    pub = Publishing()
    engine = SamplingEngine([pub])
    history = History(10)
    merges = []
    history.specs = _CountingDict(merges)
    history.append_snapshot(engine.sample(now=1.0))
    history.append_snapshot(engine.sample(now=2.0))
    history.append_snapshot(engine.sample(now=3.0))
    assert len(merges) == 1, "the same published specs three ticks running: merged once"
    pub.names.append("pub.b")
    pub.publish()
    history.append_snapshot(engine.sample(now=4.0))
    assert len(merges) == 2 and set(history.specs) == {"pub.a", "pub.b"}
    # Specs in a plain dict (a remote or replayed snapshot) are merged every time, as before.
    history.append(5.0, {"pub.a": 1.0}, {"x": _spec("x")})
    history.append(6.0, {"pub.a": 1.0}, {"x": _spec("x")})
    assert len(merges) == 4 and "x" in history.specs


class _CountingDict(dict):
    def __init__(self, merges: list[int]) -> None:
        super().__init__()
        self._merges = merges

    def update(self, *args, **kwargs) -> None:
        self._merges.append(1)
        super().update(*args, **kwargs)


def test_a_dict_edited_in_place_and_a_failing_family_are_merged_afresh() -> None:
    pub, edit = Publishing(), EditsInPlace()
    engine = SamplingEngine([pub, edit])
    assert set(engine.sample(now=1.0).specs) == {"pub.a", "edit.x"}
    edit.live["edit.y"] = _spec("edit.y")
    assert set(engine.sample(now=2.0).specs) == {"pub.a", "edit.x", "edit.y"}
    del edit.live["edit.x"]
    assert set(engine.sample(now=3.0).specs) == {"pub.a", "edit.y"}
    edit.fail = True  # a family that raises contributes no specs that tick, as before
    failed = engine.sample(now=4.0)
    assert set(failed.specs) == {"pub.a"} and "edit" in failed.failures
    edit.fail = False
    assert set(engine.sample(now=5.0).specs) == {"pub.a", "edit.y"}


def test_every_real_family_on_this_machine_matches_a_fresh_merge() -> None:
    engine = SamplingEngine(create_collectors())
    engine.set_tables_wanted(False)
    quiet_ticks = 0
    try:
        now = time.monotonic()
        published: list[object] = []
        for tick in range(10):
            now += 0.5
            before = engine._specs._merged
            snapshot = engine.sample(now=now)
            fresh_specs: dict[str, SeriesSpec] = {}
            fresh_counters: dict[str, CounterSpec] = {}
            for collector in engine._active:
                if collector.family in snapshot.failures:
                    continue
                fresh_specs.update(collector.specs())
                if any(cid in snapshot.totals for cid in collector.counter_specs()):
                    fresh_counters.update(collector.counter_specs())
            assert dict(snapshot.specs) == fresh_specs, f"tick {tick}"
            assert list(snapshot.specs) == list(fresh_specs), "same order: later families win, as before"
            assert dict(snapshot.counter_specs) == fresh_counters, f"tick {tick}"
            now_published = [c.specs() for c in engine._active]
            unchanged = len(now_published) == len(published) and all(
                a is b for a, b in zip(now_published, published, strict=True))
            if unchanged and tick >= 2:
                # No family published new specs (a cgroup reselection may, on a busy machine).
                assert engine._specs._merged is before, f"tick {tick}: merged again with nothing new"
                quiet_ticks += 1
            published = now_published
    finally:
        engine.close()
    assert quiet_ticks >= 4, "most ticks publish nothing new: the reuse was really checked"
