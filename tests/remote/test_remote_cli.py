"""``perfdeck --connect`` / ``--prometheus``: bad input is one line on stderr and exit status 2, before
any window (so these run without a display and without Qt)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from serve_process import APP


def perfdeck(*args: str) -> subprocess.CompletedProcess[str]:
    # No display and an impossible Qt platform: the errors must come before any Qt is loaded.
    env = {"PYTHONPATH": str(APP), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "none"}
    return subprocess.run([sys.executable, "-m", "perfdeck", *args], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize(("args", "line"), [
    (("--connect", "gopher://db-7"),
     "perfdeck: cannot connect: 'gopher://db-7' is not an http:// or https:// address (give one like "
     "http://HOST:PORT)"),
    (("--connect", "db-7:99999"),
     "perfdeck: cannot connect: 'db-7:99999' has an invalid port (give one like http://HOST:PORT)"),
    (("--connect", "db-7:10147", "--token-file", "/nonexistent/token"),
     "perfdeck: cannot connect: the token file /nonexistent/token does not exist (check --token-file)"),
    (("--connect", "https://db-7:10147", "--tls-ca", "/nonexistent/ca.pem"),
     "perfdeck: cannot connect: the CA file /nonexistent/ca.pem does not exist (check --tls-ca)"),
    (("--host", "db-7"),
     "perfdeck: cannot connect: --host needs --prometheus URL (or use --connect URL for an agent)"),
    (("--prometheus", "ftp://prometheus"),
     "perfdeck: cannot connect: 'ftp://prometheus' is not an http:// or https:// address (give one like "
     "http://HOST:PORT)"),
    (("--prometheus", "127.0.0.1:1", "--host", "db-7"),
     "perfdeck: cannot connect: nothing listens at 127.0.0.1:1 (connection refused) (is Prometheus "
     "running there?)"),
])
def test_bad_remote_arguments_are_one_line_and_status_2(args, line):
    result = perfdeck(*args)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line]
    assert result.stdout == ""


def test_an_empty_token_file_is_refused(tmp_path):
    token = tmp_path / "token"
    token.write_text("\n")
    result = perfdeck("--connect", "db-7:10147", "--token-file", str(token))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"perfdeck: cannot connect: the token file {token} is empty (check --token-file)"]
