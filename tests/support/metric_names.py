"""Metric names the rules and dashboards may use, and a PromQL metric-name extractor."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from agent import scheduler
from agent.modules import host
from agent.modules.base import MetricSpec
from agent.modules.flows import module as flows
from agent.modules.logs import module as logs
from agent.modules.probe import rtt_histogram, throughput_metrics
from agent.modules.security import module as security
from tests.support.paths import ROOT

RULES_DIR = ROOT / "configs" / "prometheus" / "rules"

# The names the rules and dashboards rely on: declared by MetricSpecs (the tables of docs/agent/
# and docs/push-and-scaling.md), by the SNMP modules of configs/snmp/ (docs/agent/snmp.md), or
# written by commune-diag --textfile (docs/diag.md).
CONTRACT_METRICS = frozenset({
    "commune_module_up", "commune_module_duration_seconds", "commune_module_errors_total",
    "commune_agent_build_info", "probe_success", "probe_duration_seconds",
    "probe_http_status_code", "probe_http_duration_seconds", "probe_http_content_length",
    "probe_ssl_earliest_cert_expiry", "probe_ssl_last_chain_expiry_timestamp_seconds",
    "probe_http_ssl", "probe_http_redirects", "probe_dns_lookup_time_seconds",
    "commune_probe_icmp_packet_loss_ratio", "commune_probe_icmp_rtt_seconds",
    "commune_probe_icmp_jitter_seconds", "commune_probe_failure_reason",
    "commune_probe_sip_status_code", "commune_probe_path_hops",
    "commune_probe_path_first_bad_hop", "ifHCInOctets", "ifHCOutOctets", "ifInErrors",
    "ifOutErrors", "ifInDiscards", "ifOutDiscards", "ifOperStatus", "ifAdminStatus",
    "ifHighSpeed", "sysUpTime", "commune_snmp_up", "commune_snmp_scrape_duration_seconds",
    "commune_vc_up", "commune_vc_registered", "commune_vc_in_call",
    "commune_vc_packet_loss_ratio", "commune_vc_jitter_seconds", "commune_push_spool_bytes",
    "commune_push_sent_samples_total", "commune_push_dropped_samples_total",
    "commune_push_lag_seconds", "commune_push_oldest_sample_age_seconds",
    "commune_agent_heartbeat_timestamp_seconds", "commune_diag_check_success",
    "commune_crl_next_update_timestamp_seconds", "commune_vc_mos_estimate",
})
# Prometheus' own series: scrape health and alert state.
PROMETHEUS_METRICS = frozenset({"up", "ALERTS"})
# Written by commune-collector render: rules/commune-inventory.yml (one series per node) and
# rules/commune-conferences.yml (the conference schedule's windows and readiness).
RENDERED_METRICS = frozenset({"commune_inventory_node_info", "conference:window:bool",
                              "conference:start_timestamp_seconds:value",
                              "commune_conference_reason:vc_not_ready:bool",
                              "commune_conference:vc_ready:bool"})
# /proc/meminfo fields become node_memory_<field>_bytes at run time (not declared specs).
HOST_DYNAMIC = frozenset({"node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes"})

KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                      "group_right", "bool", "offset", "inf", "nan"})


def declared_metrics() -> frozenset[str]:
    """Metrics declared by the agent's modules in this tree (MetricSpec at module top level)."""
    names: set[str] = set()
    for module in (host, scheduler, security, logs, rtt_histogram, throughput_metrics, flows):
        for value in vars(module).values():
            specs = value if isinstance(value, (tuple, dict)) else (value,)
            for item in (specs.values() if isinstance(specs, dict) else specs):
                spec = item[1] if isinstance(item, tuple) and len(item) > 1 else item
                if isinstance(spec, MetricSpec):
                    names.add(spec.name)
                    if spec.kind == "histogram":
                        names |= {f"{spec.name}_{s}" for s in ("bucket", "sum", "count")}
    return frozenset(names)


def _recording_rules() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each ``record:`` rule of configs/prometheus/rules, with its group."""
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    yield group, rule


def recording_names() -> frozenset[str]:
    """Every ``record:`` name of configs/prometheus/rules."""
    return frozenset(rule["record"] for _, rule in _recording_rules())


def own_interval_recording_names() -> frozenset[str]:
    """The ``record:`` names of groups with an ``interval:`` of their own (evaluated every few
    minutes, so a live test cannot wait for them; promtool's rule tests cover them)."""
    return frozenset(rule["record"] for group, rule in _recording_rules() if "interval" in group)


def rendered_input_recording_names() -> frozenset[str]:
    """The ``record:`` names whose expression reads a series that only render writes (the
    inventory's, the schedule's): a live test on the shipped rules alone cannot wait for them;
    promtool's rule tests and the demo cover them."""
    return frozenset(rule["record"] for _, rule in _recording_rules()
                     if metric_names(rule["expr"]) & RENDERED_METRICS)


def known_metrics() -> frozenset[str]:
    """Everything a rule or a panel may query."""
    return (CONTRACT_METRICS | PROMETHEUS_METRICS | RENDERED_METRICS | HOST_DYNAMIC
            | declared_metrics() | recording_names())


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                 # string literals
    text = re.sub(r"\{[^}]*\}", "", text)                            # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                           # ranges, subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        rest = text[match.end():].lstrip()
        word = match.group()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before == ".":
            continue  # a unit or exponent glued to a number: 1e6, 5m
        names.add(word)
    return names
