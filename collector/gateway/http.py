"""``commune-collector serve``: the remote-write gateway's HTTP side.

    $ commune-collector serve --config.file gateway.yml --web.listen-address :9820
    ... serving http://:9820/api/v1/write (1 receivers, 166 tokens)

``POST /api/v1/write`` with ``Authorization: Bearer TOKEN``: 204 once every receiver took the
samples (retried until ``ack_timeout``, then given up: the agent still has them); 401 wrong
token; 411 no Content-Length; 413 too large; 400 bad snappy/protobuf or a receiver refused the
samples (the agent drops them); 503 a receiver is unreachable or its queue is full (the agent
keeps them and retries). ``/metrics``, ``/-/healthy``, ``/-/ready``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from collector.gateway.config import GatewayConfig
from collector.gateway.forward import Forwarder, QueueFull
from collector.gateway.ingest import (
    BadRequest,
    GatewayMetrics,
    Relabeler,
    TooLarge,
    decode,
    inventory_labels,
)
from common.poster import Rejected
from common.schema import HostPort
from common.web import ListeningServer

if TYPE_CHECKING:
    from common.webconfig import WebConfig

log = logging.getLogger(__name__)

DEFAULT_LISTEN = ":9820"
WRITE_PATH = "/api/v1/write"
TEXT = "text/plain; charset=utf-8"


class GatewayServer(ListeningServer):
    """Accepts remote-write from agents and forwards it."""

    request_queue_size = 128

    def __init__(self, address: HostPort, config: GatewayConfig,
                 web_config: WebConfig | None = None) -> None:
        self.config = config
        self.registry = CollectorRegistry()
        self.metrics = GatewayMetrics(self.registry)
        self.relabeler = Relabeler(config, inventory_labels(config.inventory, config.tokens))
        super().__init__(address, GatewayHandler, web_config)
        self.forwarder = Forwarder(config.receivers, self.registry)
        self.stopping = False

    def close(self, drain_timeout: float = 5.0) -> None:
        """Stop accepting, give receivers ``drain_timeout`` seconds, release the socket."""
        self.stopping = True
        self.shutdown()
        self.forwarder.stop(drain_timeout)
        self.server_close()


class GatewayHandler(BaseHTTPRequestHandler):
    """Routes the gateway's endpoints."""

    server: GatewayServer
    protocol_version = "HTTP/1.1"
    server_version = "commune-collector"
    timeout = 60
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's
    # delayed ACK (40 ms) on every kept-alive request.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != WRITE_PATH:
            self._answer(404, "not found; remote-write goes to " + WRITE_PATH, close=True)
            return
        code, message = self._write()
        self.server.metrics.requests.labels(str(code)).inc()
        self._answer(code, message, close=code in (401, 411, 413))

    def _write(self) -> tuple[int, str]:
        server, config = self.server, self.server.config
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        ident = server.relabeler.identify(token.strip()) if scheme.lower() == "bearer" else None
        if ident is None:
            server.metrics.bad.labels("auth").inc()
            return 401, "unauthorized: send 'Authorization: Bearer TOKEN' with this node's token"
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            return 411, "Content-Length required"
        length = int(length_text)
        if length > config.max_body_bytes:
            server.metrics.bad.labels("too_large").inc()
            return 413, f"body of {length} bytes exceeds max_body_bytes ({config.max_body_bytes})"
        body = self.rfile.read(length)
        try:
            decoded = decode(body, ident, server.relabeler, config.max_decoded_bytes)
        except TooLarge as exc:
            server.metrics.bad.labels("too_large").inc()
            return 413, str(exc)
        except BadRequest as exc:
            server.metrics.bad.labels(exc.reason).inc()
            return 400, str(exc)
        for reason, count in decoded.dropped.items():
            if count:
                server.metrics.dropped.labels(reason).inc(count)
        if not decoded.samples:
            return 204, ""
        deadline = time.monotonic() + config.ack_timeout
        try:
            futures = server.forwarder.submit(decoded.raw, decoded.samples, deadline)
        except QueueFull as exc:
            return 503, str(exc)
        # Each receiver gives up the body at the deadline, so this wait ends soon after.
        done, pending = concurrent.futures.wait(futures, config.ack_timeout + 5)
        if pending:
            return 503, "a receiver has not taken the samples yet; retry later"
        for future in done:
            error = future.exception()
            if isinstance(error, Rejected):
                return 400, f"receiver refused the samples: {error}"
            if error is not None:
                return 503, f"receiver unavailable: {error}"
        server.metrics.received.labels(ident.commune).inc(decoded.samples)
        return 204, ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/-/healthy":
            self._answer(200, "Healthy")
        elif path == "/-/ready":
            if self.server.stopping or not self.server.forwarder.ready:
                self._answer(503, "Not ready: shutting down or a receiver's queue is full")
            else:
                self._answer(200, "Ready")
        else:
            self._answer(404, "not found")

    def _answer(self, status: int, message: str, close: bool = False) -> None:
        body = (message + "\n").encode() if status != 204 else b""
        self._send(status, body, TEXT, close)

    def _send(self, status: int, body: bytes, content_type: str, close: bool = False) -> None:
        self.send_response(status)
        for name, value in self.server.headers.items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        if close:  # the body was not read: the connection cannot carry another request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if status != 204:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        if log.isEnabledFor(logging.DEBUG):  # called on every request: skip the formatting
            log.debug("%s %s", self.address_string(), format % args)


def serve(config: GatewayConfig, listen: HostPort, web_config: WebConfig | None = None) -> int:
    """Run the gateway until SIGTERM or Ctrl-C."""
    server = GatewayServer(listen, config, web_config)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
    thread.start()
    scheme = "https" if web_config and web_config.tls_server_config else "http"
    log.info("serving %s://%s%s (%d receivers, %d tokens)", scheme, listen, WRITE_PATH,
             len(config.receivers), len(config.tokens))
    if not config.tokens:
        log.warning("no token configured: every push is refused (401) until a node is enrolled "
                    "(commune-collector enrol)")
    stop.wait()
    server.close()
    return 0
