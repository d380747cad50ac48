"""The agent's HTTP endpoint: ``/metrics`` from the snapshot, ``/-/healthy``, ``/-/ready``.

Follows Prometheus' exporter toolkit: optional TLS and bcrypt basic auth from a web config file;
every path asks for credentials when users are configured.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from agent.exposition import CONTENT_TYPE, Snapshot
from common.schema import HostPort
from common.web import ListeningServer

if TYPE_CHECKING:
    from common.webconfig import BasicAuth, WebConfig

log = logging.getLogger(__name__)

LANDING = b"""<!doctype html>
<html><head><title>commune-agent</title></head>
<body><h1>commune-agent</h1>
<ul><li><a href="metrics">metrics</a></li><li><a href="-/healthy">healthy</a></li>
<li><a href="-/ready">ready</a></li></ul></body></html>
"""


class MetricsServer(ListeningServer):
    """The agent's endpoint, answering from ``snapshot()``."""

    def __init__(self, address: HostPort, snapshot: Callable[[], Snapshot],
                 ready: Callable[[], bool], web_config: WebConfig | None = None) -> None:
        self.snapshot = snapshot
        self.ready = ready
        self.auth: BasicAuth | None = None
        super().__init__(address, Handler, web_config)
        if web_config is not None and web_config.basic_auth_users:
            from common.webconfig import BasicAuth

            self.auth = BasicAuth(web_config.basic_auth_users)

    def serve_in_thread(self) -> threading.Thread:
        """Serve in a daemon thread; stop with shutdown()."""
        thread = threading.Thread(target=self.serve_forever, name="web", daemon=True)
        thread.start()
        return thread


class Handler(BaseHTTPRequestHandler):
    """Routes the exporter endpoints."""

    server: MetricsServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (40 ms on Linux) on keep-alive connections.
    disable_nagle_algorithm = True
    server_version = "commune-agent"
    timeout = 60

    def do_GET(self) -> None:
        if not self._authorized():
            return
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics()
        elif path == "/-/healthy":
            self._send(200, b"Healthy\n", "text/plain; charset=utf-8")
        elif path == "/-/ready":
            if self.server.ready():
                self._send(200, b"Ready\n", "text/plain; charset=utf-8")
            else:
                self._send(503, b"Not ready: the first collection has not finished\n",
                           "text/plain; charset=utf-8")
        elif path == "/":
            self._send(200, LANDING, "text/html; charset=utf-8")
        else:
            self._send(404, b"Not found\n", "text/plain; charset=utf-8")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _metrics(self) -> None:
        snapshot = self.server.snapshot()
        accept = self.headers.get("Accept-Encoding", "")
        if "gzip" in accept:
            self._send(200, snapshot.gzipped, CONTENT_TYPE, {"Content-Encoding": "gzip"})
        else:
            self._send(200, snapshot.plain, CONTENT_TYPE)

    def _authorized(self) -> bool:
        auth = self.server.auth
        if auth is None:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            # Wrong credentials are answered late, per source; a request without any (a
            # browser's first) is not a failed login.
            if auth.check(user, password, source=self.client_address[0]):
                return True
        self._send(401, b"Unauthorized\n", "text/plain; charset=utf-8",
                   {"WWW-Authenticate": 'Basic realm="commune-agent"'})
        return False

    def _send(self, status: int, body: bytes, content_type: str,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**self.server.headers, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)
