"""Files written so a crash never leaves half a file: restart state, rendered config."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file renamed over it (parents made); OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_atomically(path: Path, content: bytes, mode: int = 0o644) -> None:
    """Write ``content`` to ``path`` through a unique temporary file in the same folder.

    Readers (Prometheus watching file_sd, node_exporter's textfile collector) see the old file or
    the new one, never a partial one; the temporary file is removed if anything fails.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
