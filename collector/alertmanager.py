"""The Alertmanager config skeleton rendered next to prometheus.yml.

Alerts are grouped per alert and commune, routed by ``severity`` (critical, warning, info), and
a critical alert of a commune silences the warnings of the same alert there. Receivers have no
integration unless a webhook URL is given: fill them in (e-mail, chat) in the rendered file or
extend :func:`alertmanager_config`.
"""

from __future__ import annotations

from typing import Any

from collector.inventory import Inventory

SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")
GROUP_BY: tuple[str, ...] = ("alertname", "commune")


def alertmanager_config(inventory: Inventory, webhook_url: str | None = None) -> dict[str, Any]:
    """Alertmanager's config as a dict: routes by severity, one receiver per severity."""
    def receiver(name: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": name}
        if webhook_url:
            entry["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
        return entry

    routes: list[dict[str, Any]] = [
        {"receiver": "critical", "matchers": ['severity="critical"'],
         "group_wait": "10s", "repeat_interval": "1h"},
        {"receiver": "warning", "matchers": ['severity="warning"']},
        {"receiver": "info", "matchers": ['severity="info"'], "repeat_interval": "24h"},
    ]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "default",
            "group_by": list(GROUP_BY),
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [{
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["alertname", "commune"],
        }],
        "receivers": [receiver(name) for name in ("default", *SEVERITIES)],
    }
