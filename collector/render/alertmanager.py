"""The Alertmanager config rendered next to prometheus.yml, and its bilingual template.

Routing: every alert goes to a receiver named after its ``severity`` (critical, warning, info:
the province operations team); commune alerts (``scope="commune"``) also go to the technicians
of the commune's region (``region`` label, the inventory's ``group``), one receiver per region.

Grouping by incident: province-wide alerts group by alert and target (one notification for "the
portal is down"), commune alerts by commune (one notification per commune incident). A
conference's readiness alerts (``ConferenceReadinessAtRisk``, one per commune and reason) group
by conference: one notification lists every commune not ready, for the province team and for
each region's technicians (their communes).

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
(``{{ template "commune.title" . }}``, ``{{ template "commune.text" . }}``). The templates are
shipped data (kind ``alertmanager``: ``configs/alertmanager/*.tmpl`` in the checkout, overridden
by ``/etc/commune-collector/alertmanager/``), copied into ``templates/``.

``max_wait`` (render's ``--max-group-wait``) caps every route's ``group_wait`` and
``group_interval``, for rehearsals: a resolved alert is notified at the next group interval.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from collector.inventory import Inventory
from common.filetext import CONFIG_MAX_BYTES
from common.schema import read_config_text
from common.shipped import shipped_files
from common.units import Duration

SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")
GROUP_BY: tuple[str, ...] = ("alertname", "commune", "target")
TEMPLATES = "templates"
TEMPLATE_PATTERN = "*.tmpl"

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

# One notification per conference, whatever the number of communes not ready.
CONFERENCE_ROUTE: dict[str, Any] = {"matchers": ['alertname="ConferenceReadinessAtRisk"'],
                                    "group_by": ["alertname", "conference"]}


def region_slug(region: str) -> str:
    """An ASCII receiver-name part for a region: 'Thành phố Thanh Hóa' -> 'thanh-pho-thanh-hoa'."""
    ascii_ = unicodedata.normalize("NFKD", region.replace("đ", "d").replace("Đ", "D"))
    ascii_ = ascii_.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "region"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _capped(route: dict[str, Any], max_wait: Duration | None) -> dict[str, Any]:
    if max_wait is not None:
        for key in ("group_wait", "group_interval"):
            if key in route and Duration.parse(route[key]) > max_wait:
                route[key] = str(max_wait)
    return route


def alertmanager_config(inventory: Inventory, webhook_url: str | None = None,
                        templates: str = TEMPLATES,
                        max_wait: Duration | None = None) -> dict[str, Any]:
    """Alertmanager's config as a dict: routes by severity and region, inhibitions, and the
    templates of folder ``templates`` (absolute in render's output; relative to the file here)."""
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
        {"receiver": "warning", "matchers": ['severity="warning"'], "continue": True,
         "routes": [dict(CONFERENCE_ROUTE)]},
        {"receiver": "info", "matchers": ['severity="info"'], "repeat_interval": "24h",
         "continue": True},
    ]
    routes += [{"receiver": f"technicians-{slugs[region]}",
                "matchers": ['scope="commune"', f'region="{_quote(region)}"'],
                "group_by": ["commune"], "routes": [dict(CONFERENCE_ROUTE)]}
               for region in regions]
    # Routes without their own waits inherit the top route's, capped with it.
    top: dict[str, Any] = {"receiver": "default", "group_by": list(GROUP_BY),
                           "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
    return {
        "global": {"resolve_timeout": "5m"},
        "templates": [f"{templates}/{TEMPLATE_PATTERN}"],
        "route": {**_capped(top, max_wait),
                  "routes": [_capped(route, max_wait) for route in routes]},
        "inhibit_rules": [dict(rule) for rule in INHIBIT_RULES],
        "receivers": [receiver(name) for name in ("default", *SEVERITIES)]
        + [receiver(f"technicians-{slugs[region]}") for region in regions],
    }


def alertmanager_files() -> dict[str, bytes]:
    """The shipped templates alertmanager.yml refers to, by path relative to the output."""
    return {f"{TEMPLATES}/{name}": read_config_text(path, CONFIG_MAX_BYTES,
                                                    "an Alertmanager template").encode("utf-8")
            for name, path in shipped_files("alertmanager", TEMPLATE_PATTERN).items()}
