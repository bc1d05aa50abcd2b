"""A real ``perfdeck serve`` process on a fixed loopback port, for the remote-window tests.

It runs the tree the tests import (``APP`` first on its ``PYTHONPATH``), samples this machine's
real collectors, and can be killed (SIGKILL, as a crash or a lost host) and started again.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import perfdeck

APP = Path(perfdeck.__file__).resolve().parents[1]
HOST = socket.gethostname()  # what perfdeck serve names its host
INTERVAL = 0.2
TOKEN = "correct horse battery staple"


class Agent:
    """One real ``perfdeck serve`` process on a fixed loopback port; it can be killed and started again."""

    def __init__(self, port: int, token_file: Path | None = None, *extra: str, scheme: str = "http",
                 context: ssl.SSLContext | None = None) -> None:
        self.port = port
        self.token_file = token_file
        self.extra = extra  # more serve options: --tls-cert, --basic-auth-file...
        self.scheme = scheme
        self.context = context  # to check an https agent is up
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(APP) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "perfdeck", "serve", "--quiet", "--listen", f"127.0.0.1:{self.port}",
             "--interval", str(INTERVAL), "--metrics", "cpu,mem,proc", *self.extra,
             *(("--token-file", str(self.token_file)) if self.token_file else ())],
            env=env, stderr=subprocess.PIPE, text=True)
        for _attempt in range(400):  # until its status page answers (or it exits, saying why)
            if self.process.poll() is not None:
                raise AssertionError(f"perfdeck serve exited: {self.process.stderr.read()}")
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=5, context=self.context):
                    return
            except urllib.error.HTTPError:
                return  # it answers (with 401 without a token): it is up
            except OSError:
                time.sleep(0.05)
        raise AssertionError("perfdeck serve did not start listening")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # SIGKILL: no clean shutdown, as a crash or a lost host
            self.process.wait()
            self.process.stderr.close()

    def document(self) -> dict:
        request = urllib.request.Request(f"{self.url}/api/v1/snapshots?after=0",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
