"""Grafana building blocks for collector/render/dashboards.py: panels, variables, links, layout.

Plain dicts in Grafana's JSON model (schemaVersion 39). The datasource is the ``DS_PROMETHEUS``
variable, so the dashboards import into any Grafana.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SCHEMA_VERSION = 39
TAG = "commune-monitor"
Panel = dict[str, Any]

# Drill-down to one commune. A table cell knows its row's ``commune`` field; a series knows its
# ``commune`` label. ``__url_time_range`` keeps the time range the viewer was looking at.
DETAIL_URL = "/d/commune-detail/commune-detail?var-commune={commune}&${{__url_time_range}}"
ROW_LINK = {"title": "Chi tiết xã / Commune detail",
            "url": DETAIL_URL.format(commune="${__data.fields.commune}")}
SERIES_LINK = {"title": "Chi tiết xã / Commune detail",
               "url": DETAIL_URL.format(commune="${__field.labels.commune}")}


def _target(expr: str, legend: str = "", instant: bool = False) -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": "A",
            "instant": instant, "range": not instant}


def _defaults(unit: str, drill: bool, link: dict[str, str]) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit}
    if drill:
        defaults["links"] = [dict(link)]
    return defaults


def timeseries(title: str, exprs: list[tuple[str, str]], unit: str = "short",
               w: int = 12, h: int = 8, drill: bool = False) -> Panel:
    """A time-series panel, one query per (expr, legend); ``drill`` links series to detail."""
    targets = [dict(_target(e, legend), refId=chr(65 + i)) for i, (e, legend) in enumerate(exprs)]
    return {"type": "timeseries", "title": title, "datasource": DS, "targets": targets,
            "fieldConfig": {"defaults": _defaults(unit, drill, SERIES_LINK), "overrides": []},
            "gridPos": {"w": w, "h": h}}


def stat(title: str, expr: str, unit: str = "short", thresholds: list[tuple[str, float | None]]
         | None = None, w: int = 6, h: int = 4) -> Panel:
    """A single-value panel with colour thresholds [(colour, from)]."""
    steps = [{"color": c, "value": v} for c, v in (thresholds or [("green", None)])]
    return {"type": "stat", "title": title, "datasource": DS, "targets": [_target(expr, "", True)],
            "fieldConfig": {"defaults": {"unit": unit, "thresholds": {
                "mode": "absolute", "steps": steps}}, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"},
            "gridPos": {"w": w, "h": h}}


def table(title: str, expr: str, unit: str = "short", w: int = 12, h: int = 10,
          drill: bool = False) -> Panel:
    """An instant-query table (one row per series), sorted as the query sorts it; ``drill``
    links every cell to the detail of the row's commune."""
    return {"type": "table", "title": title, "datasource": DS,
            "targets": [dict(_target(expr, "", True), format="table")],
            "fieldConfig": {"defaults": _defaults(unit, drill, ROW_LINK), "overrides": []},
            "transformations": [{"id": "organize", "options": {
                "excludeByName": {"Time": True, "__name__": True, "job": True}}}],
            "gridPos": {"w": w, "h": h}}


def state_timeline(title: str, expr: str, legend: str, mappings: list[dict[str, Any]],
                   time_from: str = "24h", w: int = 24, h: int = 12) -> Panel:
    """A state timeline (one row per series, coloured by ``mappings``) over the last
    ``time_from`` whatever the dashboard's range (``""``: the dashboard's range); each row links
    to its commune's detail."""
    panel: Panel = {
            "type": "state-timeline", "title": title, "datasource": DS,
            "targets": [_target(expr, legend)], "interval": "1m",
            "fieldConfig": {"defaults": {"unit": "short", "mappings": mappings,
                                         "links": [dict(SERIES_LINK)]}, "overrides": []},
            "options": {"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                        "legend": {"showLegend": False}},
            "gridPos": {"w": w, "h": h}}
    if time_from:
        panel["timeFrom"] = time_from
    return panel


def row(title: str) -> Panel:
    """A full-width row heading the panels after it (no query of its own)."""
    return {"type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"w": 24, "h": 1}}


def repeated(panel: Panel, variable: str, direction: str = "h") -> Panel:
    """The panel repeated once per selected value of ``variable``."""
    return {**panel, "repeat": variable, "repeatDirection": direction}


def layout(panels: list[Panel]) -> list[Panel]:
    """Give panels ids and flow them left to right, top to bottom on Grafana's 24-column grid."""
    x = y = row_h = 0
    for number, panel in enumerate(panels, start=1):
        grid = panel["gridPos"]
        if x + grid["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        grid.update(x=x, y=y)
        x += grid["w"]
        row_h = max(row_h, grid["h"])
        panel["id"] = number
    return panels


def query_variable(name: str, label: str, query: str, multi: bool = False,
                   regex: str = "") -> dict[str, Any]:
    """A variable from a Prometheus query; a ``multi`` one offers "All" too (as ``.+``)."""
    variable: dict[str, Any] = {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "query": {"query": query, "refId": name}, "refresh": 2, "sort": 1,
        "includeAll": multi, "multi": multi}
    if multi:
        variable["allValue"] = ".+"
        variable["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    if regex:
        variable["regex"] = regex
    return variable


def dashboard(uid: str, title: str, panels: list[Panel],
              variables: Sequence[dict[str, Any]] = (), tags: tuple[str, ...] = (),
              annotations: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """A whole dashboard: the DS_PROMETHEUS datasource variable, then ``variables``, and a
    drop-down of links to the other commune-monitor dashboards (keeping time and variables)."""
    ds_var = {"name": "DS_PROMETHEUS", "label": "Nguồn dữ liệu / Datasource", "type": "datasource",
              "query": "prometheus", "refresh": 1, "hide": 0}
    links = [{"title": "Bảng khác / Other dashboards", "type": "dashboards", "tags": [TAG],
              "asDropdown": True, "includeVars": True, "keepTime": True, "icon": "external link",
              "tooltip": "", "url": "", "targetBlank": False}]
    return {"uid": uid, "title": title, "tags": [TAG, *tags],
            "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True,
            "time": {"from": "now-6h", "to": "now"}, "refresh": "1m", "timezone": "browser",
            "templating": {"list": [ds_var, *variables]},
            "annotations": {"list": list(annotations)}, "links": links,
            "panels": layout(panels)}


def prometheus_annotation(name: str, expr: str, colour: str) -> dict[str, Any]:
    """Annotations from a Prometheus query: a mark wherever ``expr`` has a value."""
    return {"name": name, "datasource": DS, "enable": True, "hide": False, "iconColor": colour,
            "expr": expr}
