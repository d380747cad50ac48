"""The remote-write poster's answer classes, against a real HTTP server on loopback."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from common.poster import Poster, Rejected, Retry
from tests.support.peers import serving


def answering(status: int) -> ThreadingHTTPServer:
    """A server that reads each POST body and answers ``status``."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = b"answer\n"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass
    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.mark.parametrize(("status", "outcome"), [
    (204, None), (408, Retry), (429, Retry), (500, Retry), (503, Retry),
    (400, Rejected), (401, Rejected), (413, Rejected)])
def test_slow_body_busy_and_server_errors_are_retried_the_rest_rejected(
        status: int, outcome: type[Exception] | None) -> None:
    server = answering(status)
    with serving(server):
        poster = Poster(f"http://127.0.0.1:{server.server_address[1]}/api/v1/write", None, 5.0)
        try:
            if outcome is None:
                poster.post(b"body")
            else:
                with pytest.raises(outcome, match=f"HTTP {status}"):
                    poster.post(b"body")
        finally:
            poster.close()
