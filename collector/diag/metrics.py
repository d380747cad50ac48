"""Fleet results as Prometheus metrics, written atomically for node_exporter's textfile collector.

``commune_diag_check_success{runbook,check,commune,node}`` is 1 when a check passed, 0 when it
failed or timed out; unreachable hosts get ``commune_diag_host_reachable 0`` and no checks.
"""

from __future__ import annotations

import os
from pathlib import Path

from collector.diag.runner import FleetResult, HostResult
from common.statefile import write_atomically

_FAMILIES = (
    ("commune_diag_check_success", "1 if the check passed on the node, 0 if it failed."),
    ("commune_diag_check_duration_seconds", "How long the check's command ran."),
    ("commune_diag_check_value", "The number the check's first threshold captured."),
    ("commune_diag_host_reachable", "1 if the node could be reached and logged into over SSH."),
    ("commune_diag_last_run_timestamp_seconds", "When the runbook was last run."),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _host_labels(fleet: FleetResult, host: HostResult) -> dict[str, str]:
    t = host.target
    return {"runbook": fleet.runbook.name, "commune": t.commune, "node": t.node or t.host}


def render(fleet: FleetResult) -> str:
    """The Prometheus text exposition of a fleet run."""
    samples: dict[str, list[str]] = {name: [] for name, _ in _FAMILIES}
    for host in fleet.hosts:
        if host.status == "skipped":
            continue
        base = _host_labels(fleet, host)
        reachable = "0" if host.status == "unreachable" else "1"
        samples["commune_diag_host_reachable"].append(f"{_labels(**base)} {reachable}")
        for check in host.checks:
            if check.status == "skipped":
                continue
            labels = _labels(runbook=base["runbook"], check=check.name,
                             commune=base["commune"], node=base["node"])
            ok = "1" if check.status == "pass" else "0"
            samples["commune_diag_check_success"].append(f"{labels} {ok}")
            samples["commune_diag_check_duration_seconds"].append(
                f"{labels} {check.duration:.6f}")
            if check.values:
                samples["commune_diag_check_value"].append(f"{labels} {check.values[0]!r}")
    samples["commune_diag_last_run_timestamp_seconds"].append(
        f"{_labels(runbook=fleet.runbook.name)} {fleet.started:.3f}")
    lines: list[str] = []
    for name, help_text in _FAMILIES:
        if samples[name]:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines += [f"{name}{sample}" for sample in samples[name]]
    return "\n".join(lines) + "\n"


def write_textfile(fleet: FleetResult, path: str | os.PathLike[str]) -> None:
    """Write the metrics to ``path`` atomically (a temp file in the same folder, then rename)."""
    write_atomically(Path(path), render(fleet), 0o644)
