#!/usr/bin/env python3
"""A stand-in TTHC portal for ``make demo``: a page on loopback that can be made slow or down.

GET /             the page: 200 at once (normal), after --slow-seconds (slow), or 503 (down)
POST /-/mode/M    switch to mode M (normal, slow, down); GET /-/mode tells the current mode

With --tls-port (and --tls-cert, --tls-key) the same portal, in the same mode, is served over
HTTPS too.
"""

from __future__ import annotations

import argparse
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = ("normal", "slow", "down")
PAGE = "<!doctype html><title>Cổng dịch vụ công (demo)</title><p>Cổng dịch vụ công — demo</p>\n"


class Portal(ThreadingHTTPServer):
    """The portal's state: ``mode`` and how long a slow page takes."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], slow_seconds: float) -> None:
        super().__init__(address, _Handler)
        self.mode = "normal"
        self.slow_seconds = slow_seconds
        self.changed = threading.Event()
        self.mirrors: list[Portal] = []  # the same portal on other ports (HTTPS)

    def set_mode(self, mode: str) -> None:
        """Switch mode; pages waiting to be served slowly are answered in the new mode."""
        for portal in (self, *self.mirrors):
            portal.mode = mode
            changed, portal.changed = portal.changed, threading.Event()
            changed.set()


class _Handler(BaseHTTPRequestHandler):
    server: Portal

    def _reply(self, status: int, text: str, content_type: str = "text/plain") -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/-/mode":
            self._reply(200, self.server.mode + "\n")
            return
        if self.server.mode == "slow":
            self.server.changed.wait(self.server.slow_seconds)
        if self.server.mode == "down":
            self._reply(503, "Service Unavailable (demo portal is down)\n")
        else:
            self._reply(200, PAGE, "text/html")

    def do_POST(self) -> None:
        mode = self.path.removeprefix("/-/mode/")
        if not self.path.startswith("/-/mode/") or mode not in MODES:
            self._reply(400, f"POST /-/mode/MODE with MODE one of {', '.join(MODES)}\n")
            return
        self.server.set_mode(mode)
        self._reply(200, mode + "\n")

    def log_message(self, *args: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    """Serve the stand-in portal until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9812, help="loopback port (default 9812)")
    parser.add_argument("--slow-seconds", type=float, default=3.5,
                        help="how long a page takes when slow (default 3.5, over the SLI's 3 s)")
    parser.add_argument("--tls-port", type=int, help="also serve HTTPS on this loopback port")
    parser.add_argument("--tls-cert", help="PEM certificate (chain) for --tls-port")
    parser.add_argument("--tls-key", help="PEM private key for --tls-port")
    args = parser.parse_args(argv)
    server = Portal(("127.0.0.1", args.port), args.slow_seconds)
    if args.tls_port:
        if not (args.tls_cert and args.tls_key):
            parser.error("--tls-port needs --tls-cert and --tls-key")
        tls = Portal(("127.0.0.1", args.tls_port), args.slow_seconds)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        # The handshake runs in the request's thread: a client that connects and says nothing
        # must not hold up accept() for everyone else.
        tls.socket = context.wrap_socket(tls.socket, server_side=True,
                                         do_handshake_on_connect=False)
        server.mirrors.append(tls)
        tls.mirrors.append(server)
        threading.Thread(target=tls.serve_forever, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
