"""Each commune's slot in the hour for the throughput probe: spread over the hour, from the
inventory, in what render writes and in the targets enrol gives each agent."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

from agent.modules.probe.targets import ThroughputTarget
from collector.inventory import agent_probe_targets, load_inventory, throughput_slots
from collector.render.output import probe_targets
from tests.support.inventory import HAC_THANH, MUONG_LAT, Node, inventory_yaml

TARGETS: list[dict[str, str | int]] = [
    {"name": "tthc-db", "kind": "tcp", "host": "10.38.0.20", "port": 5432},
    {"name": "province-iperf", "kind": "throughput", "host": "10.38.0.30"}]


def inventory(tmp_path: Path, count: int) -> Path:
    communes = [replace(HAC_THANH, code=str(14000 + i * 7)).with_nodes(Node("lan-1"))
                for i in range(count)]
    path = tmp_path / "inventory.yml"
    path.write_text(inventory_yaml(communes, targets=TARGETS), encoding="utf-8")
    return path


def test_166_communes_get_distinct_slots_evenly_spread(tmp_path: Path) -> None:
    slots = throughput_slots(load_inventory(inventory(tmp_path, 166)))
    ordered = sorted(slots.values())
    assert len(set(ordered)) == 166 and ordered[0] == 0 and ordered[-1] < 3600
    gaps = {b - a for a, b in itertools.pairwise(ordered)}
    assert gaps <= {21, 22}  # 3600 / 166 = 21.7 s between two communes' runs
    assert throughput_slots(load_inventory(inventory(tmp_path, 166))) == slots


def test_enrolled_targets_carry_the_communes_slot_and_load_in_the_agent(tmp_path: Path) -> None:
    loaded = load_inventory(inventory(tmp_path, 3))
    slots = throughput_slots(loaded)
    code = sorted(slots)[1]
    entries = agent_probe_targets(loaded, code)
    assert entries[0] == TARGETS[0]
    assert entries[1] == {**TARGETS[1], "slot_second": 1200}
    assert ThroughputTarget(**entries[1]).slot_second == 1200
    rendered = probe_targets(loaded)
    assert rendered["targets"][1] == TARGETS[1]  # the shared list: no one commune's slot
    assert rendered["throughput_slot_seconds"] == slots == {
        code: i * 1200 for i, code in enumerate(sorted(slots))}


def test_no_throughput_target_no_slots_in_the_rendered_file(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(inventory_yaml([MUONG_LAT.with_nodes(Node("lan-1"))], targets=TARGETS[:1]),
                    encoding="utf-8")
    assert probe_targets(load_inventory(path)) == {"targets": TARGETS[:1]}
