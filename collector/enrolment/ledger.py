"""The pending enrolments: codes issued by ``enrol`` whose node has not pushed yet.

They are kept in ``pending-enrolments.yml`` next to the gateway config, one flow mapping a line
(commune, node, the token's SHA-256, the code's expiry in Unix seconds). ``expire`` settles them;
``revoke`` forgets the node's. Read back like every state file (``common.statefile``): a ledger
over its cap, not UTF-8, nested too deeply or not a list of such entries is refused with one
line naming the file (exit 2), before anything is changed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.filetext import MIB
from common.statefile import StateFileError, read_state_text, write_atomically
from common.yamlnodes import YamlProblem, load

LEDGER = "pending-enrolments.yml"
_HEADER = ("# Written by commune-collector enrol, read by commune-collector expire: enrolment\n"
           "# codes whose node has not pushed yet. Do not edit by hand.\n")
#: The largest ledger read: one line of about 150 bytes a pending code, so 16,000 nodes
#: enrolled at once take 2.4 MiB.
LEDGER_MAX_BYTES = 4 * MIB
_FORGET = ("expire then forgets the codes it held: revoke the tokens of nodes that never "
           "pushed by hand")


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
    return read_ledger_file(ledger_path(gateway_config))


def read_ledger_file(path: Path) -> list[Pending]:
    """The pending enrolments kept in ``path`` (none if it does not exist); StateFileError."""
    text = read_state_text(path, LEDGER_MAX_BYTES, _FORGET)
    if text is None:
        return []
    try:
        data = load(text)
    except YamlProblem as exc:
        # The state file's own hint (delete it) replaces the config one in parentheses.
        problem = exc.problem.split(" (", 1)[0] if exc.problem.endswith(")") else exc.problem
        raise StateFileError(path, problem, exc.line, exc.column, _FORGET) from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise StateFileError(path, "expected a list of pending enrolments", afresh=_FORGET)
    return [_pending(entry, path, i) for i, entry in enumerate(data)]


def _pending(entry: Any, path: Path, index: int) -> Pending:
    try:
        pending = Pending(str(entry["commune"]), str(entry["node"]), str(entry["sha256"]),
                          float(entry["expires"]))
    except (TypeError, KeyError, ValueError, OverflowError):
        pending = None
    if pending is None or not math.isfinite(pending.expires):
        raise StateFileError(path, f"entry {index + 1} is not {{commune, node, sha256, "
                                   f"expires}}", afresh=_FORGET)
    return pending


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
