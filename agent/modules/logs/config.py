"""Config of the ``logs`` module (kept light: loading a config compiles regexes, reads no log).

Example::

    logs:
      files:
        - name: portal
          path: /var/log/nginx/access.log
          format: combined            # combined | common | regex
          routes:
            - {name: dossier, match: "^/dossier/"}
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal

from agent.modules.base import ModuleConfig
from common.schema import Invalid
from common.units import ByteSize, Duration

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_ROUTE_NAME = re.compile(r"[A-Za-z0-9_./{}:-]+")

# Named groups a ``regex`` format may capture; anything else is a typo.
REQUIRED_GROUPS = ("status", "path")
OPTIONAL_GROUPS = ("client", "time", "method", "bytes", "user_agent", "request_time",
                   "duration_ms", "duration_us")
KNOWN_GROUPS = REQUIRED_GROUPS + OPTIONAL_GROUPS
DURATION_GROUPS = ("request_time", "duration_ms", "duration_us")

# prometheus_client's default buckets, in seconds.
DEFAULT_MAX_READ_BYTES = ByteSize(32 * 2**20)
DEFAULT_BURST_WINDOW = Duration(60)
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Route:
    """A route template: requests whose path (query string removed) matches ``match``."""

    name: str
    match: str

    def __post_init__(self) -> None:
        if not _ROUTE_NAME.fullmatch(self.name) or self.name == "other":
            raise Invalid(f"expected a route name of letters, digits and _./{{}}:- "
                          f"(not 'other', which is kept for unmatched paths), got {self.name!r}",
                          key="name")
        try:
            re.compile(self.match)
        except re.error as exc:
            raise Invalid(f"not a valid regular expression: {exc}", key="match") from None


@dataclass(frozen=True)
class LogFile:
    """One access log to tail, its line format and its route templates."""

    name: str
    path: str
    format: Literal["combined", "common", "regex"] = "combined"
    regex: str | None = None
    routes: tuple[Route, ...] = ()
    # Read the existing content on the first collection instead of starting at the end.
    from_start: bool = False
    # Bytes read per file and collection at most; the rest waits for the next collection.
    max_read_bytes: ByteSize = DEFAULT_MAX_READ_BYTES
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    # A source sending ``burst_threshold`` 401/403/404 within ``burst_window`` is a burst.
    burst_window: Duration = DEFAULT_BURST_WINDOW
    burst_threshold: int = 20
    # Sources remembered for bursts (least recently seen dropped first) and shown in the gauge.
    max_sources: int = 10_000
    top_sources: int = 10

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise Invalid(f"expected a name of letters, digits and _.- (it becomes the 'file' "
                          f"label), got {self.name!r}", key="name")
        if not self.path:
            raise Invalid("expected the path of an access log", key="path")
        if self.format == "regex":
            if not self.regex:
                raise Invalid("format 'regex' needs a 'regex' key with named groups "
                              f"(required: {', '.join(REQUIRED_GROUPS)})", key="format")
            check_regex(self.regex)
        elif self.regex is not None:
            raise Invalid(f"'regex' is only read with format: regex (format is "
                          f"{self.format!r})", key="regex")
        if not self.buckets or list(self.buckets) != sorted(set(self.buckets)) \
                or self.buckets[0] <= 0:
            raise Invalid("expected increasing positive bucket bounds in seconds, "
                          "like [0.1, 0.5, 1, 5]", key="buckets")
        for key in ("max_read_bytes", "burst_window", "burst_threshold", "max_sources"):
            if getattr(self, key) <= 0:
                raise Invalid("must be greater than 0", key=key)
        if not 0 <= self.top_sources <= 100:
            raise Invalid("expected 0 (no per-source series) to 100", key="top_sources")


def check_regex(pattern: str) -> None:
    """Check a ``regex`` format: it compiles and its named groups are known and sufficient."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise Invalid(f"not a valid regular expression: {exc}", key="regex") from None
    groups = set(compiled.groupindex)
    unknown = sorted(groups - set(KNOWN_GROUPS))
    if unknown:
        raise Invalid(f"unknown named group(s) {', '.join(unknown)} (known: "
                      f"{', '.join(KNOWN_GROUPS)}); use (?:...) for other groups", key="regex")
    missing = [g for g in REQUIRED_GROUPS if g not in groups]
    if missing:
        raise Invalid(f"missing named group(s) {', '.join(missing)}, "
                      f"e.g. (?P<status>\\d{{3}})", key="regex")
    durations = [g for g in DURATION_GROUPS if g in groups]
    if len(durations) > 1:
        raise Invalid(f"use one of the groups {', '.join(durations)}, not several", key="regex")


@dataclass(frozen=True)
class LogsConfig(ModuleConfig):
    """``modules.logs``: the access logs to follow."""

    files: tuple[LogFile, ...]
    # Where read positions are kept, so a restarted agent goes on where it stopped.
    state_file: str | None = None

    def __post_init__(self) -> None:
        if self.state_file is not None:
            folder = os.path.dirname(os.path.abspath(self.state_file))
            if not os.path.isdir(folder):
                raise Invalid(f"folder {folder!r} does not exist; create it (writable by the "
                              "agent) or fix the path", key="state_file")
        if not self.files:
            raise Invalid("list at least one access log, e.g. "
                          "{name: portal, path: /var/log/nginx/access.log}", key="files")
        names = [f.name for f in self.files]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise Invalid(f"duplicate file name(s) {', '.join(dup)}; names must be unique",
                          key="files")
