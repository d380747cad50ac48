"""The shipped dashboards' queries, as Grafana sends them, and which panels come back empty."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.paths import ROOT

# Grafana's "All" of the multi-select variables is ".+" (allValue); the datasource is pinned.
ALL = {"$commune": ".+", "$region": ".+", "${DS_PROMETHEUS}": "prometheus"}


@dataclass(frozen=True)
class PanelQuery:
    """One query of one panel, variables substituted."""

    board: str
    panel_id: int
    title: str
    panel_type: str
    expr: str

    @property
    def panel(self) -> str:
        return f"{self.board} #{self.panel_id} {self.title}"


def substituted(expr: str, variables: Mapping[str, str]) -> str:
    """``expr`` with each variable replaced by its value."""
    for name, value in variables.items():
        expr = expr.replace(name, value)
    return expr


def panel_queries(variables: Mapping[str, str] = ALL) -> list[PanelQuery]:
    """Every query of every panel of dashboards/*.json."""
    found = []
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel.get("targets", []):  # a row has none
                found.append(PanelQuery(path.stem, panel["id"], panel["title"], panel["type"],
                                        substituted(target["expr"], variables)))
    return found


def _api(prometheus: str, endpoint: str, params: dict[str, str]) -> list[Any]:
    url = f"{prometheus}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise AssertionError(f"{params['query']!r}: {body}")
    return list(body["data"]["result"])


def has_data(prometheus: str, query: PanelQuery, lookback: float = 600) -> bool:
    """Whether Grafana would draw something: an instant value now, or (for a graph) a point
    in the last ``lookback`` seconds."""
    if _api(prometheus, "query", {"query": query.expr}):
        return True
    if query.panel_type in {"timeseries", "state-timeline"}:
        now = time.time()
        return bool(_api(prometheus, "query_range", {
            "query": query.expr, "start": f"{now - lookback:.0f}", "end": f"{now:.0f}",
            "step": "15"}))
    return False


def empty_panels(prometheus: str, variables: Mapping[str, str] = ALL) -> list[str]:
    """The panels of which every query comes back empty (a query error raises)."""
    data: dict[str, bool] = {}
    for query in panel_queries(variables):
        data[query.panel] = data.get(query.panel, False) or has_data(prometheus, query)
    return [panel for panel, found in data.items() if not found]
