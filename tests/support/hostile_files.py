"""Files no loader should choke on: 100k levels of nesting, a NUL byte, UTF-16, Latin-1, 50 MB.

``write_hostile(path, case, good)`` writes ``case`` built around ``good`` (a valid file's text,
YAML or JSON) and returns the words the loader's one-line error must contain.
"""

from __future__ import annotations

import os
from pathlib import Path

CASES = ("deep", "nul", "utf16", "latin1", "oversize")
DEPTH = 100_000
OVERSIZE = 50 * 1024 * 1024


def write_hostile(path: Path, case: str, good: str, *, json: bool = False,
                  listed: bool = False) -> str:
    """Write hostile ``case`` to ``path``; the text its error message must contain.

    ``listed``: ``good`` is a YAML block list, so the deep value is added as a list item.
    """
    if case == "deep":
        deep = "[" * DEPTH + "]" * DEPTH
        path.write_text(deep if json else good + ("- " if listed else "extra: ") + deep + "\n")
        return "nested too deeply" if json else "nested more than 100 levels deep"
    if case == "nul":
        half = len(good) // 2
        path.write_bytes(good[:half].encode() + b"\x00" + good[half:].encode())
        return "NUL byte"
    if case == "utf16":
        path.write_bytes(good.encode("utf-16"))
        return "UTF-16 text, not UTF-8"
    if case == "latin1":
        tail = " \"Xã\"" if json else "# Thanh Hóa, Xã\n"
        path.write_bytes(good.encode() + tail.encode("latin-1"))
        return "is not UTF-8"
    if case == "oversize":
        # Sparse: 50 MB of size on a few blocks of disk; refused by its size before reading.
        path.write_text(good)
        os.truncate(path, OVERSIZE)
        return "is 50 MiB, over the"
    raise ValueError(case)
