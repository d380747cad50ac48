"""The board's sources: Prometheus' query API and Alertmanager's alerts, odd answers included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.board.sources import Alertmanager, Prometheus, SourceError, read_all
from tests.support.peers import LOOPBACK, answering_json, serving
from tests.support.peers import Prometheus as PrometheusPeer


@pytest.fixture
def odd_source(request: pytest.FixtureRequest) -> Iterator[str]:
    server = answering_json(request.param)
    with serving(server):
        yield f"http://{LOOPBACK}:{server.server_address[1]}"


ODD_QUERY_ANSWERS = [
    {"status": "success"},
    {"status": "success", "data": None},
    {"status": "success", "data": {"result": {"metric": {}}}},
    {"status": "success", "data": {"result": [{"metric": {}}]}},
    {"status": "success", "data": {"result": [{"metric": {}, "value": [1]}]}},
    {"status": "success", "data": {"result": [{"metric": 3, "value": [1, "x"]}]}},
]


@pytest.mark.parametrize("odd_source", ODD_QUERY_ANSWERS, indirect=True)
def test_an_unexpected_query_answer_is_a_source_error(odd_source: str) -> None:
    with pytest.raises(SourceError, match="answered an unexpected shape"):
        Prometheus(odd_source, timeout=2).query("up")


@pytest.mark.parametrize("odd_source", [[{"labels": {"alertname": "X"}, "annotations": 3}],
                                        [{"labels": {"alertname": "X"}, "annotations": ["a"]}]],
                         indirect=True)
def test_an_unexpected_alertmanager_answer_is_a_source_error(odd_source: str) -> None:
    with pytest.raises(SourceError, match="answered an unexpected shape"):
        Alertmanager(odd_source, timeout=2).alerts()


@pytest.mark.peer
@pytest.mark.parametrize("odd_source", [[{"labels": {"alertname": "X"}, "annotations": 3}]],
                         indirect=True)
def test_a_fractional_timeout_works_and_an_odd_alertmanager_falls_back(
        odd_source: str, tmp_path: Path) -> None:
    with PrometheusPeer("global: {}\n", tmp_path) as peer:
        prometheus = Prometheus(peer.url, timeout=0.5)
        assert prometheus.query("vector(1)")[0].value == 1.0
        readings = read_all(prometheus, Alertmanager(odd_source, timeout=0.5))
    assert readings.alerts_from == "prometheus"
    assert "answered an unexpected shape" in readings.notes[0]
