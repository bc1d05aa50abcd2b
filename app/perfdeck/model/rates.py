"""Turning cumulative counters into per-second rates."""

from __future__ import annotations


class RateTracker:
    """Per-key rates from cumulative counters.

    The first sight of a key gives ``None`` (no value, never 0). A counter that goes backwards
    (a reset, a re-plugged NIC, a wrapped 32-bit counter) also gives ``None`` for that tick and
    re-bases, because any number shown then would be invented.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}

    def rate(self, key: str, counter: float, now: float) -> float | None:
        previous = self._last.get(key)
        self._last[key] = (counter, now)
        if previous is None:
            return None
        last_counter, last_time = previous
        elapsed = now - last_time
        delta = counter - last_counter
        if elapsed <= 0 or delta < 0:
            return None
        return delta / elapsed

    def forget(self, key: str) -> None:
        self._last.pop(key, None)

    def keep_only(self, keys: set[str]) -> None:
        """Drop the state of keys that no longer exist (a vanished NIC or disk)."""
        for key in list(self._last):
            if key not in keys:
                del self._last[key]


class MonotonicTotals:
    """Keeps raw cumulative counters monotonic before they are reported in ``Reading.totals``.

    A kernel counter can step back (NO_HZ iowait accounting loses a tick, a driver resets its
    statistics). An exporter must never see a counter go lower: Prometheus would take it for a
    restart and add the whole value to ``rate()``. So a value below the last one reported is
    left out (no value that tick, never a clamped or invented one) until the counter passes the
    last reported value again. A key missing from a call (a NIC or disk that vanished) is
    forgotten, so a re-created device starts afresh.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def accept(self, totals: dict[str, float]) -> dict[str, float]:
        """``totals`` without the counters that went backwards; remembers what it let through."""
        last = self._last
        # Subscripts and ``in`` rather than ``dict.get``: thousands of counters a tick on a
        # many-CPU machine (8 per CPU), so no Python-level call per counter.
        kept = {key: value for key, value in totals.items() if key not in last or value >= last[key]}
        if len(kept) == len(totals):
            self._last = dict(kept)  # the usual tick: nothing stepped back; vanished keys go
        else:  # remember the highest value reported for every key still present
            self._last = {key: kept[key] if key in kept else last[key] for key in totals}
        return kept
