"""The agent loop: the sampling engine on a background tick, a ring of recent snapshots, and the
``/api/v1/snapshots`` document for the remote window.

Why a background tick rather than reading at scrape time (measured in benchmarks/serve_cost.py,
reasons in docs/prometheus.md): the window's rates (CPU %, B/s) need a fixed interval, several
scrapers (an HA pair of Prometheus servers, a remote window) must not perturb each other, a scrape
must answer in constant time, and the remote window needs every tick, not one per scrape.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from perfdeck.exporter.prometheus import FamilyStatus
from perfdeck.model import wire
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.series import Snapshot, Unavailable

log = logging.getLogger(__name__)

RING_SIZE = 600  # ten minutes at 1 s: enough for a window that reconnects after a short outage
# Tables (the process list) are read only while a remote window polled this recently: /metrics
# exports counts only, and the process family counts without walking every process when no one
# wants its table (SamplingEngine.set_tables_wanted, where the engine has it).
TABLE_READER_SECONDS = 30.0


class Agent:
    """Runs a ``SamplingEngine`` every ``interval`` seconds (``idle_interval`` while no remote window
    polls) and keeps the last ``ring_size`` snapshots.

    Sequence numbers and ``specs_generation`` start from the wall clock in milliseconds, so they keep
    increasing across agent restarts: a window that reconnects with ``after=`` from the old process
    never waits for numbers the new one will not reach for hours.
    """

    def __init__(self, engine: SamplingEngine, families: Mapping[str, str], *, interval: float,
                 version: str, host: str, load_errors: Mapping[str, Unavailable] | None = None,
                 ring_size: int = RING_SIZE, clock: Callable[[], float] = time.time,
                 idle_interval: float | None = None) -> None:
        self.engine = engine
        # Without a remote window only Prometheus reads the agent, and its counters make rate() right
        # at any tick; --idle-interval lets the agent tick less often then (docs/prometheus.md).
        self.idle_interval = max(interval, idle_interval if idle_interval is not None else interval)
        self.families = dict(families)  # name -> title, in registry order
        self.load_errors = dict(load_errors or {})
        self.interval = interval
        self.version = version
        self.host = host
        self._ring: collections.deque[tuple[int, Snapshot]] = collections.deque(maxlen=ring_size)
        self._lock = threading.Lock()
        base = int(clock() * 1000)
        self._next_seq = base
        self.specs_generation = base
        self._spec_key: tuple[frozenset[str], frozenset[str]] | None = None
        # The specs mappings the key was computed from (see ``tick``).
        self._spec_mappings: tuple[Mapping[str, object], Mapping[str, object]] | None = None
        self._failures: dict[str, str] = {}
        self._last_duration: float | None = None
        self._collections = 0
        self._table_reader_at = float("-inf")
        self._wake = threading.Event()
        self._stop: threading.Event | None = None
        self._tables_wanted: bool | None = None
        self._want_tables(False)

    def _want_tables(self, wanted: bool) -> None:
        if wanted != self._tables_wanted:
            self._tables_wanted = wanted
            set_tables_wanted = getattr(self.engine, "set_tables_wanted", None)
            if set_tables_wanted is not None:
                set_tables_wanted(wanted)

    def note_table_reader(self) -> None:
        """A remote window asked for snapshots: keep its tables (the process list) and every
        ``interval`` tick coming for a while; wake an idle agent."""
        idle = not self.window_attached()
        self._table_reader_at = time.monotonic()
        if idle and self.idle_interval > self.interval:
            self._wake.set()

    # --- sampling ---------------------------------------------------------------------------

    def tick(self, now: float | None = None, timestamp: float | None = None) -> Snapshot:
        """Sample once, store the snapshot with the next sequence number, and return it."""
        self._want_tables(time.monotonic() - self._table_reader_at < TABLE_READER_SECONDS)
        started = time.perf_counter()
        snapshot = self.engine.sample(now, timestamp)
        duration = time.perf_counter() - started
        # The engine hands the very same specs mappings while nothing changed: compare the id
        # sets only when a mapping is new.
        mappings = (snapshot.specs, snapshot.counter_specs)
        if self._spec_mappings is None or any(a is not b for a, b in zip(mappings, self._spec_mappings,
                                                                         strict=True)):
            key = (frozenset(snapshot.specs), frozenset(snapshot.counter_specs))
        else:
            key = self._spec_key
        with self._lock:
            if self._spec_key is not None and key != self._spec_key:
                self.specs_generation += 1
            self._spec_key = key
            self._spec_mappings = mappings
            self._failures.update(snapshot.failures)
            self._ring.append((self._next_seq, snapshot))
            self._next_seq += 1
            self._last_duration = duration
            self._collections += 1
        return snapshot

    def window_attached(self) -> bool:
        """Whether a remote window polled recently (it then gets every ``interval`` tick)."""
        return time.monotonic() - self._table_reader_at < TABLE_READER_SECONDS

    def current_interval(self) -> float:
        """``interval`` while a remote window is attached, ``idle_interval`` otherwise."""
        return self.interval if self.window_attached() else self.idle_interval

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set: every ``interval`` seconds while a window is attached, every
        ``idle_interval`` otherwise (on the grid; a late tick skips missed slots instead of bunching
        up). A window attaching to an idle agent wakes it at once. Set ``stop`` with ``request_stop``."""
        self._stop = stop
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the engine isolates collectors; this is a last resort, keep serving
                log.exception("sampling tick failed")
            interval = self.current_interval()
            next_at += interval
            now = time.monotonic()
            if next_at < now:
                next_at = now + interval - (now - next_at) % interval
            self._wake.clear()
            if not stop.is_set():
                self._wake.wait(next_at - now)
            if self._wake.is_set() and not stop.is_set():
                next_at = time.monotonic()  # a window attached to an idle agent: tick now

    def request_stop(self) -> None:
        """Stop ``run`` (safe from a signal handler)."""
        if self._stop is not None:
            self._stop.set()
        self._wake.set()

    # --- what the HTTP side reads ----------------------------------------------------------

    def latest(self) -> tuple[int, Snapshot] | None:
        with self._lock:
            return self._ring[-1] if self._ring else None

    def entries_after(self, after: int | None) -> list[tuple[int, Snapshot]]:
        """Every stored snapshot with a sequence number above ``after``; just the newest when None."""
        with self._lock:
            return self._entries_after(after)

    def _entries_after(self, after: int | None) -> list[tuple[int, Snapshot]]:
        if not self._ring:
            return []
        if after is None:
            return [self._ring[-1]]
        return [entry for entry in self._ring if entry[0] > after]

    def last_collection_seconds(self) -> float | None:
        return self._last_duration

    def collections(self) -> int:
        return self._collections

    def family_status(self) -> dict[str, FamilyStatus]:
        """Availability of every requested family, with the reason and fix when it is not available."""
        latest = self.latest()
        snapshot = latest[1] if latest else None
        produced = {spec.family for spec in snapshot.specs.values()} if snapshot else set()
        produced |= {spec.family for spec in snapshot.counter_specs.values()} if snapshot else set()
        status: dict[str, FamilyStatus] = {}
        for name, title in self.families.items():
            why = (self.load_errors.get(name) or self.engine.family_unavailable.get(name)
                   or (snapshot.unavailable.get(name) if snapshot else None))
            if why is not None:
                status[name] = FamilyStatus(name, title, False, why.reason, why.fix)
            elif snapshot is not None and name not in produced:
                reason = (f"the {title} collector failed: {self._failures[name]}" if name in self._failures
                          else f"the {title} collector produced no series on this host")
                status[name] = FamilyStatus(name, title, False, reason, "")
            else:
                status[name] = FamilyStatus(name, title, True)
        return status

    def document(self, after: int | None, client_generation: int | None) -> dict[str, Any]:
        """The ``/api/v1/snapshots`` document (``model.wire.FORMAT``): snapshots after ``after``, and
        the specs when the client's generation is not the current one."""
        families: dict[str, dict[str, Any]] = {}
        for name, fam in self.family_status().items():
            info: dict[str, Any] = {"title": fam.title, "available": fam.available}
            if not fam.available:
                info.update(reason=fam.reason, fix=fam.fix)
            families[name] = info
        with self._lock:  # the entries and the generation they belong to, read together
            entries = self._entries_after(after)
            generation = self.specs_generation
        return wire.encode_document(entries, host=self.host, version=self.version, interval=self.interval,
                                    specs_generation=generation,
                                    include_specs=client_generation != generation, families=families)
