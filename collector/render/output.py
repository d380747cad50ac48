"""Render the config of the province stack from the inventory: Prometheus, Alertmanager, Grafana.

Output folder (paths in prometheus.yml are relative to it; alertmanager.yml and the Grafana
provider name theirs absolutely, so render into the folder the services will read)::

    prometheus.yml          global, storage.tsdb.out_of_order_time_window, rule_files,
                            alerting, one scrape job per role (file_sd), the gateway job
    file_sd/<role>.json     scrape-mode nodes of each role, labelled commune, commune_name,
                            region, terrain, role (written for every role, maybe empty)
    rules/*.yml             the shipped rules, or --rules (rules.py; this folder is owned by render)
    rules/commune-inventory.yml  commune_inventory_node_info: one series per inventory node
    rules/commune-conferences.yml  with a conference schedule: its windows and readiness
                            (conference_rules.py)
    alertmanager.yml        routes by severity and region, inhibitions (alertmanager.py)
    templates/*.tmpl        the shipped bilingual notification template(s) alertmanager.yml uses
    grafana/                the dashboards and their provisioning (grafana.py)
    agent-probe-targets.yml the inventory's province_targets, for the agents' probe module
    README                  how to start Prometheus and Alertmanager on these files

The same inventory, options, shipped data and output folder give the same bytes. Push-mode nodes
are not scraped: their agents remote-write through ``commune-collector serve``, which sets the
same labels.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from collector.conferences import Schedule
from collector.inventory import (
    ROLES,
    Commune,
    Inventory,
    Node,
    agent_probe_targets,
    throughput_slots,
)
from collector.render.alertmanager import TEMPLATES, alertmanager_config, alertmanager_files
from collector.render.conference_rules import CONFERENCE_RULES, conference_rules
from collector.render.grafana import DEFAULT_PROMETHEUS_URL, GrafanaData, grafana_files
from collector.render.rules import cap_waits
from common.schema import HostPort
from common.statefile import write_atomically
from common.units import Duration

AGENT_JOB = "commune-agent"
GATEWAY_JOB = "commune-collector"
RULES_GLOB = "rules/*.yml"
# The labels every series of a commune's node gets from the inventory (docs/collector.md).
LABELS = ("commune", "commune_name", "region", "terrain", "role")
INVENTORY_METRIC = "commune_inventory_node_info"
INVENTORY_RULES = "commune-inventory.yml"


DEFAULT_ALERTMANAGER = HostPort("127.0.0.1:9093")
DEFAULT_OUT_OF_ORDER_WINDOW = Duration(24 * 3600)
DEFAULT_SCRAPE_INTERVAL = Duration(15)
DEFAULT_SCRAPE_TIMEOUT = Duration(10)


@dataclass(frozen=True)
class RenderOptions:
    """What ``commune-collector render`` may change besides the inventory."""

    alertmanager: HostPort = DEFAULT_ALERTMANAGER
    # Must be at least as long as an agent's spool can hold, or replayed samples are refused.
    out_of_order_window: Duration = DEFAULT_OUT_OF_ORDER_WINDOW
    scrape_interval: Duration = DEFAULT_SCRAPE_INTERVAL
    # None: 10s, or the scrape interval when that is shorter.
    scrape_timeout: Duration | None = None
    evaluation_interval: Duration = DEFAULT_SCRAPE_INTERVAL
    gateways: tuple[HostPort, ...] = ()
    webhook_url: str | None = None
    # Where Grafana's datasource reads the province's Prometheus.
    prometheus_url: str = DEFAULT_PROMETHEUS_URL
    # Rehearsals and tests: cap the rules' for/keep_firing_for, Alertmanager's group waits.
    max_for: Duration | None = None
    max_group_wait: Duration | None = None

    @property
    def timeout(self) -> Duration:
        """The scrape timeout in effect."""
        if self.scrape_timeout is not None:
            return self.scrape_timeout
        return Duration(min(DEFAULT_SCRAPE_TIMEOUT, self.scrape_interval))

    def __post_init__(self) -> None:
        if self.scrape_timeout is not None and self.scrape_timeout > self.scrape_interval:
            raise ValueError(f"--scrape-timeout ({self.scrape_timeout}) must not exceed "
                             f"--scrape-interval ({self.scrape_interval})")
        if self.scrape_interval <= 0 or self.evaluation_interval <= 0:
            raise ValueError("--scrape-interval and --evaluation-interval must be greater than 0s")
        if self.out_of_order_window < 0:
            raise ValueError("--out-of-order-window must not be negative")
        if not self.prometheus_url.startswith(("http://", "https://")):
            raise ValueError(f"--prometheus-url {self.prometheus_url!r}: expected the URL "
                             "Grafana reaches Prometheus at, like http://127.0.0.1:9090")
        for flag, value in (("--max-for", self.max_for),
                            ("--max-group-wait", self.max_group_wait)):
            if value is not None and value <= 0:
                raise ValueError(f"{flag} must be greater than 0s")


def target_labels(commune: Commune, node: Node) -> dict[str, str]:
    """The inventory labels of one node (what file_sd and the gateway attach)."""
    return {"commune": commune.code, "commune_name": commune.name, "region": commune.group,
            "terrain": commune.terrain, "role": node.role}


def file_sd(inventory: Inventory, role: str) -> list[dict[str, Any]]:
    """The file_sd target groups of the scrape-mode nodes of ``role``, sorted."""
    groups = [{"targets": [str(node.address)], "labels": target_labels(commune, node)}
              for commune, node in inventory.nodes()
              if node.role == role and node.mode == "scrape" and node.address]
    return sorted(groups, key=lambda g: (g["labels"]["commune"], g["targets"][0]))


def prometheus_config(inventory: Inventory, options: RenderOptions) -> dict[str, Any]:
    """prometheus.yml as a dict (key order is the order written)."""
    jobs: list[dict[str, Any]] = [{
        "job_name": f"{AGENT_JOB}-{role}",
        "file_sd_configs": [{"files": [f"file_sd/{role}.json"], "refresh_interval": "1m"}],
        # One `job` for every agent whatever its role; the `role` label tells them apart.
        "relabel_configs": [{"target_label": "job", "replacement": AGENT_JOB}],
        # The agent exposes `commune` itself; the inventory's value wins, so drop the copy
        # Prometheus would keep as `exported_commune`.
        "metric_relabel_configs": [{"action": "labeldrop", "regex": "exported_commune"}],
    } for role in ROLES]
    if options.gateways:
        jobs.append({"job_name": GATEWAY_JOB,
                     "static_configs": [{"targets": sorted(str(g) for g in options.gateways)}]})
    return {
        "global": {
            "scrape_interval": str(options.scrape_interval),
            "scrape_timeout": str(options.timeout),
            "evaluation_interval": str(options.evaluation_interval),
            "external_labels": {"province": inventory.province.code},
        },
        "storage": {"tsdb": {"out_of_order_time_window": str(options.out_of_order_window)}},
        "rule_files": [RULES_GLOB],
        "alerting": {"alertmanagers": [
            {"static_configs": [{"targets": [str(options.alertmanager)]}]}]},
        "scrape_configs": jobs,
    }


def inventory_rules(inventory: Inventory) -> dict[str, Any]:
    """Recording rules giving every inventory node a series, pushed or scraped, seen or not.

    ``commune_inventory_node_info{commune, commune_name, region, terrain, role, node, mode} 1``
    lets alerts find a pushing node that never reports (``... unless on(commune) heartbeat``)
    and dashboards list every commune.
    """
    rules = [{"record": INVENTORY_METRIC, "expr": "vector(1)",
              "labels": {**target_labels(commune, node), "node": node.name, "mode": node.mode}}
             for commune, node in sorted(inventory.nodes(), key=lambda cn: (cn[0].code,
                                                                             cn[1].name))]
    return {"groups": [{"name": "commune-inventory", "rules": rules}]}


def probe_targets(inventory: Inventory) -> dict[str, Any]:
    """The province targets as the agents' ``modules.probe.targets`` list, and with a
    throughput target, each commune's ``slot_second`` for it (enrol sets it in agent.yml)."""
    rendered: dict[str, Any] = {"targets": agent_probe_targets(inventory)}
    if any(t.kind == "throughput" for t in inventory.province_targets):
        rendered["throughput_slot_seconds"] = throughput_slots(inventory)
    return rendered


def prometheus_command(out: str | os.PathLike[str] = ".") -> str:
    """The Prometheus command line the rendered config expects."""
    return (f"prometheus --config.file={Path(out) / 'prometheus.yml'} \\\n"
            "        --web.enable-remote-write-receiver --web.enable-lifecycle \\\n"
            "        --storage.tsdb.path=/var/lib/prometheus/metrics2")


class _Dumper(yaml.SafeDumper):
    """Indents lists under their key, as Prometheus' documentation writes them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


class _BlockDumper(_Dumper):
    """Writes multi-line strings (PromQL expressions) as ``|`` blocks."""


def _block_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _block_str)


def _yaml(data: Mapping[str, Any], header: str, dumper: type[_Dumper] = _Dumper) -> bytes:
    body = yaml.dump(dict(data), Dumper=dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
    return (header + body).encode("utf-8")


def _readme(options: RenderOptions, source: str) -> bytes:
    window = options.out_of_order_window
    return f"""\
Rendered by `commune-collector render` from {source}.
Do not edit these files: edit the inventory (or the rules: --rules, or an override folder
/etc/commune-collector/rules) and render again.

Start Prometheus on this folder. The remote-write receiver (for pushing agents, through
`commune-collector serve`) is a command-line flag, not a config key:

    {prometheus_command()}

Start Alertmanager (listening where prometheus.yml sends alerts, {options.alertmanager}):

    prometheus-alertmanager --config.file=alertmanager.yml \\
        --web.listen-address={options.alertmanager}

After a new render, file_sd/*.json is picked up by Prometheus without a restart; for
prometheus.yml and rules/ send `curl -X POST http://PROMETHEUS/-/reload`.

storage.tsdb.out_of_order_time_window is {window}: Prometheus accepts samples up to that old,
so it must be at least as long as an agent's push spool can hold (its max_spool_bytes at its
sample rate). Older replayed samples are refused. Change it with --out-of-order-window.

grafana/provisioning/ holds a dashboards provider (reading grafana/dashboards/) and the
Prometheus datasource ({options.prometheus_url}); point Grafana's provisioning folders at them.
""".encode()


@dataclass(frozen=True)
class ShippedData:
    """The shipped files render copies (common.shipped): rules, templates, Grafana's."""

    rules: Mapping[str, bytes]
    templates: Mapping[str, bytes]
    grafana: GrafanaData

    @classmethod
    def load(cls, rules: Mapping[str, bytes]) -> ShippedData:
        """``rules`` and the shipped Alertmanager templates and Grafana files."""
        return cls(rules, alertmanager_files(), GrafanaData.shipped())


def render(inventory: Inventory, options: RenderOptions, out: Path,
           data: ShippedData, schedule: Schedule | None = None,
           now: datetime | None = None) -> dict[str, bytes]:
    """Every output file (relative path -> bytes) for output folder ``out``; the same input
    (and, with a ``schedule``, the same ``now``: ended conferences are left out) gives the same
    bytes."""
    out = out.absolute()
    source_bytes = Path(inventory.file).read_bytes() if inventory.file else b""
    digest = hashlib.sha256(source_bytes).hexdigest()[:16]
    source = f"{Path(inventory.file).name or 'inventory'} (sha256 {digest})"
    header = (f"# Rendered by commune-collector render from {source}.\n"
              "# Do not edit: edit the inventory and render again. See README here.\n")
    alertmanager = alertmanager_config(inventory, options.webhook_url, str(out / TEMPLATES),
                                       options.max_group_wait)
    files: dict[str, bytes] = {
        "prometheus.yml": _yaml(prometheus_config(inventory, options), header),
        "alertmanager.yml": _yaml(alertmanager, header),
        **data.templates,
        "README": _readme(options, source),
        "agent-probe-targets.yml": _yaml(probe_targets(inventory), header + (
            "# The province targets every commune agent probes (commune-collector enrol writes\n"
            "# them into each agent.yml it makes, under modules.probe.targets).\n")),
        **grafana_files(data.grafana, out, options.prometheus_url),
    }
    for role in ROLES:
        text = json.dumps(file_sd(inventory, role), ensure_ascii=False, indent=2, sort_keys=True)
        files[f"file_sd/{role}.json"] = (text + "\n").encode("utf-8")
    for name, content in sorted(data.rules.items()):
        if name in (INVENTORY_RULES, CONFERENCE_RULES):
            source = "inventory" if name == INVENTORY_RULES else "conference schedule"
            raise ValueError(f"rules/{name} is written by render from the {source}; "
                             "rename that rule file")
        if options.max_for is not None:
            content = cap_waits(content, options.max_for, name)
        files[f"rules/{name}"] = content
    files[f"rules/{INVENTORY_RULES}"] = _yaml(inventory_rules(inventory), header)
    if schedule is not None:
        files[f"rules/{CONFERENCE_RULES}"] = _yaml(
            conference_rules(schedule, inventory, now or datetime.now(timezone.utc)),
            _schedule_header(schedule), _BlockDumper)
    return files


def _schedule_header(schedule: Schedule) -> str:
    if not schedule.file:
        source = "a conference schedule"
    else:
        digest = hashlib.sha256(Path(schedule.file).read_bytes()).hexdigest()[:16]
        source = f"{Path(schedule.file).name} (sha256 {digest})"
    return (f"# Rendered by commune-collector render from {source}.\n"
            "# Do not edit: edit the schedule and render again. Ended conferences are left "
            "out.\n")


# The folders render owns: a file there that the render did not write is removed.
OWNED = ("rules", "file_sd", TEMPLATES, "grafana/dashboards", "grafana/provisioning/dashboards",
         "grafana/provisioning/datasources")


def write_files(files: Mapping[str, bytes], out: Path) -> None:
    """Write ``files`` under ``out`` atomically; drop stale files in the folders render owns."""
    for sub in OWNED:
        (out / sub).mkdir(parents=True, exist_ok=True)
        for stale in sorted((out / sub).iterdir()):
            if stale.is_file() and f"{sub}/{stale.name}" not in files:
                stale.unlink()
    for rel, content in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.read_bytes() == content:
            continue  # leave unchanged files alone: Prometheus watches file_sd
        write_atomically(path, content, 0o644)
