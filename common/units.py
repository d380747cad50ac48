"""Durations (``15s``, ``1m30s``) and byte sizes (``256MiB``) as written in the YAML configs."""

from __future__ import annotations

import re

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?")
_SIZE_UNITS = {
    None: 1, "B": 1,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}


class Duration(float):
    """A duration in seconds, parsed from Prometheus-style text such as ``1m30s`` or ``500ms``."""

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse ``text``; raise ValueError when it is not a duration like '10s'."""
        s = text.strip()
        pos, total = 0, 0.0
        for match in _DURATION_PART.finditer(s):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
            pos = match.end()
        if not s or pos != len(s):
            raise ValueError(f"expected a duration like '10s', '1m30s' or '500ms', got {text!r}")
        return cls(total)

    def __str__(self) -> str:
        return format_duration(self)


def format_duration(seconds: float) -> str:
    """Format seconds as the shortest Prometheus duration (``90`` -> ``1m30s``)."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts)


class ByteSize(int):
    """A size in bytes, parsed from ``256MiB``, ``1GB`` or a plain integer."""

    @classmethod
    def parse(cls, text: str) -> ByteSize:
        """Parse ``text``; raise ValueError when it is not a size like '256MiB'."""
        match = _SIZE.fullmatch(text.strip())
        if not match:
            raise ValueError(f"expected a size like '256MiB', '1GB' or '1048576', got {text!r}")
        return cls(int(float(match.group(1)) * _SIZE_UNITS[match.group(2)]))
