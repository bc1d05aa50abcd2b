"""Hosts and their recent history from a Prometheus server that scrapes ``perfdeck serve`` (no Qt).

``perfdeck --prometheus URL`` lists the PerfDeck agents a Prometheus server scrapes (``hosts``) and
opens one: its recent history comes from Prometheus (``history``: one ``query_range``), then the
window follows the agent live, as ``--connect`` does.

Why the agent is still needed: Prometheus names are not invertible to PerfDeck's series ids
(``perfdeck_cpu_util_core_ratio{cpu="3"}`` is ``cpu.util.core3``; ``perfdeck_perf_ipc_all`` is
``perf.ipc.total``), and the views need the ids, units and groups. The agent's series specs (the
first ``/api/v1/snapshots`` document) are mapped forward with the exporter's own naming
(``exporter.naming.metric_name``), which is exact: each spec gives the one metric name, label set
and unit factor it is exported under. A series Prometheus holds that no spec maps to is left out;
a spec whose name a counter took (the exporter drops that gauge) has no history.

Values are converted back from base units (0..1 ratios to %, Hz to MHz...). Where Prometheus has no
sample (the target was down, a stale series) the row has no value: a gap, never 0.
"""

from __future__ import annotations

import contextlib
import json
import math
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perfdeck.exporter.naming import metric_name
from perfdeck.model.remote import POINT_BUDGET, HistoryLoader, RemoteError, normalise_url
from perfdeck.model.series import SeriesSpec, Snapshot

# urllib.request (http.client, ssl, libcrypto: about 6 MiB resident) is imported by the request
# itself: the window imports this module for File → Hosts on Prometheus… on every start.
if TYPE_CHECKING:
    import ssl

# Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS = 10_000
DEFAULT_TIMEOUT_SECONDS = 10.0
INFO_METRIC = "perfdeck_build_info"  # every perfdeck serve exports it
# Hosts seen this recently are listed, even when their agent is down now.
LIST_LOOKBACK = "1h"
# A window loads at most this many rows of older history (one per scrape, or coarser), and at
# most remote.POINT_BUDGET values.
HISTORY_ROWS = 1200


@dataclass(frozen=True, slots=True)
class PrometheusHost:
    """One agent a Prometheus server scrapes.

    ``agent_url`` is where Prometheus scrapes it (the scrape URL without ``/metrics``), ``health``
    Prometheus' own verdict of the last scrape (``up``, ``down``, ``unknown``; empty when the
    target is no longer configured), ``scrape_interval`` in seconds (0 when unknown).
    """

    instance: str
    job: str
    agent_url: str
    health: str
    version: str = ""
    scrape_interval: float = 0.0
    last_error: str = ""
    target_labels: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        state = self.health or "no longer scraped"
        return f"{self.instance} ({self.job}, {state})" + (f": {self.last_error}" if self.last_error else "")


def _duration_seconds(text: str) -> float:
    """Prometheus durations such as ``15s``, ``1m``, ``1m30s``, ``500ms``; 0 when unparseable."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
    total, number = 0.0, ""
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        if unit not in units or not number:
            return 0.0
        total += float(number) * units[unit]
        number = ""
        index += len(unit)
    return total if not number else 0.0


def _promql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class PrometheusClient:
    """The few Prometheus HTTP API calls PerfDeck needs, with timeouts and one-sentence errors."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 tls: ssl.SSLContext | None = None) -> None:
        self.url = normalise_url(url)
        self.timeout = timeout
        self._tls = tls
        self.address = urllib.parse.urlsplit(self.url).netloc

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        import urllib.error
        import urllib.request

        query = "?" + urllib.parse.urlencode(params) if params else ""
        request = urllib.request.Request(self.url + path + query, headers={"Accept": "application/json",
                                                                        "User-Agent": "perfdeck-window"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._tls) as reply:
                body = reply.read()
        except urllib.error.HTTPError as exc:
            detail = ""
            with contextlib.suppress(ValueError, AttributeError, OSError):
                detail = json.loads(exc.read()).get("error", "")
            if exc.code == 404:
                raise RemoteError(f"{self.url} has no {path}: is it a Prometheus server?",
                                  "give the address of Prometheus' web UI, e.g. http://HOST:9090",
                                  kind="protocol") from None
            raise RemoteError(f"Prometheus at {self.address} answered HTTP {exc.code}"
                              + (f": {detail}" if detail else ""), kind="protocol") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError):
                raise RemoteError(f"nothing listens at {self.address} (connection refused)",
                                  "is Prometheus running there?") from None
            raise RemoteError(f"cannot reach Prometheus at {self.address} ({reason})",
                              "check the address") from None
        except (TimeoutError, OSError) as exc:
            raise RemoteError(f"no answer from Prometheus at {self.address} within {self.timeout:g} s "
                              f"({type(exc).__name__})", "check the network") from None
        try:
            doc = json.loads(body)
        except ValueError:
            raise RemoteError(f"{self.url} answered with something that is not JSON: is it Prometheus?",
                              kind="protocol") from None
        if not isinstance(doc, Mapping) or doc.get("status") != "success":
            error = doc.get("error") if isinstance(doc, Mapping) else None
            raise RemoteError(f"Prometheus at {self.address} refused the query: {error or 'no data'}",
                              kind="protocol")
        return doc.get("data")

    def hosts(self) -> list[PrometheusHost]:
        """The PerfDeck agents this server scraped within ``LIST_LOOKBACK``, sorted by instance."""
        try:
            return self._hosts()
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            raise RemoteError(f"Prometheus at {self.address} answered in an unexpected shape ({exc!r})",
                              kind="protocol") from None

    def _hosts(self) -> list[PrometheusHost]:
        seen = self._get("/api/v1/query", {"query": f"last_over_time({INFO_METRIC}[{LIST_LOOKBACK}])"})
        targets = self._get("/api/v1/targets", {"state": "active"})
        by_key: dict[tuple[str, str], Mapping[str, Any]] = {}
        for target in (targets or {}).get("activeTargets", []):
            labels = target.get("labels", {})
            by_key[(labels.get("instance", ""), labels.get("job", ""))] = target
        hosts = []
        for sample in (seen or {}).get("result", []):
            labels = sample.get("metric", {})
            instance, job = labels.get("instance", ""), labels.get("job", "")
            target = by_key.get((instance, job), {})
            scrape_url = str(target.get("scrapeUrl", ""))
            agent_url = scrape_url.split("?", 1)[0]
            if agent_url.endswith("/metrics"):
                agent_url = agent_url[: -len("/metrics")]
            if not agent_url:
                agent_url = f"http://{instance}"  # no longer a target: its address is the best guess
            target_labels = tuple(sorted((str(k), str(v)) for k, v in target.get("labels", {}).items()))
            hosts.append(PrometheusHost(
                instance=instance, job=job, agent_url=agent_url, health=str(target.get("health", "")),
                version=labels.get("version", ""),
                scrape_interval=_duration_seconds(str(target.get("scrapeInterval", ""))),
                last_error=str(target.get("lastError", "")), target_labels=target_labels))
        return sorted(hosts, key=lambda h: (h.instance, h.job))

    def history(self, host: PrometheusHost, specs: Mapping[str, SeriesSpec], start: float, end: float,
                step: float | None = None) -> list[Snapshot]:
        """Snapshots of ``host`` every ``step`` seconds from ``start`` to ``end`` (time order), with
        the series ``specs`` describe; see the module docstring for the mapping."""
        try:
            return self._history(host, specs, start, end, step)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            raise RemoteError(f"Prometheus at {self.address} answered in an unexpected shape ({exc!r})",
                              kind="protocol") from None

    def _history(self, host: PrometheusHost, specs: Mapping[str, SeriesSpec], start: float, end: float,
                 step: float | None) -> list[Snapshot]:
        if end <= start:
            return []
        step = max(step or host.scrape_interval or 15.0, (end - start) / MAX_POINTS, 0.001)
        # Exported name + instance labels -> (series id, factor to base units), as the exporter names them.
        mapping: dict[tuple[str, frozenset[tuple[str, str]]], tuple[str, float]] = {}
        for series_id, spec in specs.items():
            naming = metric_name(spec.metric_name, spec.unit)
            mapping.setdefault((naming.name, frozenset(spec.labels)), (series_id, naming.factor))
        selector = (f'{{__name__=~"perfdeck_.+",instance={_promql_string(host.instance)},'
                    f'job={_promql_string(host.job)}}}')
        data = self._get("/api/v1/query_range", {"query": selector, "start": f"{start:.3f}",
                                                 "end": f"{end:.3f}", "step": f"{step:.3f}"})
        target_keys = {"instance", "job", *(name for name, _ in host.target_labels)}
        rows: dict[float, dict[str, float | None]] = {}
        for series in (data or {}).get("result", []):
            labels = dict(series.get("metric", {}))
            name = labels.pop("__name__", "")
            instance_labels = frozenset((k, v) for k, v in labels.items() if k not in target_keys)
            target = mapping.get((name, instance_labels))
            if target is None:
                continue  # a counter, an info metric, or a series this PerfDeck does not know
            series_id, factor = target
            for timestamp, text in series.get("values", []):
                try:
                    value = float(text) / factor
                except (TypeError, ValueError, ZeroDivisionError):
                    continue
                if math.isfinite(value):
                    rows.setdefault(float(timestamp), {})[series_id] = value
        if not rows:
            return []
        # Every step between the first and the last sample gets a row, empty where Prometheus had
        # nothing (the agent was down): plots break there instead of drawing a line across.
        first, last = min(rows), max(rows)
        grid = [first + k * step for k in range(round((last - first) / step) + 1)]
        by_step = {round((t - first) / step): values for t, values in rows.items()}
        return [Snapshot(timestamp=t, monotonic=t, values=by_step.get(k, {}), specs=specs)
                for k, t in enumerate(grid)]


def prometheus_history(client: PrometheusClient, host: PrometheusHost) -> HistoryLoader:
    """A ``RemoteSource`` history loader: ``seconds`` of ``host``'s history before the agent's first
    snapshot, at most ``HISTORY_ROWS`` rows and ``remote.POINT_BUDGET`` values."""

    def load(specs: Mapping[str, SeriesSpec], first_timestamp: float, seconds: float) -> list[Snapshot]:
        # Fewer rows for a host with many series, so one load stays a few megabytes of JSON.
        rows = max(10, min(HISTORY_ROWS, POINT_BUDGET // max(len(specs), 1)))
        step = max(host.scrape_interval or 15.0, seconds / rows)
        return client.history(host, specs, first_timestamp - seconds, first_timestamp - 1e-3, step)

    return load


def find_host(hosts: list[PrometheusHost], name: str) -> PrometheusHost:
    """The host whose instance is ``name``, or whose instance's host part is (``db-7`` for
    ``db-7:10147``) when only one is. Raises ``RemoteError`` naming the known ones."""
    exact = [h for h in hosts if h.instance == name]
    if exact:
        return exact[0]
    by_name = [h for h in hosts if h.instance.rsplit(":", 1)[0] == name]
    if len(by_name) == 1:
        return by_name[0]
    known = ", ".join(h.instance for h in hosts) or "none"
    if by_name:
        raise RemoteError(f"{name!r} matches several agents: {', '.join(h.instance for h in by_name)}",
                          "give the instance with its port", kind="config")
    raise RemoteError(f"Prometheus scrapes no PerfDeck agent called {name!r} (known: {known})",
                      "give one of the instances listed", kind="config")
