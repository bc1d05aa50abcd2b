"""A minimal stand-in for ``perfdeck serve``'s snapshot endpoint, serving documents a test made.

It serves exactly ``model.wire``'s document at ``GET /api/v1/snapshots?after=SEQ&specs=GEN``
(bearer-token auth when given a token), from ``AgentState``: a bounded buffer of ``(seq, snapshot)``
the test fills itself, so every value, sequence hole and restart is known exactly. The tests of the
window against a real agent run ``perfdeck serve`` itself (``serve_process.py``).

As ``perfdeck serve`` does, ``after=0`` returns everything it holds and no ``after`` returns the
newest snapshot only.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import urllib.parse
from collections import deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from perfdeck import __version__
from perfdeck.model import wire
from perfdeck.model.series import Snapshot

API_PATH = "/api/v1/snapshots"


class AgentState:
    """What the agent holds: the newest snapshots with their sequence numbers, and its specs generation."""

    def __init__(self, host: str = "test-agent", interval: float = 1.0, keep: int = 600,
                 families: Mapping[str, Mapping[str, Any]] | None = None, first_seq: int = 1) -> None:
        self.host = host
        self.interval = interval
        self.families = dict(families or {})
        self.token: str | None = None
        self.override: Any = None  # served instead of the document when set
        self.requests: list[str] = []  # paths asked for, for tests
        self._entries: deque[tuple[int, Snapshot]] = deque(maxlen=keep)
        self._next_seq = first_seq
        self._generation = 0
        self._spec_keys: tuple[frozenset[str], frozenset[str]] | None = None
        self._lock = threading.Lock()

    def add(self, snapshot: Snapshot, seq: int | None = None) -> int:
        with self._lock:
            if seq is not None:
                self._next_seq = seq
            seq = self._next_seq
            self._next_seq += 1
            keys = (frozenset(snapshot.specs), frozenset(snapshot.counter_specs))
            if keys != self._spec_keys:
                self._spec_keys = keys
                self._generation += 1
            self._entries.append((seq, snapshot))
            return seq

    def document(self, after: int | None, specs: int | None) -> dict[str, Any]:
        with self._lock:
            entries = ([self._entries[-1]] if after is None and self._entries else
                       [(s, snap) for s, snap in self._entries if after is not None and s > after])
            newest = self._entries[-1][0] if self._entries else None
            generation = self._generation
        doc = wire.encode_document(entries, host=self.host, version=__version__, interval=self.interval,
                                   specs_generation=generation, include_specs=specs != generation,
                                   families=self.families)
        doc["seq"] = newest  # the newest held, even when nothing is new for this client
        return doc


def make_handler(state: AgentState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client reuses its connection

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            state.requests.append(self.path)
            if parts.path != API_PATH:
                self._send(404, b"not found", "text/plain")
                return
            if state.token is not None and self.headers.get("Authorization") != f"Bearer {state.token}":
                self._send(401, b"unauthorized", "text/plain")
                return
            if state.override is not None:  # a crafted document, for tests of malformed input
                self._send(200, json.dumps(state.override).encode())
                return
            query = urllib.parse.parse_qs(parts.query)
            after = int(query["after"][0]) if "after" in query else None
            specs = int(query["specs"][0]) if "specs" in query else None
            body = json.dumps(state.document(after, specs), allow_nan=False).encode()
            self._send(200, body)

    return Handler


class AgentServer(ThreadingHTTPServer):
    """Remembers its open connections, so ``stop`` drops them as a killed agent would."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        self.connections.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass  # a client that went away mid-request is normal here

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


def serve(state: AgentState, port: int = 0) -> AgentServer:
    """Start serving on 127.0.0.1 in a daemon thread; ``server.server_address[1]`` is the port."""
    server = AgentServer(("127.0.0.1", port), make_handler(state))
    threading.Thread(target=server.serve_forever, name="test-agent", daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
