"""Read positions kept across agent restarts: one small JSON file, replaced atomically."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from agent.tail import Position
from common.statefile import write_atomically

log = logging.getLogger(__name__)


def load_positions(path: str) -> dict[str, Position]:
    """The saved positions by file name; empty when there is no (readable, valid) state file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return {name: Position(int(p["device"]), int(p["inode"]), int(p["offset"]))
                for name, p in data["files"].items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("logs: ignoring state file %s (%s); following the logs from their end",
                    path, exc)
        return {}


def save_positions(path: str, positions: Mapping[str, Position]) -> None:
    """Write the positions to ``path`` (a temporary file renamed over it); raise OSError."""
    data = {"files": {name: {"device": p.device, "inode": p.inode, "offset": p.offset}
                      for name, p in sorted(positions.items())}}
    write_atomically(Path(path), json.dumps(data), make_parents=True)
