"""The board over HTTP: routes, 404s, one reading shared by many viewers, Prometheus
unreachable (503), TLS and basic auth from the web config, the command line."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.board.server import SLOWNESS_TTL, BoardOptions, BoardServer
from collector.board.status import Board, judge
from collector.cli import main
from collector.inventory import Inventory, load_inventory
from common.schema import HostPort
from common.webconfig import load_web_config
from tests.collector.board.fleet_readings import FleetReadings
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, free_port, http_get
from tests.support.peers import Prometheus as PrometheusPeer
from tests.support.tlsfiles import TLSFiles
from tests.support.web_config import PASSWORD, web_config

PROVINCE = ROOT / "configs/inventory/thanh-hoa.yml"


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(PROVINCE)


class Reads:
    """A reader counting its calls, as the cache sees it."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self) -> Board:
        with self.lock:
            self.calls += 1
        return judge(self.inventory, FleetReadings(self.inventory).readings())


@pytest.fixture
def served(inventory: Inventory) -> Iterator[tuple[str, Reads]]:
    reads = Reads(inventory)
    server = BoardServer(HostPort(f"{LOOPBACK}:0"), inventory,
                         BoardOptions("http://127.0.0.1:1", cache_ttl=60), read=reads)
    server.serve_in_thread()
    try:
        yield f"http://{LOOPBACK}:{server.port}", reads
    finally:
        server.shutdown()
        server.server_close()


def test_pages_and_json(served: tuple[str, Reads], inventory: Inventory) -> None:
    url, reads = served
    status, body, headers = http_get(f"{url}/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert body.count(b'class="tile ') == 166
    code = inventory.communes[0].code
    status, body, _ = http_get(f"{url}/commune/{code}")
    assert status == 200 and f"--commune {code}".encode() in body
    status, body, headers = http_get(f"{url}/api/status.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["counts"]["ok"] == 166
    assert reads.calls == 1  # one reading for the three pages


def test_unknown_commune_and_path_are_404s_with_a_sentence(served: tuple[str, Reads]) -> None:
    url, _ = served
    status, body, _ = http_get(f"{url}/commune/00000")
    assert status == 404 and b"No commune has the code 00000 in the inventory" in body
    status, body, _ = http_get(f"{url}/nothing")
    assert status == 404 and b"serves /, /commune/CODE and /api/status.json" in body


def test_many_viewers_make_one_reading(served: tuple[str, Reads]) -> None:
    url, reads = served
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(http_get(f"{url}/")[0]))
               for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 20
    assert reads.calls == 1


def test_prometheus_unreachable_is_a_clear_page_and_a_503(inventory: Inventory) -> None:
    dead = f"http://{LOOPBACK}:{free_port()}"
    server = BoardServer(HostPort(f"{LOOPBACK}:0"), inventory,
                         BoardOptions(dead, timeout=2, cache_ttl=60))
    server.serve_in_thread()
    try:
        url = f"http://{LOOPBACK}:{server.port}"
        status, body, _ = http_get(f"{url}/")
        assert status == 503
        assert f"Prometheus at {dead} is unreachable".encode() in body
        assert b"Prometheus unreachable" in body and b'http-equiv="refresh"' in body
        status, body, _ = http_get(f"{url}/api/status.json")
        assert status == 503 and json.loads(body)["error"].startswith(f"Prometheus at {dead}")
        status, body, _ = http_get(f"{url}/metrics")
        assert b"commune_board_read_errors_total 1.0" in body  # the second page hit the cache
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.peer
def test_the_why_is_it_slow_readings_are_cached_a_minute(inventory: Inventory,
                                                         tmp_path: Path) -> None:
    """Every viewer's reading re-reads the status (cache_ttl 0 here) but not the slower
    windows of "why is it slow"; an empty Prometheus gives every commune its sentences."""
    with PrometheusPeer("global: {}\n", tmp_path) as peer:
        server = BoardServer(HostPort(f"{LOOPBACK}:0"), inventory,
                             BoardOptions(peer.url, timeout=5, cache_ttl=0))
        server.serve_in_thread()
        try:
            url = f"http://{LOOPBACK}:{server.port}"
            code = inventory.communes[0].code
            for _ in range(3):
                status, body, _ = http_get(f"{url}/commune/{code}")
                assert status == 200
        finally:
            server.shutdown()
            server.server_close()
    assert server.board.fetches == 3 and server.slowness.fetches == 1
    assert server.slowness.ttl == SLOWNESS_TTL == 60
    assert b"no throughput target configured" in body and b"flows module is off" in body


@pytest.mark.peer
def test_tls_and_basic_auth_from_the_web_config(tmp_path: Path, tls: TLSFiles,
                                                inventory: Inventory) -> None:
    config = load_web_config(web_config(tmp_path, tls))
    server = BoardServer(HostPort(f"{LOOPBACK}:0"), inventory,
                         BoardOptions("http://127.0.0.1:1"), config, read=Reads(inventory))
    server.serve_in_thread()
    try:
        url = f"https://{LOOPBACK}:{server.port}/"
        context = ssl.create_default_context(cafile=str(tls.ca_cert))
        status, _, headers = http_get(url, context=context)
        assert status == 401 and "Basic" in headers["WWW-Authenticate"]
        token = base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
        status, body, headers = http_get(url, context=context,
                                         headers={"Authorization": f"Basic {token}"})
        assert status == 200 and body.count(b'class="tile ') == 166
        assert headers["X-Frame-Options"] == "deny"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("args,message", [
    (["--prometheus", "localhost:9090"], "--prometheus: expected a URL like"),
    (["--prometheus", "http://x:9090", "--query.timeout", "5x"], "--query.timeout: expected"),
    (["--prometheus", "http://x:9090", "--web.listen-address", "9830"],
     "--web.listen-address: expected 'host:port'"),
])
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["board", "--inventory", str(PROVINCE), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"commune-collector: {message}") and err.count("\n") == 1


def test_a_bad_inventory_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["board", "--prometheus", "http://x:9090",
                 "--inventory", str(tmp_path / "none.yml")]) == 2
    assert "none.yml" in capsys.readouterr().err


def test_help_names_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["board", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--prometheus URL", "--alertmanager URL", "--inventory FILE",
                 "--web.listen-address HOST:PORT", "--web.config.file FILE"):
        assert flag in out
