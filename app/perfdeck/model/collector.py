"""The collector protocol: one metric family per module, opened, read and closed.

A collector is pure Python (no Qt). The sampler calls ``open()`` once, ``read()`` every tick
(or every ``min_interval`` seconds for slow families such as processes), and ``close()`` on
shutdown. ``specs()`` may change between reads (a NIC appears); the sampler asks after each read.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from perfdeck.model.series import CounterSpec, Reading, SeriesSpec, Unavailable

_Spec = TypeVar("_Spec", SeriesSpec, CounterSpec)


class PublishedView(Generic[_Spec]):
    """The read-only view ``specs()`` / ``counter_specs()`` hand out for a dict the collector
    replaces when its series change and never edits in place: the same view object until a new
    dict is published, so the engine keeps its merged specs instead of merging them every tick."""

    __slots__ = ("_published", "_view")

    def __init__(self) -> None:
        self._published: dict[str, _Spec] | None = None
        self._view: Mapping[str, _Spec] = MappingProxyType({})

    def of(self, published: dict[str, _Spec]) -> Mapping[str, _Spec]:
        if published is not self._published:
            self._published, self._view = published, MappingProxyType(published)
        return self._view


class Collector(abc.ABC):
    """Base class for every metric family.

    Subclasses set ``family`` (the id prefix, e.g. ``"cpu"``) and ``title`` (shown to users), and
    implement ``specs`` and ``read``. ``open`` raises ``CollectorUnavailableError`` when the whole
    family cannot work here; a single missing series goes in ``Reading.unavailable`` instead.
    """

    family: str = ""
    title: str = ""
    # Slow families (processes) are read at most this often, whatever the sampling interval.
    min_interval: float = 0.0
    # Set by a slow family after a read that could only take baselines (its first read, or the
    # first after a pause): the engine then reads it again at the next tick, not min_interval
    # later, so its rates (CPU %) appear one tick after it is shown instead of a whole interval.
    read_next_tick: bool = False

    def open(self) -> None:  # noqa: B027 - optional hook, most collectors need no setup
        """Acquire what reading needs (file descriptors, baselines)."""

    @abc.abstractmethod
    def specs(self) -> Mapping[str, SeriesSpec]:
        """Every series this collector currently produces, keyed by id."""

    def counter_specs(self) -> Mapping[str, CounterSpec]:
        """The raw cumulative counters this collector reports in ``Reading.totals``, keyed by id.

        Optional: a family whose series are all levels (memory used, temperature) has none.
        Like ``specs()``, the answer may change between reads.
        """
        return {}

    @abc.abstractmethod
    def read(self, now: float) -> Reading:
        """Sample once. ``now`` is ``time.monotonic()`` for rate arithmetic."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``open`` acquired. Must be safe to call twice."""

    def static_facts(self) -> Mapping[str, str]:
        """Facts that do not change while running (CPU model, cache sizes), for display."""
        return {}

    def unavailable(self) -> Unavailable | None:
        """Why the whole family is unavailable, if it is (after ``open``)."""
        return None
