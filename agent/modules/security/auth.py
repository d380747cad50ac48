"""Failed logins from auth log files: sshd, sudo, su and login, counted by reason and source.

Lines are matched wherever they come from: syslog files (``Nov 25 10:00:00 host sshd[12]: ...``)
or sshd's own ``-E`` log (the message alone). One failed attempt counts once:

- ``Failed password|publickey|keyboard-interactive for [invalid user] U from IP port P``:
  ``bad_password`` / ``bad_key`` / ``invalid_user``;
- ``maximum authentication attempts exceeded``: ``max_attempts`` (besides the attempts);
- a connection that ends ``[preauth]`` (``Connection closed by authenticating user``,
  ``Disconnected from invalid user``...) without a counted attempt: ``bad_key`` (a client
  offering keys that were refused) or ``invalid_user``;
- ``User U from IP not allowed because ...`` and sudo's ``user NOT in sudoers``: ``not_allowed``;
- ``pam_unix(SERVICE:auth): authentication failure`` for sudo, su, login and others (not sshd,
  whose ``Failed password`` line says the same): ``bad_password``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.security.config import AuthConfig
from agent.modules.security.journal import JournalReader
from agent.modules.security.topn import WindowedTop
from agent.tail import Position, Tailer
from common.statefile import StateFileError, read_state_json, write_atomically

log = logging.getLogger(__name__)
_AFRESH = "the logs are then followed from their end"

REASONS = ("invalid_user", "bad_password", "bad_key", "max_attempts", "not_allowed")
SERVICES = ("ssh", "sudo", "su", "login", "other")
SOURCE_CLASSES = ("loopback", "lan", "wan", "local")

FAILURES = MetricSpec("commune_auth_failures_total", "counter",
                      "Failed logins read from the auth logs since the agent started.",
                      ("service", "reason", "source_class"))
TOP_SOURCE = MetricSpec("commune_auth_failures_top_source", "gauge",
                        "Failed logins in the last one to two top_window from the most offending "
                        "source addresses (at most top_sources series; approximate).",
                        ("source",))
LOG_READABLE = MetricSpec("commune_auth_log_readable", "gauge",
                          "1 if the auth log file could be opened at the last collection.",
                          ("file",))
METRICS = (FAILURES, TOP_SOURCE, LOG_READABLE)

_ADDR = r"(?P<ip>[0-9A-Fa-f.:]+)"
_FAILED = re.compile(r"Failed (?P<method>password|publickey|keyboard-interactive/pam|none) for "
                     r"(?P<invalid>invalid user )?(?P<user>.*?) from " + _ADDR
                     + r" port (?P<port>\d+)")
_MAX = re.compile(r"maximum authentication attempts exceeded for (?:invalid user )?.*? from "
                  + _ADDR + r" port (?P<port>\d+)")
_INVALID = re.compile(r"Invalid user .*? from " + _ADDR + r" port (?P<port>\d+)")
_CLOSED = re.compile(r"(?:Connection closed by|Disconnected from) (?P<kind>authenticating|invalid)"
                     r" user .*? " + _ADDR + r" port (?P<port>\d+)(?::.*)? \[preauth\]")
_NOT_ALLOWED = re.compile(r"User .*? from " + _ADDR + r" not allowed because")
_PAM = re.compile(r"pam_unix\((?P<service>[\w-]+):auth\): authentication failure")
_SUDOERS = re.compile(r"sudo(?:\[\d+\])?: .*user NOT in sudoers")
_METHOD_REASON = {"password": "bad_password", "keyboard-interactive/pam": "bad_password",
                  "publickey": "bad_key", "none": "bad_password"}
# Cheap pre-filter: most auth log lines (session opened/closed, cron) match none of the above.
_ANY = re.compile(r"Failed |maximum auth|Invalid user|\[preauth\]|not allowed because|"
                  r"pam_unix\(|NOT in sudoers")
_MAX_CONNECTIONS = 4096
# RFC 1918, shared address space (RFC 6598, carrier NAT), link-local, IPv6 unique local.
_LAN_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
    "fc00::/7", "fe80::/10"))


def source_class(address: str) -> str:
    """``loopback``, ``lan`` (private, carrier NAT, link-local) or ``wan`` for an IP address."""
    parts = address.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):  # the common case, without ipaddress
        a, b = int(parts[0]), int(parts[1])
        if a == 127:
            return "loopback"
        if a == 10 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168) or \
                (a == 100 and 64 <= b <= 127) or (a == 169 and b == 254):
            return "lan"
        return "wan"
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return "wan"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return source_class(str(ip.ipv4_mapped))
    if ip.is_loopback:
        return "loopback"
    return "lan" if any(ip in net for net in _LAN_NETWORKS) else "wan"


def pam_service(name: str) -> str:
    """The ``service`` label for a PAM service name."""
    if name in ("sudo", "sudo-i"):
        return "sudo"
    if name in ("su", "su-l"):
        return "su"
    return "login" if name == "login" else "other"


class AuthFailures:
    """Counts failed logins in the lines it is fed; bounded memory whatever the sources."""

    def __init__(self, top_sources: int = 10, tracked_sources: int = 1000,
                 top_window: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}
        self.sources = WindowedTop(tracked_sources, top_window, clock)
        self.top_sources = top_sources
        # (ip, port) of sshd connections still open -> True once an attempt was counted.
        self._connections: OrderedDict[tuple[str, str], bool] = OrderedDict()

    def feed(self, lines: Iterable[str]) -> None:
        """Count the failures in ``lines``."""
        for line in lines:
            if _ANY.search(line):
                self._line(line)

    def _count(self, service: str, reason: str, ip: str | None) -> None:
        key = (service, reason, source_class(ip) if ip else "local")
        self.counts[key] = self.counts.get(key, 0) + 1
        if ip:
            self.sources.add(ip)

    def _attempt(self, ip: str, port: str, reason: str) -> None:
        self._count("ssh", reason, ip)
        conn = (ip, port)
        if conn not in self._connections and len(self._connections) >= _MAX_CONNECTIONS:
            self._connections.popitem(last=False)
        self._connections[conn] = True

    def _line(self, line: str) -> None:
        if (m := _FAILED.search(line)) is not None:
            reason = "invalid_user" if m["invalid"] else _METHOD_REASON[m["method"]]
            self._attempt(m["ip"], m["port"], reason)
        elif (m := _MAX.search(line)) is not None:
            self._attempt(m["ip"], m["port"], "max_attempts")
        elif (m := _CLOSED.search(line)) is not None:
            if not self._connections.pop((m["ip"], m["port"]), False):
                self._count("ssh", "invalid_user" if m["kind"] == "invalid" else "bad_key",
                            m["ip"])
        elif (m := _INVALID.search(line)) is not None:
            self._connections.setdefault((m["ip"], m["port"]), False)
        elif (m := _NOT_ALLOWED.search(line)) is not None:
            self._count("ssh", "not_allowed", m["ip"])
        elif (m := _PAM.search(line)) is not None:
            if m["service"] != "sshd":
                self._count(pam_service(m["service"]), "bad_password", None)
        elif _SUDOERS.search(line):
            self._count("sudo", "not_allowed", None)

    def families(self) -> list[Metric]:
        """The counters and the top-N gauge."""
        failures = FAILURES.family()
        for (service, reason, cls), value in sorted(self.counts.items()):
            failures.add_metric([service, reason, cls], value)
        top = TOP_SOURCE.family()
        for source, value in self.sources.top(self.top_sources):
            top.add_metric([source], value)
        return [failures, top]


class AuthCheck:
    """Reads the configured auth logs incrementally and counts their failed logins."""

    name = "auth"

    def __init__(self, config: AuthConfig, state_dir: str | None) -> None:
        self.config = config
        self.state_file = Path(state_dir) / "auth-positions.json" if state_dir else None
        saved = self._load_positions()
        self.tails = [Tailer(path, config.from_start, resume=saved.get(path))
                      for path in config.files]
        self.failures = AuthFailures(config.top_sources, config.tracked_sources,
                                     float(config.top_window))
        self.journal = JournalReader(config.journal, state_dir) if config.journal else None

    def _load_positions(self) -> dict[str, Position]:
        if self.state_file is None:
            return {}
        try:
            data = read_state_json(self.state_file, afresh=_AFRESH)
        except OSError as exc:
            log.warning("security: ignoring unreadable %s (%s); logs are read from their end",
                        self.state_file, exc)
            return {}
        if data is None:
            return {}
        try:
            return {path: Position(int(pos["dev"]), int(pos["ino"]), int(pos["offset"]))
                    for path, pos in data.items()}
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise StateFileError(self.state_file, f"not a positions file ({type(exc).__name__}"
                                 f": {exc})", afresh=_AFRESH) from None

    def _save_positions(self) -> None:
        if self.state_file is None:
            return
        positions = {t.path: {"dev": p.device, "ino": p.inode, "offset": p.offset}
                     for t in self.tails if (p := t.position()) is not None}
        try:
            write_atomically(self.state_file, json.dumps(positions), make_parents=True)
        except OSError as exc:
            log.warning("security: cannot save log positions to %s: %s", self.state_file, exc)

    def collect(self) -> list[Metric]:
        """Read what the logs gained and return the families."""
        readable = LOG_READABLE.family()
        for tail in self.tails:
            self.failures.feed(tail.read_lines(self.config.max_read_bytes))
            readable.add_metric([tail.path], 1.0 if tail.readable else 0.0)
        self._save_positions()
        if self.journal is not None:
            self.failures.feed(self.journal.read_lines())
        return [*self.failures.families(), readable]

    def close(self) -> None:
        """Close the log files."""
        for tail in self.tails:
            tail.close()
