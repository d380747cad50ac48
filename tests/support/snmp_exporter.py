"""Debian's snmp_exporter (0.21) as a peer, fed our module definitions, and a strict reader of
the text exposition for series-by-series comparisons.

Debian ships no MIBs (``/etc/prometheus/snmp.yml`` is a placeholder and the generator needs
IF-MIB text), so the exporter is given our own definition written in its 0.21 ``snmp.yml``
format: the two formats share ``walk``, ``get`` and every ``metrics`` key. What is compared is
therefore how each side *renders* the same walk: names, label values, types, help and values.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agent.modules.snmp.definitions import Definition
from tests.support.peers import LOOPBACK, Process, free_port, http_get, require_binary, wait_for

SeriesKey = tuple[str, frozenset[tuple[str, str]]]


def exporter_module(definition: Definition, community: str) -> dict[str, Any]:
    """One module of snmp_exporter 0.21's ``snmp.yml`` holding ``definition``'s metrics."""
    metrics: list[dict[str, Any]] = []
    for metric in definition.metrics:
        if metric.scale != 1.0 or metric.value_map or metric.labels:
            raise ValueError(f"{metric.name}: scale/value_map/labels have no snmp_exporter form")
        entry: dict[str, Any] = {"name": metric.name, "oid": str(metric.oid),
                                 "type": metric.type, "help": metric.help}
        if metric.indexes:
            entry["indexes"] = [{"labelname": i.labelname, "type": i.type,
                                 **({"implied": True} if i.implied else {})}
                                for i in metric.indexes]
        if metric.lookups:
            entry["lookups"] = [{"labels": list(lk.labels), "labelname": lk.labelname,
                                 "oid": str(lk.oid), "type": lk.type} for lk in metric.lookups]
        if metric.enum_values:
            entry["enum_values"] = {int(k): v for k, v in metric.enum_values.items()}
        metrics.append(entry)
    return {"walk": [str(o) for o in definition.walk],
            "get": [str(o) for o in definition.get],
            "version": 2, "max_repetitions": 25, "retries": 1, "timeout": "5s",
            "auth": {"community": community}, "metrics": metrics}


class SnmpExporter(Process):
    """``prometheus-snmp-exporter`` on a free loopback port with the given modules."""

    def __init__(self, workdir: Path, modules: dict[str, dict[str, Any]]) -> None:
        config = workdir / "snmp.yml"
        config.write_text(yaml.safe_dump(modules, sort_keys=False))
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        super().__init__([require_binary("prometheus-snmp-exporter"), f"--config.file={config}",
                          f"--web.listen-address={LOOPBACK}:{self.port}"],
                         workdir / "snmp_exporter.log")
        wait_for(lambda: self.alive() and http_get(self.url + "/")[0] == 200, 30,
                 what=f"snmp_exporter on {self.url} ({self.log_path})")

    def scrape_status(self, target: str, module: str) -> tuple[int, bytes]:
        """One ``/snmp`` scrape of ``target`` with ``module``: HTTP status and body."""
        query = urllib.parse.urlencode({"target": target, "module": module})
        status, body, _ = http_get(f"{self.url}/snmp?{query}", timeout=60)
        return status, body

    def scrape(self, target: str, module: str) -> str:
        """One successful ``/snmp`` scrape: the exposition text."""
        status, body = self.scrape_status(target, module)
        assert status == 200, f"snmp_exporter answered {status}: {body[:300]!r}"
        return body.decode("utf-8")


@dataclass
class Exposition:
    """A parsed text exposition: family types and help, and every series' value."""

    types: dict[str, str]
    helps: dict[str, str]
    series: dict[SeriesKey, float]


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _unescape(text: str) -> str:
    return re.sub(r'\\[\\"n]', lambda m: _UNESCAPE[m.group()], text)


def parse_exposition(text: str, drop_labels: frozenset[str] = frozenset()) -> Exposition:
    """Parse text format 0.0.4 exactly (no renaming of counters, unlike prometheus_client's
    parser); labels in ``drop_labels`` are left out of the series keys."""
    types: dict[str, str] = {}
    helps: dict[str, str] = {}
    series: dict[SeriesKey, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            helps[name] = help_.replace("\\n", "\n").replace("\\\\", "\\")
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            types[name] = kind
        elif line and not line.startswith("#"):
            match = _SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            labels = frozenset((k, _unescape(v)) for k, v in _LABEL.findall(match.group(2) or "")
                               if k not in drop_labels)
            key = (match.group(1), labels)
            assert key not in series, f"series twice in one exposition: {line!r}"
            series[key] = float(match.group(3))
    return Exposition(types, helps, series)
