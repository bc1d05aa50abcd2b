"""The window on a remote host: a pure-Python client for a ``perfdeck serve`` agent (no Qt).

A remote agent is one more source of the same ``Snapshot`` objects the local engine makes: the
window appends them to its ``History`` and the same views draw them. ``RemoteSource.poll`` does
one HTTP request (``GET /api/v1/snapshots?after=SEQ&specs=GEN``, the document of
``model.wire``) and returns what to append, a status when it changed, and when to poll next. The
Qt side only runs it on the sampler thread (``gui.sources``), so the window never waits on the
network; every request has a timeout.

What a lost connection looks like:

* While the agent cannot be reached, ``poll`` returns no snapshots, a ``lost`` status with the
  reason, and a growing retry delay (back-off: the agent interval, doubled per failure, at most
  ``MAX_BACKOFF_SECONDS``).
* On reconnection it asks for every snapshot after the last one it holds. An agent that kept
  running replays what it sampled meanwhile, so nothing is lost. Snapshots the agent no longer
  has (it was restarted, or its buffer wrapped) show as a gap: one empty row (every value NaN) per
  missed interval, at most ``MAX_GAP_ROWS`` per gap, so plots break their lines and recordings and
  exports have empty cells there, never invented values.
* A restarted agent numbers its snapshots from the start again; that is detected (its newest
  sequence number is below ours) and the series specs are fetched afresh.

Timestamps are the agent's clock, so the timeline is the remote host's time.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import math
import os
import socket
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfdeck.model import wire
from perfdeck.model.poll import PollResult  # here for callers that import it from this module
from perfdeck.model.series import CounterSpec, SeriesSpec, Snapshot

# http.client and ssl (libssl, libcrypto: about 5 MiB resident) are imported where a connection is
# made: `perfdeck` imports this module for its options and errors on every start, even the local
# window that never talks to an agent.
if TYPE_CHECKING:
    import http.client
    import ssl

API_PATH = "/api/v1/snapshots"
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 30.0
MIN_BACKOFF_SECONDS = 0.5
# An outage of an hour at 0.1 s would be 36000 empty rows; a few hundred break every line just
# as well and keep a recording of the outage small.
MAX_GAP_ROWS = 600
# Consecutive snapshots further apart than this many intervals have a hole between them.
GAP_FACTOR = 3.0
# At most this many values in one catch-up document (or history load): all of an agent's ten-minute
# ring for an ordinary host (600 x 140 series), about 40 snapshots of a 256-CPU host with its 7000
# series, whose whole ring would be tens of megabytes of JSON.
POINT_BUDGET = 300_000
RECENT_HOSTS_FILE = "remote-hosts.json"
MAX_RECENT_HOSTS = 10


class RemoteError(Exception):
    """One clear sentence about why the agent could not be read, and (``fix``) what to do.

    ``kind`` is ``config`` (bad URL or credential file: retrying cannot help), ``auth``
    (the agent refused the credentials), ``connect`` (network, timeout, TLS) or ``protocol``
    (the peer is not a PerfDeck agent, or sent a malformed document).
    """

    def __init__(self, message: str, fix: str = "", kind: str = "connect") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.message} ({self.fix})" if self.fix else self.message


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Where the agent is and how to authenticate, as ``perfdeck serve`` is configured.

    ``token_file`` holds a bearer token (first line); ``basic_auth_file`` one line
    ``user:password``; ``tls_ca`` a PEM file of the CA (or the self-signed certificate) that signed
    the agent's ``--tls-cert``; ``insecure`` skips certificate checks (testing only).
    """

    url: str
    token_file: str = ""
    basic_auth_file: str = ""
    tls_ca: str = ""
    insecure: bool = False
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    # Where older history comes from (perfdeck --prometheus URL --host H); never saved.
    history: HistoryLoader | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        # File paths only: a secret never goes into the recent-hosts file.
        return {"url": self.url, "token_file": self.token_file, "basic_auth_file": self.basic_auth_file,
                "tls_ca": self.tls_ca, "insecure": self.insecure}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ConnectOptions:
        return cls(url=str(doc["url"]), token_file=str(doc.get("token_file") or ""),
                   basic_auth_file=str(doc.get("basic_auth_file") or ""),
                   tls_ca=str(doc.get("tls_ca") or ""), insecure=bool(doc.get("insecure", False)))


def normalise_url(text: str) -> str:
    """``db-7:9105`` -> ``http://db-7:9105``; a pasted ``.../metrics`` or API path is dropped.

    Raises ``RemoteError`` (kind ``config``) for what cannot be an agent address.
    """
    raw = text.strip()
    if not raw:
        raise RemoteError("no agent address given", "give one like http://HOST:PORT", kind="config")
    if "://" not in raw:
        raw = "http://" + raw
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme not in ("http", "https"):
        raise RemoteError(f"{text!r} is not an http:// or https:// address", "give one like http://HOST:PORT",
                          kind="config")
    try:
        port = parts.port
    except ValueError:
        raise RemoteError(f"{text!r} has an invalid port", "give one like http://HOST:PORT",
                          kind="config") from None
    if not parts.hostname:
        raise RemoteError(f"{text!r} names no host", "give one like http://HOST:PORT", kind="config")
    path = parts.path.rstrip("/")
    for suffix in (API_PATH, "/metrics"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{host}:{port}" if port is not None else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, "", ""))


def _read_secret(path: str, what: str, option: str) -> str:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RemoteError(f"the {what} file {path} does not exist", f"check {option}",
                          kind="config") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise RemoteError(f"the {what} file {path} cannot be read ({reason})", f"check {option}",
                          kind="config") from None
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise RemoteError(f"the {what} file {path} is empty", f"check {option}", kind="config")
    return line


def auth_header(options: ConnectOptions) -> str | None:
    """The ``Authorization`` header value the options ask for (None: no auth)."""
    if options.token_file and options.basic_auth_file:
        raise RemoteError("both a token file and a basic-auth file were given",
                          "use one of --token-file and --basic-auth-file", kind="config")
    if options.token_file:
        return "Bearer " + _read_secret(options.token_file, "token", "--token-file")
    if options.basic_auth_file:
        pair = _read_secret(options.basic_auth_file, "basic-auth", "--basic-auth-file")
        if ":" not in pair:
            raise RemoteError(f"the basic-auth file {options.basic_auth_file} holds no user:password line",
                              "write one line USER:PASSWORD", kind="config")
        return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return None


def tls_context(options: ConnectOptions) -> ssl.SSLContext:
    import ssl

    if options.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if not options.tls_ca:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(Path(options.tls_ca).expanduser()))
    except FileNotFoundError:
        raise RemoteError(f"the CA file {options.tls_ca} does not exist", "check --tls-ca",
                          kind="config") from None
    except (OSError, ssl.SSLError) as exc:
        raise RemoteError(f"the CA file {options.tls_ca} is not a readable PEM certificate ({exc})",
                          "check --tls-ca", kind="config") from None


def check_options(options: ConnectOptions) -> ConnectOptions:
    """``options`` with a normalised URL, once its credential and CA files can be read.

    Raises ``RemoteError`` with the sentence to show. The files are read only to check them; the
    source reads them again when it connects.
    """
    url = normalise_url(options.url)
    checked = dataclasses.replace(options, url=url)
    auth_header(checked)
    if url.startswith("https://"):
        tls_context(checked)
    return checked


class AgentClient:
    """HTTP(S) to one agent, one keep-alive connection reused between polls. Not thread-safe."""

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self.url = normalise_url(options.url)
        parts = urllib.parse.urlsplit(self.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._base_path = parts.path
        self.address = f"{parts.netloc}"
        self._auth = auth_header(options)
        self._tls = tls_context(options) if self._https else None
        self._connection: http.client.HTTPConnection | None = None
        self._aborted = False

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def abort(self) -> None:
        """From another thread: make a request blocked on the socket fail now."""
        self._aborted = True
        connection = self._connection
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _connect(self) -> http.client.HTTPConnection:
        import http.client

        if self._connection is None:
            timeout = self.options.timeout
            if self._https:
                self._connection = http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                                               context=self._tls)
            else:
                self._connection = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        return self._connection

    def fetch(self, after: int | None = None, specs_generation: int | None = None) -> dict[str, Any]:
        """One document, decoded from JSON but not yet into snapshots. Raises ``RemoteError``."""
        import http.client

        query = {}
        if after is not None:
            query["after"] = str(after)
        if specs_generation is not None:
            query["specs"] = str(specs_generation)
        path = self._base_path + API_PATH + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Accept": "application/json", "User-Agent": "perfdeck-window"}
        if self._auth:
            headers["Authorization"] = self._auth
        reused = self._connection is not None
        try:
            response, body = self._get(path, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            self.close()  # a broken keep-alive connection is never reused
            if not reused or self._aborted:
                raise self._network_error(exc) from None
            # The agent may simply have closed an idle keep-alive connection: one fresh try.
            try:
                response, body = self._get(path, headers)
            except Exception as again:
                self.close()
                raise self._network_error(again) from None
        except Exception as exc:
            self.close()
            raise self._network_error(exc) from None
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        if response.status != 200:
            raise self._http_error(response.status, response.reason, body)
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise RemoteError(f"{self.url} answered with something that is not JSON: is it a perfdeck serve "
                              "agent?", "check the address and port", kind="protocol") from None

    def _get(self, path: str, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
        connection = self._connect()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response, response.read()

    def _network_error(self, exc: BaseException) -> RemoteError:
        import http.client
        import ssl

        where = self.address
        if isinstance(exc, ssl.SSLCertVerificationError):
            return RemoteError(f"the TLS certificate of {where} is not trusted ({exc.verify_message})",
                               "give the CA or the agent's certificate with --tls-ca FILE")
        if isinstance(exc, ssl.SSLError):
            return RemoteError(f"TLS with {where} failed ({exc.reason or exc}): does the agent serve https?",
                               "use http:// for an agent started without --tls-cert")
        if isinstance(exc, ConnectionRefusedError):
            return RemoteError(f"nothing listens at {where} (connection refused)",
                               "is perfdeck serve running there, with --listen on that address?")
        if isinstance(exc, (TimeoutError, socket.timeout)):
            return RemoteError(f"no answer from {where} within {self.options.timeout:g} s",
                               "check the network and that the agent is running")
        if isinstance(exc, socket.gaierror):
            return RemoteError(f"the host name {self._host!r} cannot be resolved ({exc.strerror})",
                               "check the address")
        if isinstance(exc, http.client.RemoteDisconnected):
            # Also what a TLS port does with plain HTTP: say both.
            return RemoteError(f"{where} closed the connection without answering",
                               "the agent may have stopped; if it serves TLS, use https://" if not self._https
                               else "the agent may have stopped")
        if isinstance(exc, http.client.BadStatusLine) and self._https is False:
            return RemoteError(f"{where} did not answer in HTTP: does it serve https?", "use https://")
        if isinstance(exc, (ConnectionError, http.client.HTTPException)):
            return RemoteError(f"the connection to {where} broke ({type(exc).__name__}: {exc})",
                               "the agent may have stopped; retrying")
        if isinstance(exc, OSError):
            return RemoteError(f"cannot reach {where} ({exc.strerror or exc})", "check the network")
        return RemoteError(f"reading {where} failed ({type(exc).__name__}: {exc})")

    def _http_error(self, status: int, reason: str, body: bytes) -> RemoteError:
        where = self.address
        if status == 401:
            given = "the token" if self.options.token_file else (
                "the user and password" if self.options.basic_auth_file else "no credentials")
            return RemoteError(f"the agent at {where} refused {given} (HTTP 401 Unauthorized)",
                               "give the agent's token with --token-file FILE (or --basic-auth-file)",
                               kind="auth")
        if status == 403:
            return RemoteError(f"the agent at {where} forbids access (HTTP 403)",
                               "check the credentials the agent accepts", kind="auth")
        if status == 404:
            return RemoteError(f"{where} has no {API_PATH}: not a perfdeck serve agent, or an older one",
                               "check the address and port; update perfdeck on that host", kind="protocol")
        detail = body[:200].decode("utf-8", "replace").strip()
        return RemoteError(f"the agent at {where} answered HTTP {status} {reason}"
                           + (f": {detail}" if detail else ""), "see the agent's log")


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    """Where the connection stands, for the title and the status bar.

    ``state``: ``connecting`` (no answer yet), ``connected``, ``lost`` (retrying), or ``failed``
    (a configuration error retrying cannot fix: polling stops).
    """

    state: str
    url: str
    host: str
    message: str
    interval: float | None = None
    retry_in: float | None = None
    missed_intervals: int = 0
    problem: str = ""  # the RemoteError kind behind a lost or failed state (auth, connect, ...)


@dataclass
class _Cursor:
    """What the client holds of the agent's stream."""

    seq: int | None = None
    timestamp: float | None = None
    monotonic: float | None = None
    specs_generation: int | None = None
    specs: dict[str, SeriesSpec] = field(default_factory=dict)
    counter_specs: dict[str, CounterSpec] = field(default_factory=dict)


# (the agent's specs, the time of its first snapshot, how many seconds before it) -> older
# snapshots, oldest first.
HistoryLoader = Callable[[Mapping[str, SeriesSpec], float, float], Sequence[Snapshot]]


class RemoteSource:
    """Polls one agent and turns its documents into snapshots for the window. See the module docstring.

    ``client`` may be given (tests); otherwise one is built from ``options`` on ``open()``, where a
    bad address or credential file becomes a ``failed`` status rather than an exception.
    """

    collectors: tuple = ()  # no local collectors to slow down

    @property
    def engine(self) -> RemoteSource:
        """What the views ask for static facts (``static_facts``), as they ask the local engine."""
        return self

    def __init__(self, options: ConnectOptions, client: AgentClient | None = None,
                 fallback_interval: float = 1.0, history: HistoryLoader | None = None) -> None:
        self.options = options
        self.url = options.url
        with contextlib.suppress(RemoteError):
            self.url = normalise_url(options.url)
        self.host = urllib.parse.urlsplit(self.url).hostname or options.url
        self._client = client
        self.interval: float | None = None
        self._fallback_interval = fallback_interval
        self._cursor = _Cursor()
        self._failures = 0
        self._lost_since: float | None = None
        self._failed: RemoteError | None = None
        self._families: dict[str, Any] = {}
        # Older history from elsewhere (Prometheus), asked once, before the agent's first snapshot:
        # ``history_seconds`` of it (the window sets what its History holds).
        self._history = history if history is not None else options.history
        self.history_seconds = 3600.0
        self._interrupted = False
        self._catching_up = True  # the next request follows a (re)connection: see _catch_up
        self.status = RemoteStatus("connecting", self.url, self.host, f"connecting to {self.url}…")
        self.history_note = ""  # what the history loader gave, for the connected message

    # --- the sampler-facing protocol ---------------------------------------------------------------
    def open(self) -> None:
        if self._client is None and self._failed is None:
            try:
                self._client = AgentClient(self.options)
            except RemoteError as exc:
                self._failed = exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def interrupt(self) -> None:
        """Thread-safe: stop polling; a request in flight fails at once instead of at its timeout."""
        self._interrupted = True
        if self._client is not None:
            self._client.abort()

    def static_facts(self) -> dict[str, dict[str, str]]:
        """What the views may say about the remote host's counting mode: only what the agent told."""
        perf = self._families.get("perf")
        if not isinstance(perf, Mapping):
            return {}
        if perf.get("available", True):
            return {"perf": {"mode": f"as the agent on {self.host} counts (it does not report its mode)"}}
        return {"perf": {"mode": f"none on {self.host}: {perf.get('reason', 'unavailable')}"}}

    def poll(self, now: float, timestamp: float | None = None) -> PollResult:
        """One request to the agent. ``now`` is this machine's monotonic clock (for the outage length)."""
        del timestamp  # the agent's snapshots carry their own times
        if self._interrupted:
            return PollResult((), None, MAX_BACKOFF_SECONDS)
        if self._failed is not None:
            return self._give_up(self._failed)
        assert self._client is not None, "open() first"
        interval = self.interval or self._fallback_interval
        try:
            doc = self._catch_up() if self._catching_up else self._fetch()
            pairs, specs, counter_specs = wire.decode_document(doc, self._cursor.specs,
                                                               self._cursor.counter_specs)
        except RemoteError as exc:
            if exc.kind == "config":
                self._failed = exc
                return self._give_up(exc)
            return self._lost(exc, now, interval)
        except (wire.WireFormatError, KeyError, TypeError, ValueError, AttributeError) as exc:
            # Whatever a peer sends, it is one message and a retry, never an exception in the sampler.
            return self._lost(RemoteError(f"{self.url} sent a malformed document: {exc}",
                                          "check that both ends run compatible perfdeck versions",
                                          kind="protocol"), now, interval)
        self._catching_up = False
        self._cursor.specs, self._cursor.counter_specs = specs, counter_specs
        generation = doc.get("specs_generation")
        self._cursor.specs_generation = int(generation) if isinstance(generation, int) else None
        self.host = str(doc.get("host") or self.host)
        families = doc.get("families")
        self._families = dict(families) if isinstance(families, Mapping) else {}
        agent_interval = doc.get("interval")
        if isinstance(agent_interval, (int, float)) and math.isfinite(agent_interval) and agent_interval > 0:
            self.interval = float(agent_interval)
        interval = self.interval or self._fallback_interval
        older: list[Snapshot] = []
        if self._history is not None and pairs:
            older = self._older_history(specs, pairs[0][1], interval)
        snapshots, missed = self._with_gaps(pairs, interval)
        snapshots = older + snapshots
        status = None
        if self._failures or self.status.state != "connected":
            status = self._connected(now, missed, interval)
        elif missed:
            status = RemoteStatus("connected", self.url, self.host,
                                  f"{missed} intervals from {self.host} were missed (shown as a gap)",
                                  interval, missed_intervals=missed)
            self.status = status
        self._failures = 0
        self._lost_since = None
        return PollResult(tuple(snapshots), status, interval)

    # --- pieces -------------------------------------------------------------------------------------
    def _fetch(self) -> Any:
        assert self._client is not None
        cursor = self._cursor
        generation = cursor.specs_generation if cursor.specs else None
        return self._client.fetch(after=cursor.seq, specs_generation=generation)

    def _catch_up(self) -> Any:
        """The first request after (re)connecting: what the agent still holds since our last snapshot.

        A probe (``after`` omitted: the newest snapshot, with the specs) says how far behind we are
        and how many series a snapshot has; then one request asks for at most ``POINT_BUDGET``
        values: all the agent holds (``perfdeck serve`` keeps ten minutes) for a small host, the
        newest part of it for a 256-CPU one (the rest is a gap). A restarted agent whose numbers
        went down is started over, specs included.
        """
        assert self._client is not None
        probe = self._client.fetch(after=None, specs_generation=None)
        cursor = self._cursor
        _newest_only, specs, counter_specs = wire.decode_document(probe, cursor.specs, cursor.counter_specs)
        newest = probe.get("seq")
        generation = probe.get("specs_generation")
        if not isinstance(newest, int) or not isinstance(generation, int):
            return probe  # an agent with nothing sampled yet
        if cursor.seq is not None and newest < cursor.seq:  # restarted, numbering from the start
            cursor.seq = None
        cursor.specs, cursor.counter_specs, cursor.specs_generation = specs, counter_specs, generation
        floor = max(0, newest - max(1, POINT_BUDGET // max(len(specs), 1)))
        after = floor if cursor.seq is None else max(cursor.seq, floor)
        return self._client.fetch(after=after, specs_generation=generation)

    def _with_gaps(self, pairs: list[tuple[int, Snapshot]], interval: float) -> tuple[list[Snapshot], int]:
        """The new snapshots in time order, with empty rows where the agent's sequence skips."""
        cursor = self._cursor
        out: list[Snapshot] = []
        missed_total = 0
        for seq, snapshot in pairs:
            if cursor.seq is not None and seq <= cursor.seq:
                continue  # already held (an agent that answered with more than asked)
            if cursor.timestamp is not None:
                if snapshot.timestamp <= cursor.timestamp:
                    continue  # the History is in time order; an agent clock stepping back is skipped
                # The agent's sequence skips when it no longer held what we missed (restarted,
                # buffer wrapped); a contiguous one spanning many intervals is a stalled or
                # restarted agent whose numbers happen to follow ours. Both are holes in time.
                contiguous = cursor.seq is not None and seq == cursor.seq + 1
                if not contiguous or snapshot.timestamp - cursor.timestamp > GAP_FACTOR * interval:
                    gap_rows = self._gap_rows(cursor, snapshot, interval)
                    missed_total += len(gap_rows)
                    out.extend(gap_rows)
            out.append(snapshot)
            cursor.seq, cursor.timestamp, cursor.monotonic = seq, snapshot.timestamp, snapshot.monotonic
        return out, missed_total

    def _older_history(self, specs: Mapping[str, SeriesSpec], first: Snapshot,
                       interval: float) -> list[Snapshot]:
        """What the history loader has before the agent's first snapshot, once, with an empty row at
        the seam when the two do not meet (the agent restarted since Prometheus last scraped it)."""
        loader, self._history = self._history, None
        assert loader is not None
        try:
            older = [s for s in loader(specs, first.timestamp, self.history_seconds)
                     if s.timestamp < first.timestamp]
        except RemoteError as exc:
            self.history_note = f"no older history: {exc}"
            return []
        if not older:
            self.history_note = "no older history"
            return []
        span = first.timestamp - older[-1].timestamp
        step = (older[-1].timestamp - older[0].timestamp) / max(len(older) - 1, 1)
        # Rows from a continuous history end within one step of the agent's first snapshot.
        if span > 1.5 * max(interval, step):
            seam = older[-1].timestamp + span / 2
            older.append(Snapshot(timestamp=seam, monotonic=seam, values={}, specs=specs))
        minutes = (first.timestamp - older[0].timestamp) / 60
        self.history_note = f"{minutes:.0f} min of older history loaded ({len(older)} rows)"
        return older

    def _gap_rows(self, cursor: _Cursor, after: Snapshot, interval: float) -> list[Snapshot]:
        assert cursor.timestamp is not None
        span = after.timestamp - cursor.timestamp
        missed = max(1, round(span / interval) - 1)
        rows = min(missed, MAX_GAP_ROWS)
        step = span / (rows + 1)
        base_mono = cursor.monotonic if cursor.monotonic is not None else after.monotonic - span
        return [Snapshot(timestamp=cursor.timestamp + step * k, monotonic=base_mono + step * k, values={},
                         specs=after.specs, counter_specs=after.counter_specs)
                for k in range(1, rows + 1)]

    def _connected(self, now: float, missed: int, interval: float) -> RemoteStatus:
        if self._failures and self._lost_since is not None:
            outage = now - self._lost_since
            message = f"reconnected to {self.host} after {outage:.0f} s"
            message += f"; {missed} missed intervals shown as a gap" if missed else "; nothing was missed"
        else:
            message = f"connected to {self.host}, every {interval:g} s"
            if self.history_note:
                message += f"; {self.history_note}"
        self.status = RemoteStatus("connected", self.url, self.host, message, interval,
                                   missed_intervals=missed)
        return self.status

    def _lost(self, error: RemoteError, now: float, interval: float) -> PollResult:
        self._failures += 1
        self._catching_up = True  # the agent may have restarted: probe it again, specs included
        if self._lost_since is None:
            self._lost_since = now
        self.close()
        delay = min(max(interval, MIN_BACKOFF_SECONDS) * 2 ** (self._failures - 1), MAX_BACKOFF_SECONDS)
        state = "lost" if self._cursor.seq is not None or self.status.state == "lost" else "connecting"
        verb = "connection to" if state == "lost" else "cannot connect to"
        message = f"{verb} {self.host} lost: {error}" if state == "lost" else f"{verb} {self.host}: {error}"
        self.status = RemoteStatus(state, self.url, self.host, f"{message}; retrying in {delay:g} s",
                                   self.interval, retry_in=delay, problem=error.kind)
        return PollResult((), self.status, delay)

    def _give_up(self, error: RemoteError) -> PollResult:
        if self.status.state != "failed":
            message = f"cannot connect to {self.url}: {error}"
            self.status = RemoteStatus("failed", self.url, self.host, message, problem=error.kind)
            return PollResult((), self.status, MAX_BACKOFF_SECONDS)
        return PollResult((), None, MAX_BACKOFF_SECONDS)


# --- recent hosts (File > Connect to host…) --------------------------------------------------------
class RecentHosts:
    """The last ``MAX_RECENT_HOSTS`` connections, newest first, in a small JSON file beside the
    settings (file paths and flags only, never a secret). A corrupt file is set aside as
    ``<name>.bad`` with a note, and the list starts empty; nothing raises."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.note = ""

    def load(self) -> list[ConnectOptions]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            self.note = f"recent hosts could not be read from {self.path}: {reason}"
            return []
        try:
            entries = [ConnectOptions.from_json(entry) for entry in json.loads(text)]
        except (ValueError, TypeError, KeyError, AttributeError):
            bad = self.path.with_name(self.path.name + ".bad")
            with contextlib.suppress(OSError):
                os.replace(self.path, bad)
            self.note = f"the recent hosts file was damaged; it was kept as {bad} and the list starts empty"
            return []
        return entries[:MAX_RECENT_HOSTS]

    def remember(self, options: ConnectOptions) -> str:
        """Put ``options`` first (replacing the same URL). Returns an error message, empty on success."""
        entries = [e for e in self.load() if e.url != options.url]
        entries.insert(0, options)
        text = json.dumps([e.to_json() for e in entries[:MAX_RECENT_HOSTS]], indent=1)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Written beside the file and renamed: a crash never leaves half a list.
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=self.path.parent, delete=False,
                                             prefix=self.path.name, suffix=".tmp") as handle:
                handle.write(text)
            os.replace(handle.name, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(handle.name)
            return f"recent hosts could not be saved to {self.path}: {exc.strerror or exc}"
        return ""


def recent_hosts_path(config_dir: Path) -> Path:
    return config_dir / RECENT_HOSTS_FILE


def describe(options: ConnectOptions) -> str:
    """A short label for menus: the URL plus how it authenticates."""
    extras = [label for label, on in (("token", options.token_file), ("basic auth", options.basic_auth_file),
                                      ("insecure TLS", options.insecure)) if on]
    return options.url + (f" ({', '.join(extras)})" if extras else "")

