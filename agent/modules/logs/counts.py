"""The counters of one access log and the loop that feeds them, line by line.

Labels come from fixed sets or the config only: the method (``METHODS`` or ``OTHER``), the
status class (``2xx``...), the configured route name (or ``other``) -- never a raw path, a query
string or an identifier found in the log.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence

from agent.modules.logs.config import LogFile, Route
from agent.modules.logs.detect import KINDS, Bursts, Detector
from agent.modules.logs.formats import line_format, parse_time

METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT",
                     "TRACE"))
STATUS_CLASSES = {str(d): f"{d}xx" for d in range(1, 6)}
BURST_STATUSES = frozenset(("401", "403", "404"))
OTHER_ROUTE = "other"
# A logged request time above this is junk, not a slow request (and would swamp the sum).
_MAX_SECONDS = 86400.0
# Only IP addresses become sources: a hostname (Apache HostnameLookups) or whatever a regex
# format captured as ``client`` may name a person.
_ADDRESS = re.compile(r"[0-9A-Fa-f:.]{2,45}")


def route_matcher(routes: Sequence[Route]) -> Callable[[str], str]:
    """A function from a path (no query string) to its route name, the first route matching."""
    if not routes:
        return lambda path: OTHER_ROUTE
    # One alternation of every route, each in its own group: Match.lastindex names the route.
    names: dict[int, str] = {}
    parts, index = [], 1
    for route in routes:
        names[index] = route.name
        parts.append(f"({route.match})")
        index += 1 + re.compile(route.match).groups
    try:
        combined = re.compile("|".join(parts))
    except re.error:  # e.g. inline flags that only work at the start of a pattern
        compiled = [(re.compile(r.match), r.name) for r in routes]

        def each(path: str) -> str:
            for pattern, name in compiled:
                if pattern.search(path) is not None:
                    return name
            return OTHER_ROUTE
        return each
    search = combined.search

    def one(path: str) -> str:
        m = search(path)
        # lastindex is the outermost group that matched: it closes after its inner groups.
        return OTHER_ROUTE if m is None else names.get(m.lastindex or 0, OTHER_ROUTE)
    return one


class FileCounts:
    """Counters of one access log, fed with decoded lines by ``feed``."""

    def __init__(self, file: LogFile, clock: Callable[[], float] = time.time) -> None:
        self.file = file
        self.clock = clock
        self.format = line_format(file)
        self.route = route_matcher(file.routes)
        self.detector = Detector()
        self.bursts = Bursts(file.burst_window, file.burst_threshold, file.max_sources)
        self.buckets = tuple(file.buckets)
        # (method, status class, route) -> requests
        self.requests: dict[tuple[str, str, str], int] = {}
        # route -> (per-bucket counts, not cumulative, the last one +Inf; [sum of seconds])
        self.durations: dict[str, tuple[list[int], list[float]]] = {}
        self.response_bytes = 0
        self.suspicious = dict.fromkeys(KINDS, 0)
        self.lines = 0
        self.failed = 0
        self.invalid_utf8 = 0

    def feed_bytes(self, data: bytes) -> None:
        """Decode complete lines (invalid UTF-8 replaced and counted) and feed them."""
        if not data:
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            lines = []
            for raw in data.split(b"\n"):
                try:
                    lines.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    self.invalid_utf8 += 1
                    lines.append(raw.decode("utf-8", "replace"))
            text = "\n".join(lines)
        if "\r" in text:  # CRLF line ends (Windows servers): a regex's $ must still match
            text = text.replace("\r\n", "\n")
        self.feed(text.split("\n"))

    def feed(self, lines: Sequence[str]) -> None:
        """Count each line (empty strings are skipped)."""
        match = self.format.regex.match
        fields = self.format.fields
        has_duration, scale = self.format.has_duration, self.format.duration_scale
        requests, route_of, kinds_of = self.requests, self.route, self.detector.kinds
        suspicious, bursts, buckets = self.suspicious, self.bursts, self.buckets
        failed = parsed = size_total = 0
        last_time_text, last_time = "", 0.0
        is_address = _ADDRESS.fullmatch
        for line in lines:
            if not line:
                continue
            m = match(line)
            if m is None:
                failed += 1
                continue
            parsed += 1
            client, when, method, target, status, size, agent, duration = m.group(*fields)
            if method not in METHODS:
                method = "OTHER"
            # A regex format may leave its status group unset (optional in the pattern).
            status_class = STATUS_CLASSES.get(status[:1], "other") if status else "other"
            path = target.partition("?")[0] if target else ""
            route = route_of(path) if target else OTHER_ROUTE
            key = (method, status_class, route)
            requests[key] = requests.get(key, 0) + 1
            if size and size != "-":
                try:
                    n = int(size)
                except ValueError:  # a loose regex group: not a number
                    n = 0
                if n > 0:
                    size_total += n
            if target or agent:
                for kind in kinds_of(target or "", path, agent):
                    suspicious[kind] += 1
            if has_duration and duration and duration != "-":
                try:
                    seconds = float(duration) * scale
                except ValueError:
                    pass
                else:
                    if 0.0 <= seconds <= _MAX_SECONDS:  # nan or inf would break the sum
                        self._observe(route, seconds, buckets)
            if status in BURST_STATUSES and client is not None and is_address(client):
                if when is None:
                    stamp = self.clock()
                elif when == last_time_text:
                    stamp = last_time
                else:
                    stamp = parse_time(when) or self.clock()
                    last_time_text, last_time = when, stamp
                bursts.add(client, stamp)
        self.lines += parsed
        self.failed += failed
        self.response_bytes += size_total

    def _observe(self, route: str, seconds: float, buckets: tuple[float, ...]) -> None:
        entry = self.durations.get(route)
        if entry is None:
            entry = self.durations[route] = ([0] * (len(buckets) + 1), [0.0])
        entry[0][bisect_left(buckets, seconds)] += 1
        entry[1][0] += seconds
