"""NetFlow v5, v9 (RFC 3954) and IPFIX (RFC 7011) decoders, with templates per exporter.

Each template is compiled once into a :class:`struct.Struct` that skips the fields not used, so
a data set is one ``iter_unpack``; fields of variable length (IPFIX) take a slower path. A data
set whose template has not arrived yet is skipped and counted (``missing``); exporters resend
their templates every few seconds. Templates are kept per (exporter, source or observation
domain), at most :data:`MAX_SCOPES` scopes of :data:`MAX_TEMPLATES` each (``limit``). A new
scope evicts the least recently used one, of the same exporter address once that address has
:data:`MAX_SCOPES_PER_EXPORTER`, so a stranger cannot lock out a real router; each eviction is
counted (``limit``).
"""

from __future__ import annotations

import struct
import typing
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

from agent.modules.flows.records import Decoded, DecodeError, Record

MAX_SCOPES = 64
MAX_SCOPES_PER_EXPORTER = 8
MAX_TEMPLATES = 64
MAX_FIELDS = 128
VARIABLE = 65535
# Information elements read (RFC 7012 numbers, the same as v9's): role -> field types.
_SRC = (8, 27)
_DST = (12, 28)
_ROLES = {1: "octets", 85: "octets", 2: "packets", 86: "packets", 7: "sport", 11: "dport",
          4: "proto", **{t: "src" for t in _SRC}, **{t: "dst" for t in _DST}}
_ORDER = ("src", "dst", "sport", "dport", "proto", "octets", "packets")
_INT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_V5_HEADER = struct.Struct("!HHIIIIBBH")
_V5_RECORD = struct.Struct("!4s4s4x4xII8xHH2xB9x")  # 48 bytes; see the v5 format
_V9_HEADER = struct.Struct("!HHIIII")
_IPFIX_HEADER = struct.Struct("!HHIII")
_SET = struct.Struct("!HH")


def decode_v5(data: bytes) -> Decoded:
    """A NetFlow v5 datagram's records, scaled by its sampling interval when it has one."""
    if len(data) < _V5_HEADER.size:
        raise DecodeError("v5 header truncated")
    count, sampling = _V5_HEADER.unpack_from(data)[1], _V5_HEADER.unpack_from(data)[8]
    end = _V5_HEADER.size + count * 48
    if count > 30 or end > len(data):
        raise DecodeError(f"v5 datagram of {len(data)} bytes cannot hold {count} records")
    scale = sampling & 0x3FFF or 1  # the two top bits are the sampling mode
    records = [Record(src, dst, sport, dport, proto, octets * scale, packets * scale)
               for src, dst, packets, octets, sport, dport, proto
               in _V5_RECORD.iter_unpack(data[_V5_HEADER.size:end])]
    return Decoded("netflow5", records, {})


@dataclass(frozen=True)
class Template:
    """A compiled data template: how to turn a data set into records."""

    size: int  # bytes of one record; 0 if some field has variable length
    unpack: struct.Struct | None
    pick: Callable[[tuple[int | bytes, ...]], tuple[int | bytes, ...]] | None
    fields: tuple[tuple[int, int, str | None], ...]  # (type, length, role) for the slow path
    complete: bool  # all seven roles present (else defaults fill the gaps)


def compile_template(fields: list[tuple[int, int, int]]) -> Template | None:
    """A template from (type, length, enterprise) fields; None if it has no addresses/bytes."""
    roles: list[tuple[int, int, str | None]] = []
    for ftype, length, enterprise in fields:
        role = _ROLES.get(ftype) if enterprise == 0 else None
        if role in ("src", "dst") and length not in (4, 16):
            role = None
        if role in ("sport", "dport", "proto", "octets", "packets") and \
                length not in _INT_CODES:
            role = None
        if role is not None and any(r == role for _, _, r in roles):
            role = None  # the first of two (IN_BYTES and octetTotalCount) is the one read
        roles.append((ftype, length, role))
    present = {r for _, _, r in roles if r}
    if not {"src", "dst", "octets"} <= present:
        return None
    if any(length == VARIABLE for _, length, _ in roles):
        return Template(0, None, None, tuple(roles), False)
    fmt = "!"
    picked: dict[str, int] = {}
    for _, length, role in roles:
        if role is None:
            fmt += f"{length}x"
        else:
            picked[role] = len(picked)
            fmt += f"{length}s" if role in ("src", "dst") else _INT_CODES[length]
    complete = present == set(_ORDER)
    pick = itemgetter(*(picked[r] for r in _ORDER)) if complete else None
    unpack = struct.Struct(fmt)
    if unpack.size == 0:
        return None
    return Template(unpack.size, unpack, pick, tuple(roles), complete)


def _records(template: Template, body: bytes) -> list[Record]:
    if template.unpack is not None:
        usable = len(body) - len(body) % template.size
        rows = template.unpack.iter_unpack(body[:usable])
        if template.pick is not None:
            pick = template.pick
            return [Record._make(pick(row)) for row in rows]
        names = [r for _, _, r in template.fields if r]
        return [_fill(dict(zip(names, row, strict=True))) for row in rows]
    return _variable_records(template, body)


def _fill(values: dict[str, int | bytes]) -> Record:
    """A record from the values a template has; missing ports and protocol are 0, packets 1."""
    src, dst = values["src"], values["dst"]
    numbers = [values.get(role, default) for role, default in
               (("sport", 0), ("dport", 0), ("proto", 0), ("octets", 0), ("packets", 1))]
    if not isinstance(src, bytes) or not isinstance(dst, bytes) or \
            not all(isinstance(n, int) for n in numbers):
        raise DecodeError("a template field decoded to the wrong type")
    return Record(src, dst, *typing.cast(list[int], numbers))


def _variable_records(template: Template, body: bytes) -> list[Record]:
    """Records of a template with variable-length fields (RFC 7011 section 7)."""
    records: list[Record] = []
    offset, end = 0, len(body)
    while offset < end:
        values: dict[str, int | bytes] = {}
        for _, length, role in template.fields:
            if length == VARIABLE:
                if offset >= end:
                    return records  # padding
                length = body[offset]
                offset += 1
                if length == 255:
                    if offset + 2 > end:
                        raise DecodeError("variable-length field truncated")
                    length = int.from_bytes(body[offset:offset + 2], "big")
                    offset += 2
            if offset + length > end:
                if not values:
                    return records  # padding
                raise DecodeError("record truncated")
            if role is not None:
                raw = body[offset:offset + length]
                values[role] = raw if role in ("src", "dst") else int.from_bytes(raw, "big")
            offset += length
        if not values and not template.fields:
            break
        records.append(_fill(values))
    return records


class Templates:
    """The templates received, per exporter scope; lost templates are the exporter's to resend."""

    def __init__(self) -> None:
        self.scopes: OrderedDict[tuple[str, int, int], dict[int, Template | None]] = OrderedDict()
        self.per_exporter: Counter[str] = Counter()

    def scope(self, exporter: str, version: int,
              domain: int) -> tuple[dict[int, Template | None], int]:
        """The templates of one exporter scope and how many scopes were evicted to make room.

        The least recently used scope goes: the exporter's own once it has
        :data:`MAX_SCOPES_PER_EXPORTER`, else any once :data:`MAX_SCOPES` are known.
        """
        key = (exporter, version, domain)
        found = self.scopes.get(key)
        if found is not None:
            self.scopes.move_to_end(key)
            return found, 0
        evicted = 0
        if self.per_exporter[exporter] >= MAX_SCOPES_PER_EXPORTER:
            oldest = next(k for k in self.scopes if k[0] == exporter)
            self._evict(oldest)
            evicted += 1
        while len(self.scopes) >= MAX_SCOPES:
            self._evict(next(iter(self.scopes)))
            evicted += 1
        found = self.scopes[key] = {}
        self.per_exporter[exporter] += 1
        return found, evicted

    def _evict(self, key: tuple[str, int, int]) -> None:
        del self.scopes[key]
        self.per_exporter[key[0]] -= 1
        if not self.per_exporter[key[0]]:
            del self.per_exporter[key[0]]


def _parse_fields(data: bytes, offset: int, end: int, count: int,
                  ipfix: bool) -> tuple[list[tuple[int, int, int]], int]:
    fields = []
    for _ in range(count):
        if offset + 4 > end:
            raise DecodeError("template truncated")
        ftype, length = _SET.unpack_from(data, offset)
        offset += 4
        enterprise = 0
        if ipfix and ftype & 0x8000:
            if offset + 4 > end:
                raise DecodeError("template truncated")
            enterprise = int.from_bytes(data[offset:offset + 4], "big")
            ftype &= 0x7FFF
            offset += 4
        if length == 0 or (length == VARIABLE and not ipfix):
            raise DecodeError(f"field {ftype} of length {length}")
        fields.append((ftype, length, enterprise))
    return fields, offset


def _template_set(data: bytes, offset: int, end: int, ipfix: bool, options: bool,
                  templates: dict[int, Template | None], errors: Counter[str]) -> None:
    """Learn the templates of one (options) template set; options templates map to None."""
    while end - offset >= 4:
        template_id, count = _SET.unpack_from(data, offset)
        offset += 4
        scope_count = 0
        if options:
            if end - offset < 2:
                raise DecodeError("options template truncated")
            scope_count = int.from_bytes(data[offset:offset + 2], "big")
            offset += 2
            if not ipfix:
                # v9 options templates give scope and option lengths in bytes (4 per field).
                count, scope_count = (scope_count + count) // 4, 0
        if template_id < 256:
            if template_id == 0 and count == 0:
                return  # padding
            raise DecodeError(f"template id {template_id} is reserved")
        if count == 0:  # IPFIX withdrawal
            templates.pop(template_id, None)
            continue
        if count > MAX_FIELDS or scope_count > count:
            raise DecodeError(f"template {template_id} has {count} fields")
        fields, offset = _parse_fields(data, offset, end, count, ipfix)
        if template_id not in templates and len(templates) >= MAX_TEMPLATES:
            errors["limit"] += 1
            continue
        compiled = None if options else compile_template(fields)
        if compiled is None and not options:
            errors["unsupported"] += 1
        templates[template_id] = compiled


def decode_templated(data: bytes, exporter: str, store: Templates) -> Decoded:
    """A NetFlow v9 or IPFIX datagram's records; templates it carries are learnt first."""
    version = int.from_bytes(data[:2], "big")
    ipfix = version == 10
    header = _IPFIX_HEADER if ipfix else _V9_HEADER
    if len(data) < header.size:
        raise DecodeError("header truncated")
    fields = header.unpack_from(data)
    end = len(data)
    if ipfix:
        if fields[1] > len(data) or fields[1] < header.size:
            raise DecodeError(f"message length {fields[1]} but {len(data)} bytes received")
        end = fields[1]
    errors: Counter[str] = Counter()
    templates, evicted = store.scope(exporter, version, fields[-1])
    if evicted:
        errors["limit"] += evicted
    template_ids = (2, 3) if ipfix else (0, 1)
    data_sets: list[tuple[int, int, int]] = []
    offset = header.size
    while end - offset >= 4:
        set_id, length = _SET.unpack_from(data, offset)
        if length < 4 or offset + length > end:
            raise DecodeError(f"set {set_id} of length {length} at byte {offset}")
        if set_id in template_ids:
            _template_set(data, offset + 4, offset + length, ipfix, set_id == template_ids[1],
                          templates, errors)
        elif set_id >= 256:
            data_sets.append((set_id, offset + 4, offset + length))
        else:
            errors["invalid"] += 1
        offset += length
    records: list[Record] = []
    for set_id, start, stop in data_sets:
        if set_id not in templates:
            errors["missing"] += 1
            continue
        template = templates[set_id]
        if template is not None:  # None: an options template; its data is not flows
            records.extend(_records(template, data[start:stop]))
    return Decoded("ipfix" if ipfix else "netflow9", records, dict(errors))
