"""Collecting the host module once on a fake tree, for the tests."""

from __future__ import annotations

from prometheus_client.core import Metric

from agent.modules.host import HostModule
from agent.modules.host_config import HostConfig
from tests.support.samples import samples

NOW = 1_700_000_600.0


def collect(config: HostConfig) -> list[Metric]:
    """One collection of a module reading ``config``'s roots, at a fixed clock."""
    return list(HostModule(config, clock=lambda: NOW).collect())


def succeeded(families: list[Metric]) -> dict[str, float]:
    """Section name -> node_scrape_collector_success."""
    return {dict(labels)["collector"]: v
            for labels, v in samples(families, "node_scrape_collector_success").items()}


def by_device(families: list[Metric], name: str) -> dict[str, float]:
    """device label -> value of the samples called ``name``."""
    return {dict(labels)["device"]: v for labels, v in samples(families, name).items()}
