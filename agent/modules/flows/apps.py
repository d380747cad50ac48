"""The app table: a flow's app from its remote address and ports.

Configured rules come first (``portal`` as ``tthc-portal``, then ``apps`` in order), then the
built-in port table: ``https`` (TCP and QUIC 443), ``http`` (80, 8080), ``dns`` (53, 853),
``ntp`` (UDP 123), ``windows-update`` (Delivery Optimization 7680, WSUS 8530/8531), ``sip``
(5060/5061), ``rtp`` (UDP 16384-32767, the range most VC endpoints use), else ``other``.
The remote side's port is tried before the LAN side's (a server on the LAN is named by its own).
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.modules.flows.config import AppRule, Network, PortRange, Ports
from agent.modules.flows.networks import Address, AddressMemo, Net, in_networks

TCP, UDP = 6, 17
PORTAL = "tthc-portal"
OTHER = "other"
BUILT_IN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("https", ("443",)),
    ("http", ("tcp/80", "tcp/8080")),
    ("dns", ("53", "853")),
    ("ntp", ("udp/123",)),
    ("windows-update", ("tcp/7680", "tcp/8530", "tcp/8531")),
    ("sip", ("5060", "5061")),
    ("rtp", ("udp/16384-32767",)),
)
#: Addresses remembered with their app; the cache is emptied when full.
ADDRESS_CACHE = 65536


def _expand(ports: PortRange) -> list[tuple[int, int]]:
    protos = (TCP, UDP) if ports.proto is None else (TCP if ports.proto == "tcp" else UDP,)
    return [(proto, port) for proto in protos for port in range(ports.low, ports.high + 1)]


class AppTable:
    """Names the app of a flow; built once from the config."""

    def __init__(self, rules: Iterable[AppRule] = (), portal: Iterable[Network] = ()) -> None:
        portal = tuple(portal)
        ordered = ([AppRule(PORTAL, (), portal)] if portal else []) + list(rules)
        # Address rules: (networks, port set or None, name), in order.
        self.by_address: list[tuple[tuple[Net, ...], frozenset[tuple[int, int]] | None, str]] = []
        self.ports: dict[tuple[int, int], str] = {}
        for rule in ordered:
            wanted = {p for text in rule.ports for p in _expand(text.range())}
            if rule.addresses:
                self.by_address.append((tuple(a.network() for a in rule.addresses),
                                        frozenset(wanted) if wanted else None, rule.name))
            else:
                for key in wanted:
                    self.ports.setdefault(key, rule.name)
        for name, texts in BUILT_IN:
            for text in texts:
                for key in _expand(Ports.parse(text).range()):
                    self.ports.setdefault(key, name)
        self.names = tuple(dict.fromkeys([r.name for r in ordered] + [n for n, _ in BUILT_IN]
                                         + [OTHER]))
        self._rules_for = AddressMemo(self._address_rules, ADDRESS_CACHE)

    def _address_rules(self, ip: Address | None) -> tuple[tuple[frozenset[tuple[int, int]] | None,
                                                                str], ...]:
        """The (ports, name) of the address rules whose networks hold ``ip``, in order."""
        if ip is None:
            return ()
        return tuple((ports, name) for nets, ports, name in self.by_address
                     if in_networks(ip, nets))

    def app(self, remote: bytes, proto: int, remote_port: int, local_port: int) -> str:
        """The app of a flow with a host outside the LAN at ``remote``."""
        if self.by_address:
            for wanted, name in self._rules_for(remote):
                if wanted is None or (proto, remote_port) in wanted or \
                        (proto, local_port) in wanted:
                    return name
        ports = self.ports
        return ports.get((proto, remote_port)) or ports.get((proto, local_port)) or OTHER
