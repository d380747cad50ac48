"""Whether an address is in some networks, remembered per address (records repeat addresses).

The LAN side of a record (``accounting``), the app rules of a remote address (``apps``) and the
allowed exporters (``listener``) are each an :class:`AddressMemo`: the answer for an address is
worked out once, and the memory is emptied at once when it holds ``size`` addresses, so a flood
of distinct addresses costs time, never unbounded memory.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")


def address_of(raw: bytes | str) -> Address | None:
    """The address packed in ``raw`` (4 or 16 bytes) or written in it, an IPv4-mapped IPv6
    text (``::ffff:192.0.2.1``) as its IPv4; None if ``raw`` is no address."""
    if isinstance(raw, str) and "." in raw:
        raw = raw.removeprefix("::ffff:")
    try:
        return ipaddress.ip_address(raw)
    except ValueError:
        return None


def in_networks(ip: Address, networks: Iterable[Net]) -> bool:
    """True if ``ip`` is in one of ``networks`` (of its own IP version)."""
    return any(ip.version == net.version and ip in net for net in networks)


class AddressMemo(Generic[T]):
    """``judge`` of each address (None for what is no address), remembered in ``known``."""

    def __init__(self, judge: Callable[[Address | None], T], size: int) -> None:
        self.judge = judge
        self.size = size
        self.known: dict[bytes | str, T] = {}

    def __call__(self, raw: bytes | str) -> T:
        found = self.known.get(raw)
        return self.lookup(raw) if found is None else found

    def lookup(self, raw: bytes | str) -> T:
        """Judge an address not in ``known`` and remember the answer."""
        if len(self.known) >= self.size:
            self.known.clear()
        found = self.known[raw] = self.judge(address_of(raw))
        return found


def member_of(networks: Iterable[Net], size: int) -> AddressMemo[bool]:
    """Whether an address is in one of ``networks``, remembered for up to ``size`` addresses."""
    nets = tuple(networks)
    return AddressMemo(lambda ip: ip is not None and in_networks(ip, nets), size)
