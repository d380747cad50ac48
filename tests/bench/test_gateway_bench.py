"""Gateway ingest on one core and spool drain speed, against a real Prometheus.

Batches are what the agent sends: spool records of real ``host`` module collections, grouped
per series by the agent's own code; one collection per request when the link is healthy, up to
5000 samples per request while a backlog drains. The standard to compare with is Prometheus'
own remote-write receiver fed the same batches directly, measured in the same run.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.exposition import with_labels
from agent.modules.host import HostModule
from agent.modules.host_config import HostConfig
from agent.push.client import PushClient, group_records, series_key
from agent.push.config import PushConfig
from agent.push.record import decode_payload, encode_payload
from collector.gateway.config import load_gateway_config
from collector.gateway.ingest import Relabeler, decode
from common import remote_write
from common.schema import ExistingFile
from common.units import ByteSize, Duration
from tests.support.peers import (
    LOOPBACK,
    VENV_BIN,
    Process,
    Prometheus,
    free_port,
    http_get,
    wait_for,
)
from tests.support.push_peers import (
    PROMETHEUS_PUSH_ARGS,
    PROMETHEUS_PUSH_CONFIG,
    NodeToken,
    write_gateway_config,
)

pytestmark = [pytest.mark.bench, pytest.mark.peer]

NODES = 32  # concurrent agents (a province has 166 pushing at once)
STEADY_REQUESTS = 40  # per node: one host collection each, 15 s apart
BACKLOG_BATCH = 5000  # samples per request while a backlog drains
INTERVAL_MS = 15_000


def host_records(commune: str, count: int, end_ms: int) -> list[bytes]:
    """Spool record payloads of ``count`` real host collections, 15 s apart, ending at end_ms."""
    families = list(with_labels(HostModule(HostConfig()).collect(), {"commune": commune}))
    keys = [(series_key(s.name, s.labels), float(s.value)) for f in families for s in f.samples]
    start = end_ms - count * INTERVAL_MS
    return [encode_payload(start + i * INTERVAL_MS, [(k, v + i) for k, v in keys])
            for i in range(count)]


def _body(payloads: list[bytes]) -> bytes:
    body, skipped = group_records(payloads, [len(decode_payload(p)) for p in payloads])
    assert body is not None and skipped == 0
    return body


def steady_bodies(records: list[bytes]) -> list[bytes]:
    return [_body([r]) for r in records]


def backlog_bodies(records: list[bytes]) -> list[bytes]:
    per_record = len(decode_payload(records[0]))
    step = max(1, BACKLOG_BATCH // per_record)
    return [_body(records[i:i + step]) for i in range(0, len(records), step)]


def count_samples(body: bytes) -> int:
    return sum(len(ts.samples) for ts in remote_write.decode_write_request(body).timeseries)


def send_all(port: int, bodies_per_node: list[list[bytes]], tokens: list[str | None]) -> float:
    """Post every node's bodies in order, nodes in parallel; return the wall time."""

    def node(bodies: list[bytes], token: str | None) -> None:
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
        headers = dict(remote_write.HEADERS)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for body in bodies:
            conn.request("POST", "/api/v1/write", body, headers)
            resp = conn.getresponse()
            text = resp.read()
            assert resp.status in (200, 204), (resp.status, text[:200])
        conn.close()

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(bodies_per_node)) as pool:
        list(pool.map(node, bodies_per_node, tokens))
    return time.perf_counter() - start


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prom")
    prom = Prometheus(PROMETHEUS_PUSH_CONFIG, workdir, PROMETHEUS_PUSH_ARGS)
    # The gateway gets core 0 to itself; Prometheus and the senders share the others.
    others = sorted(os.sched_getaffinity(0) - {0}) or [0]
    cores = ",".join(map(str, others))
    subprocess.run(["taskset", "-a", "-cp", cores, str(prom.proc.pid)], check=True,
                   capture_output=True)
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(others))
    try:
        yield prom
    finally:
        os.sched_setaffinity(0, before)
        prom.stop()


class PinnedGateway(Process):
    """The gateway process confined to one CPU core (taskset)."""

    def __init__(self, config: Path, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        super().__init__(["taskset", "-c", "0", str(VENV_BIN / "commune-collector"), "serve",
                          "--config.file", str(config), "--web.listen-address",
                          f"{LOOPBACK}:{self.port}", "--log.level", "warn"],
                         workdir / f"gateway-{self.port}.log")
        wait_for(lambda: http_get(f"http://{LOOPBACK}:{self.port}/-/ready")[0] == 200, 15,
                 what="gateway ready")


def test_gateway_ingest_one_core(tmp_path: Path, prometheus: Prometheus) -> None:
    end = int(time.time() * 1000) - 60_000
    kinds = {"steady": steady_bodies, "backlog": backlog_bodies}
    # Distinct communes per kind and per path, so no sample is a duplicate Prometheus skips.
    tokens = {kind: [NodeToken.new(f"9{n}{i}") for n in range(NODES)]
              for i, kind in enumerate(kinds)}
    config = write_gateway_config(tmp_path / "gateway.yml", [f"{prometheus.url}/api/v1/write"],
                                  [t for ts in tokens.values() for t in ts])
    gateway = PinnedGateway(config, tmp_path)
    results: dict[str, tuple[float, float, int]] = {}
    try:
        for i, (kind, make) in enumerate(kinds.items()):
            via = [make(host_records("0", STEADY_REQUESTS, end)) for _ in range(NODES)]
            direct = [make(host_records(f"8{n}{i}", STEADY_REQUESTS, end)) for n in range(NODES)]
            total = sum(count_samples(b) for bodies in via for b in bodies)
            t_direct = send_all(prometheus.port, direct, [None] * NODES)
            t_gateway = send_all(gateway.port, via, [t.token for t in tokens[kind]])
            results[kind] = (total / t_gateway, total / t_direct,
                             total // (NODES * len(via[0])))
    finally:
        gateway.stop()

    core = core_rate(tmp_path)
    print()
    for kind, (gw_rate, direct_rate, per_request) in results.items():
        print(f"gateway ingest, 1 core, {kind} batches (~{per_request} samples/request, "
              f"{NODES} agents): {gw_rate:,.0f} samples/s; Prometheus receiver direct: "
              f"{direct_rate:,.0f} samples/s; ratio {gw_rate / direct_rate:.2f} "
              f"(target >= 100,000: {'met' if gw_rate >= 100_000 else 'MISSED'})")
    print(f"gateway core alone (decode, relabel, re-encode, in process): {core:,.0f} samples/s")
    assert all(r[0] > 0 for r in results.values())


def core_rate(tmp_path: Path) -> float:
    """Samples/s of decode + relabel + compress in this process, backlog batches."""
    token = NodeToken.new("14797")
    path = write_gateway_config(tmp_path / "core.yml", ["http://127.0.0.1:9/api/v1/write"],
                                [token])
    relabeler = Relabeler(load_gateway_config(str(path)), {})
    ident = relabeler.identify(token.token)
    assert ident is not None
    bodies = backlog_bodies(host_records("14797", 200, int(time.time() * 1000)))
    samples = 0
    start = time.perf_counter()
    for _ in range(3):
        for body in bodies:
            out = decode(body, ident, relabeler, 64 << 20)
            remote_write.compress(out.raw)
            samples += out.samples
    return samples / (time.perf_counter() - start)


def test_spool_drain_vs_real_time(tmp_path: Path, prometheus: Prometheus) -> None:
    """50 minutes of host collections spooled during an outage, then delivered."""
    token = NodeToken.new("14798")
    config = write_gateway_config(tmp_path / "gateway.yml", [f"{prometheus.url}/api/v1/write"],
                                  [token])
    (tmp_path / "token").write_text(token.token)
    port = free_port()
    push = PushConfig(f"http://{LOOPBACK}:{port}/api/v1/write", ExistingFile(tmp_path / "token"),
                      str(tmp_path / "spool"), ByteSize(256 << 20),
                      min_backoff=Duration(0.05), max_backoff=Duration(0.1))
    outage_s = 50 * 60
    clock = [time.time() - outage_s]
    client = PushClient(push, interval=15.0, clock=lambda: clock[0])
    module = HostModule(HostConfig())
    while clock[0] < time.time():
        client.collected("host", list(with_labels(module.collect(), {"commune": "14798"})))
        clock[0] += 15
    spooled = client.spool.pending()
    gateway = PinnedGateway(config, tmp_path, port)
    try:
        start = time.perf_counter()
        client.start(heartbeat=False)
        wait_for(lambda: client.sent >= spooled, 120, interval=0.01, what="spool drained")
        drained = time.perf_counter() - start
    finally:
        client.close()
        gateway.stop()
    print(f"\nspool drain: {outage_s // 60} min of host samples ({spooled:,} samples, "
          f"{client.spool.size:,} bytes on disk) delivered through the gateway in "
          f"{drained:.2f}s: {outage_s / drained:,.0f}x real time (target >= 10x: "
          f"{'met' if outage_s / drained >= 10 else 'MISSED'}); "
          f"{spooled / drained:,.0f} samples/s")
    assert client.sent == spooled
