"""``model.remote`` against a real HTTP agent on loopback (``agent_server``), with exact snapshots.

The agent here serves snapshots the test made, so every value, sequence hole and restart is known;
``poll`` is given its monotonic ``now`` so back-off is checked by counting, never by waiting.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from pathlib import Path

import pytest
from agent_server import AgentState, free_port, serve

from perfdeck.model import remote
from perfdeck.model.remote import ConnectOptions, RecentHosts, RemoteError, RemoteSource, normalise_url
from perfdeck.model.series import CounterSpec, SeriesSpec, Snapshot, Unavailable

SPECS = {
    "cpu.util.total": SeriesSpec("cpu.util.total", "CPU", "%", group="cpu.util", value_range=(0, 100)),
    "mem.total": SeriesSpec("mem.total", "Total", "B", group="mem.size"),
}
COUNTERS = {"cpu.seconds.user": CounterSpec("cpu.seconds.user", "cpu.seconds", "s", "CPU time",
                                            (("mode", "user"),))}
T0 = 1_800_000_000.0


def snap(i: int, interval: float = 1.0) -> Snapshot:
    return Snapshot(timestamp=T0 + i * interval, monotonic=5000.0 + i * interval,
                    values={"cpu.util.total": 10.0 + i, "mem.total": 8e9}, specs=SPECS,
                    unavailable={"perf": Unavailable("no hardware PMU", "run on bare metal")},
                    totals={"cpu.seconds.user": 100.0 + i}, counter_specs=COUNTERS)


@pytest.fixture
def agent():
    state = AgentState(host="db-7", interval=1.0,
                       families={"cpu": {"title": "CPU", "available": True},
                                 "perf": {"title": "Hardware counters", "available": False,
                                          "reason": "no hardware PMU", "fix": "run on bare metal"}})
    server = serve(state)
    yield state, server
    server.stop()


def source_for(server, **options) -> RemoteSource:
    source = RemoteSource(ConnectOptions(f"127.0.0.1:{server.server_address[1]}", timeout=2.0, **options))
    source.open()
    return source


def test_first_poll_backfills_what_the_agent_holds_with_its_values_and_host(agent):
    state, server = agent
    for i in range(3):
        state.add(snap(i))
    source = source_for(server)
    result = source.poll(now=0.0)
    assert [s.values["cpu.util.total"] for s in result.snapshots] == [10.0, 11.0, 12.0]
    assert [s.timestamp for s in result.snapshots] == [T0, T0 + 1, T0 + 2]  # the agent's clock
    newest = result.snapshots[-1]
    assert newest.values["mem.total"] == 8e9
    assert newest.specs["mem.total"].unit == "B"
    assert newest.totals == {"cpu.seconds.user": 102.0}
    assert newest.unavailable["perf"].reason == "no hardware PMU"  # the remote host's reasons
    assert result.status.state == "connected" and result.status.host == "db-7"
    assert "db-7" in result.status.message and "every 1 s" in result.status.message
    assert result.next_delay == 1.0
    assert source.static_facts() == {"perf": {"mode": "none on db-7: no hardware PMU"}}


def test_later_polls_ask_only_for_what_is_new_and_keep_the_specs(agent):
    state, server = agent
    state.add(snap(0))
    source = source_for(server)
    source.poll(now=0.0)
    state.add(snap(1))
    state.add(snap(2))
    result = source.poll(now=1.0)
    assert [s.values["cpu.util.total"] for s in result.snapshots] == [11.0, 12.0]
    assert result.status is None  # nothing changed to tell
    assert state.requests[-1] == "/api/v1/snapshots?after=1&specs=1"
    assert result.snapshots[0].specs == SPECS  # specs held from the first document
    assert source.poll(now=2.0).snapshots == ()  # nothing new: nothing appended


def test_unreachable_agent_backs_off_doubling_up_to_the_cap_and_says_why():
    port = free_port()  # nothing listens there
    source = RemoteSource(ConnectOptions(f"http://127.0.0.1:{port}", timeout=2.0), fallback_interval=1.0)
    source.open()
    delays = []
    for attempt in range(8):
        result = source.poll(now=float(attempt))
        assert result.snapshots == ()
        delays.append(result.next_delay)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert result.status.state == "connecting"
    assert f"nothing listens at 127.0.0.1:{port} (connection refused)" in result.status.message
    assert "retrying in 30 s" in result.status.message


def test_agent_killed_and_restarted_gives_a_gap_of_empty_rows_then_recovery(agent):
    state, server = agent
    port = server.server_address[1]
    for i in range(3):
        state.add(snap(i))
    source = source_for(server)
    source.poll(now=0.0)
    server.stop()
    lost = source.poll(now=3.0)
    assert lost.status.state == "lost" and "connection to db-7 lost" in lost.status.message
    assert lost.snapshots == ()
    # A new agent process: numbering starts again, 5 intervals were never sampled (3..7).
    restarted = AgentState(host="db-7", interval=1.0)
    for i in (8, 9):
        restarted.add(snap(i))
    server2 = serve(restarted, port)
    try:
        result = source.poll(now=9.0)
    finally:
        server2.stop()
    gap = [s for s in result.snapshots if not s.values]
    assert len(gap) == 5
    assert all(T0 + 2 < s.timestamp < T0 + 8 for s in gap)
    assert [s.values["cpu.util.total"] for s in result.snapshots if s.values] == [18.0, 19.0]
    times = [s.timestamp for s in result.snapshots]
    assert times == sorted(times)  # the History needs time order
    assert result.status.state == "connected"
    assert result.status.message == "reconnected to db-7 after 6 s; 5 missed intervals shown as a gap"
    # A probe (newest only, with specs); its newest seq is below ours: a restart, started over.
    assert restarted.requests == ["/api/v1/snapshots", "/api/v1/snapshots?after=0&specs=1"]
    assert result.next_delay == 1.0  # back to the agent's pace


def test_agent_that_kept_sampling_replays_the_outage_without_a_gap(agent):
    state, server = agent
    port = server.server_address[1]
    state.add(snap(0))
    source = source_for(server)
    source.poll(now=0.0)
    server.stop()
    assert source.poll(now=1.0).status.state == "lost"
    for i in range(1, 5):  # the agent kept sampling while the network was down
        state.add(snap(i))
    server2 = serve(state, port)
    try:
        result = source.poll(now=5.0)
    finally:
        server2.stop()
    assert [s.values.get("cpu.util.total") for s in result.snapshots] == [11.0, 12.0, 13.0, 14.0]
    assert result.status.message == "reconnected to db-7 after 4 s; nothing was missed"
    assert state.requests[-2:] == ["/api/v1/snapshots", "/api/v1/snapshots?after=1&specs=1"]


def test_a_skipped_sequence_inside_one_document_is_a_gap(agent):
    state, server = agent
    state.add(snap(0), seq=10)
    state.add(snap(4), seq=14)  # the agent's buffer no longer held 11..13
    result = source_for(server).poll(now=0.0)
    values = [s.values.get("cpu.util.total", math.nan) for s in result.snapshots]
    assert values[0] == 10.0 and values[-1] == 14.0
    assert len(values) == 5 and all(math.isnan(v) for v in values[1:4])


def test_a_very_long_outage_is_capped_in_rows(agent):
    state, server = agent
    state.add(snap(0), seq=1)
    state.add(snap(100_000), seq=100_001)
    result = source_for(server).poll(now=0.0)
    assert len(result.snapshots) == remote.MAX_GAP_ROWS + 2


def test_wrong_token_is_a_clear_message_and_the_right_one_works(agent, tmp_path):
    state, server = agent
    state.token = "s3cret"
    state.add(snap(0))
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    result = source_for(server, token_file=str(wrong)).poll(now=0.0)
    assert result.snapshots == ()
    assert "refused the token (HTTP 401 Unauthorized)" in result.status.message
    assert "--token-file" in result.status.message
    right = tmp_path / "right"
    right.write_text("s3cret\n")
    assert len(source_for(server, token_file=str(right)).poll(now=0.0).snapshots) == 1


def test_no_token_where_one_is_needed_says_so(agent):
    state, server = agent
    state.token = "s3cret"
    result = source_for(server).poll(now=0.0)
    assert "refused no credentials (HTTP 401" in result.status.message


@pytest.mark.parametrize(("make", "expected"), [
    (lambda tmp: ConnectOptions("http://127.0.0.1:1", token_file=str(tmp / "missing")),
     "the token file {tmp}/missing does not exist (check --token-file)"),
    (lambda tmp: ConnectOptions("ftp://example.org"),
     "'ftp://example.org' is not an http:// or https:// address"),
    (lambda tmp: ConnectOptions("https://127.0.0.1:1", tls_ca=str(tmp / "ca.pem")),
     "the CA file {tmp}/ca.pem does not exist"),
])
def test_configuration_errors_fail_once_without_an_exception(tmp_path, make, expected):
    source = RemoteSource(make(tmp_path))
    source.open()
    first = source.poll(now=0.0)
    assert first.status.state == "failed"
    assert expected.format(tmp=tmp_path) in first.status.message
    assert source.poll(now=1.0).status is None  # said once; nothing is retried


def test_a_server_that_is_not_an_agent_is_named_as_such(agent):
    _state, server = agent
    port = server.server_address[1]
    source = RemoteSource(ConnectOptions(f"http://127.0.0.1:{port}/elsewhere", timeout=2.0))
    source.open()
    message = source.poll(now=0.0).status.message
    assert f"127.0.0.1:{port} has no /api/v1/snapshots: not a perfdeck serve agent" in message


def test_plain_http_agent_asked_for_https_says_so(agent):
    _state, server = agent
    source = RemoteSource(ConnectOptions(f"https://127.0.0.1:{server.server_address[1]}", timeout=2.0))
    source.open()
    assert "does the agent serve https?" in source.poll(now=0.0).status.message


@pytest.mark.parametrize(("text", "url"), [
    ("db-7:9105", "http://db-7:9105"),
    ("https://db-7:9105/", "https://db-7:9105"),
    ("http://db-7:9105/metrics", "http://db-7:9105"),
    ("http://db-7:9105/api/v1/snapshots", "http://db-7:9105"),
    ("http://[::1]:9105", "http://[::1]:9105"),
    ("http://10.0.0.1:9105/perfdeck", "http://10.0.0.1:9105/perfdeck"),
])
def test_urls_are_normalised(text, url):
    assert normalise_url(text) == url


@pytest.mark.parametrize("text", ["", "http://", "db-7:notaport", "gopher://x"])
def test_bad_urls_are_config_errors(text):
    with pytest.raises(RemoteError) as info:
        normalise_url(text)
    assert info.value.kind == "config"


def test_basic_auth_file_needs_user_and_password(tmp_path):
    pair = tmp_path / "auth"
    pair.write_text("alice:pw\n")
    assert remote.auth_header(ConnectOptions("x", basic_auth_file=str(pair))) == "Basic YWxpY2U6cHc="
    pair.write_text("alice\n")
    with pytest.raises(RemoteError, match="holds no user:password line"):
        remote.auth_header(ConnectOptions("x", basic_auth_file=str(pair)))


def test_recent_hosts_newest_first_without_duplicates_and_without_secrets(tmp_path):
    hosts = RecentHosts(tmp_path / "cfg" / "remote-hosts.json")
    assert hosts.load() == []
    for url in ("http://a:1", "http://b:1", "http://a:1"):
        assert hosts.remember(ConnectOptions(url, token_file="/etc/perfdeck/token")) == ""
    assert [o.url for o in hosts.load()] == ["http://a:1", "http://b:1"]
    assert hosts.load()[0].token_file == "/etc/perfdeck/token"
    assert "s3cret" not in hosts.path.read_text()
    for i in range(remote.MAX_RECENT_HOSTS + 3):
        hosts.remember(ConnectOptions(f"http://h{i}:1"))
    assert len(hosts.load()) == remote.MAX_RECENT_HOSTS


def test_a_damaged_recent_hosts_file_is_set_aside_with_a_note(tmp_path):
    path = tmp_path / "remote-hosts.json"
    path.write_text("{not json")
    hosts = RecentHosts(path)
    assert hosts.load() == []
    assert "damaged" in hosts.note
    assert (tmp_path / "remote-hosts.json.bad").read_text() == "{not json"
    assert hosts.remember(ConnectOptions("http://a:1")) == ""
    assert json.loads(path.read_text())[0]["url"] == "http://a:1"


def test_recent_hosts_blocked_by_a_file_is_a_message(tmp_path):
    blocker = tmp_path / "cfg"
    blocker.write_text("a file where the folder should be")
    message = RecentHosts(blocker / "remote-hosts.json").remember(ConnectOptions("http://a:1"))
    assert message.startswith(f"recent hosts could not be saved to {blocker}/remote-hosts.json")
    assert Path(blocker).read_text() == "a file where the folder should be"


def test_older_history_is_prepended_once_with_a_gap_at_the_seam(agent):
    state, server = agent
    for i in range(20, 23):
        state.add(snap(i))
    calls = []

    def loader(specs, first_timestamp, seconds):
        calls.append((set(specs), first_timestamp, seconds))
        # Prometheus rows every 2 s up to 8 s before the agent's first snapshot, and one at it.
        return [Snapshot(timestamp=T0 + t, monotonic=T0 + t, values={"mem.total": 7e9}, specs=specs)
                for t in (4.0, 6.0, 8.0, 10.0, 12.0, 20.0)]

    source = RemoteSource(ConnectOptions(f"127.0.0.1:{server.server_address[1]}"), history=loader)
    source.open()
    result = source.poll(now=0.0)
    assert calls == [(set(SPECS), T0 + 20, 3600.0)]  # the window sets how far back it holds
    times = [s.timestamp for s in result.snapshots]
    assert times == [T0 + 4, T0 + 6, T0 + 8, T0 + 10, T0 + 12, T0 + 16, T0 + 20, T0 + 21, T0 + 22]
    assert [s.values.get("mem.total") for s in result.snapshots[:6]] == [7e9] * 5 + [None]  # the seam
    assert "0 min of older history loaded (6 rows)" in result.status.message
    state.add(snap(23))
    assert len(source.poll(now=1.0).snapshots) == 1 and len(calls) == 1  # asked once


def test_older_history_that_meets_the_agent_has_no_seam_and_a_failure_is_said(agent):
    state, server = agent
    state.add(snap(10))

    def meets(specs, first_timestamp, _seconds):
        return [Snapshot(timestamp=first_timestamp - k, monotonic=0.0, values={"mem.total": 1.0}, specs=specs)
                for k in (3, 2, 1)]

    source = RemoteSource(ConnectOptions(f"127.0.0.1:{server.server_address[1]}"), history=meets)
    source.open()
    assert all(s.values for s in source.poll(now=0.0).snapshots)

    def fails(specs, first_timestamp, _seconds):
        raise RemoteError("nothing listens at prometheus:9090 (connection refused)")

    failing = RemoteSource(ConnectOptions(f"127.0.0.1:{server.server_address[1]}"), history=fails)
    failing.open()
    result = failing.poll(now=0.0)
    assert len(result.snapshots) == 1  # live data regardless
    assert result.status.message.endswith("; no older history: nothing listens at prometheus:9090 "
                                          "(connection refused)")


def test_interrupt_ends_a_request_the_agent_never_answers():
    """A window closing while its agent hangs must not wait for the request timeout."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection (the kernel does) and never answers
    try:
        source = RemoteSource(ConnectOptions(f"127.0.0.1:{silent.getsockname()[1]}", timeout=120.0))
        source.open()
        results = []
        worker = threading.Thread(target=lambda: results.append(source.poll(now=0.0)))
        worker.start()
        for _attempt in range(1000):  # until the request is on the wire
            if source._client._connection is not None and source._client._connection.sock is not None:
                break
            time.sleep(0.01)
        source.interrupt()
        worker.join(30)  # far below the 120 s timeout: only the interrupt can end it this soon
        assert not worker.is_alive()
        assert results[0].snapshots == ()
        assert source.poll(now=1.0).status is None  # interrupted: no more requests
    finally:
        silent.close()


def test_catching_up_asks_for_at_most_the_point_budget(agent, monkeypatch):
    """A many-series host's whole ring would be tens of megabytes: only its newest part is asked for."""
    state, server = agent
    for i in range(100):
        state.add(snap(i))  # two series each
    monkeypatch.setattr(remote, "POINT_BUDGET", 60)
    source = source_for(server)
    result = source.poll(now=0.0)
    assert [s.values["cpu.util.total"] for s in result.snapshots] == [10.0 + i for i in range(70, 100)]
    assert state.requests == ["/api/v1/snapshots", "/api/v1/snapshots?after=70&specs=1"]


FMT = {"format": "perfdeck-snapshots/1", "seq": 5, "specs_generation": 1}


@pytest.mark.parametrize(("document", "expected"), [
    ([1, 2, 3], "not a PerfDeck agent document"),
    ({**FMT, "snapshots": [{"timestamp": 1.0}]}, "sent a malformed document"),
    ({**FMT, "specs": {"a.b": {"kind": "nonsense"}}, "snapshots": []}, "sent a malformed document"),
    ({**FMT, "snapshots": [{"seq": "x", "timestamp": 1.0, "monotonic": 1.0}]}, "sent a malformed document"),
])
def test_a_malformed_document_is_a_message_and_a_retry(agent, document, expected):
    state, server = agent
    state.override = document
    result = source_for(server).poll(now=0.0)
    assert result.snapshots == ()
    assert result.status.state == "connecting" and result.status.retry_in
    assert expected in result.status.message


def test_a_new_series_on_the_agent_brings_its_specs(agent):
    """A NIC plugged in on the host: the agent's specs generation moves and the window learns the series."""
    state, server = agent
    state.add(snap(0))
    source = source_for(server)
    source.poll(now=0.0)
    nic = SeriesSpec("net.rx.eth1", "eth1 received", "B/s", group="net.rx", metric="net.rx",
                     labels=(("interface", "eth1"),))
    grown = Snapshot(timestamp=T0 + 1, monotonic=5001.0, specs={**SPECS, "net.rx.eth1": nic},
                     values={"cpu.util.total": 11.0, "net.rx.eth1": 512.0})
    state.add(grown)
    result = source.poll(now=1.0)
    assert state.requests[-1] == "/api/v1/snapshots?after=1&specs=1"  # we held generation 1
    newest = result.snapshots[-1]
    assert newest.specs["net.rx.eth1"] == nic and newest.values["net.rx.eth1"] == 512.0
    state.add(snap(2))  # unplugged again: a third generation
    unplugged = source.poll(now=2.0).snapshots[-1]
    assert state.requests[-1] == "/api/v1/snapshots?after=2&specs=2"
    assert "net.rx.eth1" not in unplugged.specs
    state.add(snap(3))
    assert source.poll(now=3.0).snapshots[-1].specs == SPECS
    assert state.requests[-1] == "/api/v1/snapshots?after=3&specs=3"
