"""Every dashboard query runs against a real Prometheus fed by a synthetic commune fleet (the
contract's metric names, inventory labels per target, the recording rules loaded) and returns
data; the alert-state panels (ALERTS) must at least execute."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support import dashboard_queries
from tests.support.metric_names import (
    RENDERED_METRICS,
    metric_names,
    own_interval_recording_names,
    recording_names,
    rendered_input_recording_names,
)
from tests.support.paths import ROOT
from tests.support.peers import Prometheus, serving, wait_for
from tests.support.synthetic_fleet import Commune, FleetExporter, scrape_config

pytestmark = pytest.mark.peer

FLEET = (Commune("14797", "Phường Hạc Thành", "Thành phố Thanh Hóa", "lowland"),
         Commune("16531", "Phường Sầm Sơn", "Thành phố Sầm Sơn", "lowland"),
         Commune("14866", "Xã Mường Chanh", "Huyện Mường Lát", "mountain"))
VARIABLES = {"$commune": "14797", "$region": ".+"}


def panel_queries() -> list[tuple[str, str, str]]:
    """The panels' queries, less those reading series only render writes (the conference
    schedule's): the demo's test checks those, on what render wrote."""
    return [(q.board, q.title, q.expr) for q in dashboard_queries.panel_queries(VARIABLES)
            if not metric_names(q.expr) & (RENDERED_METRICS - {"commune_inventory_node_info"})]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("prom")
    exporter = FleetExporter(FLEET, failing="14797")
    with serving(exporter):
        prom = Prometheus(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ROOT / "configs/prometheus/rules/*.yml")],
            "scrape_configs": [scrape_config(FLEET, exporter.address)],
        }, allow_unicode=True), workdir)
        try:
            # rates need two scrapes; recording rules chained across groups need a few cycles
            records = sorted(recording_names() - own_interval_recording_names()
                             - rendered_input_recording_names())
            wait_for(lambda: all(prom.query(name) for name in records)
                     and prom.query("changes(ifOperStatus[15m]) > 0"), 30,
                     what="every recording rule")
            yield prom
        finally:
            prom.stop()


def test_the_fleet_is_scraped_with_inventory_labels(prometheus: Prometheus) -> None:
    up = prometheus.query('up{job="commune-agent"}')
    assert sorted(s["metric"]["commune"] for s in up) == ["14797", "14866", "16531"]
    assert all(s["value"][1] == "1" for s in up)
    portal = prometheus.query('probe_success{target="tthc-portal", commune="14866"}')
    assert portal[0]["metric"]["terrain"] == "mountain"


@pytest.mark.parametrize("board,title,expr", panel_queries(),
                         ids=lambda v: v if len(v) < 60 else v[:60])
def test_panel_query_returns_data(prometheus: Prometheus, board: str, title: str,
                                  expr: str) -> None:
    prometheus.query(expr)  # raises on a query error
    if "ALERTS" in expr and "vector(0)" not in expr:
        return  # an alert-only panel: no alert fires in a healthy synthetic fleet
    # A scrape that times out on a loaded machine marks its series stale for a second: retry.
    wait_for(lambda: prometheus.query(expr), 10, what=f"{board} / {title}: {expr!r} returns data")
