"""The gateway against bad callers: wrong tokens, spoofed labels, huge and garbage bodies."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.cli import main as collector_main
from collector.gateway.config import load_gateway_config
from collector.gateway.http import GatewayServer
from collector.gateway.ingest import Relabeler, inventory_labels
from collector.gateway.limits import Limited
from common import remote_write
from common.schema import HostPort
from tests.support.inventory import HAC_THANH, Node, inventory_yaml
from tests.support.peers import LOOPBACK, Prometheus, http_get, wait_for
from tests.support.push_peers import NodeToken, write_gateway_config

TOKEN = NodeToken.new("14797")
# A real inventory (collector/inventory.py loads it), loopback addresses only.
LOOPBACK_INVENTORY = inventory_yaml([HAC_THANH.with_nodes(
    Node("lan-1"), Node("vc-1", role="vc", mode="scrape", address="127.0.0.1:9810"))])
OTHER = NodeToken.new("16318", "vc-1")


class Client:
    """Posts to an in-process gateway over one connection (reopened after a close)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)

    def post(self, body: bytes, token: str | None = TOKEN.token,
             headers: dict[str, str] | None = None) -> tuple[int, str]:
        hdrs = dict(remote_write.HEADERS)
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        hdrs.update(headers or {})
        try:
            self.conn.request("POST", "/api/v1/write", body, hdrs)
            resp = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
            raise
        text = resp.read().decode()
        if resp.will_close:
            self.conn.close()
            self.conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
        return resp.status, text


@pytest.fixture
def gateway(tmp_path: Path, prometheus: Prometheus) -> Iterator[GatewayServer]:
    path = write_gateway_config(tmp_path / "gateway.yml", [f"{prometheus.url}/api/v1/write"],
                                [TOKEN, OTHER], extra="""
        max_body_bytes: 64KiB
        max_decoded_bytes: 256KiB
        ack_timeout: 5s
        max_sample_age: 30m
        """)
    server = GatewayServer(HostPort(f"{LOOPBACK}:0"), load_gateway_config(str(path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.close(drain_timeout=1.0)


def gateway_metric(server: GatewayServer, name: str, labels: dict[str, str]) -> float:
    return server.registry.get_sample_value(name, labels) or 0.0


def body_of(series: list[tuple[list[tuple[str, str]], list[tuple[int, float]]]]) -> bytes:
    return remote_write.encode_write_request(series)


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.peer
def test_wrong_or_missing_token_is_401(gateway: GatewayServer) -> None:
    client = Client(gateway.port)
    body = body_of([([("__name__", "x")], [(now_ms(), 1.0)])])
    assert client.post(body, token="not-a-token")[0] == 401
    assert client.post(body, token=None)[0] == 401
    assert client.post(body, token=None,
                       headers={"Authorization": f"Basic {TOKEN.token}"})[0] == 401
    assert gateway_metric(gateway, "commune_gateway_bad_requests_total", {"reason": "auth"}) == 3
    assert client.post(body)[0] == 204


@pytest.mark.peer
def test_identity_labels_come_from_the_token(gateway: GatewayServer,
                                             prometheus: Prometheus) -> None:
    client = Client(gateway.port)
    stamp = now_ms()
    spoofed = [("__name__", "spoof_test"), ("commune", "16318"), ("instance", "vc-1"),
               ("commune_name", "Not this one"), ("region", "elsewhere"), ("job", "agent")]
    assert client.post(body_of([(spoofed, [(stamp, 7.0)])]))[0] == 204
    result = wait_for(lambda: prometheus.query("spoof_test"), what="spoof_test in Prometheus")
    assert [r["metric"] for r in result] == [{"__name__": "spoof_test", "commune": "14797",
                                             "instance": "lan-1", "job": "agent"}]
    assert float(result[0]["value"][1]) == 7.0
    # The other token writes as its own node, even with the first one's labels.
    status, _ = client.post(body_of([([("__name__", "spoof_test"), ("commune", "14797")],
                                      [(stamp, 8.0)])]), token=OTHER.token)
    assert status == 204
    wait_for(lambda: len(prometheus.query("spoof_test")) == 2, what="second node's series")
    communes = {r["metric"]["commune"]: r["metric"]["instance"]
                for r in prometheus.query("spoof_test")}
    assert communes == {"14797": "lan-1", "16318": "vc-1"}
    assert gateway_metric(gateway, "commune_gateway_received_samples_total",
                          {"commune": "14797"}) == 1


@pytest.mark.peer
def test_oversized_bodies_are_413(gateway: GatewayServer) -> None:
    client = Client(gateway.port)
    big = [([("__name__", "big"), ("i", str(i)), ("pad", "x" * 200)], [(now_ms(), 1.0)])
           for i in range(2000)]
    compressed = body_of(big)  # compresses well: under max_body_bytes, inflates past the limit
    assert len(compressed) < 64 << 10
    status, text = client.post(compressed)
    assert status == 413 and "inflates" in text
    incompressible = remote_write.compress(bytes(range(256)) * 400)
    assert client.post(b"\0" * (65 << 10))[0] == 413
    assert client.post(incompressible)[0] in (400, 413)
    assert gateway_metric(gateway, "commune_gateway_limited_requests_total",
                          {"reason": "decoded_size"}) >= 1
    assert gateway_metric(gateway, "commune_gateway_limited_requests_total",
                          {"reason": "body_size"}) == 1


def _mutations() -> st.SearchStrategy[bytes]:
    valid = remote_write.encode_series(
        remote_write.encode_labels([("__name__", "fuzz"), ("a", "b")]),
        [(now_ms(), 1.0)])

    def flip(data: tuple[int, int]) -> bytes:
        pos, byte = data
        raw = bytearray(valid)
        raw[pos % len(raw)] = byte
        return remote_write.compress(bytes(raw))

    return st.tuples(st.integers(0, 10_000), st.integers(0, 255)).map(flip)


GARBAGE = st.one_of(
    st.binary(max_size=512),
    st.binary(max_size=512).map(remote_write.compress),  # valid snappy, random protobuf
    _mutations(),  # a valid body with one byte changed
)


@pytest.mark.peer
def test_garbage_bodies_get_400_and_never_crash(gateway: GatewayServer) -> None:
    client = Client(gateway.port)
    seen: dict[int, int] = {}

    @settings(max_examples=3000, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=GARBAGE)
    def post_garbage(body: bytes) -> None:
        status, text = client.post(body)
        seen[status] = seen.get(status, 0) + 1
        # 204: by chance a valid request (e.g. empty); 400: refused by us or by Prometheus;
        # 413: a snappy header announcing more than max_decoded_bytes.
        assert status in (204, 400, 413), (status, text, body)

    post_garbage()
    assert sum(seen.values()) >= 2500 and seen.get(400, 0) > 1500
    bad = sum(gateway_metric(gateway, "commune_gateway_bad_requests_total", {"reason": r})
              for r in ("snappy", "protobuf"))
    assert bad > 1500 and bad <= seen[400]
    assert http_get(f"http://{LOOPBACK}:{gateway.port}/-/healthy")[0] == 200
    assert client.post(body_of([([("__name__", "after_fuzz")], [(now_ms(), 1.0)])]))[0] == 204


def test_serve_reports_config_errors_with_lines(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gateway.yml"
    config.write_text("receivers:\n  - url: ftp://x\ntokens:\n  - {commune: '1', node: a, "
                      "sha256: abc}\n")
    assert collector_main(["serve", "--config.file", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:2:10: receivers[0].url: expected an http(s) URL" in err
    assert f"{config}:4:37: tokens[0].sha256: expected 64 lowercase hex digits" in err


def test_serve_reports_inventory_errors(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(LOOPBACK_INVENTORY.replace("role: vc,", "role: router,"))
    config = write_gateway_config(tmp_path / "g.yml", ["http://127.0.0.1:9/api/v1/write"],
                                  [TOKEN], extra="inventory: inventory.yml\n")
    assert collector_main(["serve", "--config.file", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{inventory}:10:28: communes[0].nodes[1].role: expected one of" in err
    inventory.write_text(LOOPBACK_INVENTORY.replace('"14797"', '"16318"'))
    assert collector_main(["serve", "--config.file", str(config)]) == 2
    assert "commune '14797' of node 'lan-1' is not in" in capsys.readouterr().err


def test_relabel_filters_by_time_and_keeps_odd_but_valid_layouts(tmp_path: Path) -> None:
    path = write_gateway_config(tmp_path / "g.yml", ["http://127.0.0.1:9/api/v1/write"], [TOKEN],
                                extra="max_sample_age: 1h\n")
    relabeler = Relabeler(load_gateway_config(str(path)), {})
    ident = relabeler.identify(TOKEN.token)
    assert ident is not None
    now = now_ms()
    stamps = [now - 2 * 3600_000, now - 1000, now, now + 3600_000, now + 1]
    samples = b"".join(remote_write.encode_sample(t, float(i)) for i, t in enumerate(stamps))
    late_label = remote_write.encode_label("zone", "b")
    exemplar = b"\x1a\x02\x08\x01"  # field 3 (exemplars): not forwarded
    series = (remote_write.encode_labels([("__name__", "m"), ("commune", "1")]) + samples
              + late_label + exemplar)
    raw = b"\x0a" + remote_write.varint(len(series)) + series
    assert remote_write.parse_write_request(raw)  # valid protobuf, as the library sees it
    out, count, dropped = relabeler.relabel(raw, ident)
    request = remote_write.parse_write_request(out)
    assert count == 3 and dropped == {"too_old": 1, "too_new": 1}
    (ts,) = request.timeseries
    assert [(s.timestamp, s.value) for s in ts.samples] == [(now - 1000, 1.0), (now, 2.0),
                                                            (now + 1, 4.0)]
    assert {lbl.name: lbl.value for lbl in ts.labels} == {
        "__name__": "m", "commune": "14797", "instance": "lan-1", "job": "commune-agent",
        "zone": "b"}
    assert [lbl.name for lbl in ts.labels] == sorted(lbl.name for lbl in ts.labels)


def test_inventory_labels_are_set_from_the_token(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text(LOOPBACK_INVENTORY)
    path = write_gateway_config(tmp_path / "g.yml", ["http://127.0.0.1:9/api/v1/write"], [TOKEN],
                                extra="inventory: inventory.yml\n")
    config = load_gateway_config(str(path))
    relabeler = Relabeler(config, inventory_labels(config.inventory, config.tokens))
    ident = relabeler.identify(TOKEN.token)
    assert ident is not None
    series = remote_write.encode_series(
        remote_write.encode_labels([("__name__", "m"), ("region", "spoofed"), ("role", "vc")]),
        [(now_ms(), 1.0)])
    out, _, _ = relabeler.relabel(series, ident)
    (ts,) = remote_write.parse_write_request(out).timeseries
    assert {lbl.name: lbl.value for lbl in ts.labels} == {
        "__name__": "m", "commune": "14797", "instance": "lan-1", "job": "commune-agent",
        "commune_name": "Phường Hạc Thành", "region": "Thành phố Thanh Hóa",
        "terrain": "lowland", "role": "lan-node"}
    stranger = NodeToken.new("99999")
    with pytest.raises(ValueError, match="commune '99999' of node 'lan-1' is not in"):
        inventory_labels(config.inventory, (*config.tokens, *load_gateway_config(str(
            write_gateway_config(tmp_path / "h.yml", ["http://127.0.0.1:9/x"], [stranger])
        )).tokens))


def test_known_series_take_the_fast_path_with_the_same_result(tmp_path: Path) -> None:
    path = write_gateway_config(tmp_path / "g.yml", ["http://127.0.0.1:9/api/v1/write"], [TOKEN],
                                extra="max_sample_age: 1h\n")
    relabeler = Relabeler(load_gateway_config(str(path)), {})
    ident = relabeler.identify(TOKEN.token)
    assert ident is not None
    labels = remote_write.encode_labels([("__name__", "m"), ("commune", "1"), ("x", "y")])

    def one(stamp: int) -> bytes:
        return remote_write.encode_series(labels, [(stamp, 2.5)])

    now = now_ms()
    first = relabeler.relabel(one(now), ident)  # fills the cache
    assert relabeler.relabel(one(now), ident) == first  # served from the cache
    assert first[1] == 1
    (ts,) = remote_write.parse_write_request(first[0]).timeseries
    assert (ts.samples[0].timestamp, ts.samples[0].value) == (now, 2.5)
    assert {lbl.name: lbl.value for lbl in ts.labels}["commune"] == "14797"
    # Out of the window, a known series is still dropped and counted.
    assert relabeler.relabel(one(now - 2 * 3600_000), ident)[1:] == (
        0, {"too_old": 1, "too_new": 0})
    assert relabeler.relabel(one(now + 3600_000), ident)[1:] == (
        0, {"too_old": 0, "too_new": 1})


def _raw_post(port: int, length: str, token: str | None) -> tuple[int, str]:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        sock.sendall(f"POST /api/v1/write HTTP/1.1\r\nHost: x\r\n{auth}"
                     f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode("latin-1"))
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, resp.read().decode()


@pytest.mark.peer
def test_a_content_length_of_non_ascii_digits_is_answered(gateway: GatewayServer) -> None:
    # '²'.isdigit() is True but int('²') raises: the gateway must still answer.
    assert _raw_post(gateway.port, "\u00b2", None)[0] == 401
    status, text = _raw_post(gateway.port, "\u00b2", TOKEN.token)
    assert status == 400 and "Content-Length" in text and "decimal digits" in text


def test_relabel_refuses_too_many_series_before_relabelling_any(tmp_path: Path) -> None:
    path = write_gateway_config(tmp_path / "g.yml", ["http://127.0.0.1:9/api/v1/write"], [TOKEN],
                                extra="max_series_per_request: 2\n")
    relabeler = Relabeler(load_gateway_config(str(path)), {})
    ident = relabeler.identify(TOKEN.token)
    assert ident is not None
    # The first series has a bad label name: the series cap is found before it is looked at.
    raw = b"".join(remote_write.encode_series(remote_write.encode_labels(labels),
                                              [(now_ms(), 1.0)])
                   for labels in ([("__name__", "m"), ("bad-name", "x")], [("__name__", "m")],
                                  [("__name__", "n")]))
    with pytest.raises(Limited) as caught:
        relabeler.relabel(raw, ident)
    assert caught.value.reason == "series" and "max_series_per_request" in str(caught.value)
