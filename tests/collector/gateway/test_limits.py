"""Each of the gateway's limits, hit by a real client on loopback, answered and counted."""

from __future__ import annotations

import http.client
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector.gateway.config import load_gateway_config
from collector.gateway.http import GatewayServer
from common import remote_write
from common.schema import ConfigError, HostPort
from tests.collector.gateway.hostile import (
    answer_of,
    hold,
    hostile_run,
    post,
    small_body,
)
from tests.support.peers import LOOPBACK, Prometheus, wait_for
from tests.support.push_peers import Gateway, NodeToken, write_gateway_config

pytestmark = pytest.mark.peer

TOKEN = NodeToken.new("14797")
OTHER = NodeToken.new("16318", "vc-1")
SLOT = (TOKEN.commune, TOKEN.node)
SMALL_LIMITS = """
    max_body_bytes: 128KiB
    max_decoded_bytes: 1MiB
    max_receiving_bytes: 256KiB
    max_connections: 6
    max_requests_per_token: 2
    body_timeout: 1s
    max_series_per_request: 1000
    max_samples_per_request: 2000
    ack_timeout: 5s
    """
MakeGateway = Callable[[str], GatewayServer]


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """One Prometheus for the module's gateways (each test gets its own gateway)."""
    from tests.support.push_peers import PROMETHEUS_PUSH_ARGS, PROMETHEUS_PUSH_CONFIG

    prom = Prometheus(PROMETHEUS_PUSH_CONFIG, tmp_path_factory.mktemp("prom"),
                      PROMETHEUS_PUSH_ARGS)
    try:
        yield prom
    finally:
        prom.stop()


@pytest.fixture
def make_gateway(tmp_path: Path, receiver: Prometheus) -> Iterator[MakeGateway]:
    servers: list[GatewayServer] = []

    def make(extra: str = SMALL_LIMITS) -> GatewayServer:
        path = write_gateway_config(tmp_path / f"gateway-{len(servers)}.yml",
                                    [f"{receiver.url}/api/v1/write"], [TOKEN, OTHER], extra)
        server = GatewayServer(HostPort(f"{LOOPBACK}:0"), load_gateway_config(str(path)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.close(drain_timeout=1.0)


def limited(server: GatewayServer, reason: str) -> float:
    return server.registry.get_sample_value("commune_gateway_limited_requests_total",
                                            {"reason": reason}) or 0.0


def bad(server: GatewayServer, reason: str) -> float:
    return server.registry.get_sample_value("commune_gateway_bad_requests_total",
                                            {"reason": reason}) or 0.0


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def test_one_token_at_its_limit_gets_429_while_other_nodes_push(
        make_gateway: MakeGateway) -> None:
    server = make_gateway(SMALL_LIMITS)
    held = [hold(server.port, TOKEN.token, 1000, 10) for _ in range(2)]
    wait_for(lambda: server.token_slots.busy(SLOT) == 2, 5, what="both held requests admitted")
    got = post(server.port, small_body(), TOKEN.token)
    assert (got.status, got.headers.get("Retry-After")) == (429, "1"), got
    assert "max_requests_per_token" in got.text
    assert post(server.port, small_body(), OTHER.token).status == 204
    close_all(held)
    wait_for(lambda: server.token_slots.busy(SLOT) == 0, 5, what="slots given back")
    assert post(server.port, small_body(), TOKEN.token).status == 204
    assert limited(server, "token_busy") == 1


def test_a_body_slower_than_body_timeout_gets_408(make_gateway: MakeGateway) -> None:
    server = make_gateway(SMALL_LIMITS)
    sock = hold(server.port, TOKEN.token, 1000, 999)  # all but the last byte
    started = time.monotonic()
    got = answer_of(sock)
    elapsed = time.monotonic() - started
    sock.close()
    assert got.status == 408 and "body_timeout" in got.text, got
    assert got.headers.get("Connection") == "close"
    assert 0.8 < elapsed < 3.0
    assert limited(server, "body_timeout") == 1
    wait_for(lambda: server.receiving.used == 0 and server.token_slots.busy(SLOT) == 0, 5,
             what="budget and slot given back")


def test_headers_slower_than_header_timeout_get_408_and_idle_connections_close(
        make_gateway: MakeGateway) -> None:
    server = make_gateway(SMALL_LIMITS + "header_timeout: 1s\n")
    slow = socket.create_connection((LOOPBACK, server.port), timeout=10)
    idle = socket.create_connection((LOOPBACK, server.port), timeout=10)
    started = time.monotonic()
    slow.sendall(b"POST /api/v1/write HTTP/1.1\r\n")
    for byte in b"Host: x\r\nX-Slow: yes":  # a byte every 0.1 s: never idle, never done
        if select.select([slow], [], [], 0.1)[0]:
            break  # answered
        slow.send(bytes((byte,)))
    got = answer_of(slow)
    elapsed = time.monotonic() - started
    slow.close()
    assert got.status == 408 and "header_timeout" in got.text, got
    assert 0.8 < elapsed < 3.0
    assert idle.recv(100) == b""  # closed after 1 s idle, without an answer
    idle.close()
    assert limited(server, "header_timeout") == 1
    assert post(server.port, small_body(), TOKEN.token).status == 204


def test_bytes_being_received_are_bounded_across_connections(make_gateway: MakeGateway) -> None:
    server = make_gateway(SMALL_LIMITS)
    held = [hold(server.port, TOKEN.token, 128 << 10, 1) for _ in range(2)]
    wait_for(lambda: server.receiving.used == 256 << 10, 5, what="the budget taken")
    got = post(server.port, small_body(), OTHER.token)
    assert (got.status, got.headers.get("Retry-After")) == (503, "1"), got
    assert "max_receiving_bytes" in got.text
    assert limited(server, "receiving") == 1
    close_all(held)
    wait_for(lambda: server.receiving.used == 0, 5, what="the budget given back")
    assert post(server.port, small_body(), OTHER.token).status == 204


def test_connections_over_max_connections_get_503(make_gateway: MakeGateway) -> None:
    server = make_gateway(SMALL_LIMITS)
    idle = [socket.create_connection((LOOPBACK, server.port)) for _ in range(6)]
    wait_for(lambda: server.connections == 6, 5, what="six connections open")
    got = post(server.port, small_body(), TOKEN.token)
    assert (got.status, got.headers.get("Retry-After")) == (503, "1"), got
    assert "max_connections" in got.text
    assert limited(server, "connections") == 1
    close_all(idle)
    wait_for(lambda: server.connections == 0, 5, what="connections closed")
    assert post(server.port, small_body(), TOKEN.token).status == 204


HOSTILE = "127.0.0.2"  # a source address of its own, on loopback
NAT = "127.0.0.3"


def _post_on(conn: http.client.HTTPConnection, token: str) -> int:
    """POST a small body on a kept-alive connection; the status."""
    conn.request("POST", "/api/v1/write", small_body(),
                 {**remote_write.HEADERS, "Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def test_one_address_holds_at_most_max_connections_per_source_unproven_connections(
        make_gateway: MakeGateway) -> None:
    server = make_gateway(SMALL_LIMITS + "max_connections_per_source: 3\n")
    idle = [socket.create_connection((LOOPBACK, server.port), source_address=(HOSTILE, 0))
            for _ in range(3)]
    wait_for(lambda: server.limits.unproven(HOSTILE) == 3, 5, what="three idle connections")
    got = post(server.port, small_body(), TOKEN.token, source=HOSTILE)
    assert (got.status, got.headers.get("Retry-After")) == (429, "1"), got
    assert f"{HOSTILE} has 3 connections open" in got.text
    assert "max_connections_per_source" in got.text
    assert limited(server, "per_source") == 1
    assert post(server.port, small_body(), TOKEN.token).status == 204  # from 127.0.0.1
    close_all(idle)
    wait_for(lambda: server.limits.unproven(HOSTILE) == 0, 5, what="idle connections closed")
    assert post(server.port, small_body(), TOKEN.token, source=HOSTILE).status == 204


def test_wrong_tokens_wait_outside_max_connections_and_count_against_their_address(
        make_gateway: MakeGateway) -> None:
    server = make_gateway(SMALL_LIMITS + "max_connections_per_source: 4\n")
    for _ in range(8):  # this address failed before: its next answers wait the 5 s cap
        server.failures.failed(HOSTILE)
    answers: list[int] = []

    def wrong() -> None:
        answers.append(post(server.port, small_body(), "wrong-token", source=HOSTILE).status)

    clients = [threading.Thread(target=wrong) for _ in range(10)]
    for client in clients:
        client.start()
    wait_for(lambda: server.limits.delayed == 4 and len(answers) == 6, 5,
             what="four waiting out their delay, six refused")
    assert sorted(answers) == [429] * 6
    assert limited(server, "per_source") == 6
    assert server.connections == 0  # the four waiting hold none of the six max_connections
    agents = [http.client.HTTPConnection(LOOPBACK, server.port, timeout=10) for _ in range(6)]
    assert [_post_on(conn, TOKEN.token if i % 2 else OTHER.token)
            for i, conn in enumerate(agents)] == [204] * 6
    assert server.connections == 6
    for conn in agents:
        conn.close()
    for client in clients:
        client.join(15)
    assert sorted(answers) == [401] * 4 + [429] * 6
    wait_for(lambda: (server.limits.delayed, server.limits.unproven(HOSTILE),
                      server.connections) == (0, 0, 0), 5, what="everything given back")


def test_agents_behind_one_address_keep_more_connections_than_the_per_source_cap(
        make_gateway: MakeGateway) -> None:
    """A connection that sent a valid token stops counting against its address: the communes
    behind one NAT address keep a kept-alive connection each."""
    server = make_gateway(SMALL_LIMITS + "max_connections_per_source: 2\n")
    agents = [http.client.HTTPConnection(LOOPBACK, server.port, timeout=10,
                                         source_address=(NAT, 0)) for _ in range(5)]
    try:
        assert [_post_on(conn, TOKEN.token if i % 2 else OTHER.token)
                for i, conn in enumerate(agents)] == [204] * 5
        assert (server.connections, server.limits.unproven(NAT)) == (5, 0)
        assert [_post_on(conn, OTHER.token) for conn in agents] == [204] * 5  # same sockets
        assert server.connections == 5 and limited(server, "per_source") == 0
    finally:
        for conn in agents:
            conn.close()


def test_declared_size_series_and_samples_caps_get_413(make_gateway: MakeGateway) -> None:
    server = make_gateway(SMALL_LIMITS)
    got = hold(server.port, TOKEN.token, 129 << 10, 0)
    assert answer_of(got).status == 413
    got.close()
    many_series = remote_write.compress(remote_write.encode_series(
        remote_write.encode_labels([("__name__", "m")]), [(int(time.time() * 1000), 1.0)])
        * 1001)
    answer = post(server.port, many_series, TOKEN.token)
    assert answer.status == 413 and "max_series_per_request" in answer.text
    now = int(time.time() * 1000)
    many_samples = remote_write.encode_write_request(
        [([("__name__", "m")], [(now - 2001 + i, 1.0) for i in range(2001)])])
    answer = post(server.port, many_samples, TOKEN.token)
    assert answer.status == 413 and "max_samples_per_request" in answer.text
    assert [limited(server, r) for r in ("body_size", "series", "samples")] == [1, 1, 1]
    assert post(server.port, small_body(series=1000), TOKEN.token).status == 204


def test_a_small_body_inflating_to_1_2m_series_is_refused_early(
        make_gateway: MakeGateway) -> None:
    server = make_gateway("")  # the default limits
    # 21 bytes a series: one label and a sample with only a value (timestamp 0).
    sample = b"\x12\x09\x09" + bytes(8)
    series = remote_write.encode_series(remote_write.encode_label("a", "m") + sample, [])
    body = remote_write.compress(series * 1_200_000)
    assert len(body) < 8 << 20 and len(series) * 1_200_000 < 32 << 20
    started = time.monotonic()
    answer = post(server.port, body, TOKEN.token)
    elapsed = time.monotonic() - started
    print(f"\n1.2M series in a {len(body) / 1e6:.1f} MB body: {answer.status} "
          f"in {elapsed:.2f}s")
    assert answer.status == 413 and "more than 50000 series" in answer.text
    assert limited(server, "series") == 1


@pytest.mark.parametrize(("name", "why"), [
    ("", "empty name"),
    ("commun\u0435", "is not valid"),  # a Cyrillic look-alike of 'commune'
    ("0zone", "is not valid"),
    ("zone-b", "is not valid"),
])
def test_bad_label_names_get_400_with_the_reason(make_gateway: MakeGateway, name: str,
                                                 why: str) -> None:
    server = make_gateway(SMALL_LIMITS)
    now = int(time.time() * 1000)
    body = remote_write.encode_write_request([([("__name__", "m"), (name, "x")], [(now, 1.0)])])
    got = post(server.port, body, TOKEN.token)
    assert got.status == 400 and why in got.text, got
    assert bad(server, "label_name") == 1
    good = remote_write.encode_write_request([([("__name__", "m"), ("_zone_2", "x")],
                                               [(now, 1.0)])])
    assert post(server.port, good, TOKEN.token).status == 204


def test_a_label_twice_in_one_series_gets_400(make_gateway: MakeGateway) -> None:
    server = make_gateway(SMALL_LIMITS)
    labels = remote_write.encode_label("__name__", "m") + remote_write.encode_label("a", "1") \
        + remote_write.encode_label("a", "2")
    raw = remote_write.encode_series(labels, [(int(time.time() * 1000), 1.0)])
    got = post(server.port, remote_write.compress(raw), TOKEN.token)
    assert got.status == 400 and "'a' appears twice" in got.text, got
    assert bad(server, "label_name") == 1


def test_slow_bodies_from_one_token_are_bounded_and_counted(tmp_path: Path,
                                                            receiver: Prometheus) -> None:
    """The bench's hostile case, smaller: 12 held 1 MiB bodies from one token."""
    config = write_gateway_config(tmp_path / "gateway.yml", [f"{receiver.url}/api/v1/write"],
                                  [TOKEN, OTHER], "body_timeout: 2s\nack_timeout: 5s\n")
    with Gateway(config, tmp_path) as gateway:
        result = hostile_run(gateway.port, gateway.proc.pid, TOKEN.token, OTHER.token,
                             connections=12, body_bytes=1 << 20, seconds=4.0)
        metrics = _scrape(gateway.url)
    print(f"\nhostile answers {result.hostile_answers}, agent pushes "
          f"{len(result.agent_latencies)} (p99 {result.p99():.3f}s), failures "
          f"{result.agent_failures}, peak RSS {result.peak_rss / 2**20:.0f} MiB")
    assert result.agent_failures == [] and len(result.agent_latencies) >= 8
    assert result.hostile_answers.get("429", 0) >= 8
    assert result.hostile_answers.get("408", 0) >= 4
    assert metrics['commune_gateway_limited_requests_total{reason="token_busy"}'] >= 8
    assert metrics['commune_gateway_limited_requests_total{reason="body_timeout"}'] >= 4
    assert result.peak_rss < 200 << 20


def _scrape(url: str) -> dict[str, float]:
    from tests.support.peers import http_get

    text = http_get(f"{url}/metrics")[1].decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}



def test_the_agents_push_client_keeps_and_resends_what_429_and_503_refused(
        make_gateway: MakeGateway, tmp_path: Path) -> None:
    from prometheus_client.core import GaugeMetricFamily

    from agent.push.client import PushClient
    from agent.push.config import PushConfig
    from common.poster import Retry
    from common.schema import ExistingFile
    from common.units import Duration

    server = make_gateway(SMALL_LIMITS)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN.token)
    client = PushClient(PushConfig(f"http://{LOOPBACK}:{server.port}/api/v1/write",
                                   ExistingFile(token_file), str(tmp_path / "spool"),
                                   timeout=Duration(5)), interval=15)
    family = GaugeMetricFamily("agent_limits_test", "A test series.", labels=["i"])
    for i in range(50):
        family.add_metric([str(i)], float(i))
    try:
        client.collected("test", [family])
        for holders, (limit, reason) in (
                ((TOKEN, TOKEN), ("token_busy", "429")),
                ((OTHER, OTHER), ("receiving", "503"))):
            held = [hold(server.port, t.token, 128 << 10, 1) for t in holders]
            wait_for(lambda: server.receiving.used == 256 << 10, 5, what="the holds admitted")
            with pytest.raises(Retry, match=f"HTTP {reason}"):
                client.send_once()
            assert client.spool.pending() == 50 and client.rejected == 0
            assert limited(server, limit) == 1
            close_all(held)
            wait_for(lambda: server.receiving.used == 0, 5, what="the holds gone")
        assert client.send_once() is True
        assert client.sent == 50 and client.spool.pending() == 0
    finally:
        client.close()


def test_max_connections_per_source_below_1_is_an_error_naming_the_line_and_key(
        tmp_path: Path) -> None:
    path = tmp_path / "gateway.yml"
    path.write_text("receivers:\n  - url: http://127.0.0.1:9090/api/v1/write\n"
                    "max_connections_per_source: 0\n")
    with pytest.raises(ConfigError) as caught:
        load_gateway_config(str(path))
    assert f"{path}:3:29: max_connections_per_source: expected at least 1, got 0" in str(
        caught.value)
