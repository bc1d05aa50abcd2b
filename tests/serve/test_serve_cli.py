"""A real `perfdeck serve` process on loopback: endpoints, content negotiation, the JSON document for the
remote window, auth, TLS, clean signals, and one-line errors with exit status 2."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from serve_helpers import environment, free_port, get, running_agent, serve_command

from perfdeck.model import wire


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(serve_command(*args), env=environment(), capture_output=True, text=True,
                          timeout=120, check=False)


def _one_clean_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("perfdeck serve: error: ")
    return lines[0]


def test_metrics_page_and_snapshots_from_real_collectors() -> None:
    with running_agent("--metrics", "cpu,mem,sensors", "--interval", "0.2") as (_process, base):
        plain = get(base + "/metrics")
        assert plain.status == 200 and plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = plain.body.decode()
        assert "perfdeck_mem_total_bytes" in text or "# TYPE perfdeck_mem" in text
        assert 'perfdeck_family_available{family="cpu"} 1.0' in text
        openmetrics = get(base + "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
        assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
        assert openmetrics.body.decode().endswith("# EOF\n")
        zipped = get(base + "/metrics", {"Accept-Encoding": "gzip"})
        assert zipped.headers.get("Content-Encoding") == "gzip"
        assert b"perfdeck_family_available" in gzip.decompress(zipped.body)

        page = get(base + "/").body.decode()
        assert '<a href="/metrics">' in page and "perfdeck " in page
        sensors_available = 'perfdeck_family_available{family="sensors"} 1.0' in text
        assert ("<td>sensors</td><td>Sensors</td><td>available</td>" in page) == sensors_available

        first = json.loads(get(base + "/api/v1/snapshots").body)
        entries, specs, _counters = wire.decode_document(first, {})
        assert len(entries) == 1 and first["seq"] == entries[0][0]
        assert "cpu.util.total" in specs and "specs" in first
        assert first["families"]["cpu"]["available"] is True
        # What came after: only newer snapshots, oldest first, and no specs while the generation holds.
        newer: list = []
        for _ in range(200):
            doc = json.loads(get(f"{base}/api/v1/snapshots?after={first['seq']}"
                                 f"&specs={first['specs_generation']}").body)
            newer, _, _ = wire.decode_document(doc, specs)
            if len(newer) >= 3:
                break
            time.sleep(0.05)  # polling for the next ticks; nothing here asserts on time
        assert len(newer) >= 3
        seqs = [seq for seq, _ in newer]
        assert seqs == sorted(seqs) and seqs[0] == first["seq"] + 1
        assert ("specs" in doc) == (doc["specs_generation"] != first["specs_generation"])
        assert newer[-1][1].value("mem.total") == pytest.approx(entries[0][1].value("mem.total"), rel=0.01)
        stale = json.loads(get(f"{base}/api/v1/snapshots?specs=-1").body)
        assert "specs" in stale  # a client holding another generation gets the specs again
        assert get(f"{base}/api/v1/snapshots?after=abc").status == 400
        assert get(f"{base}/nothing-here").status == 404


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_it_cleanly(sig: signal.Signals) -> None:
    with running_agent("--metrics", "mem") as (process, _base):
        process.send_signal(sig)
        assert process.wait(60) == 0
        assert "Traceback" not in process.stderr.read()


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_clean_error_line(_run("--metrics", "mem", "--listen", f"127.0.0.1:{port}"))
    assert "Address already in use" in line and "--listen" in line


@pytest.mark.parametrize(("listen", "words"), [
    ("nonsense", "expected HOST:PORT"),
    ("127.0.0.1:99999", "0 to 65535"),
    ("127.0.0.1:http", "not a number"),
    ("192.0.2.1:9", "cannot listen on 192.0.2.1:9"),  # TEST-NET address: not on this host
    ("no-such-host.invalid:9", "cannot resolve"),
])
def test_a_bad_address_is_one_line_and_exit_2(listen: str, words: str) -> None:
    assert words in _one_clean_error_line(_run("--metrics", "mem", "--listen", listen))


def test_an_unreadable_or_corrupt_certificate_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = _one_clean_error_line(_run("--tls-cert", str(tmp_path / "none.pem")))
    assert "none.pem" in missing and "No such file" in missing
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    assert "cannot use the TLS certificate" in _one_clean_error_line(_run("--tls-cert", str(garbage)))


def test_bearer_token_from_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    token_file.chmod(0o600)
    good = {"Authorization": "Bearer s3cret-token"}
    with running_agent("--metrics", "mem", "--token-file", str(token_file), headers=good) as (_p, base):
        for path in ("/metrics", "/api/v1/snapshots", "/"):
            denied = get(base + path)
            assert denied.status == 401 and denied.headers["WWW-Authenticate"].startswith("Bearer")
            assert get(base + path, {"Authorization": "Bearer wrong"}).status == 401
            assert get(base + path, good).status == 200


def test_basic_auth_from_a_file(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("# user:password\nprometheus:pa:ss\n")
    users.chmod(0o600)

    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    with running_agent("--metrics", "mem", "--basic-auth-file", str(users),
                       headers=basic("prometheus", "pa:ss")) as (_p, base):
        assert get(base + "/metrics").status == 401
        assert get(base + "/metrics", basic("prometheus", "wrong")).status == 401
        assert get(base + "/metrics", basic("nobody", "pa:ss")).status == 401
        assert get(base + "/metrics", basic("prometheus", "pa:ss")).status == 200


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "token"
    empty.write_text("\n")
    assert "is empty" in _one_clean_error_line(_run("--token-file", str(empty)))


@pytest.mark.skipif(shutil.which("openssl") is None,
                    reason="openssl is missing (tools/perfdeck.sh test installs it)")
def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(cafile=str(cert))
    with running_agent("--metrics", "mem", "--tls-cert", str(cert), "--tls-key", str(key), scheme="https",
                       context=context) as (process, base):
        reply = get(base + "/metrics", context=context)
        assert reply.status == 200 and b"perfdeck_family_available" in reply.body
        with pytest.raises(OSError):  # plain HTTP to a TLS port gets no HTTP answer
            get(base.replace("https", "http") + "/metrics")
        with pytest.raises(OSError):  # neither does a client that does not trust the certificate
            get(base + "/metrics", context=ssl.create_default_context())
        assert get(base + "/metrics", context=context).status == 200  # and the agent goes on
    assert "Traceback" not in process.stderr_text, process.stderr_text  # a client's mistake is not ours


def test_listening_beyond_loopback_without_auth_or_tls_warns() -> None:
    port = free_port()
    process = subprocess.Popen(serve_command("--metrics", "mem", "--listen", f"0.0.0.0:{port}"),
                               env=environment(), stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        process.stderr.close()
    assert line.startswith("perfdeck serve: warning: listening on 0.0.0.0")
    assert "TLS or authentication" in line


@pytest.mark.parametrize(("args", "words"), [
    (("--metrics", "cpu,nonsense"), "unknown metric family 'nonsense'"),
    (("--interval", "0"), "--interval 0 is out of range"),
    (("--token-file", "/nonexistent/token"), "cannot read the token file /nonexistent/token"),
])
def test_bad_options_are_one_line_and_exit_2(args: tuple[str, ...], words: str) -> None:
    assert words in _one_clean_error_line(_run(*args))
