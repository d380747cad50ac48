"""Turn walked SNMP values into samples, as a module definition says (no pysnmp here).

Semantics follow snmp_exporter 0.21 (its ``pduValueAsString``): a table metric gets one sample per
row, labelled by its indexes and lookups; string metrics become ``name{name="text"} 1``; an
``EnumAsInfo`` becomes ``name_info{name="state"} 1``. Strings are rendered as the exporter
renders them: a DisplayString keeps every byte (a Windows agent's trailing NUL too); a
PhysAddress48 is always six ``%02X`` octets (zero-padded, longer ones cut); an OBJECT IDENTIFIER
is dotted decimal; an integer is its decimal text. Where the exporter fails a whole scrape
(invalid UTF-8), each run of bad bytes becomes one U+FFFD, as Go's ``strings.ToValidUTF8``
does. A Counter64 wraps at 2**53 (:data:`COUNTER64_WRAP`). A value of the wrong type is
counted (``reason="type"``) and left out, never guessed. Counters are passed on raw: a wrap or
a reset is for ``rate()`` to handle.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from agent.modules.snmp.definitions import Definition, Index, Lookup, SnmpMetric

# (SNMP type name, value): ("Counter64", 12), ("OctetString", b"eth0"), ("ObjectIdentifier", (1,))
Value = tuple[str, int | bytes | tuple[int, ...]]

#: A Counter64 wraps here, as snmp_exporter's ``--snmp.wrap-large-counters`` (on by default)
#: does: a float64 holds every integer below 2**53 exactly, so ``rate()`` stays exact and sees
#: the wrap as a counter reset instead of losing the low digits.
COUNTER64_WRAP = 2**53

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Sample:
    """One series value, before it is put into a family."""

    name: str
    kind: str  # the metric's definition type (gauge, counter, DisplayString...)
    help: str
    labels: Mapping[str, str]
    value: float


class Table:
    """The values of one device, sorted by OID for prefix scans."""

    def __init__(self, varbinds: Iterable[tuple[tuple[int, ...], Value]]) -> None:
        self.values: dict[tuple[int, ...], Value] = dict(varbinds)
        self.oids = sorted(self.values)

    def under(self, prefix: tuple[int, ...]) -> Iterator[tuple[tuple[int, ...], Value]]:
        """(suffix, value) of every OID strictly under ``prefix``, in order."""
        n = len(prefix)
        start = bisect.bisect_right(self.oids, prefix)
        for oid in self.oids[start:]:
            if oid[:n] != prefix:
                return
            yield oid[n:], self.values[oid]


def _text(value: Value) -> str | None:
    """A value as plain text (for value_map and NumberString: padding NULs are not part of it)."""
    raw = value[1]
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace").rstrip("\x00")
    if isinstance(raw, int):
        return str(raw)
    return None


_INVALID_RUN = re.compile("[\udc80-\udcff]+")


def valid_utf8(raw: bytes) -> str:
    """``raw`` as text with each run of invalid UTF-8 bytes replaced by one U+FFFD, as Go's
    ``strings.ToValidUTF8`` does (Python's "replace" would put one per byte)."""
    return _INVALID_RUN.sub("\ufffd", raw.decode("utf-8", "surrogateescape"))


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex().upper()


def _mac(raw: bytes) -> str:
    """Six octets as ``00:11:22:AA:BB:CC``: shorter values zero-padded, longer ones cut, as
    snmp_exporter does (an empty ifPhysAddress is ``00:00:00:00:00:00``)."""
    return ":".join(f"{b:02X}" for b in raw[:6].ljust(6, b"\x00"))


def render_string(kind: str, value: Value) -> str:
    """A value as the label text of a string metric or lookup of type ``kind``."""
    raw = value[1]
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, tuple):  # an OBJECT IDENTIFIER, without its leading dot
        return ".".join(map(str, raw))
    if kind == "PhysAddress48":
        return _mac(raw)
    if kind == "DisplayString":
        return valid_utf8(raw)
    return _hex(raw)


def parse_index(index: Index, suffix: tuple[int, ...]) -> tuple[str, tuple[int, ...]] | None:
    """The label value of one index and the sub-identifiers it used; None if malformed."""
    if index.type == "gauge":
        return (str(suffix[0]), suffix[:1]) if suffix else None
    if index.type == "IpAddr":
        return (".".join(map(str, suffix[:4])), suffix[:4]) if len(suffix) >= 4 else None
    if index.type == "PhysAddress48":
        if len(suffix) < 6 or any(s > 255 for s in suffix[:6]):
            return None
        return _mac(bytes(suffix[:6])), suffix[:6]
    # DisplayString / OctetString: length first, unless IMPLIED (then the rest of the suffix).
    if index.implied:
        chars, used = suffix, suffix
    else:
        if not suffix or len(suffix) < 1 + suffix[0]:
            return None
        chars, used = suffix[1:1 + suffix[0]], suffix[:1 + suffix[0]]
    if any(c > 255 for c in chars):
        return None
    raw = bytes(chars)
    return (valid_utf8(raw) if index.type == "DisplayString" else _hex(raw)), used


def _lookup_value(lookup: Lookup, value: Value) -> str | None:
    if lookup.type == "gauge":
        return str(value[1]) if isinstance(value[1], int) else None
    return render_string(lookup.type, value)


class Decoder:
    """Decodes one definition's metrics from a device's table; counts what it had to drop."""

    def __init__(self, definition: Definition, device_labels: Mapping[str, str]) -> None:
        self.definition = definition
        self.base_labels = {**definition.labels, **device_labels}
        self.dropped: Counter[str] = Counter()

    def samples(self, table: Table) -> list[Sample]:
        """Every sample the definition's metrics yield from ``table``."""
        out: list[Sample] = []
        for metric in self.definition.metrics:
            if metric.indexes:
                for suffix, value in table.under(metric.oid):
                    labels = self._row_labels(metric, suffix, table)
                    if labels is not None:
                        out += self._values(metric, value, labels)
            else:
                scalar = table.values.get((*metric.oid, 0)) or table.values.get(metric.oid)
                if scalar is not None:
                    out += self._values(metric, scalar, dict(self.base_labels))
        return out

    def _row_labels(self, metric: SnmpMetric, suffix: tuple[int, ...], table: Table
                    ) -> dict[str, str] | None:
        labels = dict(self.base_labels)
        used: dict[str, tuple[int, ...]] = {}
        rest = suffix
        for index in metric.indexes:
            parsed = parse_index(index, rest)
            if parsed is None:
                self.dropped["index"] += 1
                return None
            labels[index.labelname], used[index.labelname] = parsed
            rest = rest[len(parsed[1]):]
        if rest:  # a longer index than the definition says: another table's row
            self.dropped["index"] += 1
            return None
        for lookup in metric.lookups:
            key = lookup.oid + tuple(s for label in lookup.labels for s in used[label])
            found = table.values.get(key)
            text = _lookup_value(lookup, found) if found is not None else None
            labels[lookup.labelname] = text if text is not None else ""
        labels.update(metric.labels)
        return labels

    def _values(self, metric: SnmpMetric, value: Value, labels: dict[str, str]) -> list[Sample]:
        labels.update(metric.labels)
        raw = value[1]
        kind = metric.type

        def sample(v: float, extra: Mapping[str, str] | None = None) -> Sample:
            return Sample(metric.name, kind, metric.help, {**labels, **(extra or {})}, v)

        if metric.value_map:
            text = _text(value)
            if text is None or text.strip() not in metric.value_map:
                self.dropped["value"] += 1
                return []
            return [sample(metric.value_map[text.strip()] * metric.scale)]
        if kind in ("gauge", "counter"):
            if not isinstance(raw, int) or value[0] not in _NUMERIC:
                self.dropped["type"] += 1
                return []
            if value[0] == "Counter64":
                raw %= COUNTER64_WRAP
            return [sample(raw * metric.scale)]
        if kind == "NumberString":
            text = _text(value)
            match = _NUMBER.search(text) if text is not None and isinstance(raw, bytes) else None
            if match is None:
                self.dropped["type"] += 1
                return []
            return [sample(float(match.group()) * metric.scale)]
        if kind in ("EnumAsInfo", "EnumAsStateSet"):
            if not isinstance(raw, int):
                self.dropped["type"] += 1
                return []
            if kind == "EnumAsInfo":
                state = metric.enum_values.get(str(raw), str(raw))
                return [Sample(f"{metric.name}_info", kind, f"{metric.help} (EnumAsInfo)",
                               {**labels, metric.name: state}, 1.0)]
            return [sample(1.0 if int(k) == raw else 0.0, {metric.name: v})
                    for k, v in metric.enum_values.items()]
        return [sample(1.0, {metric.name: render_string(kind, value)})]


_NUMERIC = frozenset({"Integer", "Integer32", "Counter32", "Counter64", "Gauge32", "Unsigned32",
                      "TimeTicks"})
