"""Node Exporter Full on the agent: which panels Debian's node_exporter feeds, and which the agent.

Both run on this machine with the same textfile folder; a real Prometheus scrapes them every
second. Each panel of the dashboard (tests/fixtures/grafana, an extract of Grafana dashboard
1860) has its queries evaluated with the Grafana variables substituted ($node, $job,
$__rate_interval, $diskdevices); a panel is fed when at least one of its visible queries returns
data. Printed: the families node_exporter exposes that the agent does not, with the panels each
feeds, the panels node_exporter feeds and the agent does not, and the share of panels each
feeds. Target: the agent feeds at least 90% of the panels node_exporter feeds.

Run with ``make bench`` (about 30 s).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.agent_process import Agent
from tests.support.node_exporter import OWN_PREFIXES, NodeExporter, parse
from tests.support.paths import FIXTURES
from tests.support.peers import Prometheus, http_get, wait_for

pytestmark = [pytest.mark.bench, pytest.mark.peer]

DASHBOARD = FIXTURES / "grafana" / "node-exporter-full.json"
RATE_INTERVAL = "15s"  # Grafana's $__rate_interval for a 1 s scrape interval
TARGET_SHARE = 0.9
# The Go runtime's and the exporter's own series: no host data, no counterpart expected.
RUNTIME_PREFIXES = tuple(p for p in OWN_PREFIXES if p != "process_")
_METRIC = re.compile(r"\b(node_[a-zA-Z0-9_]+|process_[a-zA-Z0-9_]+)")


def panels() -> list[dict[str, Any]]:
    """The dashboard's panels (id, row, title, targets)."""
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return list(doc["panels"])


def substitute(expr: str, job: str, instance: str, diskdevices: str) -> str:
    """A panel query as Grafana sends it for one job and instance."""
    return (expr.replace("$__rate_interval", RATE_INTERVAL).replace("$node", instance)
            .replace("$job", job).replace("$diskdevices", diskdevices))


def feeds(prom: Prometheus, panel: dict[str, Any], job: str, instance: str,
          diskdevices: str) -> bool:
    """Whether at least one visible query of the panel returns data for this job."""
    for target in panel["targets"]:
        if target.get("hide"):
            continue
        if prom.query(substitute(target["expr"], job, instance, diskdevices)):
            return True
    return False


def families_of(url: str) -> set[str]:
    """The sample names an exporter exposes (counters with their _total), not its runtime's."""
    status, body, _ = http_get(url)
    assert status == 200
    return {s.name for f in parse(body.decode()) for s in f.samples
            if not s.name.startswith(RUNTIME_PREFIXES)}


def test_node_exporter_full_panels(tmp_path: Path) -> None:
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    (textfiles / "backup.prom").write_text('# TYPE backup_ok gauge\nbackup_ok{job="nightly"} 1\n')
    doc = json.loads(DASHBOARD.read_text())
    diskdevices = next(v["query"] for v in doc["templating"]["list"]
                       if v["name"] == "diskdevices")
    config = ('commune: "16318"\ninterval: 1s\nmodules:\n  host:\n'
              f"    textfile_directory: {textfiles}\n")
    with NodeExporter(tmp_path, [f"--collector.textfile.directory={textfiles}"]) as exporter, \
            Agent(tmp_path, config) as agent:
        workdir = tmp_path / "prometheus"
        workdir.mkdir()
        prom_config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                       "scrape_configs": [
                           {"job_name": "node", "static_configs": [
                               {"targets": [exporter.address]}]},
                           {"job_name": "agent", "static_configs": [
                               {"targets": [agent.address]}]}]}
        with Prometheus(yaml.safe_dump(prom_config), workdir) as prom:
            wait_for(lambda: len(prom.query("count_over_time(up[1m]) >= 8")) == 2, 60,
                     what="8 scrapes of both targets")
            time.sleep(1)
            theirs = {p["id"] for p in panels()
                      if feeds(prom, p, "node", exporter.address, diskdevices)}
            ours = {p["id"] for p in panels()
                    if feeds(prom, p, "agent", agent.address, diskdevices)}
            their_names = families_of(f"http://{exporter.address}/metrics")
            our_names = families_of(f"{agent.url}/metrics")

    by_id = {p["id"]: p for p in panels()}
    queried: dict[str, set[int]] = {}
    for panel in by_id.values():
        for target in panel["targets"]:
            for name in _METRIC.findall(target["expr"]):
                queried.setdefault(name, set()).add(panel["id"])
    missing = sorted(their_names - our_names)
    lines = ["", f"Node Exporter Full ({len(by_id)} panels), node_exporter vs agent, same machine",
             "  families node_exporter exposes and the agent does not (panels querying each):"]
    for name in missing:
        lines.append(f"    {name:55s} {len(queried.get(name, ()))}")
    lines.append("  panels node_exporter feeds and the agent does not:")
    for pid in sorted(theirs - ours):
        lines.append(f"    {pid:4d} {by_id[pid]['row']} / {by_id[pid]['title']}")
    lines.append("  panels the agent feeds and node_exporter does not:")
    for pid in sorted(ours - theirs):
        lines.append(f"    {pid:4d} {by_id[pid]['row']} / {by_id[pid]['title']}")
    share = len(ours & theirs) / len(theirs)
    lines += [
        f"  panels fed: node_exporter {len(theirs)}/{len(by_id)} "
        f"({len(theirs) / len(by_id):.0%}), agent {len(ours)}/{len(by_id)} "
        f"({len(ours) / len(by_id):.0%})",
        f"  agent feeds {len(ours & theirs)} of the {len(theirs)} panels node_exporter feeds: "
        f"{share:.0%} (target >= {TARGET_SHARE:.0%})",
    ]
    print("\n".join(lines))
    assert len(theirs) > 50, "node_exporter fed too few panels: is the query substitution right?"
    assert share >= TARGET_SHARE
