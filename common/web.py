"""The HTTP(S) listener both sides serve on: ``--web.listen-address`` and the web config.

``:PORT`` listens on IPv4 and IPv6 alike; TLS and response headers come from the exporter
toolkit's web config file (common/webconfig.py). Failed logins are slowed per source address
(:class:`FailureDelay`).
"""

from __future__ import annotations

import base64
import binascii
import collections
import ipaddress
import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, ClassVar

from common.schema import HostPort

if TYPE_CHECKING:
    from common.webconfig import BasicAuth, WebConfig

log = logging.getLogger(__name__)

TEXT = "text/plain; charset=utf-8"


class ListeningServer(ThreadingHTTPServer):
    """A threaded HTTP(S) server set up from ``--web.listen-address`` and the web config.

    ``:PORT`` listens on IPv4 and IPv6 alike; TLS and response headers come from the web config.
    The agent's endpoint and the collector's gateway both build on it.
    """

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: HostPort, handler: type[BaseHTTPRequestHandler],
                 web_config: WebConfig | None = None) -> None:
        self.headers: dict[str, str] = {}
        host = address.host or "::"
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, address.port), handler)
        if web_config is not None:
            self.headers = dict(web_config.http_server_config.headers)
            tls = web_config.tls_server_config
            if tls is not None:
                # The handshake happens on the first read, in the connection's own thread, so
                # a slow client never blocks accept().
                self.socket = tls.context().wrap_socket(self.socket, server_side=True,
                                                        do_handshake_on_connect=False)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # ':9810' listens on IPv4 and IPv6 alike, as Go servers do.
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self.server_address[1])


class EndpointServer(ListeningServer):
    """A :class:`ListeningServer` whose every path asks for the web config's basic-auth users.

    The agent's ``/metrics`` endpoint and the collector's board build on it, with handlers
    derived from :class:`EndpointHandler`.
    """

    def __init__(self, address: HostPort, handler: type[EndpointHandler],
                 web_config: WebConfig | None = None) -> None:
        self.auth: BasicAuth | None = None
        super().__init__(address, handler, web_config)
        if web_config is not None and web_config.basic_auth_users:
            from common.webconfig import BasicAuth

            self.auth = BasicAuth(web_config.basic_auth_users)

    def serve_in_thread(self, name: str = "web") -> threading.Thread:
        """Serve in a daemon thread; stop with shutdown()."""
        thread = threading.Thread(target=self.serve_forever, name=name, daemon=True)
        thread.start()
        return thread


class EndpointHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 with basic auth, the web config's headers, HEAD as GET."""

    server: EndpointServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (40 ms on Linux) on keep-alive connections.
    disable_nagle_algorithm = True
    timeout = 60
    #: The realm named in 401 answers.
    realm = "commune-monitor"
    #: Headers sent with every answer, besides the web config's.
    fixed_headers: ClassVar[dict[str, str]] = {}

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        """Answer a GET; derived handlers route here after :meth:`authorized`."""
        self.send(404, b"Not found\n", TEXT)

    def authorized(self) -> bool:
        """True when no users are configured or the request's credentials are right; else
        answer 401 (wrong credentials late, per source address) and return False."""
        auth = self.server.auth
        if auth is None:
            return True
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            # Wrong credentials are answered late, per source; a request without any (a
            # browser's first) is not a failed login.
            if auth.check(user, password, source=self.client_address[0]):
                return True
        self.send(401, b"Unauthorized\n", TEXT,
                  {"WWW-Authenticate": f'Basic realm="{self.realm}"'})
        return False

    def send(self, status: int, body: bytes, content_type: str,
             extra: dict[str, str] | None = None) -> None:
        """Answer with ``body`` (not written for HEAD) and its length."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**self.fixed_headers, **self.server.headers, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class FailureDelay:
    """How long to hold the answer to a failed login, per source address.

    The delay doubles with each failure from a source (``base`` seconds for the first, at most
    ``cap``) and decays when the source stops failing: each ``half_life`` seconds without a
    failure halves the count. Successful logins are never delayed. IPv6 sources count per /64,
    which one client usually holds whole. The table keeps the ``max_sources`` most recent
    sources, so its memory is bounded (about 200 bytes a source).
    """

    def __init__(self, base: float = 0.05, cap: float = 5.0, half_life: float = 60.0,
                 max_sources: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base = base
        self.cap = cap
        self.half_life = half_life
        self.max_sources = max_sources
        self.clock = clock
        self._failures: collections.OrderedDict[str, tuple[float, float]] = (
            collections.OrderedDict())
        self._lock = threading.Lock()

    @staticmethod
    def source_key(address: str) -> str:
        """The table key of a client address: itself for IPv4, its /64 for IPv6."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return address
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return str(ip.ipv4_mapped)
            return str(ipaddress.IPv6Network((ip, 64), strict=False))
        return str(ip)

    def failed(self, address: str) -> float:
        """Record a failure from ``address``; return the seconds to wait before answering."""
        key = self.source_key(address)
        now = self.clock()
        with self._lock:
            count, last = self._failures.pop(key, (0.0, now))
            count = count * math.pow(0.5, (now - last) / self.half_life) + 1
            self._failures[key] = (count, now)
            while len(self._failures) > self.max_sources:
                self._failures.popitem(last=False)
        return min(self.cap, self.base * math.pow(2, count - 1))

    def wait(self, address: str) -> float:
        """Record a failure from ``address`` and sleep its delay; return the delay."""
        delay = self.failed(address)
        time.sleep(delay)
        return delay

    def __len__(self) -> int:
        return len(self._failures)
