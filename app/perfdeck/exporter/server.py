"""The agent's HTTP server: ``/metrics``, ``/api/v1/snapshots`` and an HTML ``/`` page, with optional
bearer-token or basic authentication and TLS. Standard library only, plus prometheus_client's
content negotiation (Prometheus text format, or OpenMetrics when the scraper asks for it)."""

from __future__ import annotations

import base64
import binascii
import gzip
import hmac
import html
import ipaddress
import json
import logging
import socket
import ssl
import sys
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.registry import CollectorRegistry

from perfdeck.exporter.agent import Agent

log = logging.getLogger(__name__)

DEFAULT_PORT = 10147  # see docs/prometheus.md: not on Prometheus' port allocation list; registered nowhere
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"


class ServeConfigError(ValueError):
    """A bad option (address, auth file, certificate): one line for the user, exit status 2."""


@dataclass(frozen=True)
class Auth:
    """Who may read the agent: a bearer token, or basic-auth ``user:password`` pairs, or nobody checks."""

    token: str | None = None
    users: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.token is not None or bool(self.users)

    def allows(self, header: str | None) -> bool:
        if not self.enabled:
            return True
        if not header:
            return False
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if self.token is not None and scheme.lower() == "bearer":
            return hmac.compare_digest(credentials.encode(), self.token.encode())
        if self.users and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            expected = self.users.get(user)
            # compare even for unknown users, so timing does not tell which user names exist
            matches = hmac.compare_digest(password.encode(), (expected or "\0").encode())
            return matches and expected is not None
        return False

    @property
    def challenge(self) -> str:
        return 'Basic realm="perfdeck"' if self.users else 'Bearer realm="perfdeck"'


def _read_secret(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ServeConfigError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ServeConfigError(f"the {what} file {path} is not UTF-8 text") from None
    return text


def load_auth(token_file: Path | None, basic_auth_file: Path | None) -> tuple[Auth, list[str]]:
    """The configured authentication and warnings (a secret file other users can read)."""
    warnings: list[str] = []
    if token_file is not None and basic_auth_file is not None:
        raise ServeConfigError("use either --token-file or --basic-auth-file, not both")
    for path in (token_file, basic_auth_file):
        if path is not None:
            try:
                if path.stat().st_mode & 0o004:
                    warnings.append(f"{path} is readable by every user on this host; chmod 600 it")
            except OSError:
                pass  # _read_secret reports it
    if token_file is not None:
        token = _read_secret(token_file, "token").strip()
        if not token:
            raise ServeConfigError(f"the token file {token_file} is empty")
        return Auth(token=token), warnings
    if basic_auth_file is not None:
        users: dict[str, str] = {}
        for number, line in enumerate(_read_secret(basic_auth_file, "basic-auth").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, password = line.partition(":")
            if not sep or not user or not password:
                raise ServeConfigError(f"{basic_auth_file}:{number}: expected 'user:password'")
            users[user] = password
        if not users:
            raise ServeConfigError(f"the basic-auth file {basic_auth_file} lists no 'user:password' line")
        return Auth(users=users), warnings
    return Auth(), warnings


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (every interface) -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ServeConfigError(f"--listen {text!r}: write an IPv6 address as [ADDRESS]:PORT")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ServeConfigError(f"--listen {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
        if ":" in host:
            raise ServeConfigError(f"--listen {text!r}: write an IPv6 address as [ADDRESS]:PORT")
    try:
        port = int(port_text)
    except ValueError:
        raise ServeConfigError(f"--listen {text!r}: the port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ServeConfigError(f"--listen {text!r}: the port must be 0 to 65535")
    return host or "0.0.0.0", port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None:
        raise ServeConfigError("--tls-key needs --tls-cert")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path, what in ((cert, "certificate"), (key, "key")):
        if path is not None:
            try:
                path.open("rb").close()  # ssl's own errors do not name the file
            except OSError as exc:
                raise ServeConfigError(f"cannot read the TLS {what} {path}: {exc.strerror or exc}") from None
    try:
        context.load_cert_chain(str(cert), str(key) if key else None)
    except (ssl.SSLError, OSError) as exc:
        raise ServeConfigError(f"cannot use the TLS certificate {cert}"
                               f"{' and key ' + str(key) if key else ''}: {exc}") from None
    return context


class AgentServer(ThreadingHTTPServer):
    """One thread per request; the request threads die with the process."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], agent: Agent, registry: CollectorRegistry, auth: Auth,
                 tls: ssl.SSLContext | None) -> None:
        self.agent = agent
        self.registry = registry
        self.auth = auth
        self.tls = tls
        try:
            infos = socket.getaddrinfo(address[0], address[1], type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise ServeConfigError(f"--listen {address[0]}:{address[1]}: cannot resolve {address[0]!r}: "
                                   f"{exc.strerror}") from None
        self.address_family = infos[0][0]
        try:
            super().__init__(infos[0][4][:2], _Handler)
        except OSError as exc:
            raise ServeConfigError(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}"
                                   + (" (is another perfdeck serve or exporter running there? choose another "
                                      "port with --listen)" if exc.errno == 98 else "")) from None
        if tls is not None:
            # The handshake runs lazily in the request thread, so a slow client cannot block accept().
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """A client that breaks off, speaks plain HTTP to the TLS port or fails the handshake is the
        client's problem: one debug line, not socketserver's traceback on stderr (the journal)."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # ssl.SSLError, ConnectionResetError, TimeoutError...
            log.debug("request from %s failed: %s", client_address[0], error)
        else:
            log.error("request from %s failed", client_address[0], exc_info=error)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{shown}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: AgentServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # a client that stops talking releases its thread
    server_version = "perfdeck-serve"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _maybe_gzip(self, body: bytes) -> tuple[bytes, dict[str, str]]:
        if len(body) > 1024 and gzip_accepted(self.headers.get("Accept-Encoding", "")):
            return gzip.compress(body, compresslevel=5), {"Content-Encoding": "gzip"}
        return body, {}

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if not self.server.auth.allows(self.headers.get("Authorization")):
            self._send(401, b"authentication required\n", "text/plain; charset=utf-8",
                       {"WWW-Authenticate": self.server.auth.challenge})
            return
        try:
            if url.path == "/metrics":
                self._metrics()
            elif url.path == "/api/v1/snapshots":
                self._snapshots(parse_qs(url.query))
            elif url.path in ("/", "/index.html"):
                self._send(200, index_page(self.server.agent).encode(), "text/html; charset=utf-8")
            else:
                self._send(404, b"not found: try /metrics, /api/v1/snapshots or /\n",
                           "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away
        except Exception:  # a bug while answering: a 500 and one logged error, the agent goes on
            log.exception("answering %s failed", url.path)
            self._send(500, b"internal error: see the agent's log\n", "text/plain; charset=utf-8")

    def _metrics(self) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        body, extra = self._maybe_gzip(encoder(self.server.registry))
        self._send(200, body, content_type, extra)

    def _snapshots(self, query: dict[str, list[str]]) -> None:
        try:
            after = int(query["after"][-1]) if "after" in query else None
            generation = int(query["specs"][-1]) if "specs" in query else None
        except ValueError:
            self._send(400, b"after and specs must be integers\n", "text/plain; charset=utf-8")
            return
        self.server.agent.note_table_reader()
        document = self.server.agent.document(after, generation)
        body, extra = self._maybe_gzip(json.dumps(document, allow_nan=False, separators=(",", ":")).encode())
        self._send(200, body, "application/json", extra)


def index_page(agent: Agent) -> str:
    """The small HTML page at ``/``: families, availability, reasons, version."""
    rows = []
    for fam in agent.family_status().values():
        state = "available" if fam.available else "unavailable"
        why = html.escape(fam.reason) + (f"<br><small>fix: {html.escape(fam.fix)}</small>" if fam.fix else "")
        rows.append(f"<tr class={state}><td>{html.escape(fam.name)}</td><td>{html.escape(fam.title)}</td>"
                    f"<td>{state}</td><td>{why}</td></tr>")
    latest = agent.latest()
    newest = (f"{len(latest[1].values)} series, {len(latest[1].totals)} counters in the newest sample"
              if latest else "no sample yet")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PerfDeck agent on {html.escape(agent.host)}</title>
<style>body{{font:15px system-ui,sans-serif;margin:2em;max-width:60em;color:#222}}
table{{border-collapse:collapse}}td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;
vertical-align:top}}.available td:nth-child(3){{color:#18794e}}.unavailable td:nth-child(3){{color:#b42318}}
</style></head><body>
<h1>PerfDeck agent on {html.escape(agent.host)}</h1>
<p>perfdeck {html.escape(agent.version)}, sampling every {agent.interval:g} s; {newest}.</p>
<p><a href="/metrics">/metrics</a> (Prometheus text or OpenMetrics) &middot;
<a href="/api/v1/snapshots">/api/v1/snapshots</a> (JSON for <code>perfdeck --connect</code>)</p>
<table><tr><th>family</th><th>title</th><th>state</th><th>reason</th></tr>
{''.join(rows)}
</table></body></html>
"""
