"""The board's HTTP side: ``/``, ``/commune/<code>``, ``/api/status.json``, ``/metrics``,
``/-/healthy``, ``/-/ready``; TLS and basic auth from the exporter-toolkit web config.

    $ commune-collector board --prometheus http://127.0.0.1:9090 --inventory thanh-hoa.yml
    ... board of 166 communes on http://[::]:9830/ (Prometheus http://127.0.0.1:9090)

While Prometheus cannot be read, ``/`` and the commune pages are a 503 page saying so and
``/api/status.json`` a 503 with ``{"error": ...}``.
"""

from __future__ import annotations

import logging
import signal
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from collector.board import api, pages
from collector.board.cache import Cached
from collector.board.slowness import Slowness, read_slowness
from collector.board.sources import Alertmanager, Prometheus, SourceError, read_all
from collector.board.status import Board, judge
from collector.inventory import Inventory
from common.schema import HostPort
from common.web import TEXT, EndpointHandler, EndpointServer

if TYPE_CHECKING:
    from common.webconfig import WebConfig

log = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
SLOWNESS_TTL = 60.0
JSON = "application/json"


@dataclass(frozen=True)
class BoardOptions:
    """Where the board reads and how often."""

    prometheus: str
    alertmanager: str | None = None
    timeout: float = 5.0      # each query, seconds
    cache_ttl: float = 10.0   # seconds a reading serves every viewer
    refresh: int = 30         # the pages reload themselves every this many seconds


class BoardServer(EndpointServer):
    """Serves the board of ``inventory`` from one cached reading of the sources."""

    def __init__(self, address: HostPort, inventory: Inventory, options: BoardOptions,
                 web_config: WebConfig | None = None,
                 read: Callable[[], Board] | None = None) -> None:
        self.inventory = inventory
        self.options = options
        self.registry = CollectorRegistry()
        self.reads = Counter("commune_board_reads", "Readings of the sources (cache misses).",
                             registry=self.registry)
        self.read_errors = Counter("commune_board_read_errors",
                                   "Readings that failed: Prometheus could not be read.",
                                   registry=self.registry)
        self.requests = Counter("commune_board_requests", "Requests answered, by page.",
                                ["page"], registry=self.registry)
        prometheus = Prometheus(options.prometheus, options.timeout)
        alertmanager = (Alertmanager(options.alertmanager, options.timeout)
                        if options.alertmanager else None)

        # "Why is it slow" reads windows of 15 min and 1 h: a minute old is fresh enough.
        self.slowness = Cached(lambda: read_slowness(prometheus),
                               max(options.cache_ttl, SLOWNESS_TTL))

        def fetch() -> Board:
            self.reads.inc()
            try:
                readings = read_all(prometheus, alertmanager)
            except SourceError as exc:
                self.read_errors.inc()
                log.warning("board: %s", exc)
                raise
            try:
                slowness = self.slowness.get()
            except SourceError as exc:  # the status stands without it; each part says why
                log.warning("board: why-is-it-slow readings: %s", exc)
                slowness = Slowness({}, f"chưa đọc được / not read: {exc}")
            return judge(inventory, readings, slowness=slowness)

        self.board = Cached(read or fetch, options.cache_ttl)
        super().__init__(address, BoardHandler, web_config)


class BoardHandler(EndpointHandler):
    """Routes the board's pages."""

    server: BoardServer
    server_version = "commune-collector-board"
    realm = "commune-collector board"
    fixed_headers: ClassVar[dict[str, str]] = {"Cache-Control": "no-store"}

    def do_GET(self) -> None:
        if not self.authorized():
            return
        path = urllib.parse.unquote(self.path.split("?", 1)[0])
        refresh = self.server.options.refresh
        if path == "/-/healthy":
            self.send(200, b"Healthy\n", TEXT)
        elif path == "/-/ready":
            self.send(200, b"Ready\n", TEXT)
        elif path == "/metrics":
            self.send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path in ("/", "/api/status.json") or path.startswith("/commune/"):
            page = "json" if path.endswith(".json") else "board" if path == "/" else "commune"
            self.server.requests.labels(page).inc()
            try:
                board = self.server.board.get()
            except SourceError as exc:
                if page == "json":
                    self.send(503, api.error_json(str(exc)), JSON)
                else:
                    self.send(503, pages.unreachable_page(str(exc), refresh).encode(), HTML)
                return
            if page == "json":
                self.send(200, api.status_json(board), JSON)
            elif page == "board":
                self.send(200, pages.board_page(board, refresh).encode(), HTML)
            else:
                self._commune(board, path.removeprefix("/commune/"), refresh)
        else:
            self.send(404, b"Not found: the board serves /, /commune/CODE and "
                       b"/api/status.json\n", TEXT)

    def _commune(self, board: Board, code: str, refresh: int) -> None:
        commune = board.commune(code.strip("/"))
        if commune is None:
            self.send(404, pages.not_found_page(code).encode(), HTML)
        else:
            self.send(200, pages.commune_page(board, commune, self.server.inventory.file,
                                               refresh).encode(), HTML)


def serve(inventory: Inventory, address: HostPort, options: BoardOptions,
          web_config: WebConfig | None = None) -> int:
    """Serve until SIGTERM or SIGINT; return the exit code."""
    server = BoardServer(address, inventory, options, web_config)
    scheme = "https" if web_config is not None and web_config.tls_server_config else "http"
    host = address.host or "[::]"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    log.info("board of %d communes on %s://%s:%d/ (Prometheus %s%s)", len(inventory.communes),
             scheme, host, server.port, options.prometheus,
             f", Alertmanager {options.alertmanager}" if options.alertmanager else "")
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = server.serve_in_thread("board")
    stop.wait()
    server.shutdown()
    server.server_close()
    thread.join(5)
    return 0
