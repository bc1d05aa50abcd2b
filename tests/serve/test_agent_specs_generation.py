"""The agent's ``specs_generation`` moves exactly when the set of series (or counters) changes, so a
remote window fetches the specs again then and only then. The engine hands the very same specs
mapping while nothing changed, and the agent compares id sets only for a new mapping."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from perfdeck.exporter.agent import Agent
from perfdeck.model.collector import Collector
from perfdeck.model.engine import SamplingEngine
from perfdeck.model.series import Reading, SeriesSpec


class Publishing(Collector):
    family = "pub"

    def __init__(self) -> None:
        self.names = ["pub.a"]
        self.publish()

    def publish(self) -> None:
        self._published = MappingProxyType({n: SeriesSpec(n, n, "") for n in self.names})

    def specs(self) -> Mapping[str, SeriesSpec]:
        return self._published

    def read(self, now: float) -> Reading:
        return Reading(values=dict.fromkeys(self.names, 1.0))


def test_the_generation_moves_when_series_appear_or_go_and_only_then() -> None:
    pub = Publishing()
    agent = Agent(SamplingEngine([pub]), {"pub": "Published"}, interval=1.0, version="t", host="h",
                  clock=lambda: 1000.0)
    start = agent.specs_generation
    for now in (1.0, 2.0, 3.0):
        agent.tick(now=now, timestamp=now)
    assert agent.specs_generation == start
    pub.names.append("pub.b")
    pub.publish()
    agent.tick(now=4.0, timestamp=4.0)
    assert agent.specs_generation == start + 1
    agent.tick(now=5.0, timestamp=5.0)
    assert agent.specs_generation == start + 1
    pub.publish()  # a new mapping with the same series: nothing for a window to fetch
    agent.tick(now=6.0, timestamp=6.0)
    assert agent.specs_generation == start + 1
    pub.names.remove("pub.a")
    pub.publish()
    agent.tick(now=7.0, timestamp=7.0)
    assert agent.specs_generation == start + 2
