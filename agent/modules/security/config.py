"""Config of the ``security`` module (light: loading a config imports no collection code).

Every check is optional; a check runs only when its key is present::

    security:
      state_dir: /var/lib/commune-agent/security
      auth: {files: [/var/log/auth.log]}      # or {files: [], journal: {}}
      listen: {allow: [{proto: tcp, port: 22}]}
      neighbours: {known: ["00:1b:21:aa:bb:cc"]}
      integrity: {path_sets: [{name: sshd, paths: [/etc/ssh/sshd_config]}]}
      certs: {paths: [/etc/ssl/certs/portal.pem]}
      updates: {}
      snmp_community: {address: "127.0.0.1:161"}
      trust_roots: {roots: [{name: vn-root-ca, file: /etc/commune-agent/roots/vn-root-ca.pem}]}
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal

from agent.modules.base import ModuleConfig
from common.schema import ExistingFile, HostPort, Invalid
from common.units import ByteSize, Duration

DEFAULT_STATE_DIR = "/var/lib/commune-agent/security"
DEFAULT_MAX_READ = ByteSize(64 * 2**20)
DEFAULT_UPDATES_EVERY = Duration(3600)
DEFAULT_UPDATES_TIMEOUT = Duration(60)
DEFAULT_SNMP_TIMEOUT = Duration(1)
DEFAULT_JOURNAL_TIMEOUT = Duration(30)
DEFAULT_INTEGRITY_EVERY = Duration(300)
DEFAULT_TOP_WINDOW = Duration(3600)
DEFAULT_SNMP_ADDRESS = HostPort("127.0.0.1:161")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


def require_absolute(paths: tuple[str, ...], key: str) -> None:
    """Raise Invalid naming the first relative path (the agent's working folder is not known)."""
    for path in paths:
        if not os.path.isabs(path):
            raise Invalid(f"expected absolute paths like '/var/log/auth.log', got {path!r}",
                          key=key)


def require_positive(value: float, key: str) -> None:
    """Raise Invalid if ``value`` is not greater than 0."""
    if value <= 0:
        raise Invalid("must be greater than 0", key=key)


def normalise_mac(text: str) -> str:
    """``00-1B-21-AA-BB-CC`` or ``001b.21aa.bbcc`` -> ``00:1b:21:aa:bb:cc``; else ValueError."""
    digits = re.sub(r"[:.-]", "", text.strip()).lower()
    mac = ":".join(digits[i:i + 2] for i in range(0, 12, 2))
    if len(digits) != 12 or not _MAC.fullmatch(mac):
        raise ValueError(f"expected a MAC address like '00:1b:21:aa:bb:cc', got {text!r}")
    return mac


@dataclass(frozen=True)
class JournalConfig:
    """``auth.journal``: the systemd journal entries of these syslog identifiers."""

    identifiers: tuple[str, ...] = ("sshd", "sudo", "su", "login")
    namespace: str | None = None
    from_start: bool = False
    journalctl: str = "journalctl"
    timeout: Duration = DEFAULT_JOURNAL_TIMEOUT

    def __post_init__(self) -> None:
        if not self.identifiers:
            raise Invalid("list at least one syslog identifier, e.g. sshd", key="identifiers")
        require_positive(self.timeout, "timeout")


@dataclass(frozen=True)
class AuthConfig:
    """``auth``: auth log files read incrementally for failed SSH, sudo and su logins."""

    files: tuple[str, ...] = ("/var/log/auth.log",)
    # Read a file from its beginning the first time (default: from its end, old lines skipped).
    from_start: bool = False
    top_sources: int = 10
    # Distinct sources tracked for the top-N (space-saving counters): bounds memory.
    tracked_sources: int = 1000
    # The top sources are those of the last one to two windows of this length.
    top_window: Duration = DEFAULT_TOP_WINDOW
    max_read_bytes: ByteSize = DEFAULT_MAX_READ
    journal: JournalConfig | None = None

    def __post_init__(self) -> None:
        if not self.files and self.journal is None:
            raise Invalid("list at least one auth log file, e.g. /var/log/auth.log, or read the "
                          "journal with 'journal: {}'", key="files")
        if not 0 <= self.top_sources <= 100:
            raise Invalid(f"expected 0..100, got {self.top_sources}", key="top_sources")
        if self.tracked_sources < max(self.top_sources, 1):
            raise Invalid(f"must be at least top_sources ({self.top_sources})",
                          key="tracked_sources")
        require_positive(self.max_read_bytes, "max_read_bytes")
        require_positive(self.top_window, "top_window")
        require_absolute(self.files, "files")


@dataclass(frozen=True)
class AllowedListen:
    """One allowed listening socket: protocol, port and optionally the process name."""

    proto: Literal["tcp", "udp"]
    port: int
    process: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port <= 65535:
            raise Invalid(f"expected a port in 1..65535, got {self.port}", key="port")


@dataclass(frozen=True)
class ListenConfig:
    """``listen``: listening TCP and bound UDP sockets compared to an allow-list."""

    allow: tuple[AllowedListen, ...] = ()
    # Sockets bound to 127.0.0.0/8 or ::1 only are not reachable from the LAN: skipped unless true.
    include_loopback: bool = False
    # UDP sockets on the kernel's ephemeral port range are clients (DNS lookups), not services.
    include_ephemeral_udp: bool = False
    max_series: int = 100

    def __post_init__(self) -> None:
        if self.max_series < 1:
            raise Invalid("must be at least 1", key="max_series")


@dataclass(frozen=True)
class NeighboursConfig:
    """``neighbours``: the LAN neighbour (ARP/NDP) table compared to the known MAC addresses."""

    known: tuple[str, ...] = ()
    source: Literal["auto", "proc", "ip"] = "auto"
    max_series: int = 50
    max_tracked: int = 4096

    def __post_init__(self) -> None:
        for i, mac in enumerate(self.known):
            try:
                normalise_mac(mac)
            except ValueError as exc:
                raise Invalid(f"known[{i}]: {exc}", key="known") from None
        if self.max_series < 1:
            raise Invalid("must be at least 1", key="max_series")
        if self.max_tracked < self.max_series:
            raise Invalid(f"must be at least max_series ({self.max_series})", key="max_tracked")

    def known_macs(self) -> frozenset[str]:
        """The known MAC addresses, normalised."""
        return frozenset(normalise_mac(mac) for mac in self.known)


@dataclass(frozen=True)
class PathSet:
    """A named set of files and directories (recursive) whose hashes are watched."""

    name: str
    paths: tuple[str, ...]
    max_files: int = 10_000

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise Invalid(f"expected letters, digits, '_', '.' or '-', got {self.name!r}",
                          key="name")
        if not self.paths:
            raise Invalid("list at least one file or directory", key="paths")
        require_absolute(self.paths, "paths")
        if self.max_files < 1:
            raise Invalid("must be at least 1", key="max_files")


@dataclass(frozen=True)
class IntegrityConfig:
    """``integrity``: sha256 of path sets against a baseline written on the first run."""

    path_sets: tuple[PathSet, ...]
    # Walk and stat the files at most this often; collections in between repeat the last result.
    every: Duration = DEFAULT_INTEGRITY_EVERY

    def __post_init__(self) -> None:
        require_positive(self.every, "every")
        if not self.path_sets:
            raise Invalid("list at least one path set, e.g. {name: ssh, paths: [/etc/ssh]}",
                          key="path_sets")
        names = [p.name for p in self.path_sets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise Invalid(f"duplicate path_set names: {', '.join(duplicates)}", key="path_sets")


@dataclass(frozen=True)
class CertsConfig:
    """``certs``: PEM certificate files, or directories of ``*.pem``/``*.crt``, and their expiry."""

    paths: tuple[str, ...]
    max_series: int = 100

    def __post_init__(self) -> None:
        if not self.paths:
            raise Invalid("list at least one certificate file or directory", key="paths")
        require_absolute(self.paths, "paths")
        if self.max_series < 1:
            raise Invalid("must be at least 1", key="max_series")


@dataclass(frozen=True)
class UpdatesConfig:
    """``updates``: pending (security) updates as apt sees them; never installs anything."""

    every: Duration = DEFAULT_UPDATES_EVERY
    apt_check: str = "/usr/lib/update-notifier/apt-check"
    apt_get: str = "apt-get"
    timeout: Duration = DEFAULT_UPDATES_TIMEOUT

    def __post_init__(self) -> None:
        require_positive(self.every, "every")
        require_positive(self.timeout, "timeout")


@dataclass(frozen=True)
class SnmpCommunityConfig:
    """``snmp_community``: does the SNMP agent at ``address`` answer the default communities?"""

    address: HostPort = DEFAULT_SNMP_ADDRESS
    communities: tuple[Literal["public", "private"], ...] = ("public", "private")
    timeout: Duration = DEFAULT_SNMP_TIMEOUT

    def __post_init__(self) -> None:
        if not self.communities:
            raise Invalid("list public, private or both", key="communities")
        require_positive(self.timeout, "timeout")


_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# The system trust stores of the Debian/Ubuntu, Fedora/RHEL and Alpine families: the first found.
SYSTEM_STORES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                 "/etc/ssl/cert.pem")


def normalise_fingerprint(text: str) -> str:
    """``AB:CD:...`` (64 hex digits, any case, ':' or spaces between) -> ``abcd...``."""
    digits = re.sub(r"[:\s]", "", text).lower()
    if not _FINGERPRINT.fullmatch(digits):
        raise ValueError(f"expected a SHA-256 fingerprint of 64 hex digits, got {text!r}")
    return digits


@dataclass(frozen=True)
class TrustRoot:
    """A root certificate that must be trusted: its PEM/DER ``file`` or its ``sha256``."""

    name: str
    file: ExistingFile | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise Invalid(f"expected a name of letters, digits, '_', '.' or '-', "
                          f"got {self.name!r}", key="name")
        if (self.file is None) == (self.sha256 is None):
            raise Invalid("give either 'file' (the root certificate) or 'sha256' "
                          "(its fingerprint)", key="file")
        if self.sha256 is not None:
            try:
                normalise_fingerprint(self.sha256)
            except ValueError as exc:
                raise Invalid(str(exc), key="sha256") from None


@dataclass(frozen=True)
class TrustRootsConfig:
    """``trust_roots``: root certificates (the national root CA...) the node's store must hold.

    ``stores`` are bundle files or folders of ``*.pem``/``*.crt``; by default the system's.
    """

    roots: tuple[TrustRoot, ...]
    stores: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.roots:
            raise Invalid("list at least one root, e.g. {name: vn-root-ca, file: /etc/..."
                          "/root.pem}", key="roots")
        names = [root.name for root in self.roots]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise Invalid(f"duplicate root names: {', '.join(duplicates)}", key="roots")
        require_absolute(self.stores, "stores")


@dataclass(frozen=True)
class SecurityConfig(ModuleConfig):
    """``modules.security``: the checks to run (each optional) and where state is kept."""

    state_dir: str | None = DEFAULT_STATE_DIR
    auth: AuthConfig | None = None
    listen: ListenConfig | None = None
    neighbours: NeighboursConfig | None = None
    integrity: IntegrityConfig | None = None
    certs: CertsConfig | None = None
    updates: UpdatesConfig | None = None
    snmp_community: SnmpCommunityConfig | None = None
    trust_roots: TrustRootsConfig | None = None

    def __post_init__(self) -> None:
        checks = (self.auth, self.listen, self.neighbours, self.integrity, self.certs,
                  self.updates, self.snmp_community, self.trust_roots)
        if all(check is None for check in checks):
            raise Invalid("configure at least one check: auth, listen, neighbours, integrity, "
                          "certs, updates, snmp_community or trust_roots (e.g. 'listen: {}')")
        if self.state_dir is not None and not os.path.isabs(self.state_dir):
            raise Invalid(f"expected an absolute path, got {self.state_dir!r}", key="state_dir")
        if self.integrity is not None and not self.state_dir:
            raise Invalid("integrity needs a state_dir for its baseline", key="state_dir")
