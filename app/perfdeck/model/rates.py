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
