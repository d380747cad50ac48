"""The Grafana part of render's output: the dashboards and the provisioning that loads them.

    grafana/dashboards/*.json                            the shipped dashboards
    grafana/provisioning/dashboards/commune-monitor.yaml a file provider whose ``path`` is the
                                                         absolute grafana/dashboards folder
    grafana/provisioning/datasources/commune-monitor.yaml the Prometheus datasource (``url``
                                                         from ``--prometheus-url``)

The two provisioning files are made from the shipped templates (kind ``grafana``:
``dashboards/commune-monitor.yml`` and ``datasources/prometheus.yml``), so an override in
``/etc/commune-collector/grafana/`` (a folder name, basic auth for the datasource...) carries
through every render. The dashboards' datasource variable ``DS_PROMETHEUS`` is set to the
datasource's uid, so they show the province's Prometheus whatever else Grafana holds.

Each file is read as the loaders read configs (``common.filetext``: a size cap, UTF-8 without
NUL or control characters; YAML composed with bounded depth by ``common.yamlnodes``, JSON
within the decoder's depth); any other is refused naming the file (exit 2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.cli import UsageError
from common.filetext import CONFIG_MAX_BYTES, MIB
from common.schema import ConfigError, ConfigIssue, read_config_text, yaml_config_error
from common.shipped import shipped_file, shipped_files
from common.yamlnodes import YamlProblem, load

DASHBOARDS = "grafana/dashboards"
PROVIDER = "grafana/provisioning/dashboards/commune-monitor.yaml"
DATASOURCE = "grafana/provisioning/datasources/commune-monitor.yaml"
PROVIDER_TEMPLATE = "dashboards/commune-monitor.yml"
DATASOURCE_TEMPLATE = "datasources/prometheus.yml"
DS_VARIABLE = "DS_PROMETHEUS"
DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"
#: The largest dashboard read; the shipped ones are under 40 KiB.
DASHBOARD_MAX_BYTES = 4 * MIB
#: The largest provisioning template read; the shipped ones are under 1 KiB.
PROVISIONING_MAX_BYTES = CONFIG_MAX_BYTES


@dataclass(frozen=True)
class GrafanaData:
    """The shipped files the Grafana output is made from, by where they were found."""

    dashboards: Mapping[Path, bytes]
    provider: tuple[Path, bytes]
    datasource: tuple[Path, bytes]

    @classmethod
    def shipped(cls) -> GrafanaData:
        """Read the dashboards and provisioning templates through the shipped-data lookup."""
        provider = shipped_file("grafana", PROVIDER_TEMPLATE)
        datasource = shipped_file("grafana", DATASOURCE_TEMPLATE)
        return cls({path: _read(path, DASHBOARD_MAX_BYTES, "a dashboard")
                    for path in shipped_files("dashboards", "*.json").values()},
                   (provider, _read(provider)), (datasource, _read(datasource)))


def _read(path: Path, max_bytes: int = PROVISIONING_MAX_BYTES,
          what: str = "a Grafana provisioning file") -> bytes:
    """The content of ``path``, checked by ``common.filetext``; ConfigError naming the file."""
    return read_config_text(path, max_bytes, what).encode("utf-8")


def _load(source: tuple[Path, bytes], key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    path, content = source
    try:
        data = load(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 ({exc}); fix it or remove it") from None
    except YamlProblem as exc:
        raise yaml_config_error(str(path), exc) from None
    entries = data.get(key) if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UsageError(f"{path}: expected Grafana provisioning with a '{key}:' list of "
                         f"mappings; fix it, or remove the override from "
                         f"/etc/commune-collector/grafana/ to use the shipped file")
    return data, entries


def _yaml(data: Mapping[str, Any], source: Path) -> bytes:
    header = (f"# Rendered by commune-collector render from {source}.\n"
              "# Do not edit: edit that file (or an override in /etc/commune-collector/grafana/) "
              "and render again.\n")
    return (header + yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)).encode()


def _pinned(path: Path, content: bytes, uid: str, name: str) -> bytes:
    """A dashboard whose DS_PROMETHEUS variable selects datasource ``uid``."""
    try:
        board = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON dashboard ({exc}); fix it or remove it") from None
    except RecursionError:  # the C decoder's own depth guard, not a crash
        raise ConfigError(str(path), [ConfigIssue(
            str(path), 0, 0, "", "JSON nested too deeply (fix it or remove it)")]) from None
    templating = board.get("templating", {}) if isinstance(board, dict) else {}
    variables = templating.get("list", []) if isinstance(templating, dict) else None
    if not isinstance(variables, list):
        raise UsageError(f"{path}: 'templating' must be a mapping with a 'list' of variables, "
                         f"as Grafana writes it; fix the dashboard or remove it")
    for variable in variables:
        if isinstance(variable, dict) and variable.get("name") == DS_VARIABLE:
            variable["current"] = {"selected": True, "text": name, "value": uid}
    return (json.dumps(board, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def grafana_files(data: GrafanaData, out: Path, prometheus_url: str) -> dict[str, bytes]:
    """The files under grafana/ for an output folder ``out`` (absolute)."""
    provider, providers = _load(data.provider, "providers")
    files = [p for p in providers if p.get("type") == "file"]
    if not files:
        raise UsageError(f"{data.provider[0]}: no provider of 'type: file'; the rendered "
                         "dashboards need one")
    for entry in files:
        options = entry.get("options")
        entry["options"] = {**(options if isinstance(options, dict) else {}),
                            "path": str(out / DASHBOARDS)}
    datasource, sources = _load(data.datasource, "datasources")
    prometheus = [s for s in sources if s.get("type") == "prometheus"]
    if not prometheus or not isinstance(prometheus[0].get("uid"), str):
        raise UsageError(f"{data.datasource[0]}: expected a datasource of 'type: prometheus' "
                         "with a 'uid:' (the dashboards select it by uid)")
    prometheus[0]["url"] = prometheus_url
    uid, name = prometheus[0]["uid"], str(prometheus[0].get("name", prometheus[0]["uid"]))
    rendered = {PROVIDER: _yaml(provider, data.provider[0]),
                DATASOURCE: _yaml(datasource, data.datasource[0])}
    for path, content in sorted(data.dashboards.items(), key=lambda pc: pc[0].name):
        rendered[f"{DASHBOARDS}/{path.name}"] = _pinned(path, content, uid, name)
    return rendered
