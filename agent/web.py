"""The agent's HTTP endpoint: ``/metrics`` from the snapshot, ``/-/healthy``, ``/-/ready``.

Follows Prometheus' exporter toolkit: optional TLS and bcrypt basic auth from a web config file;
every path asks for credentials when users are configured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from agent.exposition import CONTENT_TYPE, Snapshot
from common.schema import HostPort
from common.web import TEXT, EndpointHandler, EndpointServer

if TYPE_CHECKING:
    from common.webconfig import WebConfig

LANDING = b"""<!doctype html>
<html><head><title>commune-agent</title></head>
<body><h1>commune-agent</h1>
<ul><li><a href="metrics">metrics</a></li><li><a href="-/healthy">healthy</a></li>
<li><a href="-/ready">ready</a></li></ul></body></html>
"""


class MetricsServer(EndpointServer):
    """The agent's endpoint, answering from ``snapshot()``."""

    def __init__(self, address: HostPort, snapshot: Callable[[], Snapshot],
                 ready: Callable[[], bool], web_config: WebConfig | None = None) -> None:
        self.snapshot = snapshot
        self.ready = ready
        super().__init__(address, Handler, web_config)


class Handler(EndpointHandler):
    """Routes the exporter endpoints."""

    server: MetricsServer
    server_version = "commune-agent"
    realm = "commune-agent"

    def do_GET(self) -> None:
        if not self.authorized():
            return
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics()
        elif path == "/-/healthy":
            self.send(200, b"Healthy\n", TEXT)
        elif path == "/-/ready":
            if self.server.ready():
                self.send(200, b"Ready\n", TEXT)
            else:
                self.send(503, b"Not ready: the first collection has not finished\n", TEXT)
        elif path == "/":
            self.send(200, LANDING, "text/html; charset=utf-8")
        else:
            self.send(404, b"Not found\n", TEXT)

    def _metrics(self) -> None:
        snapshot = self.server.snapshot()
        accept = self.headers.get("Accept-Encoding", "")
        if "gzip" in accept:
            self.send(200, snapshot.gzipped, CONTENT_TYPE, {"Content-Encoding": "gzip"})
        else:
            self.send(200, snapshot.plain, CONTENT_TYPE)
