"""``commune-collector serve``: the remote-write gateway's HTTP side.

    $ commune-collector serve --config.file gateway.yml --web.listen-address :9820
    ... serving http://:9820/api/v1/write (1 receivers, 166 tokens)

``POST /api/v1/write`` with ``Authorization: Bearer TOKEN``: 204 once every receiver took the
samples (retried until ``ack_timeout``, then given up: the agent still has them); 401 wrong
token (answered later with each failure from the same address); 411 no Content-Length; 400 bad
snappy/protobuf, a bad label name, or a receiver refused the samples (the agent drops them);
503 a receiver is unreachable or its queue is full (the agent keeps them and retries).
``/metrics``, ``/-/healthy``, ``/-/ready``.

Bodies are read as they arrive, never allocated from the declared length, under the limits of
collector/gateway/limits.py: 503 over ``max_connections`` or ``max_receiving_bytes``, 429 over
``max_connections_per_source`` or ``max_requests_per_token``, 408 past ``header_timeout`` or
``body_timeout``, 413 over the size, series or samples caps.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import re
import signal
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from collector.gateway.config import GatewayConfig
from collector.gateway.forward import Forwarder, QueueFull
from collector.gateway.ingest import (
    BadRequest,
    Decoded,
    GatewayMetrics,
    Relabeler,
    decode,
    inventory_labels,
)
from collector.gateway.limits import (
    RETRY_AFTER,
    ByteBudget,
    Connection,
    Connections,
    Limited,
    Slots,
)
from common.logindelay import FailureDelay
from common.poster import Rejected
from common.schema import HostPort
from common.web import ListeningServer

if TYPE_CHECKING:
    from common.webconfig import WebConfig

log = logging.getLogger(__name__)

DEFAULT_LISTEN = ":9820"
WRITE_PATH = "/api/v1/write"
TEXT = "text/plain; charset=utf-8"
READ_CHUNK = 64 << 10  # bytes read from a connection at once
REFUSING_AT_ONCE = 32  # connections over a connection limit being answered at once
REFUSE_TIMEOUT = 1.0  # seconds to read such a connection's head, and to linger after
LINGER_SECONDS = 1.0  # after an answer sent before the body was read
LINGER_BYTES = 256 << 10  # unread body bytes read and dropped, at most, after such an answer


class GatewayServer(ListeningServer):
    """Accepts remote-write from agents and forwards it."""

    request_queue_size = 128

    def __init__(self, address: HostPort, config: GatewayConfig,
                 web_config: WebConfig | None = None) -> None:
        self.config = config
        self.registry = CollectorRegistry()
        self.metrics = GatewayMetrics(self.registry)
        self.relabeler = Relabeler(config, inventory_labels(config.inventory, config.tokens))
        self.receiving = ByteBudget(config.max_receiving_bytes)
        self.token_slots = Slots(config.max_requests_per_token)
        self.failures = FailureDelay()
        self.limits = Connections(config.max_connections, config.max_connections_per_source)
        self._admitted: dict[Any, Connection] = {}  # by the connection's socket
        self._admitted_lock = threading.Lock()
        # Refusing a connection means reading its request head and answering 503 or 429, in a
        # thread of its own with a short timeout; past this many at once, the socket is closed.
        self._refusals = threading.BoundedSemaphore(REFUSING_AT_ONCE)
        Gauge("commune_gateway_connections", "Client connections open (max_connections).",
              registry=self.registry).set_function(lambda: self.limits.open)
        Gauge("commune_gateway_delayed_connections",
              "Connections waiting out a wrong token's delay, outside max_connections.",
              registry=self.registry).set_function(lambda: self.limits.delayed)
        Gauge("commune_gateway_receiving_bytes",
              "Bytes of request bodies being received or decoded (max_receiving_bytes).",
              registry=self.registry).set_function(lambda: self.receiving.used)
        super().__init__(address, GatewayHandler, web_config)
        self.forwarder = Forwarder(config.receivers, self.registry)
        self.stopping = False

    @property
    def connections(self) -> int:
        """Connections open, counted against ``max_connections``."""
        return self.limits.open

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            admitted = self.limits.admit(FailureDelay.source_key(client_address[0]))
        except Limited as exc:
            self.metrics.limited.labels(exc.reason).inc()
            if not self._refusals.acquire(blocking=False):
                self.shutdown_request(request)
                return
            threading.Thread(target=self._refuse, args=(request, exc), name="gateway-refuse",
                             daemon=True).start()
            return
        with self._admitted_lock:
            self._admitted[request] = admitted
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: it will not count itself out
            self._connection_closed(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connection_closed(request)

    def admitted(self, request: Any) -> Connection:
        """The limits' record of an open connection (its handler's ``request``)."""
        with self._admitted_lock:
            return self._admitted[request]

    def _connection_closed(self, request: Any) -> None:
        with self._admitted_lock:
            admitted = self._admitted.pop(request)
        admitted.close()

    def _refuse(self, sock: socket.socket, refused: Limited) -> None:
        """Answer a connection over a connection limit, spending at most ~2 s on it."""
        answer = closing_answer(HTTPStatus(refused.status), str(refused), RETRY_AFTER)
        try:
            sock.settimeout(REFUSE_TIMEOUT)
            _read_head(sock, time.monotonic() + REFUSE_TIMEOUT)
            sock.sendall(answer)
            linger(sock, REFUSE_TIMEOUT)
        except (OSError, ValueError):
            pass
        finally:
            self.shutdown_request(sock)
            self._refusals.release()

    def close(self, drain_timeout: float = 5.0) -> None:
        """Stop accepting, give receivers ``drain_timeout`` seconds, release the socket."""
        self.stopping = True
        self.shutdown()
        self.forwarder.stop(drain_timeout)
        self.server_close()


def closing_answer(status: HTTPStatus, message: str, retry_after: int | None = None) -> bytes:
    """A whole plain-text answer ending the connection, written to a socket no handler holds."""
    body = f"{message}\n".encode()
    head = [f"HTTP/1.1 {status.value} {status.phrase}", f"Content-Type: {TEXT}"]
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after}")
    head += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _read_head(sock: socket.socket, deadline: float) -> None:
    """Read (and discard) a request's line and headers, up to 64 KiB or ``deadline``."""
    tail, total = b"", 0
    while b"\r\n\r\n" not in tail and total < 65536 and time.monotonic() < deadline:
        chunk = sock.recv(4096)
        if not chunk:
            return
        tail = tail[-3:] + chunk
        total += len(chunk)


def linger(sock: socket.socket, seconds: float, limit: int = LINGER_BYTES) -> None:
    """Half-close ``sock`` and read what the client still sends, for up to ``seconds``.

    Closing a socket with unread data makes the kernel send a reset, which can destroy the
    answer before the client reads it (Apache's "lingering close" does the same).
    """
    deadline = time.monotonic() + seconds
    try:
        sock.shutdown(socket.SHUT_WR)
        while limit > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(left)
            chunk = sock.recv(min(limit, 65536))
            if not chunk:
                return
            limit -= len(chunk)
    except (OSError, ValueError):
        return


class HeadReader:
    """The connection's reader, its ``readline`` bounded by a deadline for the whole head.

    The request line and headers are read with ``readline``; each wait on the socket lasts at
    most until the deadline, so a client sending a byte now and then cannot hold the
    connection past it. Everything else (the body) goes to the reader itself.
    """

    def __init__(self, reader: Any, sock: socket.socket, deadline: float) -> None:
        self.reader = reader
        self.sock = sock
        self.deadline = deadline
        self.started = False  # some of a request came
        self.timed_out = False

    def readline(self, limit: int = -1) -> bytes:
        """A line of at most ``limit`` bytes; TimeoutError past the deadline."""
        line = bytearray()
        while limit < 0 or len(line) < limit:
            try:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the request's headers did not arrive in time")
                self.sock.settimeout(left)
                ahead = self.reader.peek(1)  # at most one read on the socket
            except TimeoutError:
                self.timed_out = True
                raise
            if not ahead:
                break
            self.started = True
            end = ahead.find(b"\n")
            take = len(ahead) if end < 0 else end + 1
            if limit >= 0:
                take = min(take, limit - len(line))
            line += self.reader.read(take)
            if line.endswith(b"\n"):
                break
        return bytes(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


class GatewayHandler(BaseHTTPRequestHandler):
    """Routes the gateway's endpoints."""

    server: GatewayServer
    _unread = 0  # body bytes of the current request not read yet
    protocol_version = "HTTP/1.1"
    server_version = "commune-collector"
    timeout = 60
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's
    # delayed ACK (40 ms) on every kept-alive request.
    disable_nagle_algorithm = True

    def handle_one_request(self) -> None:
        reader = self.rfile.reader if isinstance(self.rfile, HeadReader) else self.rfile
        head = HeadReader(reader, self.connection,
                          time.monotonic() + self.server.config.header_timeout)
        self.rfile = cast(io.BufferedIOBase, head)
        super().handle_one_request()  # a TimeoutError closes the connection
        if head.timed_out and head.started:
            self.server.metrics.limited.labels("header_timeout").inc()
            self._refuse_head()
        self.connection.settimeout(self.timeout)

    def _refuse_head(self) -> None:
        """Answer 408 to a request whose headers came too slowly (an idle connection closes
        without an answer: its client may be sending a new request right then)."""
        answer = closing_answer(HTTPStatus.REQUEST_TIMEOUT,
                                f"the request's headers did not arrive within "
                                f"{self.server.config.header_timeout} (header_timeout)")
        try:
            self.connection.settimeout(1.0)
            self.connection.sendall(answer)
        except OSError:
            return
        linger(self.connection, LINGER_SECONDS)

    def do_POST(self) -> None:
        self._body_read = False
        length = self.headers.get("Content-Length", "")
        # str.isdigit() accepts '²', which int() refuses: only ASCII digits are a length.
        self._unread = int(length) if re.fullmatch(r"[0-9]+", length) else 0
        if self.path.split("?", 1)[0] != WRITE_PATH:
            self._answer(404, "not found; remote-write goes to " + WRITE_PATH, close=True)
            return
        retry_after = None
        try:
            code, message = self._write()
        except OSError:  # the client left mid-body, or its TLS broke: nobody to answer
            self.close_connection = True
            return
        except Limited as exc:
            self.server.metrics.limited.labels(exc.reason).inc()
            code, message, retry_after = exc.status, str(exc), exc.retry_after
        self.server.metrics.requests.labels(str(code)).inc()
        self._answer(code, message, close=not self._body_read, retry_after=retry_after)

    def _write(self) -> tuple[int, str]:
        server, config = self.server, self.server.config
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        ident = server.relabeler.identify(token.strip()) if scheme.lower() == "bearer" else None
        admitted = server.admitted(self.request)
        if ident is None:
            server.metrics.bad.labels("auth").inc()
            delay = server.failures.failed(self.client_address[0])
            # While it waits, the connection still counts against its address but lets another
            # take its max_connections slot; it closes after the 401 (its body is not read).
            admitted.step_aside()
            time.sleep(delay)
            return 401, "unauthorized: send 'Authorization: Bearer TOKEN' with this node's token"
        admitted.proven()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return 411, "Content-Length required"
        if not re.fullmatch(r"[0-9]+", length_text):
            return 400, (f"bad Content-Length {length_text!r}: send the body's length "
                         f"in bytes as decimal digits")
        length = int(length_text)
        if length > config.max_body_bytes:
            raise Limited("body_size", f"body of {length} bytes exceeds max_body_bytes "
                          f"({config.max_body_bytes}); send smaller batches")
        slot = (ident.commune, ident.node)
        server.token_slots.acquire(slot)
        reserved = 0
        try:
            reserved += server.receiving.reserve(length)
            body = self._read_body(length, time.monotonic() + config.body_timeout)

            def reserve(size: int) -> None:
                nonlocal reserved  # alone, one request may take the whole budget
                reserved += server.receiving.reserve(min(size, config.max_receiving_bytes
                                                         - reserved))

            try:
                decoded = decode(body, ident, server.relabeler, config.max_decoded_bytes,
                                 reserve)
            except BadRequest as exc:
                server.metrics.bad.labels(exc.reason).inc()
                return 400, str(exc)
            del body
            return self._forward(decoded, ident.commune)
        finally:
            server.receiving.release(reserved)
            server.token_slots.release(slot)

    def _read_body(self, length: int, deadline: float) -> bytes:
        """The request body, read as it arrives; Limited("body_timeout") past ``deadline``."""
        chunks: list[bytes] = []
        left = length
        try:
            while left > 0:
                wait = deadline - time.monotonic()
                try:
                    if wait <= 0:
                        raise TimeoutError
                    self.connection.settimeout(min(wait, self.timeout))
                    chunk = self.rfile.read1(min(left, READ_CHUNK))
                except TimeoutError:  # past the deadline, or idle for self.timeout
                    raise Limited("body_timeout", f"the body did not arrive within "
                                  f"{self.server.config.body_timeout} (body_timeout); "
                                  f"{length - left} of {length} bytes came") from None
                if not chunk:
                    raise ConnectionError("the client closed the connection mid-body")
                chunks.append(chunk)
                left -= len(chunk)
                self._unread = left
        finally:
            self.connection.settimeout(self.timeout)
        self._body_read = True
        return b"".join(chunks)

    def _forward(self, decoded: Decoded, commune: str) -> tuple[int, str]:
        server, config = self.server, self.server.config
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
        server.metrics.received.labels(commune).inc(decoded.samples)
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

    def _answer(self, status: int, message: str, close: bool = False,
                retry_after: int | None = None) -> None:
        body = (message + "\n").encode() if status != 204 else b""
        self._send(status, body, TEXT, close, retry_after)
        if close and self._unread <= LINGER_BYTES:
            # Answered before the body was read: let the client read the answer. A larger
            # body cannot be taken in without reading it, so the client gets a reset.
            self.wfile.flush()
            linger(self.connection, LINGER_SECONDS)

    def _send(self, status: int, body: bytes, content_type: str, close: bool = False,
              retry_after: int | None = None) -> None:
        self.send_response(status)
        for name, value in self.server.headers.items():
            self.send_header(name, value)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
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
