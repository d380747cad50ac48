"""The HTTP(S) listener both sides serve on: ``--web.listen-address`` and the web config.

``:PORT`` listens on IPv4 and IPv6 alike; TLS and response headers come from the exporter
toolkit's web config file (common/webconfig.py).
"""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from common.schema import HostPort

if TYPE_CHECKING:
    from common.webconfig import WebConfig


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
