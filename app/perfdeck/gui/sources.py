"""Where the sampler's snapshots come from: this machine's collectors, or a remote agent.

The window has one data path. A ``SnapshotSource`` is polled by the sampler's worker in the
sampling thread (``gui.sampler``); whatever it returns is emitted as snapshots, appended to the
``History`` and drawn by the same views, recorded and exported the same way. A recording opened
from a file fills a ``History`` the same way, without a sampler (``gui.recording_view``).

* ``LocalSource``: the ``SamplingEngine`` over this machine's collectors, one snapshot per tick.
* ``model.remote.RemoteSource``: a ``perfdeck serve`` agent over HTTP; zero or more snapshots
  per poll (it catches up after an outage), a status for the title and the status bar, and its
  own poll delay (the agent's interval, or a back-off while the agent is unreachable). It already
  has the shape this protocol asks for, so it is used as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.poll import PollResult

if TYPE_CHECKING:  # the local window never imports the HTTP client (model.remote imports it lazily)
    from perfdeck.model.remote import RemoteSource


@runtime_checkable
class SnapshotSource(Protocol):
    """What the sampler's worker drives, always from the sampling thread."""

    # What the views ask for static facts: the local engine, or the remote source itself.
    engine: SamplingEngine | RemoteSource
    # Collectors whose read interval the window may slow down while their tab is hidden.
    collectors: Sequence[Collector]

    def open(self) -> None: ...

    def poll(self, now: float, timestamp: float) -> PollResult: ...

    def close(self) -> None: ...


class LocalSource:
    """This machine: one engine tick per poll."""

    def __init__(self, engine: SamplingEngine) -> None:
        self.engine = engine

    @property
    def collectors(self) -> Sequence[Collector]:
        return self.engine.collectors

    def open(self) -> None:
        self.engine.open()

    def poll(self, now: float, timestamp: float) -> PollResult:
        return PollResult((self.engine.sample(now=now, timestamp=timestamp),))

    def close(self) -> None:
        self.engine.close()


def as_source(origin: Sequence[Collector] | SamplingEngine | SnapshotSource) -> SnapshotSource:
    """A source for what ``Sampler`` was given: collectors, an engine, or a source already."""
    if isinstance(origin, SamplingEngine):
        return LocalSource(origin)
    if isinstance(origin, SnapshotSource):
        return origin
    return LocalSource(SamplingEngine(list(origin)))
