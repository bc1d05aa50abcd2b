"""``perfdeck`` / ``perfdeck gui``: start the desktop window."""

from __future__ import annotations

import argparse
import sys

HELP = "open the PerfDeck window (the default)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interval", type=float, default=None, metavar="SECONDS",
                        help="sampling interval, 0.1 to 10 s (default: from settings, 1 s)")
    parser.add_argument("--tab", default=None, help="tab to show first, e.g. 'CPU'")
    parser.add_argument("--minimized", action="store_true", help="start hidden in the system tray")
    parser.add_argument("--open", dest="open_recordings", action="append", default=[], metavar="CSV",
                        help="open a PerfDeck recording (may be given several times)")
    # On the top level these options already sit in an argument group, and groups don't nest.
    remote = (parser.add_argument_group("a remote host (an agent started with perfdeck serve)")
              if isinstance(parser, argparse.ArgumentParser) else parser)
    remote.add_argument("--connect", default=None, metavar="URL",
                        help="show the host whose agent listens at URL (http://HOST:PORT or https://…) "
                             "instead of this machine")
    remote.add_argument("--prometheus", default=None, metavar="URL",
                        help="list the PerfDeck agents this Prometheus server scrapes (File → Hosts on "
                             "Prometheus…); with --host, open one with its history from Prometheus")
    remote.add_argument("--host", default=None, metavar="INSTANCE",
                        help="with --prometheus: the agent to open (its instance, e.g. db-7:10147, or db-7)")
    remote.add_argument("--token-file", default="", metavar="FILE", help="bearer token for the agent")
    remote.add_argument("--basic-auth-file", default="", metavar="FILE",
                        help="one line USER:PASSWORD for the agent")
    remote.add_argument("--tls-ca", default="", metavar="FILE",
                        help="PEM file of the CA (or self-signed certificate) of an https agent")
    remote.add_argument("--tls-insecure", action="store_true",
                        help="do not verify the agent's TLS certificate (testing only)")
    parser.add_argument("--live", action="store_true",
                        help="with --open: also open the live window (by default only the recordings)")
    parser.add_argument("--smoke-test", action="store_true",
                        help="start normally, draw every tab once with live data, then exit "
                             "(status 0 if all of them drew; for checking an installation)")


def _connect_options(args: argparse.Namespace) -> object:
    """Checked ``ConnectOptions`` for ``--connect`` (None without it); raises ``RemoteError``."""
    from perfdeck.model.remote import ConnectOptions, RemoteError, check_options

    if getattr(args, "host", None) and not getattr(args, "prometheus", None):
        raise RemoteError("--host needs --prometheus URL", "or use --connect URL for an agent", kind="config")
    if getattr(args, "prometheus", None) and getattr(args, "host", None):
        # Resolved here, before any window: an unknown host is one line and exit status 2.
        from perfdeck.model.prometheus import PrometheusClient, find_host, prometheus_history

        if args.connect:
            raise RemoteError("give either --connect or --prometheus with --host", kind="config")
        client = PrometheusClient(args.prometheus)
        host = find_host(client.hosts(), args.host)
        return check_options(ConnectOptions(host.agent_url, args.token_file, args.basic_auth_file,
                                            args.tls_ca, args.tls_insecure,
                                            history=prometheus_history(client, host)))
    if getattr(args, "prometheus", None) and not getattr(args, "host", None):
        from perfdeck.model.remote import normalise_url

        args.prometheus = normalise_url(args.prometheus)  # a bad address is caught before the window
        # The agents' credentials, for the hosts the user opens from the list.
        args.agent_options = ConnectOptions("", args.token_file, args.basic_auth_file, args.tls_ca,
                                            args.tls_insecure)
    if not getattr(args, "connect", None):
        for flag in ("token_file", "basic_auth_file", "tls_ca"):
            if getattr(args, flag, "") and not getattr(args, "prometheus", None):
                print(f"perfdeck: --{flag.replace('_', '-')} is only used with --connect URL; ignored",
                      file=sys.stderr)
        return None
    return check_options(ConnectOptions(args.connect, args.token_file, args.basic_auth_file, args.tls_ca,
                                        args.tls_insecure))


def run(args: argparse.Namespace) -> int:
    from perfdeck.model.remote import RemoteError

    try:
        args.connect_options = _connect_options(args)
    except RemoteError as exc:  # a bad address or credential file: one line, before any window
        print(f"perfdeck: cannot connect: {exc}", file=sys.stderr)
        return 2
    from perfdeck.gui.app import run_gui  # Qt is imported only here

    if getattr(args, "smoke_test", False):
        from perfdeck.gui.smoke import install_smoke_test

        install_smoke_test()
    return run_gui(args)
