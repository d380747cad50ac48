"""What every decoder yields: one flow record as a plain tuple, the cheapest thing to build."""

from __future__ import annotations

from typing import NamedTuple


class DecodeError(ValueError):
    """The datagram is not what its header says (truncated, bad lengths)."""


class Record(NamedTuple):
    """One flow: packed addresses (4 or 16 bytes), ports, IP protocol, bytes and packets."""

    src: bytes
    dst: bytes
    sport: int
    dport: int
    proto: int
    octets: int
    packets: int


class Decoded(NamedTuple):
    """A datagram's records, with what was lost decoding it."""

    protocol: str  # netflow5, netflow9, ipfix, sflow5
    records: list[Record]
    template_errors: dict[str, int]  # reason -> data sets skipped (missing, invalid, limit)
