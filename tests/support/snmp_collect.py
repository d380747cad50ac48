"""Run the snmp module once from a YAML snippet and read its samples, for the SNMP tests."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from agent.config import load_config
from agent.modules.snmp.config import SnmpConfig
from agent.modules.snmp.module import SnmpModule
from tests.support.samples import registry_of


def snmp_config(tmp_path: Path, devices_yaml: str) -> SnmpConfig:
    """Load an agent config whose snmp module has the given ``devices:`` list."""
    path = tmp_path / "agent.yml"
    body = textwrap.indent(textwrap.dedent(devices_yaml).strip(), "      ")
    path.write_text(f"commune: '1'\nmodules:\n  snmp:\n    devices:\n{body}\n")
    config = load_config(path).modules.entries[0].config
    assert isinstance(config, SnmpConfig)
    return config


def collect(config: SnmpConfig, times: int = 1) -> CollectorRegistry:
    """Collect ``times`` times with one module; a registry holding the last families."""
    async def run() -> list[Metric]:
        module = SnmpModule(config)
        try:
            families: list[Metric] = []
            for _ in range(times):
                families = list(await module.collect())
            return families
        finally:
            module.close()

    return registry_of(asyncio.run(run()))


def samples(registry: CollectorRegistry, name: str) -> list[tuple[dict[str, str], float]]:
    """Every (labels, value) of series ``name``."""
    return [(dict(s.labels), s.value) for family in registry.collect()
            for s in family.samples if s.name == name]

