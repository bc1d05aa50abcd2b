"""One sampling tick over every collector, without Qt.

The Qt sampler (``perfdeck.gui.sampler``) and the headless recorder both drive this class, so
the GUI and ``perfdeck record`` produce identical snapshots.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, MutableMapping, Sequence
from types import MappingProxyType

from perfdeck.model.collector import Collector
from perfdeck.model.series import (
    CollectorUnavailableError,
    CounterSpec,
    Reading,
    SeriesSpec,
    Snapshot,
    Unavailable,
)

log = logging.getLogger(__name__)


def _merge(target: MutableMapping, source: Mapping) -> None:
    """``target.update(source)``, fast for the read-only proxies readings and specs come in.

    ``dict.update`` walks a proxy key by key through the generic mapping protocol (about 10 µs
    for 60 items), while ``proxy.copy()`` is one C-level dict copy that update then takes whole.
    """
    if source:
        target.update(source.copy() if isinstance(source, MappingProxyType) else source)


class _MergedSpecs:
    """The merge of the specs (or counter specs) of the families that contributed to a tick,
    kept while every family hands back the very same read-only mapping.

    A collector's ``specs()`` changes by publishing a new mapping (``MappingProxyType`` over a
    dict it no longer edits: every family here does so). The list comparison below is true at
    once for the very same objects (identity comes first) and compares contents only for a new
    one, so the merge is reused while every source is the same, or equal. A plain dict may be
    edited in place by its owner after it was compared, so a tick with one among its sources is
    merged afresh, as before.
    """

    __slots__ = ("_merged", "_sources")

    def __init__(self) -> None:
        self._sources: list[Mapping] = []
        self._merged: Mapping = MappingProxyType({})

    def merged(self, sources: list[Mapping]) -> Mapping:
        """The merge: while it is kept, the very same read-only proxy, over a dict no one edits
        (a snapshot keeps it without a copy, and the history sees by identity that nothing is new)."""
        if sources == self._sources:
            return self._merged
        merged: dict = {}
        for source in sources:
            _merge(merged, source)
        if all(type(source) is MappingProxyType for source in sources):
            self._sources, self._merged = sources, MappingProxyType(merged)
            return self._merged
        self._sources, self._merged = [], MappingProxyType({})
        return merged


class SamplingEngine:
    """Opens collectors, reads them into immutable snapshots, closes them.

    A collector that raises is isolated: its failure is reported once (in ``Snapshot.failures``
    of the tick where it first failed, and in the log), the other collectors go on, and it is
    retried on later ticks in case the fault was transient.
    """

    def __init__(self, collectors: Sequence[Collector]) -> None:
        self.collectors = list(collectors)
        self.family_unavailable: dict[str, Unavailable] = {}
        self._active: list[Collector] = []
        self._reported_failures: set[str] = set()
        self._last_read: dict[str, float] = {}
        # The last reading of each slow family (min_interval > 0), repeated on the ticks between
        # its reads: its latest measurement is still the current knowledge, and re-emitting it
        # keeps plots continuous instead of a NaN gap on every tick it was not due.
        self._held: dict[str, Reading] = {}
        self._opened = False
        # Merged specs and counter specs, rebuilt only when a family publishes new ones.
        self._specs = _MergedSpecs()
        self._counter_specs = _MergedSpecs()

    def open(self) -> None:
        """Open every collector; a family that cannot work is noted, not fatal. Idempotent."""
        if self._opened:
            return
        self.family_unavailable.clear()
        for collector in self.collectors:
            try:
                collector.open()
            except CollectorUnavailableError as exc:
                self.family_unavailable[collector.family] = exc.unavailable
                continue
            except Exception as exc:  # a bug in one family must not stop the others
                log.exception("collector %s failed to open", collector.family)
                self.family_unavailable[collector.family] = Unavailable(
                    f"{collector.title or collector.family} failed to start: {exc}")
                continue
            self._active.append(collector)
        self._opened = True

    def close(self) -> None:
        for collector in self._active:
            try:
                collector.close()
            except Exception:
                log.exception("collector %s failed to close", collector.family)
        self._active.clear()
        self._opened = False

    def sample(self, now: float | None = None, timestamp: float | None = None) -> Snapshot:
        """Read every active collector once and return the snapshot."""
        if not self._opened:
            self.open()
        now = time.monotonic() if now is None else now
        timestamp = time.time() if timestamp is None else timestamp
        values: dict[str, float | None] = {}
        spec_sources: list[Mapping[str, SeriesSpec]] = []
        unavailable: dict[str, Unavailable] = {}
        tables: dict[str, object] = {}
        failures: dict[str, str] = {}
        totals: dict[str, float] = {}
        counter_sources: list[Mapping[str, CounterSpec]] = []
        for family, reason in self.family_unavailable.items():
            unavailable[family] = reason
        for collector in self._active:
            family = collector.family
            # 2 % slack: a 1 s timer firing at 1.999 s must not push a 2 s family to 3 s.
            elapsed = now - self._last_read.get(family, float("-inf"))
            due = collector.read_next_tick or elapsed >= collector.min_interval * 0.98
            try:
                if due:
                    reading = collector.read(now)
                    self._last_read[family] = now
                    if collector.min_interval > 0:
                        self._held[family] = reading
                else:
                    reading = self._held.get(family, Reading())
                # A Reading's mappings are always read-only proxies (Reading freezes them): one
                # C-level copy each, which update takes whole (what _merge does, without its call
                # and type check on the ~30 merges of every tick).
                if reading.values:
                    values.update(reading.values.copy())
                if reading.unavailable:
                    unavailable.update(reading.unavailable.copy())
                if reading.tables:
                    tables.update(reading.tables.copy())
                spec_sources.append(collector.specs())
                if reading.totals:
                    totals.update(reading.totals.copy())
                    counter_sources.append(collector.counter_specs())
            except Exception as exc:
                if family not in self._reported_failures:
                    self._reported_failures.add(family)
                    log.exception("collector %s raised; the others go on", family)
                    failures[family] = f"{type(exc).__name__}: {exc}"
                continue
        # Kept merges are read-only proxies over dicts never edited again: Snapshot keeps them as
        # they are; a fresh merge (a plain dict) it copies.
        specs = self._specs.merged(spec_sources)
        counter_specs = self._counter_specs.merged(counter_sources)
        return Snapshot(timestamp=timestamp, monotonic=now, values=values, specs=specs,
                        unavailable=unavailable, tables=tables, failures=failures,
                        totals=totals, counter_specs=counter_specs)

    def set_tables_wanted(self, wanted: bool) -> None:
        """Tell every collector with a table (the process list) whether anything reads it.

        Headless paths that keep series only (``perfdeck record``, an exporter) pass False: the
        process family then counts processes and threads without walking every process.
        """
        for collector in self.collectors:
            set_table_wanted = getattr(collector, "set_table_wanted", None)
            if set_table_wanted is not None:
                set_table_wanted(wanted)

    def static_facts(self) -> dict[str, dict[str, str]]:
        return {c.family: dict(c.static_facts()) for c in self._active}
