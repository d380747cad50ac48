"""Read positions kept across agent restarts: one small JSON file, replaced atomically."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from agent.tail import Position
from common.statefile import StateFileError, read_state_json, write_atomically

log = logging.getLogger(__name__)
_AFRESH = "the logs are then followed from their end"


def load_positions(path: str) -> dict[str, Position]:
    """The saved positions by file name; empty when there is no state file.

    Raise StateFileError (exit 2 at start) when the file is damaged: the agent wrote it
    atomically, so someone else did.
    """
    try:
        data = read_state_json(Path(path), afresh=_AFRESH)
    except OSError as exc:
        log.warning("logs: cannot read state file %s (%s); following the logs from their end",
                    path, exc)
        return {}
    if data is None:
        return {}
    try:
        return {name: Position(int(p["device"]), int(p["inode"]), int(p["offset"]))
                for name, p in data["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        raise StateFileError(Path(path), f"unexpected content ({type(exc).__name__}: {exc})",
                             afresh=_AFRESH) from None


def save_positions(path: str, positions: Mapping[str, Position]) -> None:
    """Write the positions to ``path`` (a temporary file renamed over it); raise OSError."""
    data = {"files": {name: {"device": p.device, "inode": p.inode, "offset": p.offset}
                      for name, p in sorted(positions.items())}}
    write_atomically(Path(path), json.dumps(data), make_parents=True)
