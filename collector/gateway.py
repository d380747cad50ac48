"""The remote-write gateway's core: check a body, set identity labels, forward it.

A body from an agent is decompressed (snappy) and parsed (protobuf, by the library's C parser)
to reject anything malformed with 400. The identity labels are then rewritten on the wire: each
series' label fields are looked up in a per-node cache and replaced by the same labels with
``commune``, ``instance`` (the node) and the inventory's ``commune_name``, ``region``,
``terrain`` and ``role`` set from the token, whatever the agent sent; samples are copied as
bytes. The result goes to every receiver's queue (collector/gateway_forward.py), and the agent
gets its answer once all receivers took it, so an agent's spool, not the gateway, holds
undelivered data: a gateway can restart, and several can share one address.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from agent.push import remote_write
from agent.push.remote_write import read_varint, varint
from collector.gateway_config import GatewayConfig, Token

log = logging.getLogger(__name__)

IDENTITY_LABELS = ("commune", "instance", "commune_name", "region", "terrain", "role")
_CACHE_LIMIT = 200_000


class BadRequest(ValueError):
    """A body the gateway refuses with 400; ``reason`` is counted."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TooLarge(ValueError):
    """A body over the configured limits (413)."""


@dataclass
class Identity:
    """What a token grants: the labels every series of that node gets."""

    commune: str
    node: str
    labels: dict[str, str]
    default_job: str
    cache: dict[bytes, bytes] = field(default_factory=dict)


def inventory_labels(path: str | None, tokens: tuple[Token, ...]) -> dict[tuple[str, str],
                                                                          dict[str, str]]:
    """``commune_name``, ``region``, ``terrain``, ``role`` per (commune, node) from an inventory.

    The inventory loader (collector/inventory.py) is imported only when an inventory is
    configured.
    """
    if path is None:
        return {}
    inventory: Any = importlib.import_module("collector.inventory").load_inventory(path)
    out: dict[tuple[str, str], dict[str, str]] = {}
    problems = []
    for token in tokens:
        commune = next((c for c in inventory.communes if c.code == token.commune), None)
        if commune is None:
            problems.append(f"commune {token.commune!r} of node {token.node!r} is not in {path}")
            continue
        labels = {"commune_name": commune.name, "region": commune.group,
                  "terrain": commune.terrain}
        node = next((n for n in commune.nodes if n.name == token.node), None)
        if node is not None:
            labels["role"] = node.role
        out[(token.commune, token.node)] = labels
    if problems:
        raise ValueError("; ".join(problems) + " (fix the token or the inventory)")
    return out


class Relabeler:
    """Rewrites the identity labels of every series in an uncompressed WriteRequest."""

    def __init__(self, config: GatewayConfig, extra: dict[tuple[str, str], dict[str, str]]
                 ) -> None:
        self.identities: dict[str, Identity] = {}
        for token in config.tokens:
            labels = {"commune": token.commune, "instance": token.node,
                      **extra.get((token.commune, token.node), {})}
            self.identities[token.sha256] = Identity(token.commune, token.node, labels,
                                                     config.job)

    def identify(self, token: str) -> Identity | None:
        """The identity of a bearer token, or None."""
        return self.identities.get(hashlib.sha256(token.encode()).hexdigest())

    def relabel(self, raw: bytes, ident: Identity) -> tuple[bytes, int]:
        """(new uncompressed WriteRequest, samples in it); raise BadRequest on odd wire data."""
        try:
            return self._relabel(raw, ident)
        except (ValueError, IndexError, UnicodeDecodeError) as exc:
            raise BadRequest("protobuf", f"bad protobuf: {exc}") from None

    def _relabel(self, raw: bytes, ident: Identity) -> tuple[bytes, int]:
        out: list[bytes] = []
        samples = 0
        pos, n = 0, len(raw)
        cache = ident.cache
        while pos < n:
            tag, pos = read_varint(raw, pos)
            if tag != 0x0A:  # not a TimeSeries (metadata...): not forwarded
                pos = _skip(raw, pos, tag)
                continue
            length, pos = read_varint(raw, pos)
            end = pos + length
            labels: list[bytes] = []
            rest: list[bytes] = []
            count = 0
            while pos < end:
                start = pos
                ftag = raw[pos]
                if ftag < 0x80:
                    pos += 1
                else:
                    ftag, pos = read_varint(raw, pos)
                pos = _skip(raw, pos, ftag)
                if ftag == 0x0A:
                    labels.append(raw[start:pos])
                else:
                    rest.append(raw[start:pos])
                    count += ftag == 0x12
            if pos != end:
                raise ValueError("field runs past its series")
            if not count:
                continue
            key = b"".join(labels)
            new = cache.get(key)
            if new is None:
                new = self._new_labels(labels, ident)
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[key] = new
            body = new + b"".join(rest)
            out.append(b"\x0a" + varint(len(body)) + body)
            samples += count
        return b"".join(out), samples

    @staticmethod
    def _new_labels(fields: list[bytes], ident: Identity) -> bytes:
        labels: dict[str, str] = {}
        for data in fields:
            _, pos = read_varint(data, 0)
            length, pos = read_varint(data, pos)
            name, value = _label(data[pos:pos + length])
            labels[name] = value
        for name in IDENTITY_LABELS:
            labels.pop(name, None)
        labels.setdefault("job", ident.default_job)
        labels.update(ident.labels)
        return remote_write.encode_labels(labels.items())


def _label(data: bytes) -> tuple[str, str]:
    name = value = ""
    pos = 0
    while pos < len(data):
        tag, pos = read_varint(data, pos)
        if tag in (0x0A, 0x12):
            length, pos = read_varint(data, pos)
            text = data[pos:pos + length].decode()
            pos += length
            if tag == 0x0A:
                name = text
            else:
                value = text
        else:
            pos = _skip(data, pos, tag)
    if pos != len(data):
        raise ValueError("label runs past its end")
    return name, value


def _skip(data: bytes, pos: int, tag: int) -> int:
    """Position after the value of a field whose tag was just read."""
    wire = tag & 7
    if wire == 0:
        _, pos = read_varint(data, pos)
        return pos
    if wire == 1:
        pos += 8
    elif wire == 2:
        length, pos = read_varint(data, pos)
        pos += length
    elif wire == 5:
        pos += 4
    else:
        raise ValueError(f"unsupported wire type {wire}")
    if pos > len(data):
        raise ValueError("truncated field")
    return pos


class GatewayMetrics:
    """The gateway's own metrics, served at its /metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("commune_gateway_requests", "Remote-write requests answered.",
                                ["code"], registry=registry)
        self.bad = Counter("commune_gateway_bad_requests",
                           "Requests refused: auth, too_large, snappy, protobuf.", ["reason"],
                           registry=registry)
        self.received = Counter("commune_gateway_received_samples",
                                "Samples accepted from agents.", ["commune"], registry=registry)


@dataclasses.dataclass(frozen=True)
class Decoded:
    """A checked, relabelled body ready to forward."""

    body: bytes  # snappy-compressed
    samples: int


def decode(body: bytes, ident: Identity, relabeler: Relabeler, max_decoded: int) -> Decoded:
    """Decompress, check, relabel and recompress one request body."""
    try:
        raw = remote_write.decompress(body, max_decoded)
    except OverflowError as exc:
        raise TooLarge(str(exc)) from None
    except ValueError as exc:
        raise BadRequest("snappy", str(exc)) from None
    try:
        remote_write.parse_write_request(raw)
    except ValueError as exc:
        raise BadRequest("protobuf", str(exc)) from None
    out, samples = relabeler.relabel(raw, ident)
    return Decoded(remote_write.compress(out), samples)
