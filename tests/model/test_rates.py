"""RateTracker: None on first sight and on resets, exact rates otherwise."""

from __future__ import annotations

import pytest

from perfdeck.model.rates import RateTracker


def test_first_read_none_then_rate() -> None:
    rates = RateTracker()
    assert rates.rate("eth0", 1000, 10.0) is None
    assert rates.rate("eth0", 3000, 12.0) == pytest.approx(1000)
    assert rates.rate("eth0", 3000, 13.0) == 0.0  # a measured zero


def test_keys_are_independent() -> None:
    rates = RateTracker()
    rates.rate("a", 0, 0.0)
    assert rates.rate("b", 100, 1.0) is None
    assert rates.rate("a", 50, 1.0) == 50


def test_counter_going_backwards_gives_none_and_rebases() -> None:
    rates = RateTracker()
    rates.rate("c", 5000, 0.0)
    assert rates.rate("c", 10, 1.0) is None
    assert rates.rate("c", 110, 2.0) == pytest.approx(100)


def test_no_elapsed_time_gives_none() -> None:
    rates = RateTracker()
    rates.rate("c", 0, 5.0)
    assert rates.rate("c", 100, 5.0) is None
    assert rates.rate("c", 200, 4.0) is None  # clock went backwards


def test_forget_and_keep_only() -> None:
    rates = RateTracker()
    for key in ("a", "b", "c"):
        rates.rate(key, 0, 0.0)
    rates.forget("a")
    rates.keep_only({"b"})
    assert rates.rate("a", 10, 1.0) is None
    assert rates.rate("c", 10, 1.0) is None
    assert rates.rate("b", 10, 1.0) == 10
