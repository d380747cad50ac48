"""Config of the ``flows`` module (light: loading it imports no decoder). Example::

    flows:
      listen: ["0.0.0.0:2055", "0.0.0.0:6343"]   # NetFlow v5/v9, IPFIX and sFlow v5 on any
      exporters: ["192.168.1.1"]                  # read only the router's exports
      lan: ["192.168.1.0/24"]                     # the commune's LAN; default: RFC 1918 + ULA
      top_n: 20
      portal: ["203.0.113.10"]                    # the TTHC portal's address(es)
      apps:
        - {name: camera, ports: ["tcp/554"]}
        - {name: windows-update, addresses: ["192.168.1.5"]}   # the office's WSUS server
      names: {"192.168.1.20": ketoan-pc}
      names_file: /var/lib/commune-agent/flows-names.yml        # address or MAC -> name
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from agent.modules.base import ModuleConfig
from common.schema import ExistingFile, HostPort, Invalid

DEFAULT_LISTEN = (HostPort("0.0.0.0:2055"),)
DEFAULT_LAN = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
_APP_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
_PORT = re.compile(r"(?:(tcp|udp)/)?(\d{1,5})(?:-(\d{1,5}))?")
#: Names the module gives itself; a configured app may not take them.
RESERVED_APPS = ("other",)


class Network(str):
    """An IPv4 or IPv6 network (``192.168.1.0/24``) or one address (``203.0.113.10``)."""

    @classmethod
    def parse(cls, text: str) -> Network:
        """Validate ``text``; raise ValueError saying what was expected."""
        try:
            ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ValueError(f"expected an address or network like '192.168.1.0/24', "
                             f"got {text!r}") from None
        return cls(text.strip())

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """The network itself."""
        return ipaddress.ip_network(self, strict=False)


@dataclass(frozen=True)
class PortRange:
    """Ports ``low``..``high`` of ``proto`` (tcp, udp, or None for both)."""

    proto: str | None
    low: int
    high: int


class Ports(str):
    """``443``, ``udp/123``, ``udp/16384-32767``: a port or range, of TCP, UDP or both."""

    @classmethod
    def parse(cls, text: str) -> Ports:
        """Validate ``text``; raise ValueError saying what was expected."""
        match = _PORT.fullmatch(text.strip().lower())
        if match is None or not 0 < int(match[2]) <= int(match[3] or match[2]) <= 65535:
            raise ValueError(f"expected a port like '443', 'udp/123' or 'udp/10000-20000', "
                             f"got {text!r}")
        return cls(text.strip().lower())

    def range(self) -> PortRange:
        """The proto and bounds."""
        match = _PORT.fullmatch(self)
        assert match is not None
        return PortRange(match[1], int(match[2]), int(match[3] or match[2]))


@dataclass(frozen=True)
class AppRule:
    """An app by remote address, port, or both (both must match); checked before built-ins."""

    name: str
    ports: tuple[Ports, ...] = ()
    addresses: tuple[Network, ...] = ()

    def __post_init__(self) -> None:
        if not _APP_NAME.fullmatch(self.name) or self.name in RESERVED_APPS:
            raise Invalid(f"expected a short lower-case name like 'camera' (not 'other'), got "
                          f"{self.name!r}", key="name")
        if not self.ports and not self.addresses:
            raise Invalid("give ports, addresses or both", key="ports")


@dataclass(frozen=True)
class FlowsConfig(ModuleConfig):
    """``modules.flows``: where to listen, the LAN, the top-N bound and the app table."""

    listen: tuple[HostPort, ...] = DEFAULT_LISTEN
    # Routers whose exports are read; empty: any sender (others: dropped as unknown_exporter).
    exporters: tuple[Network, ...] = ()
    lan: tuple[Network, ...] = tuple(Network(n) for n in DEFAULT_LAN)
    top_n: int = 20
    # Hosts tracked per interval by the heavy-hitter table (memory bound); at least top_n.
    tracked: int = 1000
    # Hosts whose series are kept after they leave the top-N (oldest dropped first).
    max_series: int = 100
    portal: tuple[Network, ...] = ()
    apps: tuple[AppRule, ...] = ()
    names: dict[str, str] = field(default_factory=dict)
    names_file: ExistingFile | None = None

    def __post_init__(self) -> None:
        if not self.listen:
            raise Invalid("list at least one address like '0.0.0.0:2055'", key="listen")
        if not self.lan:
            raise Invalid("list the commune's LAN networks, e.g. ['192.168.1.0/24']", key="lan")
        if not 1 <= self.top_n <= 1000:
            raise Invalid(f"expected 1..1000, got {self.top_n}", key="top_n")
        if not self.top_n <= self.tracked <= 100_000:
            raise Invalid(f"expected {self.top_n} (top_n)..100000, got {self.tracked}",
                          key="tracked")
        if not self.top_n <= self.max_series <= 10_000:
            raise Invalid(f"expected {self.top_n} (top_n)..10000, got {self.max_series}",
                          key="max_series")
        names = [rule.name for rule in self.apps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise Invalid(f"duplicate app names: {', '.join(duplicates)}", key="apps")
