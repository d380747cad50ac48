"""Debian's prometheus-node-exporter on a free loopback port, and its families by name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.support.peers import LOOPBACK, Process, free_port, http_get, require_binary, wait_for

# Families of the exporter itself, not of the host.
OWN_PREFIXES = ("go_", "process_", "promhttp_", "node_exporter_")


class NodeExporter(Process):
    """``prometheus-node-exporter`` with its default collectors; ready when /metrics answers."""

    def __init__(self, workdir: Path, args: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        super().__init__([require_binary("prometheus-node-exporter"),
                          f"--web.listen-address={self.address}", *args],
                         workdir / f"node_exporter-{self.port}.log")
        wait_for(lambda: http_get(f"http://{self.address}/metrics")[0] == 200, 15,
                 what=f"node_exporter ({self.log_path})")

    def scrape(self) -> str:
        """One exposition of /metrics."""
        status, body, _ = http_get(f"http://{self.address}/metrics")
        assert status == 200, body[:200]
        return body.decode()


@dataclass(frozen=True)
class Shape:
    """What a dashboard or an alert rule relies on in a family: type, help and label names."""

    type: str
    help: str
    labels: frozenset[str]


def shapes(families: Iterable[Metric], ignore: Sequence[str] = ()) -> dict[str, Shape]:
    """Family name -> its Shape, for the host's families (not the exporter's own)."""
    out: dict[str, Shape] = {}
    for family in families:
        if family.name.startswith(OWN_PREFIXES) or family.name in ignore:
            continue
        labels = frozenset(k for s in family.samples for k in s.labels)
        out[family.name] = Shape(family.type, family.documentation, labels)
    return out


def parse(text: str) -> list[Metric]:
    """The families of an exposition."""
    return list(text_string_to_metric_families(text))
