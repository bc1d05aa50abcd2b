"""``perfdeck serve``: the headless agent for Prometheus, Grafana and the remote window.

Runs the same collectors and ``SamplingEngine`` as ``perfdeck record`` on a background tick and
serves the newest snapshot at ``/metrics`` (Prometheus text or OpenMetrics), the recent ones at
``/api/v1/snapshots`` (``model.wire``) and a status page at ``/``. Imports no Qt. SIGTERM and
SIGINT stop it cleanly (exit 0). A bad option gives one line on stderr and exit status 2.
See docs/prometheus.md.
"""

from __future__ import annotations

import argparse
import math
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

from perfdeck import __version__
from perfdeck.model import registry
from perfdeck.model.series import Unavailable

HELP = "serve metrics to Prometheus (/metrics) and to a remote PerfDeck window (/api/v1/snapshots)"
MIN_INTERVAL = 0.1
MAX_INTERVAL = 3600.0
DEFAULT_LISTEN = "127.0.0.1:10147"  # exporter.server.DEFAULT_LISTEN; repeated here to keep --help light


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Example: perfdeck serve --listen 0.0.0.0:10147 --token-file /etc/perfdeck/token "
                     "--tls-cert cert.pem --tls-key key.pem. Prometheus scrapes /metrics; a PerfDeck window "
                     "connects with 'perfdeck --connect URL'. See docs/prometheus.md.")
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="ADDR:PORT",
                        help=f"address and port to serve on (default {DEFAULT_LISTEN}, this host only; "
                        "[::]:PORT or 0.0.0.0:PORT for every interface)")
    parser.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                        help=f"sampling interval, {MIN_INTERVAL:g} to {MAX_INTERVAL:g} s (default 1)")
    parser.add_argument("--idle-interval", type=float, default=None, metavar="SECONDS",
                        help="sampling interval while no PerfDeck window is connected (default and minimum: "
                        "--interval); e.g. your Prometheus scrape interval, to sample no more often than it "
                        "reads")
    parser.add_argument("--metrics", default=None, metavar="FAMILIES",
                        help="comma-separated metric families (default: all; known: "
                        f"{', '.join(registry.family_names())})")
    parser.add_argument("--token-file", type=Path, default=None, metavar="FILE",
                        help="require 'Authorization: Bearer TOKEN', TOKEN being the file's content")
    parser.add_argument("--basic-auth-file", type=Path, default=None, metavar="FILE",
                        help="require HTTP basic auth; FILE has one 'user:password' per line")
    parser.add_argument("--tls-cert", type=Path, default=None, metavar="CERT.pem",
                        help="serve HTTPS with this certificate (chain) in PEM")
    parser.add_argument("--tls-key", type=Path, default=None, metavar="KEY.pem",
                        help="the certificate's private key (if not in CERT.pem)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing except warnings and errors")


def _fail(message: str) -> int:
    print(f"perfdeck serve: error: {message}", file=sys.stderr)
    return 2


def _warn(message: str) -> None:
    print(f"perfdeck serve: warning: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    # Heavy imports here, so `perfdeck --help` stays light.
    from perfdeck.commands.record import parse_families
    from perfdeck.exporter import server as http
    from perfdeck.exporter.agent import Agent
    from perfdeck.exporter.prometheus import build_registry
    from perfdeck.model.engine import SamplingEngine

    interval = args.interval
    if not (math.isfinite(interval) and MIN_INTERVAL <= interval <= MAX_INTERVAL):
        return _fail(f"--interval {interval:g} is out of range; "
                     f"use {MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds")
    idle = args.idle_interval
    if idle is not None and not (math.isfinite(idle) and MIN_INTERVAL <= idle <= MAX_INTERVAL):
        # Below --interval it simply means --interval (the agent never ticks slower with a window).
        return _fail(f"--idle-interval {idle:g} is out of range; use {MIN_INTERVAL:g} to {MAX_INTERVAL:g} "
                     "seconds")
    try:
        families = parse_families(args.metrics)
        host, port = http.parse_listen(args.listen)
        auth, warnings = http.load_auth(args.token_file, args.basic_auth_file)
        tls = http.tls_context(args.tls_cert, args.tls_key)
    except (ValueError, http.ServeConfigError) as exc:
        return _fail(str(exc))
    for warning in warnings:
        _warn(warning)
    collectors = []
    load_errors: dict[str, Unavailable] = {}
    for name in families:
        try:
            collectors.extend(registry.create_collectors([name]))
        except Exception as exc:  # a family that fails to import must not stop the agent
            load_errors[name] = Unavailable(f"cannot be loaded ({type(exc).__name__}: {exc})")
    engine = SamplingEngine(collectors)
    titles = {name: registry.family(name).title for name in families}
    agent = Agent(engine, titles, interval=interval, version=__version__, host=socket.gethostname(),
                  load_errors=load_errors, idle_interval=idle)
    try:
        server = http.AgentServer((host, port), agent, build_registry(agent), auth, tls)
    except http.ServeConfigError as exc:
        return _fail(str(exc))

    if not http.is_loopback(host):
        missing = [what for what, present in (("TLS", tls is not None), ("authentication", auth.enabled))
                   if not present]
        if missing:
            _warn(f"listening on {host}, reachable from other hosts, without {' or '.join(missing)}: "
                  "anyone who can reach the port can read this host's metrics"
                  + (" in clear text" if tls is None else "") + " (see --token-file and --tls-cert)")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        agent.request_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    engine.open()
    agent.tick()  # the first sample before the first scrape can arrive
    http_thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                   name="perfdeck-serve-http", daemon=True)
    http_thread.start()
    if not args.quiet:
        available = [f.name for f in agent.family_status().values() if f.available]
        idle_note = (f" ({agent.idle_interval:g} s with no window connected)"
                     if agent.idle_interval > interval else "")
        print(f"perfdeck serve: {server.url}/metrics every {interval:g} s{idle_note}; families: "
              f"{', '.join(available) or 'none'} (unavailable ones and why: {server.url}/)", file=sys.stderr,
              flush=True)
    try:
        agent.run(stop)
    finally:
        server.shutdown()
        server.server_close()
        engine.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not args.quiet:
        print("perfdeck serve: stopped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m perfdeck.commands.serve``: the same command without loading the other ones."""
    parser = argparse.ArgumentParser(prog="perfdeck serve", description=HELP)
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
