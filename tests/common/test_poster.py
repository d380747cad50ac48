"""The remote-write poster's answer classes, against a real HTTP server on loopback."""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


@pytest.mark.parametrize("path", ["docs/push-and-scaling.md", "agent/push/client.py"])
def test_the_push_docs_name_every_status_the_poster_retries(path: str) -> None:
    text = " ".join((Path(__file__).parents[2] / path).read_text(encoding="utf-8").split())
    retry_sentences = [s for s in re.split(r"[.;] ", text) if "429" in s and "retr" in s]
    assert retry_sentences, "the retried statuses are described"
    for sentence in retry_sentences:
        assert "408" in sentence and "5xx" in sentence, sentence
