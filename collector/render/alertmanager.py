"""The Alertmanager config rendered next to prometheus.yml, and its bilingual template.

Routing: every alert goes to a receiver named after its ``severity`` (critical, warning, info:
the province operations team); commune alerts (``scope="commune"``) also go to the technicians
of the commune's region (``region`` label, the inventory's ``group``), one receiver per region.

Grouping by incident: province-wide alerts group by alert and target (one notification for "the
portal is down"), commune alerts by commune (one notification per commune incident).

Inhibition (one incident, one alert):
- the TTHC portal down silences the per-commune portal alerts and the SLO burn alerts; a
  province service down silences the per-commune alerts about that service;
- a commune's uplink down silences that commune's other alerts; an agent that cannot be scraped
  or stopped pushing silences the other alerts of its node; most agents unreachable at once
  silences the per-agent alerts;
- a device that does not answer SNMP silences its interface alerts; a VC endpoint unreachable
  silences its registration and call-quality alerts;
- a critical alert silences the warning of the same alert on the same thing.

Receivers have no integration unless a webhook URL is given: fill them in (e-mail, chat) in the
rendered file; ``templates/commune.tmpl`` gives them the bilingual title and text
(``{{ template "commune.title" . }}``, ``{{ template "commune.text" . }}``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from collector.inventory import Inventory

SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")
GROUP_BY: tuple[str, ...] = ("alertname", "commune", "target")
TEMPLATE_FILE = "templates/commune.tmpl"

# What names one thing an alert is about: a critical alert silences the warning of the same
# alert only on the same thing (disk /var critical does not silence / warning).
SAME_THING: tuple[str, ...] = ("alertname", "commune", "instance", "target", "device",
                               "mountpoint", "ifIndex", "path", "file")

INHIBIT_RULES: tuple[dict[str, Any], ...] = (
    {"source_matchers": ['alertname="TTHCPortalDown"'],
     "target_matchers": ['alertname=~"CommunePortalSlow|TTHCPortalSLOBurn(Fast|Slow)"']},
    {"source_matchers": ['alertname=~"TTHCPortalDown|ProvinceServiceDown"'],
     "target_matchers": ['alertname="CommuneTargetUnreachable"'], "equal": ["target"]},
    # A security finding (runbook security) is never a consequence of a broken uplink: kept.
    {"source_matchers": ['alertname="CommuneUplinkDown"'],
     "target_matchers": ['scope="commune"', 'alertname!="CommuneUplinkDown"',
                         'runbook!="security"'],
     "equal": ["commune"]},
    {"source_matchers": ['alertname=~"CommuneAgentDown|CommuneAgentSilent"'],
     "target_matchers": ['scope="commune"', 'alertname!~"CommuneAgentDown|CommuneAgentSilent"'],
     "equal": ["commune", "instance"]},
    {"source_matchers": ['alertname="CommuneAgentsMostlyUnreachable"'],
     "target_matchers": ['alertname=~"CommuneAgentDown|CommuneAgentSilent|CommuneUplinkDown"']},
    {"source_matchers": ['alertname="NetworkDeviceUnreachable"'],
     "target_matchers": ['alertname=~"Interface.*|LinkSaturated"'],
     "equal": ["commune", "instance", "device"]},
    {"source_matchers": ['alertname="VCEndpointUnreachable"'],
     "target_matchers": ['alertname=~"VCEndpointUnregistered|VCCallQualityPoor"'],
     "equal": ["commune", "instance", "device"]},
    {"source_matchers": ['severity="critical"'],
     "target_matchers": ['severity="warning"'],
     "equal": list(SAME_THING)},
)

TEMPLATE = """\
{{/* Bilingual (Vietnamese, English) notification text for commune-monitor alerts.
     Use in a receiver: title: '{{ template "commune.title" . }}',
     text: '{{ template "commune.text" . }}'. */}}

{{ define "commune.status" }}{{ if eq . "firing" }}ĐANG XẢY RA / FIRING\
{{ else }}ĐÃ KHẮC PHỤC / RESOLVED{{ end }}{{ end }}

{{ define "commune.title" }}[{{ template "commune.status" .Status }}\
{{ if eq .Status "firing" }} x{{ .Alerts.Firing | len }}{{ end }}] \
{{ .CommonLabels.alertname }}{{ with .CommonLabels.commune_name }} - {{ . }}{{ end }}\
{{ with .CommonLabels.target }} - {{ . }}{{ end }}{{ end }}

{{ define "commune.alert" }}\
[{{ template "commune.status" .Status }}] {{ .Labels.severity | toUpper }}
VI: {{ .Annotations.summary_vi }}
    {{ .Annotations.description_vi }}
EN: {{ .Annotations.summary_en }}
    {{ .Annotations.description_en }}
{{ with .Labels.commune }}Xã / Commune: {{ $.Labels.commune_name }} ({{ . }}), \
{{ $.Labels.region }}{{ if eq $.Labels.terrain "mountain" }}, miền núi / mountain{{ end }}
{{ end }}\
{{ with .Annotations.diag }}Chẩn đoán / Diagnose: {{ . }}
{{ end }}\
Bắt đầu / Since: {{ .StartsAt.Format "2006-01-02 15:04:05 MST" }}\
{{ if eq .Status "resolved" }}, kết thúc / ended: {{ .EndsAt.Format "2006-01-02 15:04:05 MST" }}\
{{ end }}
{{ end }}

{{ define "commune.text" }}{{ range .Alerts.Firing }}{{ template "commune.alert" . }}
{{ end }}{{ range .Alerts.Resolved }}{{ template "commune.alert" . }}
{{ end }}{{ end }}
"""


def region_slug(region: str) -> str:
    """An ASCII receiver-name part for a region: 'Thành phố Thanh Hóa' -> 'thanh-pho-thanh-hoa'."""
    ascii_ = unicodedata.normalize("NFKD", region.replace("đ", "d").replace("Đ", "D"))
    ascii_ = ascii_.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "region"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def alertmanager_config(inventory: Inventory, webhook_url: str | None = None) -> dict[str, Any]:
    """Alertmanager's config as a dict: routes by severity and region, inhibitions, template."""
    def receiver(name: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": name}
        if webhook_url:
            entry["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
        return entry

    regions = sorted({c.group for c in inventory.communes})
    slugs: dict[str, str] = {}
    for region in regions:
        slug = region_slug(region)
        while slug in slugs.values():  # two regions with the same ASCII spelling
            slug += "-2"
        slugs[region] = slug
    routes: list[dict[str, Any]] = [
        {"receiver": "critical", "matchers": ['severity="critical"'],
         "group_wait": "10s", "repeat_interval": "1h", "continue": True},
        {"receiver": "warning", "matchers": ['severity="warning"'], "continue": True},
        {"receiver": "info", "matchers": ['severity="info"'], "repeat_interval": "24h",
         "continue": True},
    ]
    routes += [{"receiver": f"technicians-{slugs[region]}",
                "matchers": ['scope="commune"', f'region="{_quote(region)}"'],
                "group_by": ["commune"]} for region in regions]
    return {
        "global": {"resolve_timeout": "5m"},
        "templates": [TEMPLATE_FILE],
        "route": {
            "receiver": "default",
            "group_by": list(GROUP_BY),
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [dict(rule) for rule in INHIBIT_RULES],
        "receivers": [receiver(name) for name in ("default", *SEVERITIES)]
        + [receiver(f"technicians-{slugs[region]}") for region in regions],
    }


def alertmanager_files() -> dict[str, bytes]:
    """The files alertmanager.yml refers to, by path relative to it."""
    return {TEMPLATE_FILE: TEMPLATE.encode("utf-8")}
