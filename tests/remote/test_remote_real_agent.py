"""``model.remote.RemoteSource`` against a real ``perfdeck serve``: TLS with a CA file, basic auth."""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest
from agent_server import free_port
from serve_process import HOST, INTERVAL, Agent

from perfdeck.model.remote import ConnectOptions, RemoteSource


def poll_until_snapshots(source: RemoteSource, attempts: int = 50):
    """Poll like the sampler does (the agent may not have a new tick yet); at most ``attempts`` times."""
    result = None
    for attempt in range(attempts):
        result = source.poll(now=float(attempt))
        if result.snapshots or (result.status is not None and result.status.state != "connected"):
            return result
    return result


@pytest.fixture
def tls_agent(tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is missing: tools/perfdeck.sh test installs it")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    agent = Agent(free_port(), None, "--tls-cert", str(cert), "--tls-key", str(key), scheme="https",
                  context=ssl.create_default_context(cafile=str(cert)))
    agent.start()
    yield agent, cert
    agent.kill()


def test_https_agent_with_its_certificate_as_ca(tls_agent):
    agent, cert = tls_agent
    source = RemoteSource(ConnectOptions(agent.url, tls_ca=str(cert), timeout=5.0))
    source.open()
    result = poll_until_snapshots(source)
    assert result.status.state == "connected" and result.status.host == HOST
    assert result.status.interval == INTERVAL
    assert result.snapshots[-1].values["mem.total"] > 0
    source.close()


def test_https_agent_without_the_ca_is_a_clear_message(tls_agent):
    agent, _cert = tls_agent
    source = RemoteSource(ConnectOptions(agent.url, timeout=5.0))
    source.open()
    message = source.poll(now=0.0).status.message
    assert f"the TLS certificate of 127.0.0.1:{agent.port} is not trusted" in message
    assert "--tls-ca FILE" in message
    insecure = RemoteSource(ConnectOptions(agent.url, insecure=True, timeout=5.0))
    insecure.open()
    assert poll_until_snapshots(insecure).status.state == "connected"


def test_plain_http_to_an_https_agent_is_named(tls_agent):
    agent, _cert = tls_agent
    source = RemoteSource(ConnectOptions(agent.url.replace("https://", "http://"), timeout=5.0))
    source.open()
    status = source.poll(now=0.0).status
    assert status.state == "connecting" and status.retry_in
    assert f"127.0.0.1:{agent.port} closed the connection without answering" in status.message
    assert "if it serves TLS, use https://" in status.message


def test_basic_auth_against_the_real_agent(tmp_path):
    users = tmp_path / "users"
    users.write_text("alice:wonderland\n")
    agent = Agent(free_port(), None, "--basic-auth-file", str(users))
    agent.start()
    try:
        good = RemoteSource(ConnectOptions(agent.url, basic_auth_file=str(users), timeout=5.0))
        good.open()
        assert poll_until_snapshots(good).status.state == "connected"
        wrong = tmp_path / "wrong"
        wrong.write_text("alice:looking-glass\n")
        bad = RemoteSource(ConnectOptions(agent.url, basic_auth_file=str(wrong), timeout=5.0))
        bad.open()
        status = bad.poll(now=0.0).status
        assert status.problem == "auth"
        assert "refused the user and password (HTTP 401 Unauthorized)" in status.message
    finally:
        agent.kill()
