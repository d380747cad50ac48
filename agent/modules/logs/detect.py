"""Suspicious requests (attack probes) and bursts of 401/403/404 from one source.

``Detector.kinds(target, path, user_agent)`` names the kinds a request matches, from the fixed
set ``KINDS``. Most requests are plain: a cheap prefilter over the raw target turns them away
before the target is URL-decoded (twice, for double encoding) and the per-kind regexes run; a
request counts as a kind when it passes the prefilter and the kind's pattern matches. User
agents repeat, so their verdicts are cached (bounded).

``Bursts`` keeps, per source address, a sliding-window estimate of its 401/403/404 responses
(two fixed windows weighted, as Cloudflare's rate limiter; four numbers per source) in an LRU of
at most ``max_sources`` sources, so memory stays bounded whatever the number of addresses.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from urllib.parse import unquote_plus

KINDS = ("path_traversal", "sql_injection", "xss", "scanner_user_agent", "sensitive_file")

# The prefilter: a request is examined further only when its raw target has one of these
# characters (encodings, quotes, brackets...), "..", a path segment starting like a sensitive
# file, or a sensitive extension. Plain requests, nearly all of them, stop here.
_CHARS = re.compile(r"[%+'\"<>;\\(*:]")
_HINT = re.compile(r"/(?:\.|wp-|xmlrpc|phpmyadmin|pma/|config\.|server-status|id_rsa|web\.config"
                   r"|actuator|etc/|proc/)", re.IGNORECASE)
_EXTENSIONS = (".bak", ".old", ".orig", ".swp", ".sql", ".sqlite", ".ini")

_PATTERNS = {
    "path_traversal": re.compile(
        r"\.\.[/\\]|[/\\]\.\.(?:$|[/\\;?])|/etc/(?:passwd|shadow|group|hosts)\b"
        r"|\b(?:boot|win)\.ini\b|/proc/self/"),
    "sql_injection": re.compile(
        r"\bunion\b[\s(/*]+(?:all[\s(]+)?(?:distinct\s+)?select\b"
        r"|\bselect\b.{0,100}?\bfrom\b"
        r"|\b(?:or|and)\s+['\"]?(\w+)['\"]?\s*=\s*['\"]?\1\b"
        r"|'\s*(?:or|and)\s|'\s*(?:--|#|;)"
        r"|\b(?:sleep|benchmark|pg_sleep)\s*\(|\bwaitfor\s+delay\b|\binformation_schema\b"
        r"|;\s*(?:drop|insert|delete|update|shutdown)\s|\bxp_cmdshell\b"),
    "xss": re.compile(
        r"<\s*/?\s*script|javascript\s*:|\bon(?:error|load|mouseover|focus|click)\s*="
        r"|<\s*(?:img|svg|iframe|body|object|embed)\b|\balert\s*\("),
}
_SENSITIVE = re.compile(
    r"/\.(?:env|git|svn|hg|htaccess|htpasswd|ds_store|aws|ssh|bash_history|npmrc|dockerenv)\b"
    r"|/wp-(?:admin|login|config|content|includes)|/xmlrpc\.php|/phpmyadmin|/pma/"
    r"|/config\.(?:php|json|ya?ml|inc)$|\.(?:bak|old|orig|swp|sql|sqlite)$|/server-status"
    r"|/id_rsa|/web\.config$|/actuator(?:/|$)")
_SCANNERS = re.compile(
    r"sqlmap|nikto|nmap|masscan|zgrab|nuclei|wpscan|dirbuster|gobuster|feroxbuster|ffuf"
    r"|acunetix|nessus|openvas|w3af|zmeu|netsparker|havij|jorgee|morfeus|wfuzz|whatweb"
    r"|l9explore|fuzz faster|hydra|arachni|skipfish|commix|xsstrike", re.IGNORECASE)

_UA_CACHE_SIZE = 4096


def worth_examining(target: str, path: str) -> bool:
    """The prefilter: False for plain targets, which match no pattern."""
    return (_CHARS.search(target) is not None or ".." in target
            or _HINT.search(target) is not None or path[-7:].lower().endswith(_EXTENSIONS))


def decode(target: str) -> str:
    """The lower-cased target with URL escapes (also double ones) and '+' undone."""
    text = target.lower()
    for _ in range(2):
        if "%" not in text and "+" not in text:
            break
        text = unquote_plus(text).lower()
    return text


class Detector:
    """Names the suspicious kinds of a request; keeps a bounded cache of user-agent verdicts."""

    def __init__(self) -> None:
        self._agents: dict[str, bool] = {}

    def kinds(self, target: str, path: str, user_agent: str | None) -> list[str]:
        """The kinds (from ``KINDS``) of a request; ``path`` is ``target`` without its query."""
        found = self.target_kinds(target) if worth_examining(target, path) else []
        if user_agent and self.scanner(user_agent):
            found.append("scanner_user_agent")
        return found

    @staticmethod
    def target_kinds(target: str) -> list[str]:
        """The kinds a target matches, without the prefilter."""
        found: list[str] = []
        text = decode(target)
        for kind, pattern in _PATTERNS.items():
            if pattern.search(text) is not None:
                found.append(kind)
        if _SENSITIVE.search(text.partition("?")[0]) is not None:
            found.append("sensitive_file")
        return found

    def scanner(self, user_agent: str) -> bool:
        """True when the user agent names a known vulnerability scanner."""
        verdict = self._agents.get(user_agent)
        if verdict is None:
            verdict = _SCANNERS.search(user_agent) is not None
            if len(self._agents) >= _UA_CACHE_SIZE:
                self._agents.clear()
            self._agents[user_agent] = verdict
        return verdict


class Bursts:
    """Per-source sliding-window counts of error responses; counts bursts, bounded memory."""

    def __init__(self, window: float, threshold: int, max_sources: int) -> None:
        self.window = window
        self.threshold = threshold
        self.max_sources = max_sources
        self.bursts = 0
        self.evicted = 0
        self.latest = 0.0
        # source -> [window index, count in that window, count in the window before, bursting]
        self._sources: OrderedDict[str, list[int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sources)

    def add(self, source: str, when: float) -> None:
        """Count one error response from ``source`` at unix time ``when``."""
        index = int(when // self.window)
        state = self._sources.get(source)
        if state is None:
            state = [index, 0, 0, 0]
            self._sources[source] = state
            if len(self._sources) > self.max_sources:
                self._sources.popitem(last=False)
                self.evicted += 1
        else:
            self._sources.move_to_end(source)
            if index == state[0] + 1:
                state[0], state[1], state[2] = index, 0, state[1]
            elif index > state[0] + 1:
                state[0], state[1], state[2] = index, 0, 0
        state[1] += 1  # an older, out-of-order line counts in the current window
        self.latest = max(self.latest, when)
        estimate = self._estimate(state, max(when, state[0] * self.window))
        if estimate >= self.threshold:
            if not state[3]:
                state[3] = 1
                self.bursts += 1
        elif state[3]:
            state[3] = 0

    def _estimate(self, state: list[int], when: float) -> float:
        index = int(when // self.window)
        weight = 1.0 - (when % self.window) / self.window
        if index == state[0]:
            return state[1] + state[2] * weight
        if index == state[0] + 1:
            return state[1] * weight
        return 0.0

    def top(self, n: int, now: float) -> list[tuple[str, float]]:
        """Up to ``n`` sources in a burst at ``now`` (or at the latest error logged, if later),
        most errors first."""
        if n <= 0:
            return []
        now = max(now, self.latest)
        current: Iterator[tuple[str, float]] = (
            (source, self._estimate(state, now)) for source, state in self._sources.items()
            if state[3])
        bursting = [(s, e) for s, e in current if e >= self.threshold]
        bursting.sort(key=lambda item: (-item[1], item[0]))
        return bursting[:n]
