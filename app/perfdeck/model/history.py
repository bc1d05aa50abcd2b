"""Fixed-memory history: one numpy ring buffer per series on a shared timeline.

Every series has a slot for every tick (NaN where it had no value), so all series share one
timestamp ring and a window query is a single pair of index computations.

The rings are the rows of a few 2-D blocks (series x capacity): the series that first appear in
the same tick (a whole family, at start-up) share one block, so a tick is stored with one
conversion of the values to an array and one column assignment per block, instead of a Python
loop over every series. A new series adds exactly its row's memory and never copies the existing
rings, except when many small blocks are merged into one (see ``_MAX_BLOCKS``).

Memory grows with what is held, up to the fixed capacity: the rings start ``FIRST_SLOTS`` long (or
at the capacity when that is smaller) and double, with one copy, each time they fill, until they
reach the capacity; from then on they wrap and memory is flat forever. One hour at 0.1 s is 36 001
slots: allocated up front for ~150 series that was 21 MB touched at start-up; now the first minute
costs 600 slots (0.4 MB) and the rings are never more than twice what they hold while growing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import numpy as np

from perfdeck.model.series import SeriesSpec, Snapshot

DEFAULT_HISTORY_SECONDS = 3600.0
MAX_HISTORY_SECONDS = 24 * 3600.0
MIN_INTERVAL_SECONDS = 0.1
MAX_INTERVAL_SECONDS = 10.0
# Series trickling in one tick at a time would each get a block; past this many the blocks are
# merged, so an append stays a handful of array operations.
_MAX_BLOCKS = 16
# Slots a new History allocates at first: 10 min at 1 s, 1 min at 0.1 s. Growth doubles from here.
FIRST_SLOTS = 600


def _as_dict(mapping: Mapping) -> dict:
    """A plain dict with the same items, cheaply: snapshots hold read-only proxies, whose lookups
    and generic copies cost several times a dict's, while ``proxy.copy()`` is one C-level copy."""
    if type(mapping) is dict:
        return mapping
    if isinstance(mapping, MappingProxyType):
        return mapping.copy()
    return dict(mapping)


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

    def __init__(self, capacity: int, dtype: type[np.floating] = np.float64,
                 first_slots: int = FIRST_SLOTS) -> None:
        """``dtype`` float32 halves the memory of a live history (7 significant digits is finer
        than any of these measurements); recordings loaded from CSV keep float64 so they round-trip.
        ``first_slots``: how many slots to allocate before the first growth (at most ``capacity``)."""
        if capacity < 2:
            raise ValueError("history capacity must be at least 2 samples")
        if first_slots < 1:
            raise ValueError("a history must start with at least one slot")
        self.capacity = capacity
        self.dtype = np.dtype(dtype)
        # Slots allocated in every ring (timestamps and blocks alike): grows to ``capacity``. While
        # it is below, the ring has not wrapped (``_next == _count``), so the index arithmetic
        # below, written modulo ``capacity``, never reaches past the allocated slots.
        self._allocated = min(capacity, first_slots)
        self._times = np.full(self._allocated, np.nan)
        # Every series id in row order across the blocks; _rows maps an id to (block, row).
        self._ids: list[str] = []
        self._rows: dict[str, tuple[int, int]] = {}
        self._blocks: list[np.ndarray] = []
        self._block_ends: list[int] = []  # index into _ids just past each block's last series
        self.specs: dict[str, SeriesSpec] = {}
        # The read-only specs mapping last merged into ``specs`` (see ``append``).
        self._specs_seen: Mapping[str, SeriesSpec] | None = None
        self._next = 0  # slot the next sample goes into
        self._count = 0  # samples held, <= capacity

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Memory held by the buffers: grows with the samples held (at most doubling at a time) up to
        the capacity, then fixed once every series has appeared."""
        return self._times.nbytes + sum(block.nbytes for block in self._blocks)

    def series_ids(self) -> list[str]:
        return list(self._ids)

    def _add_series(self, new_ids: Iterable[str]) -> None:
        """Give the series not seen yet one new all-NaN block (no stale data from earlier laps)."""
        added = [sid for sid in new_ids if sid not in self._rows]
        if not added:
            return
        self._ids.extend(added)
        self._blocks.append(np.full((len(added), self._allocated), np.nan, dtype=self.dtype))
        self._block_ends.append(len(self._ids))
        if len(self._blocks) > _MAX_BLOCKS:
            self._blocks = [np.concatenate(self._blocks)]  # one copy, rare
            self._block_ends = [len(self._ids)]
        self._index_rows()

    def _index_rows(self) -> None:
        start = 0
        for number, end in enumerate(self._block_ends):
            for row, sid in enumerate(self._ids[start:end]):
                self._rows[sid] = (number, row)
            start = end

    def _ring(self, series_id: str) -> np.ndarray | None:
        """The ring of one series (a view), or None if it never appeared."""
        where = self._rows.get(series_id)
        return None if where is None else self._blocks[where[0]][where[1]]

    def _grow(self) -> None:
        """Double the allocated slots (up to the capacity): one copy of every ring. Only called
        when the rings are full and have not wrapped, so the held samples are slots 0..n-1 and
        stay where they are; the new slots are NaN (never-written slots are never read, but a
        series seen later must not find stale numbers)."""
        held = self._allocated
        size = min(self.capacity, 2 * held)
        times = np.empty(size)  # each slot written once: the held part copied, the rest NaN
        times[:held] = self._times
        times[held:] = np.nan
        self._times = times
        grown = []
        for block in self._blocks:
            bigger = np.empty((block.shape[0], size), dtype=self.dtype)
            bigger[:, :held] = block
            bigger[:, held:] = np.nan
            grown.append(bigger)
        self._blocks = grown
        self._allocated = size

    def append(self, timestamp: float, values: Mapping[str, float | None],
               specs: Mapping[str, SeriesSpec] | None = None) -> None:
        """Add one tick. Series not in ``values`` get NaN for this tick."""
        if specs and specs is not self._specs_seen:  # the engine hands the same specs tick after tick
            self.specs.update(_as_dict(specs))
            self._specs_seen = specs if type(specs) is MappingProxyType else None
        values = _as_dict(values)
        if not values.keys() <= self._rows.keys():
            self._add_series(values)  # dict order: new series keep the order they came in
        slot = self._next
        if slot == self._allocated:  # full but below capacity (at capacity, _next wrapped to 0)
            self._grow()
        self._times[slot] = timestamp
        # One column in row order; missing series and None both become NaN (numpy converts None
        # to NaN for a float dtype), so a gap is never stored as 0.
        column = np.array(list(map(values.get, self._ids)), dtype=self.dtype)
        start = 0
        for block, end in zip(self._blocks, self._block_ends, strict=True):
            block[:, slot] = column[start:end]
            start = end
        self._next = (slot + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    def append_snapshot(self, snapshot: Snapshot) -> None:
        self.append(snapshot.timestamp, snapshot.values, snapshot.specs)

    def _segments(self) -> tuple[int, np.ndarray, np.ndarray]:
        """The oldest slot, and the held timestamps as two oldest-first views (the second one is
        empty unless the ring has wrapped): no copy and no index array, however long the history."""
        start = (self._next - self._count) % self.capacity
        first = min(self._count, self.capacity - start)
        return start, self._times[start:start + first], self._times[:self._count - first]

    @staticmethod
    def _position(segments: tuple[np.ndarray, np.ndarray], value: float, side: str) -> int:
        """``np.searchsorted`` over the two segments as if they were one sorted array."""
        older, newer = segments
        return int(np.searchsorted(older, value, side=side) + np.searchsorted(newer, value, side=side))

    def _take(self, ring: np.ndarray, first_slot: int, length: int) -> np.ndarray:
        """A copy of ``length`` consecutive slots of ``ring`` from ``first_slot``, wrapping."""
        end = first_slot + length
        if end <= self.capacity:
            return ring[first_slot:end].copy()
        return np.concatenate((ring[first_slot:], ring[:end - self.capacity]))

    def latest_time(self) -> float | None:
        if not self._count:
            return None
        return float(self._times[(self._next - 1) % self.capacity])

    def oldest_time(self) -> float | None:
        """The timestamp of the oldest sample held (None when empty): no copy of the ring."""
        if not self._count:
            return None
        return float(self._times[(self._next - self._count) % self.capacity])

    def latest(self, series_id: str) -> float | None:
        ring = self._ring(series_id)
        if ring is None or not self._count:
            return None
        value = float(ring[(self._next - 1) % self.capacity])
        return None if math.isnan(value) else value

    def recent(self, series_id: str, max_age_seconds: float) -> float | None:
        """The newest finite value no older than ``max_age_seconds`` before the latest sample, or
        None. Slow families leave NaN in most ticks: this walks back from the newest slot and
        stops at the first value, copying nothing."""
        ring = self._ring(series_id)
        if ring is None or not self._count:
            return None
        capacity, newest = self.capacity, (self._next - 1) % self.capacity
        oldest_allowed = float(self._times[newest]) - max_age_seconds
        for back in range(self._count):
            slot = (newest - back) % capacity
            if self._times[slot] < oldest_allowed:
                return None
            value = float(ring[slot])
            if not math.isnan(value):
                return value
        return None

    def window(self, series_ids: Iterable[str], seconds: float | None = None,
               end: float | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Copies of the timestamps and values in the last ``seconds`` (all history if None).

        ``end`` bounds the window on the right (defaults to the latest sample). Unknown series
        come back as all-NaN arrays, so a caller can plot them without special cases.
        """
        if not self._count:
            empty = np.empty(0)
            return empty, {sid: empty.copy() for sid in series_ids}
        start, older, newer = self._segments()
        lo, hi = 0, self._count
        if end is not None:
            hi = self._position((older, newer), end, "right")
        if seconds is not None:
            right = self._times[(start + hi - 1) % self.capacity] if hi else self._times[self._next - 1]
            lo = self._position((older, newer), right - seconds, "left")
        length = max(hi - lo, 0)
        first_slot = (start + lo) % self.capacity
        out_times = self._take(self._times, first_slot, length)
        out = {}
        for sid in series_ids:
            ring = self._ring(sid)
            out[sid] = (self._take(ring, first_slot, length) if ring is not None
                        else np.full(length, np.nan, self.dtype))
        return out_times, out

    def range(self, series_ids: Iterable[str], start: float, end: float
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Copies of the samples with ``start <= time <= end``."""
        times, values = self.window(series_ids, seconds=None, end=end)
        keep = times >= start
        return times[keep], {sid: v[keep] for sid, v in values.items()}
