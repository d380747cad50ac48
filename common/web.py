"""The HTTP(S) listener both sides serve on: ``--web.listen-address`` and the web config.

``:PORT`` listens on IPv4 and IPv6 alike; TLS and response headers come from the exporter
toolkit's web config file (common/webconfig.py); :class:`EndpointServer` adds its basic-auth
users, whose failed logins are slowed per source address (common/logindelay.py).
"""

from __future__ import annotations

import base64
import binascii
import logging
import socket
import threading
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
