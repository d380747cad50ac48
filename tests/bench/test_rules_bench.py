"""Benchmark: evaluation time of every rule group for the 166 communes (target: < 1 s a cycle).

A real Prometheus scrapes a synthetic fleet of the 166 inventory communes (every contract metric,
inventory labels per target) every 5 s and evaluates configs/prometheus/rules every second, with
what render adds: commune-inventory.yml and the readiness rules of a conference of every commune.
The 6-hour heartbeat window is backfilled first (promtool tsdb create-blocks-from openmetrics,
one sample per 15 s, as in production), so `max_over_time(...[6h])` reads full windows; the
5- and 10-minute windows hold only the seconds the run lasts (a lower bound for those).
The synthetic fleet is a worst case for the alert groups: one port of every switch flaps and most
RTTs are high, so hundreds of alerts are pending or firing and their annotations are templated
at every evaluation. Printed: the last and the worst duration of each group
(prometheus_rule_group_last_duration_seconds, sampled every second; the median is the figure to
read on a shared machine), and the medians and the worst cycles of all groups summed as a ratio
of the 1 s target (groups run concurrently, so a sum overstates one cycle).
"""

from __future__ import annotations

import re
import statistics
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from collector.conferences import load_conferences
from collector.inventory import load_inventory
from collector.render.output import RenderOptions, ShippedData, render
from tests.support.peers import Prometheus, http_get, require_binary, serving, wait_for
from tests.support.synthetic_fleet import Commune, FleetExporter, scrape_config

ROOT = Path(__file__).parents[2]
PROVINCE = ROOT / "configs/inventory/thanh-hoa.yml"
TARGET_SECONDS = 1.0
RUN_SECONDS = 30


GROUP_DURATION = "prometheus_rule_group_last_duration_seconds"
SAMPLE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')


def _self_metrics(prom: Prometheus, name: str) -> dict[str, float]:
    """``name`` from Prometheus' own /metrics, by rule group name (or "" without one)."""
    _, body, _ = http_get(f"{prom.url}/metrics")
    found = {}
    for line in body.decode().splitlines():
        match = SAMPLE.match(line)
        if match and match[1] == name:
            group = re.search(r'rule_group="[^"]*;([^"]*)"', match[2] or "")
            found[group[1] if group else ""] = float(match[3])
    return found


def _fleet() -> list[Commune]:
    return [Commune(c.code, c.name, c.group, c.terrain) for c in load_inventory(PROVINCE).communes]


def _backfill(fleet: list[Commune], now: float, data: Path, work: Path) -> None:
    """Six hours of heartbeats, 15 s apart, for every commune, as TSDB blocks in ``data``."""
    start = int(now) - 6 * 3600
    lines = ["# TYPE commune_agent_heartbeat_timestamp_seconds gauge"]
    for i, c in enumerate(fleet):
        labels = (f'commune="{c.code}",commune_name="{c.name}",region="{c.region}",'
                  f'terrain="{c.terrain}",role="lan-node",instance="10.38.{i + 1}.10:9810",'
                  'job="commune-agent"')
        lines += [f"commune_agent_heartbeat_timestamp_seconds{{{labels}}} {t} {t}"
                  for t in range(start, int(now) - 60, 15)]
    source = work / "heartbeats.om"
    source.write_text("\n".join(lines) + "\n# EOF\n")
    subprocess.run([require_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                    str(source), str(data)], check=True, capture_output=True)


def _rendered_rules(work: Path) -> Path:
    """What render adds to the shipped rules: the inventory series, and the readiness rules of
    a conference of every commune whose window is open for the whole run."""
    inventory = load_inventory(PROVINCE)
    schedule_file = work / "conferences.yml"
    start = datetime.now(timezone.utc) + timedelta(hours=1)
    schedule_file.write_text('conferences:\n  - {name: bench, title: "Bench", start: '
                             f'"{start:%Y-%m-%dT%H:%M+00:00}"}}\n')
    files = render(inventory, RenderOptions(), work / "out", ShippedData.load({}),
                   load_conferences(schedule_file, inventory))
    folder = work / "rendered"
    folder.mkdir()
    for name in ("commune-inventory.yml", "commune-conferences.yml"):
        (folder / name).write_bytes(files[f"rules/{name}"])
    return folder


@pytest.mark.bench
@pytest.mark.peer
def test_rule_evaluation_for_the_province(tmp_path: Path) -> None:
    fleet = _fleet()
    assert len(fleet) == 166
    data = tmp_path / "data"
    data.mkdir()
    _backfill(fleet, time.time(), data, tmp_path)
    rendered = _rendered_rules(tmp_path)
    exporter = FleetExporter(fleet, failing=fleet[0].code)
    with serving(exporter):
        prom = Prometheus(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ROOT / "configs/prometheus/rules/*.yml"), str(rendered / "*.yml")],
            "scrape_configs": [scrape_config(fleet, exporter.address, "5s")],
        }, allow_unicode=True), tmp_path)
        try:
            wait_for(lambda: len(prom.query("commune:probe_success:max")) == 166, 60,
                     what="166 communes recorded")
            samples: dict[str, list[float]] = {}
            deadline = time.monotonic() + RUN_SECONDS
            while time.monotonic() < deadline:
                for group, value in _self_metrics(prom, GROUP_DURATION).items():
                    samples.setdefault(group, []).append(value)
                time.sleep(1)
            series = sum(_self_metrics(prom, "prometheus_tsdb_head_series").values())
        finally:
            prom.stop()
    print(f"\nrule evaluation, 166 communes, {series:.0f} head series, {RUN_SECONDS} s run:")
    for group in sorted(samples):
        print(f"  {group:32s} median {statistics.median(samples[group]) * 1000:8.2f} ms   "
              f"worst {max(samples[group]) * 1000:8.2f} ms")
    for what, pick in (("medians", statistics.median), ("worst cycles", max)):
        total = sum(pick(v) for v in samples.values())
        print(f"  all groups, {what} summed: {total * 1000:.1f} ms = "
              f"{total / TARGET_SECONDS:.3f} x the {TARGET_SECONDS:.0f} s target")
    assert len(samples) >= 10  # every group was evaluated (no timing assertion: see tests/bench)
