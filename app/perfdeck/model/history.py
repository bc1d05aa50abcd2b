"""Fixed-memory history: one numpy ring buffer per series on a shared timeline.

Every series has a slot for every tick (NaN where it had no value), so all series share one
timestamp ring and a window query is a single pair of index computations. Memory is allocated
once per series at its first appearance and never grows after that.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from perfdeck.model.series import SeriesSpec, Snapshot

DEFAULT_HISTORY_SECONDS = 3600.0
MAX_HISTORY_SECONDS = 24 * 3600.0
MIN_INTERVAL_SECONDS = 0.1
MAX_INTERVAL_SECONDS = 10.0


def capacity_for(history_seconds: float, interval_seconds: float) -> int:
    """Number of slots needed to keep ``history_seconds`` at ``interval_seconds``.

    The history is capped at ``MAX_HISTORY_SECONDS`` (24 h) and is never shorter than one interval.
    """
    if not interval_seconds > 0:  # also rejects NaN
        raise ValueError(f"sampling interval must be a positive number of seconds, not {interval_seconds!r}")
    history_seconds = min(max(history_seconds, interval_seconds), MAX_HISTORY_SECONDS)
    return max(2, math.ceil(history_seconds / interval_seconds) + 1)


class History:
    """Ring buffers for every series, sharing one timestamp ring.

    Not thread-safe: the GUI thread owns it and appends snapshots as they arrive.
    """

    def __init__(self, capacity: int, dtype: type[np.floating] = np.float64) -> None:
        """``dtype`` float32 halves the memory of a live history (7 significant digits is finer
        than any of these measurements); recordings loaded from CSV keep float64 so they round-trip."""
        if capacity < 2:
            raise ValueError("history capacity must be at least 2 samples")
        self.capacity = capacity
        self.dtype = np.dtype(dtype)
        self._times = np.full(capacity, np.nan)
        self._values: dict[str, np.ndarray] = {}
        self.specs: dict[str, SeriesSpec] = {}
        self._next = 0  # slot the next sample goes into
        self._count = 0  # samples held, <= capacity

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Memory held by the buffers: fixed once every series has appeared."""
        return self._times.nbytes + sum(a.nbytes for a in self._values.values())

    def series_ids(self) -> list[str]:
        return list(self._values)

    def append(self, timestamp: float, values: Mapping[str, float | None],
               specs: Mapping[str, SeriesSpec] | None = None) -> None:
        """Add one tick. Series not in ``values`` get NaN for this tick."""
        if specs:
            self.specs.update(specs)
        slot = self._next
        self._times[slot] = timestamp
        for series_id, buffer in self._values.items():
            value = values.get(series_id)
            buffer[slot] = np.nan if value is None else value
        for series_id, value in values.items():
            if series_id not in self._values:
                buffer = np.full(self.capacity, np.nan, dtype=self.dtype)
                buffer[slot] = np.nan if value is None else value
                self._values[series_id] = buffer
        self._next = (slot + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    def append_snapshot(self, snapshot: Snapshot) -> None:
        self.append(snapshot.timestamp, snapshot.values, snapshot.specs)

    def _ordered_indices(self) -> np.ndarray:
        start = (self._next - self._count) % self.capacity
        return (start + np.arange(self._count)) % self.capacity

    def latest_time(self) -> float | None:
        if not self._count:
            return None
        return float(self._times[(self._next - 1) % self.capacity])

    def latest(self, series_id: str) -> float | None:
        buffer = self._values.get(series_id)
        if buffer is None or not self._count:
            return None
        value = float(buffer[(self._next - 1) % self.capacity])
        return None if math.isnan(value) else value

    def window(self, series_ids: Iterable[str], seconds: float | None = None,
               end: float | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Copies of the timestamps and values in the last ``seconds`` (all history if None).

        ``end`` bounds the window on the right (defaults to the latest sample). Unknown series
        come back as all-NaN arrays, so a caller can plot them without special cases.
        """
        if not self._count:
            empty = np.empty(0)
            return empty, {sid: empty.copy() for sid in series_ids}
        order = self._ordered_indices()
        times = self._times[order]
        lo, hi = 0, len(times)
        if end is not None:
            hi = int(np.searchsorted(times, end, side="right"))
        if seconds is not None:
            right = times[hi - 1] if hi else times[-1]
            lo = int(np.searchsorted(times, right - seconds, side="left"))
        picked = order[lo:hi]
        out_times = self._times[picked]  # fancy indexing already copies
        out = {}
        for sid in series_ids:
            buffer = self._values.get(sid)
            out[sid] = buffer[picked] if buffer is not None else np.full(len(picked), np.nan, self.dtype)
        return out_times, out

    def range(self, series_ids: Iterable[str], start: float, end: float
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Copies of the samples with ``start <= time <= end``."""
        times, values = self.window(series_ids, seconds=None, end=end)
        keep = times >= start
        return times[keep], {sid: v[keep] for sid, v in values.items()}
