"""The pending enrolments: codes issued by ``enrol`` whose node has not pushed yet.

They are kept in ``pending-enrolments.yml`` next to the gateway config, one flow mapping a line
(commune, node, the token's SHA-256, the code's expiry in Unix seconds). ``expire`` settles them;
``revoke`` forgets the node's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from common.statefile import write_atomically

LEDGER = "pending-enrolments.yml"
_HEADER = ("# Written by commune-collector enrol, read by commune-collector expire: enrolment\n"
           "# codes whose node has not pushed yet. Do not edit by hand.\n")


@dataclass(frozen=True)
class Pending:
    """An issued enrolment code whose node has not been seen yet."""

    commune: str
    node: str
    sha256: str
    expires: float


def ledger_path(gateway_config: Path) -> Path:
    """Where the pending enrolments of ``gateway_config`` are kept."""
    return gateway_config.with_name(LEDGER)


def read_ledger(gateway_config: Path) -> list[Pending]:
    """The pending enrolments (none if the file does not exist)."""
    path = ledger_path(gateway_config)
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [Pending(str(d["commune"]), str(d["node"]), str(d["sha256"]), float(d["expires"]))
            for d in data]


def write_ledger(gateway_config: Path, entries: list[Pending]) -> None:
    """Replace the pending enrolments, atomically."""
    lines = [_HEADER] + [
        f"- {{commune: {json.dumps(p.commune)}, node: {json.dumps(p.node)}, "
        f"sha256: {json.dumps(p.sha256)}, expires: {int(p.expires)}}}\n" for p in entries]
    write_atomically(ledger_path(gateway_config),
                     "".join(lines) if entries else _HEADER + "[]\n")


def add_pending(gateway_config: Path, entry: Pending) -> None:
    """Record a new code; an older code of the same node is replaced."""
    entries = [p for p in read_ledger(gateway_config)
               if (p.commune, p.node) != (entry.commune, entry.node)]
    write_ledger(gateway_config, [*entries, entry])


def forget(gateway_config: Path, commune: str, node: str) -> None:
    """Drop the node's pending code, if it has one (its token was revoked)."""
    pending = read_ledger(gateway_config)
    left = [p for p in pending if (p.commune, p.node) != (commune, node)]
    if len(left) != len(pending):
        write_ledger(gateway_config, left)
