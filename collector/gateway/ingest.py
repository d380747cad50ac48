"""The remote-write gateway's core: check a body, set identity labels, forward it.

A body from an agent is decompressed (snappy) and parsed (protobuf, by the library's C parser)
to reject anything malformed with 400. The identity labels are then rewritten on the wire: each
series' label fields are looked up in a per-node cache and replaced by the same labels with
``commune``, ``instance`` (the node) and the inventory's ``commune_name``, ``region``,
``terrain`` and ``role`` set from the token, whatever the agent sent; samples are copied as
bytes. The result goes to every receiver's queue (collector/gateway/forward.py), and the agent
gets its answer once all receivers took it, so an agent's spool, not the gateway, holds
undelivered data: a gateway can restart, and several can share one address.

Label names are checked as Prometheus defines them (``[a-zA-Z_][a-zA-Z0-9_]*``, no duplicates)
once per distinct series, when it enters the cache. The work per request is bounded: the snappy
header is checked against ``max_decoded_bytes`` before anything is inflated, and the walk stops
at ``max_series_per_request`` series or ``max_samples_per_request`` samples, before the
protobuf library builds any message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter

from collector.gateway.config import GatewayConfig, Token
from collector.gateway.limits import Limited
from collector.inventory import UnknownCommune, load_inventory
from common import remote_write
from common.remote_write import read_varint, varint

log = logging.getLogger(__name__)

IDENTITY_LABELS = ("commune", "instance", "commune_name", "region", "terrain", "role")
_CACHE_LIMIT = 200_000
# Prometheus' label names (model.LabelNameRE), ASCII only: a Cyrillic look-alike is refused.
LABEL_NAME = re.compile(rb"[a-zA-Z_][a-zA-Z0-9_]*")


class BadRequest(ValueError):
    """A body the gateway refuses with 400; ``reason`` is counted."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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

    Raise ValueError naming every token whose commune is not in the inventory.
    """
    if path is None:
        return {}
    inventory = load_inventory(path)
    out: dict[tuple[str, str], dict[str, str]] = {}
    problems = []
    for token in tokens:
        try:
            commune = inventory.commune(token.commune)
        except UnknownCommune:
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
        self.max_sample_age = config.max_sample_age
        self.max_series = config.max_series_per_request
        self.max_samples = config.max_samples_per_request
        self.max_sample_ahead = config.max_sample_ahead
        self.identities: dict[str, Identity] = {}
        for token in config.tokens:
            labels = {"commune": token.commune, "instance": token.node,
                      **extra.get((token.commune, token.node), {})}
            self.identities[token.sha256] = Identity(token.commune, token.node, labels,
                                                     config.job)

    def identify(self, token: str) -> Identity | None:
        """The identity of a bearer token, or None."""
        return self.identities.get(hashlib.sha256(token.encode()).hexdigest())

    def relabel(self, raw: bytes, ident: Identity) -> tuple[bytes, int, dict[str, int]]:
        """(new uncompressed WriteRequest, samples in it, samples dropped per reason).

        Raise BadRequest on odd wire data or a bad label name, Limited past the series or
        samples cap.
        """
        # Counting the series first costs well under a microsecond each, relabelling a new one
        # tens: a body over the cap is refused before any real work.
        count_series(raw, self.max_series)
        try:
            return self._relabel(raw, ident)
        except BadRequest:
            raise
        except (ValueError, IndexError, UnicodeDecodeError) as exc:
            raise BadRequest("protobuf", f"bad protobuf: {exc}") from None

    def _relabel(self, raw: bytes, ident: Identity) -> tuple[bytes, int, dict[str, int]]:
        # The hot loop of the gateway: one-byte tags and lengths are read inline, the common
        # layout (labels first, then samples as the agent writes them) is sliced, not copied.
        out: list[bytes] = []
        samples = too_old = too_new = seen = 0
        max_samples = self.max_samples
        now = time.time()
        min_ms = -(1 << 63) if self.max_sample_age is None else int(
            (now - self.max_sample_age) * 1000)
        max_ms = int((now + self.max_sample_ahead) * 1000)
        pos, n = 0, len(raw)
        cache = ident.cache
        while pos < n:
            if raw[pos] != 0x0A:  # not a TimeSeries (metadata...): not forwarded
                tag, pos = read_varint(raw, pos)
                pos = _skip(raw, pos, tag)
                continue
            length, pos = _length(raw, pos + 1)
            end = pos + length
            if end > n:
                raise ValueError("series runs past the request")
            start = pos
            if length > 18 and raw[end - 18] == 0x12 and raw[end - 17] == 16 \
                    and raw[end - 16] == 0x09 and raw[end - 7] == 0x10:
                # A known series with one sample as agents send it (value, then a 6-byte
                # timestamp): the bytes before that sample are labels the cache has checked.
                new = cache.get(raw[start:end - 18])
                b = raw[end - 6:end]
                if new is not None and b[0] & b[1] & b[2] & b[3] & b[4] & 0x80 and b[5] < 0x80:
                    stamp = ((b[0] & 0x7F) | (b[1] & 0x7F) << 7 | (b[2] & 0x7F) << 14
                             | (b[3] & 0x7F) << 21 | (b[4] & 0x7F) << 28 | b[5] << 35)
                    if min_ms <= stamp <= max_ms and seen < max_samples:
                        seen += 1
                        known = new + raw[end - 18:end]
                        out.append(b"\x0a" + varint(len(known)) + known)
                        samples += 1
                        pos = end
                        continue
            while pos < end and raw[pos] == 0x0A:  # the labels
                length, pos = _length(raw, pos + 1)
                pos += length
            key = raw[start:pos]
            kept: list[bytes] = []
            run = pos  # start of the current run of kept samples
            count = 0
            while pos < end:
                field = pos
                tag = raw[pos]
                if tag != 0x12:
                    if tag >= 0x80:
                        tag, pos = read_varint(raw, pos)
                    else:
                        pos += 1
                    pos = _skip(raw, pos, tag)
                    kept.append(raw[run:field])
                    run = pos
                    if tag == 0x0A:  # a label after samples: odd, but valid protobuf
                        key += raw[field:pos]
                    continue  # exemplars, histograms: not forwarded (agents send neither)
                seen += 1
                if seen > max_samples:
                    raise _too_many_samples(max_samples)
                length, body = _length(raw, pos + 1)
                pos = body + length
                stamp = _stamp(raw, body, pos)
                if min_ms <= stamp <= max_ms:
                    count += 1
                    continue
                if stamp > max_ms:
                    too_new += 1
                else:
                    too_old += 1
                kept.append(raw[run:field])
                run = pos
            if pos != end:
                raise ValueError("field runs past its series")
            if not count:
                continue
            kept.append(raw[run:end])
            new = cache.get(key)
            if new is None:
                new = self._new_labels(key, ident)
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[key] = new
            body_bytes = new + b"".join(kept)
            out.append(b"\x0a" + varint(len(body_bytes)) + body_bytes)
            samples += count
        return b"".join(out), samples, {"too_old": too_old, "too_new": too_new}

    @staticmethod
    def _new_labels(key: bytes, ident: Identity) -> bytes:
        labels: dict[str, str] = {}
        pos = 0
        while pos < len(key):
            length, pos = _length(key, pos + 1)
            name, value = _label(key[pos:pos + length])
            pos += length
            check_label_name(name, labels)
            labels[name] = value
        if pos != len(key):
            raise ValueError("label runs past its series")
        for name in IDENTITY_LABELS:
            labels.pop(name, None)
        labels.setdefault("job", ident.default_job)
        labels.update(ident.labels)
        return remote_write.encode_labels(labels.items())


def check_label_name(name: str, seen: dict[str, str]) -> None:
    """Raise BadRequest("label_name") unless ``name`` is a valid label name not in ``seen``."""
    if not name:
        raise BadRequest("label_name", "a series has a label with an empty name; label names "
                         "match [a-zA-Z_][a-zA-Z0-9_]*")
    if not LABEL_NAME.fullmatch(name.encode()):
        raise BadRequest("label_name", f"label name {name!r} is not valid: label names match "
                         "[a-zA-Z_][a-zA-Z0-9_]* (ASCII letters, digits and '_')")
    if name in seen:
        raise BadRequest("label_name", f"label {name!r} appears twice in one series; "
                         "send each label once")


def count_series(raw: bytes, limit: int) -> int:
    """The TimeSeries in an uncompressed WriteRequest; raise Limited("series") past ``limit``.

    Wire errors are left to the relabeler, which reports them.
    """
    pos, n, series = 0, len(raw), 0
    try:
        while pos < n:
            tag = raw[pos]
            if tag == 0x0A:
                series += 1
                if series > limit:
                    raise _too_many_series(limit)
                length, pos = _length(raw, pos + 1)
                pos += length
            else:
                tag, pos = read_varint(raw, pos)
                pos = _skip(raw, pos, tag)
    except (ValueError, IndexError):
        pass
    return series


def _too_many_series(limit: int) -> Limited:
    return Limited("series", f"more than {limit} series in one request "
                   "(max_series_per_request); send smaller batches")


def _too_many_samples(limit: int) -> Limited:
    return Limited("samples", f"more than {limit} samples in one request "
                   "(max_samples_per_request); send smaller batches")


def _length(data: bytes, pos: int) -> tuple[int, int]:
    """A length varint at ``pos``: (length, position after it); one byte inline."""
    length = data[pos]
    if length < 0x80:
        return length, pos + 1
    return read_varint(data, pos)


def _stamp(data: bytes, start: int, end: int) -> int:
    """The timestamp of a Sample message at ``data[start:end]``."""
    if end - start >= 11 and data[start] == 0x09 and data[start + 9] == 0x10:
        pos = start + 10  # the agent's layout: value (fixed64) then timestamp (varint)
        stamp = shift = 0
        while pos < end:
            byte = data[pos]
            stamp |= (byte & 0x7F) << shift
            pos += 1
            if byte < 0x80:
                break
            shift += 7
        if pos == end:
            return stamp - (1 << 64) if stamp >= 1 << 63 else stamp
    pos, stamp = start, 0
    while pos < end:
        tag, pos = read_varint(data, pos)
        if tag == 0x10:
            stamp, pos = read_varint(data, pos)
            if stamp >= 1 << 63:
                stamp -= 1 << 64
        else:
            pos = _skip(data, pos, tag)
    return stamp


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
                           "Requests refused with 401 (auth) or 400: snappy, protobuf, "
                           "label_name.", ["reason"], registry=registry)
        self.limited = Counter("commune_gateway_limited_requests",
                               "Requests refused by a limit: connections, receiving (503), "
                               "token_busy (429), header_timeout, body_timeout (408), "
                               "body_size, decoded_size, series, samples (413).", ["reason"],
                               registry=registry)
        self.received = Counter("commune_gateway_received_samples",
                                "Samples accepted from agents.", ["commune"], registry=registry)
        self.dropped = Counter("commune_gateway_dropped_samples",
                               "Samples dropped: too_old (max_sample_age), too_new "
                               "(max_sample_ahead: the agent's clock is wrong).", ["reason"],
                               registry=registry)


@dataclasses.dataclass(frozen=True)
class Decoded:
    """A checked, relabelled body ready to forward."""

    raw: bytes  # uncompressed: the forwarder merges and compresses
    samples: int
    dropped: dict[str, int]


def decode(body: bytes, ident: Identity, relabeler: Relabeler, max_decoded: int,
           reserve: Callable[[int], object] = lambda size: None) -> Decoded:
    """Decompress, check and relabel one request body.

    ``reserve(size)`` is called with the announced uncompressed size before inflating, so the
    caller can account for (or refuse, by raising) that memory. Raise BadRequest (400) or
    Limited (413, or what ``reserve`` raises).
    """
    try:  # a snappy block starts with the uncompressed length, as a varint
        size, _ = read_varint(body, 0)
    except ValueError:
        raise BadRequest("snappy", "bad snappy header: no length") from None
    if size > max_decoded:
        raise Limited("decoded_size", f"body inflates to {size} bytes, more than the "
                      f"{max_decoded} allowed (max_decoded_bytes); send smaller batches")
    # The inflated body, the relabelled copy and the parsed messages are held at once.
    reserve(3 * size)
    try:
        raw = remote_write.decompress(body, max_decoded)
    except ValueError as exc:  # OverflowError cannot happen: the size was checked above
        raise BadRequest("snappy", str(exc)) from None
    # The relabelling counts the series first and stops at the samples cap; the library's
    # parser, which builds every message, runs last.
    out, samples, dropped = relabeler.relabel(raw, ident)
    try:
        remote_write.parse_write_request(raw)
    except ValueError as exc:
        raise BadRequest("protobuf", str(exc)) from None
    return Decoded(out, samples, dropped)
