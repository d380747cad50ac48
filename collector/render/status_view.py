"""The province's status view: one number per inventory commune, and the variables that pick
communes, for collector/render/dashboards.py.

The status is ``2`` ok, ``1`` degraded (a probe fails, the uplink answers), ``0`` uplink down,
``-1`` no data (an inventory commune without series). The uplink is judged by ICMP targets only.
"""

from __future__ import annotations

from typing import Any

from collector.render.panels import Panel, prometheus_annotation, query_variable, table

# Every per-commune query keeps to the communes picked in the two variables.
SEL = 'region=~"$region", commune=~"$commune"'
C = "{" + SEL + "}"
PORTAL = 'target="tthc-portal"'
BY_COMMUNE = "max by (commune, commune_name, region)"
INVENTORY = f"{BY_COMMUNE} (commune_inventory_node_info{C})"

# The commune's own uplink is judged by its ICMP targets only (the LAN gateway, the ISP's next
# hop): a province service failing from every commune (the portal down) is the service's fault
# and must not paint the communes' uplinks red.
UPLINK = f'{BY_COMMUNE} (commune_target:probe_success:max{{kind="icmp", {SEL}}})'
ALL_PROBES = f"min by (commune, commune_name, region) (commune_target:probe_success:max{C})"
# One number per inventory commune: 2 ok, 1 degraded (a probe fails, the uplink answers),
# 0 uplink down, -1 no data (the commune never reported, or its series went stale). A commune
# without ICMP targets is ok or degraded by its other probes.
STATUS = (f"({UPLINK} + on (commune) group_left () {ALL_PROBES})"
          f" or on (commune) ({ALL_PROBES} + 1)"
          f" or on (commune) ({INVENTORY} * -1)")
STATUS_MAPPINGS = [{"type": "value", "options": {
    "-1": {"text": "không có dữ liệu / no data", "color": "text", "index": 0},
    "0": {"text": "mất kết nối / uplink down", "color": "red", "index": 1},
    "1": {"text": "suy giảm / degraded", "color": "orange", "index": 2},
    "2": {"text": "bình thường / OK", "color": "green", "index": 3}}}]
ALERTS = 'ALERTS{alertstate="firing"}'
# 0 with reason="none" for each probe, to list passing probes after the failing ones
# (commune_probe_failure_reason is absent while a probe succeeds).
PASSING = 'label_replace(0 * max by ({by}) (probe_success{sel}), "reason", "none", "", "")'


def variables() -> list[dict[str, Any]]:
    """``region`` and ``commune`` (multi-select, codes shown with names), from the inventory."""
    return [
        query_variable("region", "Vùng / Region",
                       "label_values(commune_inventory_node_info, region)", multi=True),
        query_variable("commune", "Xã / Commune",
                       'query_result(max by (commune, commune_name) '
                       '(commune_inventory_node_info{region=~"$region"}))', multi=True,
                       regex='/commune="(?<value>[^"]+)",commune_name="(?<text>[^"]+)"/'),
    ]


def alert_annotations(expr: str = ALERTS) -> list[dict[str, Any]]:
    """Firing alerts (the ALERTS series) as annotations."""
    return [prometheus_annotation("Cảnh báo / Alerts", expr, "red")]


def status_table(title: str, w: int = 8, h: int = 12) -> Panel:
    """Inventory communes of one region, worst first: code, name, status. Small rows: the
    largest region of the province (10 communes) fits without scrolling."""
    panel = table(title, f"sort({STATUS})", w=w, h=h, drill=True)
    panel["options"] = {"cellHeight": "sm", "showHeader": True}
    panel["fieldConfig"]["overrides"] = [{
        "matcher": {"id": "byName", "options": "Value"},
        "properties": [{"id": "mappings", "value": STATUS_MAPPINGS},
                       {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                       {"id": "displayName", "value": "Trạng thái / Status"}]}]
    panel["transformations"][0]["options"]["excludeByName"]["region"] = True
    # the commune column keeps its name: the row's link reads ${__data.fields.commune}
    panel["transformations"][0]["options"]["renameByName"] = {"commune_name": "Tên / Name"}
    return panel
