"""dashboards/: from collector/render/dashboards.py, valid Grafana JSON, every query parses."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from collector.render import dashboards
from tests.support.metric_names import known_metrics, metric_names
from tests.support.paths import ROOT
from tests.support.peers import require_binary

DASHBOARD_DIR = ROOT / "dashboards"
FILES = sorted(DASHBOARD_DIR.glob("*.json"))
# What Grafana puts in place of the variables when it runs a query.
VARIABLES = {"$commune": ".+", "$region": ".+", "${DS_PROMETHEUS}": "prometheus",
             "$__rate_interval": "5m", "$__range": "1h"}


def panels_of(board: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that query (not the row headers)."""
    return [p for p in board["panels"] if p["type"] != "row"]


def exprs_of(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels_of(board) for t in p["targets"]]


def substituted(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in FILES}


def test_the_dashboards_are_there(boards: dict[str, dict[str, Any]]) -> None:
    assert set(boards) == {"province-overview", "commune-detail", "tthc-portal", "vc-hardware",
                           "network-devices", "fleet-health", "security"}


def test_checked_in_json_is_what_the_generator_writes(tmp_path: Path) -> None:
    assert dashboards.main([str(tmp_path)]) == 0
    for path in FILES:
        assert (tmp_path / path.name).read_text(encoding="utf-8") == path.read_text(
            encoding="utf-8"), f"{path.name}: run python -m collector.render.dashboards dashboards"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_grafana_structure(path: Path) -> None:
    board = json.loads(path.read_text(encoding="utf-8"))
    assert board["schemaVersion"] == 39
    assert board["uid"].startswith("commune-") and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    ids = [p["id"] for p in panels_of(board)]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    cells: set[tuple[int, int]] = set()
    for panel in panels_of(board):
        assert panel["type"] in {"timeseries", "stat", "table", "state-timeline", "heatmap"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        own = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
               for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not own & cells, f"{panel['title']} overlaps another panel"
        cells |= own
        assert panel["targets"] and all(t["datasource"] == panel["datasource"]
                                        for t in panel["targets"])
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
    for name in variables:
        if name != "DS_PROMETHEUS":
            assert any(f"${name}" in e for e in exprs_of(board)), f"unused variable {name}"


def test_the_vc_dashboard_has_a_conference_readiness_row(
        boards: dict[str, dict[str, Any]]) -> None:
    panels = boards["vc-hardware"]["panels"]
    rows = [p for p in panels if p["type"] == "row"]
    assert [r["title"] for r in rows] == ["Sẵn sàng hội nghị / Conference readiness"]
    after = panels[panels.index(rows[0]) + 1:]
    exprs = [t["expr"] for p in after for t in p["targets"]]
    assert any("conference:start_timestamp_seconds:value" in e for e in exprs)
    assert sum("or vector(0)" in e and "vc_ready" in e for e in exprs) == 2
    reasons = next(p for p in after if "commune_conference_reason" in p["targets"][0]["expr"])
    assert reasons["type"] == "table" and reasons["fieldConfig"]["defaults"]["links"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_region_and_commune_variables_come_from_the_inventory(path: Path) -> None:
    board = json.loads(path.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in board["templating"]["list"]}
    region, commune = variables["region"], variables["commune"]
    assert region["query"]["query"] == "label_values(commune_inventory_node_info, region)"
    assert "commune_inventory_node_info{region=~\"$region\"}" in commune["query"]["query"]
    assert region["multi"] and commune["multi"] and commune["includeAll"]
    assert commune["allValue"] == ".+"  # "All" must not match series without a commune label


def test_the_commune_variable_shows_names_and_keeps_codes() -> None:
    """Grafana applies the regex to query_result's lines: named groups give value and text."""
    variable = {v["name"]: v for v in dashboards.commune()["templating"]["list"]}["commune"]
    pattern = variable["regex"].strip("/").replace("(?<", "(?P<")
    line = ('{commune="14866",commune_name="Xã Mường Chanh"} 1 1700000000000')
    match = re.search(pattern, line)
    assert match and match["value"] == "14866" and match["text"] == "Xã Mường Chanh"


def test_commune_detail_queries_keep_to_the_chosen_communes(
        boards: dict[str, dict[str, Any]]) -> None:
    for expr in exprs_of(boards["commune-detail"]):
        assert 'commune=~"$commune"' in expr, expr


def test_the_province_status_is_built_from_the_inventory(
        boards: dict[str, dict[str, Any]]) -> None:
    panels = panels_of(boards["province-overview"])
    status, history = (next(p for p in panels if p["type"] == kind)
                       for kind in ("table", "state-timeline"))
    for panel in status, history:
        assert panel["repeat"] == "region"
        assert "commune_inventory_node_info" in panel["targets"][0]["expr"]
    assert history["timeFrom"] == "24h"
    assert history["targets"][0]["legendFormat"] == "{{commune}}"  # short codes at 166
    assert status["targets"][0]["expr"].startswith("sort(")  # worst (-1 no data, 0 down) first
    texts = {k: v["text"] for k, v in
             status["fieldConfig"]["overrides"][0]["properties"][0]["value"][0]["options"].items()}
    assert texts["-1"].endswith("no data") and texts["0"].endswith("uplink down")


def test_the_uplink_is_judged_by_icmp_targets_only() -> None:
    assert 'kind="icmp"' in dashboards.UPLINK
    assert "tthc-portal" not in dashboards.UPLINK and "uplink_probe_success" not in (
        dashboards.UPLINK)
    uplink_panels = [p for b in dashboards.DASHBOARDS.values() for p in b()["panels"]
                     if "uplink" in p["title"].lower()]
    assert uplink_panels and all(dashboards.UPLINK in t["expr"] for p in uplink_panels
                                 for t in p["targets"])


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_links_and_alert_annotations(path: Path) -> None:
    board = json.loads(path.read_text(encoding="utf-8"))
    assert board["links"][0]["type"] == "dashboards" and board["links"][0]["includeVars"]
    assert board["links"][0]["tags"] == ["commune-monitor"]
    assert any(a["expr"].startswith("ALERTS{") for a in board["annotations"]["list"])
    for panel in panels_of(board):
        links = panel["fieldConfig"]["defaults"].get("links", [])
        for link in links:
            assert link["url"].startswith("/d/commune-detail/commune-detail?var-commune=$")


def test_every_panel_listing_communes_links_to_their_detail(
        boards: dict[str, dict[str, Any]]) -> None:
    """Tables and timelines with one row per commune (inventory or probe based) drill down."""
    for stem, board in boards.items():
        for panel in panels_of(board):
            expr = panel["targets"][0]["expr"]
            per_commune = panel["type"] in {"table", "state-timeline"} and (
                "commune_inventory_node_info" in expr or expr.startswith("topk(20, commune:"))
            if per_commune:
                assert panel["fieldConfig"]["defaults"]["links"], f"{stem}: {panel['title']}"


@pytest.mark.peer
def test_every_expression_parses_with_promtool(boards: dict[str, dict[str, Any]],
                                               tmp_path: Path) -> None:
    rules = [{"record": f"panel:{stem.replace('-', '_')}:{n}", "expr": substituted(expr)}
             for stem, board in sorted(boards.items())
             for n, expr in enumerate(exprs_of(board))]
    assert len(rules) > 60
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]},
                                   allow_unicode=True))
    out = subprocess.run([require_binary("promtool"), "check", "rules", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.peer
def test_a_bad_expression_fails_promtool(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "x:y:z", "expr": "sum by (commune (probe_success)"}]}]}))
    out = subprocess.run([require_binary("promtool"), "check", "rules", str(path)],
                         capture_output=True, text=True)
    assert out.returncode != 0


def test_every_metric_exists(boards: dict[str, dict[str, Any]]) -> None:
    known = known_metrics()
    for stem, board in boards.items():
        for expr in exprs_of(board):
            unknown = metric_names(substituted(expr)) - known
            assert not unknown, f"{stem}: {expr!r} uses {sorted(unknown)}"


def test_rules_use_only_known_metrics() -> None:
    known = known_metrics()
    for path in (ROOT / "configs" / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                unknown = metric_names(rule["expr"]) - known
                assert not unknown, f"{path.name}: {rule['expr']!r} uses {sorted(unknown)}"


def test_metric_name_extraction() -> None:
    assert metric_names('sum by (reason) (rate(x_total{a="b"}[5m])) * 1e6 > bool 0 '
                        "and on (commune) up") == {"x_total", "up"}
    assert "nope_metric" in metric_names("nope_metric") - known_metrics()


def test_provisioning_files() -> None:
    provider = yaml.safe_load(
        (DASHBOARD_DIR / "provisioning/dashboards/commune-monitor.yml").read_text())
    assert provider["apiVersion"] == 1 and provider["providers"][0]["type"] == "file"
    source = yaml.safe_load(
        (DASHBOARD_DIR / "provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["type"] == "prometheus"


def _lost_or_changed(original: Any, model: Any, path: str = "") -> list[str]:
    """Paths of ``original`` that a round trip through the schema model dropped or changed."""
    if isinstance(original, dict) and isinstance(model, dict):
        problems = []
        for key, value in original.items():
            if key not in model:
                problems.append(f"{path}/{key}: not in Grafana's schema")
            else:
                problems += _lost_or_changed(value, model[key], f"{path}/{key}")
        return problems
    if isinstance(original, list) and isinstance(model, list):
        if len(original) != len(model):
            return [f"{path}: {len(original)} items became {len(model)}"]
        return [p for i, (a, b) in enumerate(zip(original, model, strict=True))
                for p in _lost_or_changed(a, b, f"{path}[{i}]")]
    return [] if original == model else [f"{path}: {original!r} became {model!r}"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_dashboard_fits_grafanas_schema(path: Path) -> None:
    """A round trip through grafana-foundation-sdk's Dashboard model (generated from Grafana's
    schema) keeps every field we wrote: no misspelt or unknown key, no wrong type."""
    board = json.loads(path.read_text(encoding="utf-8"))
    model = Dashboard.from_json(board)
    again = json.loads(JSONEncoder(sort_keys=True).encode(model))
    assert _lost_or_changed(board, again) == []


def test_schema_check_catches_a_misspelt_key() -> None:
    board = json.loads(FILES[0].read_text(encoding="utf-8"))
    board["panels"][0]["gridpos"] = board["panels"][0].pop("gridPos")
    again = json.loads(JSONEncoder().encode(Dashboard.from_json(board)))
    assert any("gridpos" in p for p in _lost_or_changed(board, again))


@pytest.mark.peer
def test_the_status_of_each_commune(tmp_path: Path) -> None:
    """promtool evaluates the status expression on recorded series: ok, degraded when a
    province service fails but the ICMP targets answer, down when the ICMP targets fail, no
    data for an inventory commune without series; a commune without ICMP targets by its others."""
    def probe(commune: str, target: str, kind: str, value: int) -> dict[str, str]:
        labels = (f'commune="{commune}", commune_name="X{commune}", region="R", '
                  f'terrain="lowland", target="{target}", kind="{kind}"')
        return {"series": f"commune_target:probe_success:max{{{labels}}}", "values": f"{value}x3"}

    inputs = [probe("1", "gateway", "icmp", 1), probe("1", "tthc-portal", "http", 1),
              probe("2", "gateway", "icmp", 1), probe("2", "tthc-portal", "http", 0),
              probe("3", "gateway", "icmp", 0), probe("3", "tthc-portal", "http", 0),
              probe("4", "tthc-db", "tcp", 1)]
    inputs += [{"series": f'commune_inventory_node_info{{commune="{c}", commune_name="X{c}", '
                          f'region="R", node="lan-1", mode="push"}}', "values": "1x3"}
               for c in "12345"]
    want = {"1": 2, "2": 1, "3": 0, "4": 2, "5": -1}
    tests = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": inputs,
        "promql_expr_test": [{"expr": substituted(dashboards.STATUS), "eval_time": "2m",
                              "exp_samples": [
                                  {"labels": f'{{commune="{c}", commune_name="X{c}", '
                                             f'region="R"}}', "value": v}
                                  for c, v in want.items()]}]}]}
    path = tmp_path / "status_test.yml"
    path.write_text(yaml.safe_dump(tests))
    out = subprocess.run([require_binary("promtool"), "test", "rules", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_commune_detail_has_the_why_is_it_slow_row(boards: dict[str, dict[str, Any]]) -> None:
    """The row header, then the RTT heatmap (per-interval bucket counts), the quantiles,
    throughput and latency under load, the grade as letters, top talkers and apps."""
    panels = boards["commune-detail"]["panels"]
    start = next(i for i, p in enumerate(panels) if p["type"] == "row")
    header, *row = panels[start:]
    assert header["title"] == "Vì sao chậm? / Why is it slow?" and header["gridPos"]["w"] == 24
    assert all(p["gridPos"]["y"] > header["gridPos"]["y"] for p in row)
    by_type = {p["type"]: p for p in row}
    target = by_type["heatmap"]["targets"][0]
    assert target["format"] == "heatmap" and target["legendFormat"] == "{{le}}"
    assert target["expr"].startswith("sum by (le) (increase(commune_probe_rtt_histogram")
    quantiles = [t["expr"] for p in row for t in p["targets"] if "histogram_quantile" in t["expr"]]
    assert [e.split(",")[0] for e in quantiles] == [
        "histogram_quantile(0.5", "histogram_quantile(0.9", "histogram_quantile(0.99"]
    grade = by_type["stat"]
    letters = {v["text"] for v in grade["fieldConfig"]["defaults"]["mappings"][0]["options"]
               .values()}
    assert letters == {"A+", "A", "B", "C", "D", "F"}
    assert "bufferbloat_grade:score" in grade["targets"][0]["expr"]
    exprs = " ".join(t["expr"] for p in row for t in p["targets"])
    for metric in ("commune_throughput_bits_per_second", "commune_latency_under_load_seconds",
                   "commune_throughput_idle_latency_seconds"):
        assert metric in exprs
    tables = [p["targets"][0]["expr"] for p in row if p["type"] == "table"]
    assert any("by (commune, host)" in e and 'host!="other"' in e for e in tables)
    assert any("by (commune, app)" in e for e in tables)
    assert all(" / " in p["title"] for p in row)


def test_the_grade_mapping_matches_the_recording_rule() -> None:
    """recording.yml multiplies each grade by the number the stat maps back to its letter."""
    rules = yaml.safe_load((ROOT / "configs/prometheus/rules/recording.yml").read_text())
    expr = next(r["expr"] for g in rules["groups"] for r in g["rules"]
                if r.get("record") == "commune_target_direction:commune_bufferbloat_grade:score")
    scored = dict(re.findall(r'grade="([A-F+]+)"\} \* (\d)', expr))
    mapped = {v["text"]: k for k, v in dashboards.GRADE_MAPPINGS[0]["options"].items()}
    assert scored == mapped and len(scored) == 6
