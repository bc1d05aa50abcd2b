"""History: numpy rings on a shared timeline, fixed memory, copies out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perfdeck.model.history import (
    DEFAULT_HISTORY_SECONDS,
    MAX_HISTORY_SECONDS,
    History,
    capacity_for,
)
from perfdeck.model.series import SeriesSpec, Snapshot


def _fill(history: History, count: int, start: int = 0) -> None:
    for t in range(start, start + count):
        history.append(float(t), {"a": float(t * 10), "b": None})


def test_wrap_around_keeps_order_and_count() -> None:
    history = History(5)
    _fill(history, 3)
    assert len(history) == 3
    times, values = history.window(["a"])
    assert times.tolist() == [0, 1, 2]
    _fill(history, 9, start=3)  # 12 samples into 5 slots: wrapped twice
    assert len(history) == 5
    times, values = history.window(["a", "b"])
    assert times.tolist() == [7, 8, 9, 10, 11]
    assert values["a"].tolist() == [70, 80, 90, 100, 110]
    assert np.isnan(values["b"]).all()  # None is stored as NaN, never 0
    assert history.latest("a") == 110
    assert history.latest("b") is None
    assert history.latest_time() == 11


def test_memory_fixed_once_full() -> None:
    history = History(100)
    _fill(history, 100)
    full = history.nbytes
    assert full == 3 * 100 * 8  # timestamps + two float64 series
    _fill(history, 1000, start=100)
    assert history.nbytes == full


def test_window_returns_copies() -> None:
    history = History(8)
    _fill(history, 4)
    times, values = history.window(["a"])
    times[:] = -1
    values["a"][:] = -1
    again_times, again = history.window(["a"])
    assert again_times.tolist() == [0, 1, 2, 3]
    assert again["a"].tolist() == [0, 10, 20, 30]


def test_series_appearing_mid_stream_is_padded_with_nan() -> None:
    history = History(6)
    history.append(0.0, {"cpu": 1.0})
    history.append(1.0, {"cpu": 2.0})
    history.append(2.0, {"cpu": 3.0, "net.rx.wlan0": 500.0}, {"net.rx.wlan0": SeriesSpec(
        "net.rx.wlan0", "wlan0 received", "B/s")})
    history.append(3.0, {"cpu": 4.0})  # wlan0 missing this tick
    _, values = history.window(["net.rx.wlan0", "never.seen"])
    new = values["net.rx.wlan0"]
    assert math.isnan(new[0]) and math.isnan(new[1]) and new[2] == 500 and math.isnan(new[3])
    assert np.isnan(values["never.seen"]).all() and len(values["never.seen"]) == 4
    assert "net.rx.wlan0" in history.specs


def test_series_appearing_after_wrap_has_no_stale_data() -> None:
    history = History(3)
    _fill(history, 5)
    history.append(5.0, {"late": 1.0})
    _, values = history.window(["late"])
    assert np.isnan(values["late"][:2]).all() and values["late"][2] == 1.0


def test_window_seconds_end_and_range() -> None:
    history = History(100)
    _fill(history, 50)
    times, values = history.window(["a"], seconds=5)
    assert times.tolist() == [44, 45, 46, 47, 48, 49]
    times, _ = history.window(["a"], seconds=2, end=20)
    assert times.tolist() == [18, 19, 20]
    times, values = history.range(["a"], 10, 12)
    assert times.tolist() == [10, 11, 12]
    assert values["a"].tolist() == [100, 110, 120]


def test_empty_history() -> None:
    history = History(4)
    times, values = history.window(["a"])
    assert len(times) == 0 and len(values["a"]) == 0
    assert history.latest("a") is None and history.latest_time() is None


def test_append_snapshot() -> None:
    history = History(4)
    spec = SeriesSpec("mem.used", "Used", "B")
    history.append_snapshot(Snapshot(timestamp=5.0, monotonic=1.0, values={"mem.used": 7.0},
                                     specs={"mem.used": spec}))
    assert history.latest("mem.used") == 7.0
    assert history.specs["mem.used"] is spec


def test_capacity_for() -> None:
    assert DEFAULT_HISTORY_SECONDS == 3600
    assert capacity_for(DEFAULT_HISTORY_SECONDS, 1.0) == 3601  # one hour at 1 s, both ends included
    assert capacity_for(48 * 3600, 1.0) == capacity_for(MAX_HISTORY_SECONDS, 1.0) == 86_401
    assert capacity_for(60, 0.5) == 121
    assert capacity_for(0.1, 10) == 2  # never fewer than two samples
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="sampling interval"):
            capacity_for(3600, bad)


def test_capacity_below_two_rejected() -> None:
    with pytest.raises(ValueError):
        History(1)


def test_float32_history_halves_memory_and_keeps_nan_gaps() -> None:
    wide, narrow = History(100), History(100, dtype=np.float32)
    for t in range(150):
        values = {"a": float(t), "b": None if t % 2 else 1.5}
        wide.append(float(t), values)
        narrow.append(float(t), values)
    assert narrow.nbytes - narrow._times.nbytes == (wide.nbytes - wide._times.nbytes) // 2
    _, got = narrow.window(["a", "b", "missing"])
    assert got["a"].dtype == np.float32 and got["a"][-1] == 149.0
    assert np.isnan(got["b"][-1]) and got["b"][-2] == 1.5
    assert got["missing"].dtype == np.float32 and np.isnan(got["missing"]).all()


def test_series_trickling_in_one_per_tick_keep_their_data_across_block_merges() -> None:
    """Each tick adds a series (more ticks than blocks are kept before merging them)."""
    history = History(50, dtype=np.float32)
    for t in range(40):
        history.append(float(t), {f"s{n}": float(100 * n + t) for n in range(t + 1)})
    assert history.series_ids() == [f"s{n}" for n in range(40)]
    assert history.nbytes == 50 * 8 + 40 * 50 * 4  # exactly one row per series, no spare rows
    times, values = history.window(["s0", "s17", "s39"])
    assert times.tolist() == list(range(40))
    assert values["s0"].tolist() == list(range(40))
    assert np.isnan(values["s17"][:17]).all() and values["s17"][17:].tolist() == [
        1700.0 + t for t in range(17, 40)]
    assert history.latest("s39") == 3939.0
    history.append(40.0, {"s5": None})  # every other series missing this tick: NaN, not 0
    assert history.latest("s5") is None and history.latest("s39") is None
    assert history.window(["s0"])[1]["s0"][-2] == 39.0


def test_window_matches_a_plain_list_model_at_every_fill_and_wrap() -> None:
    """window()/range() against the obvious list implementation, across wraps and bounds."""
    capacity = 7
    history = History(capacity)
    kept: list[tuple[float, float]] = []  # (time, value) of the samples still held
    for t in range(25):
        history.append(float(t), {"a": t * 1.5})
        kept = [*kept, (float(t), t * 1.5)][-capacity:]
        for seconds in (None, 0.0, 2.0, 3.5, 100.0):
            for end in (None, -1.0, kept[0][0], t - 2.5, float(t), t + 10.0):
                right_edge = end if end is not None else float("inf")
                held = [s for s in kept if s[0] <= right_edge]
                if seconds is not None:
                    right = held[-1][0] if held else kept[-1][0]
                    held = [s for s in held if s[0] >= right - seconds]
                times, values = history.window(["a", "none"], seconds, end)
                assert times.tolist() == [s[0] for s in held], (t, seconds, end)
                assert values["a"].tolist() == [s[1] for s in held]
                assert len(values["none"]) == len(held) and np.isnan(values["none"]).all()
        times, _ = history.range(["a"], t - 3.0, t - 1.0)
        assert times.tolist() == [s[0] for s in kept if t - 3.0 <= s[0] <= t - 1.0]


def test_recent_is_the_newest_finite_value_within_the_age_as_a_window_finds_it() -> None:
    """``recent`` walks back from the newest slot; it must agree with filtering a window copy,
    across gaps, a wrapped ring, unknown series and ages that end exactly on a sample."""
    rng = np.random.default_rng(7)
    history = History(50)
    for tick in range(130):  # wraps twice
        value = None if rng.random() < 0.7 else float(tick)  # a slow family: mostly NaN
        history.append(1000.0 + tick, {"slow": value, "fast": float(tick)})
        for age in (0.0, 1.0, 3.0, 10.0, 100.0):
            _times, values = history.window(["slow"], age)
            finite = values["slow"][np.isfinite(values["slow"])]
            expected = float(finite[-1]) if len(finite) else None
            assert history.recent("slow", age) == expected, (tick, age)
    assert history.recent("fast", 0.0) == 129.0
    assert history.recent("missing", 10.0) is None
    assert History(10).recent("slow", 10.0) is None
