"""The spool on its own: order, restart, torn records, and the byte bound with exact drop counts."""

from __future__ import annotations

import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.push.client import PushClient, group_records, series_key
from agent.push.config import PushConfig
from agent.push.record import decode_payload, encode_payload, pack_record
from agent.push.spool import Spool
from common.remote_write import decode_write_request
from common.schema import ExistingFile
from common.units import ByteSize, Duration
from tests.support.peers import LOOPBACK, Prometheus, free_port, wait_for
from tests.support.push_peers import (
    Gateway,
    NodeToken,
    raw_samples,
    spooled_value,
    write_gateway_config,
)


def disk_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.seg"))


def record(i: int, series: int = 3) -> bytes:
    keys = [series_key("test_value", {"s": str(s)}) for s in range(series)]
    return encode_payload(1_700_000_000_000 + i, [(key, float(i)) for key in keys])


def read_all(spool: Spool) -> list[tuple[bytes, int, float]]:
    out = []
    while (batch := spool.read(7)) is not None:
        out += [s for p in batch.payloads for s in decode_payload(p)]
        spool.done(batch, delivered=True)
    return out


def test_records_come_back_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, segment_bytes=200)
    for i in range(50):
        spool.append(record(i))
    assert len(list(tmp_path.glob("*.seg"))) > 5
    samples = read_all(spool)
    assert [t - 1_700_000_000_000 for _, t, _ in samples] == [i for i in range(50) for _ in "abc"]
    assert spool.pending() == 0 and spool.oldest_timestamp_ms() is None
    assert len(list(tmp_path.glob("*.seg"))) == 1, "delivered segments are deleted"


def test_restart_resumes_after_the_last_delivered_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, segment_bytes=600)
    for i in range(20):
        spool.append(record(i, 1))
    batch = spool.read(5)
    assert batch is not None
    spool.done(batch, delivered=True)
    failed = spool.read(5)
    assert failed is not None
    spool.done(failed, delivered=False)  # not delivered: must come again
    spool.close()

    again = Spool(tmp_path, 1 << 20, segment_bytes=600)
    assert again.pending() == 15
    for i in range(20, 25):
        again.append(record(i, 1))
    values = [v for _, _, v in read_all(again)]
    assert values == [float(i) for i in range(5, 25)]


def test_a_torn_record_is_cut_at_start(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    for i in range(3):
        spool.append(record(i))
    spool.close()
    segment = next(tmp_path.glob("*.seg"))
    with open(segment, "ab") as f:
        f.write(pack_record(record(3), seq=9)[:-5])  # the agent died in the middle of a write
    again = Spool(tmp_path, 1 << 20)
    assert again.pending() == 9
    assert again.corrupt == 3, "its header is whole: its samples are counted"
    assert [v for _, _, v in read_all(again)] == [0.0] * 3 + [1.0] * 3 + [2.0] * 3


def test_bound_drops_oldest_and_counts_exactly(tmp_path: Path) -> None:
    bound = 16 << 10
    spool = Spool(tmp_path, bound, fsync=False)
    appended = dropped = 0
    for i in range(800):
        dropped += spool.append(record(i))
        appended += 3
        assert disk_bytes(tmp_path) <= bound
    assert dropped == spool.dropped > 0
    assert appended == dropped + spool.pending()
    values = [v for _, _, v in read_all(spool)]
    assert values[-1] == 799.0
    assert values == sorted(values), "what is left is the newest, in order"


def test_group_records_keeps_series_in_timestamp_order() -> None:
    payloads = [record(i, 2) for i in range(4)]
    body, skipped = group_records(payloads, [2] * len(payloads))
    assert body is not None and skipped == 0
    request = decode_write_request(body)
    assert len(request.timeseries) == 2
    assert [label.value for ts in request.timeseries for label in ts.labels] == [
        "test_value", "0", "test_value", "1"]
    for ts in request.timeseries:
        assert [s.timestamp for s in ts.samples] == [1_700_000_000_000 + i for i in range(4)]


@pytest.mark.peer
def test_client_bound_then_delivery_counts_every_sample(tmp_path: Path,
                                                        prometheus: Prometheus) -> None:
    """Gateway down: the client spools under a tiny bound; then every kept sample arrives."""
    token = NodeToken.new("14797")
    (tmp_path / "token").write_text(token.token)
    port = free_port()
    bound = 16 << 10
    config = PushConfig(f"http://{LOOPBACK}:{port}/api/v1/write",
                        token_file=ExistingFile(tmp_path / "token"),
                        spool_dir=str(tmp_path / "spool"), max_spool_bytes=ByteSize(bound),
                        min_backoff=Duration(0.05), max_backoff=Duration(0.2))
    client = PushClient(config, interval=0.05)
    client.start(heartbeat=False)  # nothing listens yet: every send fails and is retried
    produced = 800
    try:
        for i in range(1, produced + 1):
            client.collected("test", spooled_value(i))
            assert disk_bytes(tmp_path / "spool") <= bound
        assert client.spool.dropped > 0 and client.sent == 0
        gw_config = write_gateway_config(tmp_path / "gateway.yml",
                                         [f"{prometheus.url}/api/v1/write"], [token])
        gateway = Gateway(gw_config, tmp_path, port=port)
        try:
            wait_for(lambda: client.sent + client.spool.dropped == produced, 30,
                     what="spool delivered")
        finally:
            gateway.stop()
    finally:
        client.close()
    dropped = client.spool.dropped
    families = {f.name: f for f in client.families()}
    dropped_metric = {s.labels["reason"]: s.value
                      for s in families["commune_push_dropped_samples"].samples}
    assert dropped_metric == {"spool_full": dropped, "rejected": 0, "spool_error": 0, "corrupt": 0}
    values = [v for _, v in raw_samples(prometheus, "test_spooled_value")]
    assert values == [float(i) for i in range(dropped + 1, produced + 1)]


class Scripted(ThreadingHTTPServer):
    """A receiver answering remote-write posts with a scripted list of statuses, then 204."""

    daemon_threads = True

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[tuple[int, bytes]] = []
        super().__init__((LOOPBACK, 0), _ScriptedHandler)


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: Scripted
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.server.statuses.pop(0) if self.server.statuses else 204
        self.server.bodies.append((status, body))
        answer = b"" if status == 204 else f"scripted {status}\n".encode() * 100
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_client_retries_5xx_and_429_and_drops_other_4xx(tmp_path: Path) -> None:
    server = Scripted([503, 429, 400])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "token").write_text("t0ken\n")
    config = PushConfig(f"http://{LOOPBACK}:{server.server_address[1]}/api/v1/write",
                        ExistingFile(tmp_path / "token"), str(tmp_path / "spool"),
                        batch_samples=1, min_backoff=Duration(0.01), max_backoff=Duration(0.02))
    client = PushClient(config, interval=0.05)
    for i in (1, 2):
        client.collected("test", spooled_value(i))
    try:
        client.start(heartbeat=False)
        wait_for(lambda: client.sent == 1 and client.spool.pending() == 0, 10,
                 what="both batches handled")
    finally:
        client.close()
        server.shutdown()
        server.server_close()
    statuses = [status for status, _ in server.bodies]
    assert statuses == [503, 429, 400, 204]
    values = [decode_write_request(body).timeseries[0].samples[0].value
              for _, body in server.bodies]
    assert values == [1.0, 1.0, 1.0, 2.0], "retried the same batch, dropped it on 400"
    assert client.rejected == 1 and client.sent == 1


OPS = st.lists(st.one_of(
    st.tuples(st.just("append"), st.integers(1, 40)),  # samples in the collection
    st.tuples(st.just("send"), st.sampled_from(["ok", "fail", "fill-ok", "fill-fail", "crash"])),
    st.tuples(st.just("restart"), st.just(0)),
), max_size=60)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_every_sample_is_delivered_dropped_or_pending(tmp_path_factory: pytest.TempPathFactory,
                                                      ops: list[tuple[str, int | str]]) -> None:
    """Whatever happens, appended == delivered + dropped + pending, and order holds."""
    directory = tmp_path_factory.mktemp("spool")
    bound = 1024
    spool = Spool(directory, bound, segment_bytes=256, fsync=False)
    appended = delivered = dropped_before_restart = 0
    delivered_values: list[float] = []
    stamp = 0

    def append(n: int) -> None:
        nonlocal appended, stamp
        stamp += 1
        spool.append(encode_payload(stamp, [(series_key("v", {"i": str(i)}), float(stamp))
                                            for i in range(n)]))
        appended += n
        assert disk_bytes(directory) <= bound

    for op, arg in ops:
        if op == "append":
            append(int(arg))
        elif op == "send":
            batch = spool.read(25)
            if batch is None:
                continue
            if str(arg).startswith("fill"):  # the spool fills up while a batch is on the wire
                for _ in range(3):
                    append(30)
            if arg == "crash":  # the agent dies with a batch on the wire: it is sent again
                dropped_before_restart += spool.dropped
                spool.close()
                spool = Spool(directory, bound, segment_bytes=256, fsync=False)
                continue
            ok = arg in ("ok", "fill-ok")
            spool.done(batch, delivered=ok)
            if ok:
                delivered += batch.samples
                delivered_values += [v for p in batch.payloads for _, _, v in decode_payload(p)]
        else:
            dropped_before_restart += spool.dropped
            spool.close()
            spool = Spool(directory, bound, segment_bytes=256, fsync=False)
    assert appended == delivered + dropped_before_restart + spool.dropped + spool.pending()
    assert delivered_values == sorted(delivered_values)
    spool.close()


def push_metrics(client: PushClient) -> dict[str, float]:
    """The client's push series: name (with the reason of a drop) to value."""
    out = {}
    for family in client.families():
        for sample in family.samples:
            reason = sample.labels.get("reason")
            out[f"{sample.name}:{reason}" if reason else sample.name] = sample.value
    return out


def test_a_record_that_does_not_decode_is_dropped_and_counted_once(tmp_path: Path) -> None:
    """Checksums fine, payload undecodable (a bug, or a crafted file): never retried forever."""
    server = Scripted([])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "token").write_text("t0ken\n")
    config = PushConfig(f"http://{LOOPBACK}:{server.server_address[1]}/api/v1/write",
                        ExistingFile(tmp_path / "token"), str(tmp_path / "spool"),
                        min_backoff=Duration(0.01), max_backoff=Duration(0.02))
    client = PushClient(config, interval=0.05)
    undecodable = struct.pack("<qI", 1_700_000_000_000, 2) + b"not zlib at all"
    client.collected("test", spooled_value(1))
    client.spool.append(undecodable)
    client.collected("test", spooled_value(3))
    try:
        assert client.send_once() and client.sent == 2
        client.spool.append(undecodable)  # a batch with nothing good in it: no post at all
        assert client.send_once() and not client.send_once()
    finally:
        client.close()
        server.shutdown()
        server.server_close()
    values = [sample.value for _, body in server.bodies
              for ts in decode_write_request(body).timeseries for sample in ts.samples]
    assert values == [1.0, 3.0] and len(server.bodies) == 1
    metrics = push_metrics(client)
    assert metrics["commune_push_dropped_samples_total:corrupt"] == 4
    assert client.spool.pending() == 0


def test_lag_and_age_are_seconds_never_an_epoch(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t0ken\n")
    now = [1_800_000_000.0]
    config = PushConfig(f"http://{LOOPBACK}:{free_port()}/api/v1/write",
                        ExistingFile(tmp_path / "token"), str(tmp_path / "spool"))
    client = PushClient(config, interval=15, clock=lambda: now[0])
    assert push_metrics(client)["commune_push_lag_seconds"] == 0
    for _ in range(5):  # nothing delivered yet: the lag is the backlog, not the epoch
        client.collected("test", spooled_value(1))
        now[0] += 15
    metrics = push_metrics(client)
    assert metrics["commune_push_lag_seconds"] == 60
    assert metrics["commune_push_oldest_sample_age_seconds"] == 75
    client.close()
    again = PushClient(config, interval=15, clock=lambda: now[0])  # after a restart too
    assert push_metrics(again)["commune_push_lag_seconds"] == 60
    while (batch := again.spool.read(100)) is not None:
        again.spool.done(batch, delivered=True)
    assert push_metrics(again)["commune_push_lag_seconds"] == 0
    again.close()
