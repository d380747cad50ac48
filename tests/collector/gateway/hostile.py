"""Clients that push the gateway's limits: bodies held open, many connections, one agent.

Used by tests/collector/gateway/test_limits.py (a few connections, in ``make test``) and by
tests/bench/test_gateway_hostile.py (100 slow 8 MiB bodies; 300 connections of wrong tokens
from one address).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from common import remote_write
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK


@dataclass(frozen=True)
class Answer:
    """A gateway's answer to one request."""

    status: int
    headers: dict[str, str]
    text: str


def post(port: int, body: bytes, token: str, timeout: float = 10.0,
         source: str | None = None) -> Answer:
    """POST ``body`` over a new connection (from ``source`` if given) and read the answer."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("POST", "/api/v1/write", body,
                     {**remote_write.HEADERS, "Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        return Answer(resp.status, dict(resp.headers), resp.read().decode())
    finally:
        conn.close()


def hold(port: int, token: str, length: int, sent: int, timeout: float = 10.0) -> socket.socket:
    """A request declaring ``length`` body bytes of which only ``sent`` are sent (yet)."""
    sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
    head = (f"POST /api/v1/write HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Encoding: snappy\r\nContent-Length: {length}\r\n\r\n")
    sock.sendall(head.encode() + b"\0" * sent)
    return sock


def answer_of(sock: socket.socket) -> Answer:
    """Read the answer the gateway sends on a held request's socket."""
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    return Answer(resp.status, dict(resp.headers), resp.read().decode())


def small_body(name: str = "agent_up", series: int = 200) -> bytes:
    """A body like an agent's: ``series`` series with one sample each, stamped now."""
    now = int(time.time() * 1000)
    return remote_write.encode_write_request(
        [([("__name__", name), ("i", str(i))], [(now, float(i))]) for i in range(series)])


@dataclass
class HostileResult:
    """What a hostile run saw."""

    hostile_answers: dict[str, int] = field(default_factory=dict)  # status (or error) -> count
    agent_latencies: list[float] = field(default_factory=list)  # seconds, successful pushes
    agent_failures: list[str] = field(default_factory=list)
    peak_rss: int = 0  # bytes, sampled from /proc

    def p99(self) -> float:
        """The 99th percentile of the agent's push latency, in seconds."""
        ordered = sorted(self.agent_latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


def rss_of(pid: int) -> int:
    """Resident memory of process ``pid``, in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _clients(attempt: Callable[[], str], connections: int, seconds: float) -> dict[str, int]:
    """For ``seconds``, ``connections`` threads each call ``attempt`` (which returns the answer's
    key), 0.5 s apart; the answers counted by key."""
    answers: dict[str, int] = {}
    stop = threading.Event()
    lock = threading.Lock()

    def client() -> None:
        while not stop.is_set():
            key = attempt()
            with lock:
                answers[key] = answers.get(key, 0) + 1
            stop.wait(0.5)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(0.1)
    with lock:
        return dict(answers)


def hostile_clients(port: int, token: str, connections: int, body_bytes: int,
                    seconds: float) -> dict[str, int]:
    """For ``seconds``, ``connections`` clients of ``token`` each declare ``body_bytes``, send
    all but the last byte and wait, reconnecting after every answer; count answers by status
    (or error)."""
    def attempt() -> str:
        sock = None
        try:
            sock = hold(port, token, body_bytes, 0, timeout=seconds + 30)
            with contextlib.suppress(OSError):  # refused early: the gateway closes
                sock.sendall(b"\0" * (body_bytes - 1))
            return str(answer_of(sock).status)
        except (OSError, http.client.HTTPException) as exc:
            return type(exc).__name__
        finally:
            if sock is not None:
                sock.close()

    return _clients(attempt, connections, seconds)


def wrong_token_clients(port: int, source: str, connections: int,
                        seconds: float) -> dict[str, int]:
    """For ``seconds``, ``connections`` clients from address ``source`` each push a small body
    with a wrong token, reconnecting 0.5 s after every answer (as :func:`hostile_clients`);
    count answers by status (or error)."""
    body = small_body(series=10)

    def attempt() -> str:
        try:
            return str(post(port, body, "wrong-token", timeout=seconds + 30,
                            source=source).status)
        except (OSError, http.client.HTTPException) as exc:
            return type(exc).__name__

    return _clients(attempt, connections, seconds)


def hostile_run(port: int, pid: int, hostile_token: str, agent_token: str, connections: int,
                body_bytes: int, seconds: float, push_every: float = 0.25,
                agent_body: Callable[[], bytes] = small_body,
                wrong_tokens_from: str | None = None) -> HostileResult:
    """Run :func:`hostile_clients` in a process of their own (so they do not slow the agent's
    client here) while one agent with its own token pushes every ``push_every`` seconds, the
    RSS of process ``pid`` sampled throughout. With ``wrong_tokens_from``, the hostile clients
    are :func:`wrong_token_clients` from that address instead."""
    result = HostileResult()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                result.peak_rss = max(result.peak_rss, rss_of(pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    args = ([str(port), hostile_token, str(connections), str(body_bytes)]
            if wrong_tokens_from is None
            else ["wrong-token", str(port), wrong_tokens_from, str(connections)])
    clients = subprocess.Popen(
        [sys.executable, "-m", "tests.collector.gateway.hostile", *args, str(seconds + 1.0)],
        stdout=subprocess.PIPE, cwd=ROOT)
    time.sleep(1.0)  # let the hostile clients take their places first
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        body = agent_body()
        started = time.monotonic()
        try:
            got = post(port, body, agent_token)
        except (OSError, http.client.HTTPException) as exc:
            result.agent_failures.append(f"{type(exc).__name__}: {exc}")
        else:
            if got.status == 204:
                result.agent_latencies.append(time.monotonic() - started)
            else:
                result.agent_failures.append(f"{got.status}: {got.text.strip()}")
        time.sleep(push_every)
    out, _ = clients.communicate(timeout=60)
    result.hostile_answers = json.loads(out)
    stop.set()
    sampler.join(5)
    return result


def main(argv: list[str]) -> int:
    """``python -m tests.collector.gateway.hostile PORT TOKEN CONNECTIONS BYTES SECONDS``, or
    ``... wrong-token PORT SOURCE CONNECTIONS SECONDS``."""
    if argv[0] == "wrong-token":
        port, source, connections, seconds = argv[1:]
        answers = wrong_token_clients(int(port), source, int(connections), float(seconds))
    else:
        port, token, connections, body_bytes, seconds = argv
        answers = hostile_clients(int(port), token, int(connections), int(body_bytes),
                                  float(seconds))
    print(json.dumps(answers))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
