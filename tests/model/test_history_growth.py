"""History memory grows with what it holds, in doublings up to the fixed capacity, and then stays
flat; every query answers exactly as a history allocated at full capacity from the start."""

from __future__ import annotations

import random

import numpy as np
import pytest

from perfdeck.model.history import FIRST_SLOTS, History, capacity_for


def _same_answers(grown: History, full: History, ids: list[str], latest: float) -> None:
    """Every query of ``grown`` answers exactly what ``full`` answers (NaN where NaN)."""
    assert len(grown) == len(full)
    assert grown.latest_time() == full.latest_time() and grown.oldest_time() == full.oldest_time()
    assert grown.series_ids() == full.series_ids()
    for sid in [*ids, "never.seen"]:
        assert grown.latest(sid) == full.latest(sid)
    for seconds, end in ((None, None), (3.0, None), (7.5, latest - 2.0), (0.0, latest), (None, -5.0)):
        got_times, got = grown.window([*ids, "never.seen"], seconds, end)
        want_times, want = full.window([*ids, "never.seen"], seconds, end)
        np.testing.assert_array_equal(got_times, want_times)
        for sid in want:
            assert got[sid].dtype == want[sid].dtype
            np.testing.assert_array_equal(got[sid], want[sid])  # NaN positions must agree too
    got_times, got = grown.range(ids, latest - 9.0, latest - 4.0)
    want_times, want = full.range(ids, latest - 9.0, latest - 4.0)
    np.testing.assert_array_equal(got_times, want_times)
    for sid in ids:
        np.testing.assert_array_equal(got[sid], want[sid])


def test_rings_double_up_to_the_capacity_then_memory_is_flat() -> None:
    history = History(10, dtype=np.float32, first_slots=3)
    row = 8 + 4  # one timestamp (float64) and one float32 series per slot
    allocated = []
    for t in range(35):  # three and a half laps of the full ring
        history.append(float(t), {"a": float(t)})
        allocated.append(history.nbytes // row)
    # 3 slots, then 6 when the 4th sample arrives, then 10 (not 12: never beyond the capacity).
    assert allocated[:3] == [3, 3, 3] and allocated[3:6] == [6, 6, 6] and allocated[6:] == [10] * 29
    times, values = history.window(["a"])
    assert times.tolist() == list(range(25, 35)) and values["a"].tolist() == list(range(25, 35))
    assert history.oldest_time() == 25.0 and history.latest_time() == 34.0


def test_growth_never_exceeds_the_capacity_and_small_histories_start_full() -> None:
    assert History(7, first_slots=600).nbytes == 7 * 8  # capacity below FIRST_SLOTS: all at once
    assert History(100_000).nbytes == FIRST_SLOTS * 8
    history = History(5, first_slots=4)
    for t in range(6):
        history.append(float(t), {"a": 1.0})
    assert history.nbytes == 5 * 16
    with pytest.raises(ValueError):
        History(5, first_slots=0)


def test_a_grown_history_answers_exactly_as_one_allocated_in_full() -> None:
    """Random series coming, going and missing ticks, more blocks than are kept before merging
    (``_MAX_BLOCKS``), None values, across every growth and two wraps."""
    rng = random.Random(15)
    capacity = 37
    grown, full = History(capacity, dtype=np.float32, first_slots=2), History(capacity, dtype=np.float32,
                                                                               first_slots=capacity)
    ids: list[str] = []
    for t in range(3 * capacity):
        if rng.random() < 0.3:
            ids.append(f"s{len(ids)}")  # a series that appears now, while the rings are growing
        values = {sid: (None if rng.random() < 0.1 else rng.uniform(-1e3, 1e3))
                  for sid in ids if rng.random() < 0.9}
        grown.append(float(t), values)
        full.append(float(t), values)
        _same_answers(grown, full, ids, float(t))
    assert grown.nbytes == full.nbytes  # once full, exactly the memory of the old layout


def test_series_added_just_before_and_just_after_a_growth() -> None:
    history = History(8, first_slots=2)
    history.append(0.0, {"a": 0.0})
    history.append(1.0, {"a": 1.0, "late": 10.0})  # added in the last slot before a growth
    history.append(2.0, {"a": 2.0, "later": 20.0})  # added in the growth's first new slot
    _, values = history.window(["a", "late", "later"])
    assert values["a"].tolist() == [0.0, 1.0, 2.0]
    assert np.isnan(values["late"][[0, 2]]).all() and values["late"][1] == 10.0
    assert np.isnan(values["later"][:2]).all() and values["later"][2] == 20.0
    for t in range(3, 20):  # grows to 4 and 8 slots and wraps: the late series keep their rows
        history.append(float(t), {"a": float(t), "later": 20.0 + t})
    times, values = history.window(["a", "later", "late"])
    assert times.tolist() == list(range(12, 20))
    assert values["later"].tolist() == [20.0 + t for t in range(12, 20)]
    assert np.isnan(values["late"]).all()  # it stopped reporting long before this window


def test_oldest_time_reads_one_slot() -> None:
    history = History(4)
    assert history.oldest_time() is None
    for t in range(3):
        history.append(10.0 + t, {})
    assert history.oldest_time() == 10.0
    for t in range(3, 9):
        history.append(10.0 + t, {})
    assert history.oldest_time() == 15.0 == history.window([])[0][0]


def test_one_hour_at_a_tenth_of_a_second_costs_what_it_holds() -> None:
    """The bytes docs/performance.md quotes: 150 float32 series, as the window keeps them."""
    capacity = capacity_for(3600.0, 0.1)
    history = History(capacity, dtype=np.float32)
    values = {f"s{n}": float(n) for n in range(150)}
    for t in range(700):  # 70 s
        history.append(t / 10, values)
    assert history.nbytes == 1200 * (8 + 150 * 4)  # 600 slots doubled once: 0.73 MB
    slot_bytes = 8 + 150 * 4
    assert capacity == 36_001 and capacity * slot_bytes == 21_888_608  # the whole hour, as before
