"""Peers of the push tests: the gateway, an agent with the tick module, VictoriaMetrics."""

from __future__ import annotations

import json
import secrets
import ssl
import sys
import textwrap
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from collector.gateway.config import token_digest
from tests.support.paths import ROOT
from tests.support.peers import (
    LOOPBACK,
    VENV_BIN,
    Process,
    free_port,
    http_get,
    require_binary,
    wait_for,
)

PROMETHEUS_PUSH_CONFIG = """\
global: {scrape_interval: 1m}
storage:
  tsdb:
    out_of_order_time_window: 1h
"""
PROMETHEUS_PUSH_ARGS = ("--web.enable-remote-write-receiver",)


@dataclass(frozen=True)
class NodeToken:
    """A node's bearer token and the identity the gateway binds to it."""

    commune: str
    node: str
    token: str

    @classmethod
    def new(cls, commune: str, node: str = "lan-1") -> NodeToken:
        """A fresh random token."""
        return cls(commune, node, secrets.token_hex(32))


def write_gateway_config(path: Path, receivers: Sequence[str], tokens: Sequence[NodeToken],
                         extra: str = "") -> Path:
    """A gateway YAML forwarding to ``receivers`` (remote-write URLs)."""
    lines = ["receivers:"]
    lines += [f"  - {{url: '{url}', timeout: 5s}}" for url in receivers]
    lines.append("tokens:")
    lines += [f"  - {{commune: '{t.commune}', node: {t.node}, sha256: {token_digest(t.token)}}}"
              for t in tokens]
    path.write_text("\n".join(lines) + "\n" + textwrap.dedent(extra))
    return path


class Gateway(Process):
    """``commune-collector serve`` on a loopback port (the same port again after restart)."""

    def __init__(self, config: Path, workdir: Path, port: int | None = None,
                 name: str = "gateway", web_config: Path | None = None,
                 ca_file: Path | None = None) -> None:
        self.port = port or free_port()
        scheme = "https" if web_config else "http"
        self.url = f"{scheme}://{LOOPBACK}:{self.port}"
        self.write_url = f"{self.url}/api/v1/write"
        extra = ["--web.config.file", str(web_config)] if web_config else []
        super().__init__([str(VENV_BIN / "commune-collector"), "serve", "--config.file",
                          str(config), "--web.listen-address", f"{LOOPBACK}:{self.port}",
                          *extra], workdir / f"{name}-{self.port}.log")
        context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
        wait_for(lambda: http_get(f"{self.url}/-/ready", context=context)[0] == 200
                 or not self.alive(), 15, what=f"gateway ready ({self.log_path})")
        assert self.alive(), self.log()

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A value from the gateway's /metrics (0 when the series is absent)."""
        return scrape_value(f"{self.url}/metrics", name, labels)


def scrape_value(url: str, name: str, labels: dict[str, str] | None = None) -> float:
    """One sample's value from an exposition at ``url`` (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    _, body, _ = http_get(url)
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in (labels or {}).items()):
                return float(sample.value)
    return 0.0


def write_agent_config(workdir: Path, gateway_url: str, token: NodeToken,
                       interval: str = "50ms", push_extra: str = "") -> Path:
    """An agent config with the tick module pushing to ``gateway_url``."""
    token_file = workdir / "token"
    token_file.write_text(token.token + "\n")
    path = workdir / "agent.yml"
    path.write_text(textwrap.dedent(f"""\
        commune: "{token.commune}"
        interval: {interval}
        modules:
          tick: {{state_file: {workdir / 'ticks'}}}
        push:
          url: {gateway_url}
          token_file: {token_file}
          spool_dir: {workdir / 'spool'}
          min_backoff: 100ms
          max_backoff: 500ms
          timeout: 2s
        """) + textwrap.indent(textwrap.dedent(push_extra), "  "))
    return path


class PushAgent(Process):
    """commune-agent with the tick module, pushing through a gateway."""

    def __init__(self, config: Path, workdir: Path, name: str = "agent") -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        super().__init__([sys.executable, "-m", "tests.support.tick_agent", "--config.file",
                          str(config), "--web.listen-address", f"{LOOPBACK}:{self.port}"],
                         workdir / f"{name}-{self.port}.log", cwd=ROOT)
        wait_for(lambda: http_get(f"{self.url}/-/ready")[0] == 200 or not self.alive(), 15,
                 what=f"agent ready ({self.log_path})")
        assert self.alive(), self.log()

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A value from the agent's /metrics (0 when absent)."""
        return scrape_value(f"{self.url}/metrics", name, labels)


class VictoriaMetrics(Process):
    """Single-node VictoriaMetrics (Debian's package) with its own data folder."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.write_url = f"{self.url}/api/v1/write"
        data = workdir / "vmdata"
        data.mkdir(exist_ok=True)
        super().__init__([require_binary("victoria-metrics"), f"-httpListenAddr={LOOPBACK}:"
                          f"{self.port}", f"-storageDataPath={data}", "-loggerLevel=WARN",
                          "-search.latencyOffset=0s"], workdir / "victoria-metrics.log")
        wait_for(lambda: http_get(f"{self.url}/health")[0] == 200, 30,
                 what=f"victoria-metrics healthy ({self.log_path})")

    def export(self, match: str) -> list[dict[str, Any]]:
        """Raw samples of the series matching ``match`` (after flushing VM's buffers)."""
        http_get(f"{self.url}/internal/force_flush")
        query = urllib.parse.urlencode({"match[]": match})
        status, body, _ = http_get(f"{self.url}/api/v1/export?{query}")
        assert status == 200, body[:300]
        return [json.loads(line) for line in body.splitlines() if line.strip()]


def spooled_value(i: int) -> list[GaugeMetricFamily]:
    """One collection for the push client: ``test_spooled_value{commune="14797"} i``."""
    family = GaugeMetricFamily("test_spooled_value", "i", labels=["commune"])
    family.add_metric(["14797"], i)
    return [family]


def raw_samples(prometheus: Any, selector: str, window: str = "1h") -> list[tuple[float, float]]:
    """Every raw (timestamp, value) of the one series matching ``selector`` in Prometheus."""
    result = prometheus.query(f"{selector}[{window}]")
    assert len(result) <= 1, f"expected one series, got {[r['metric'] for r in result]}"
    if not result:
        return []
    return [(float(t), float(v)) for t, v in result[0]["values"]]
