"""Spool records: how one collection is laid out on disk, checked, and found again after damage.

A record is a 36-byte header then its payload::

    magic "\\xc5\\x9eSR", u32 payload length, u32 samples, i64 sequence, i64 timestamp_ms,
    u32 crc32(payload), u32 crc32(the 32 bytes before it)

The payload is ``i64 timestamp_ms, u32 count`` then, zlib-compressed, ``count`` times ``u32 key
length, key, f64 value``, where the key is the series' labels already encoded as remote-write
``Label`` fields. The sequence number is the count of samples spooled before the record, so the
samples in a damaged stretch are known from the next good record even when the damaged headers
cannot be read.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

MAGIC = b"\xc5\x9eSR"
_HEAD = struct.Struct("<4sIIqqI")
_HEAD_CRC = struct.Struct("<I")
HEADER_SIZE = _HEAD.size + _HEAD_CRC.size
_PREFIX = struct.Struct("<qI")
_KEYLEN = struct.Struct("<I")
_VALUE = struct.Struct("<d")
MAX_PAYLOAD = 64 << 20  # a collection is kilobytes; a longer length is damage
MAX_DECODED = 256 << 20  # a payload inflating past this is refused


class CorruptRecord(ValueError):
    """A payload that does not decode."""


@dataclass(frozen=True)
class Header:
    """What a record's header says."""

    length: int
    count: int
    seq: int
    stamp: int
    crc: int


def encode_payload(timestamp_ms: int, entries: Sequence[tuple[bytes, float]]) -> bytes:
    """The payload of one collection: its time, its sample count, the samples compressed."""
    parts: list[bytes] = []
    for key, value in entries:
        parts += (_KEYLEN.pack(len(key)), key, _VALUE.pack(value))
    # zlib level 1 makes a host collection ~5x smaller (its labels repeat) for ~0.15 ms.
    return _PREFIX.pack(timestamp_ms, len(entries)) + zlib.compress(b"".join(parts), 1)


def payload_header(payload: bytes) -> tuple[int, int]:
    """(timestamp_ms, count) of a payload."""
    if len(payload) < _PREFIX.size:
        raise CorruptRecord(f"payload of {len(payload)} bytes is shorter than its prefix")
    stamp, count = _PREFIX.unpack_from(payload, 0)
    return int(stamp), int(count)


def pack_record(payload: bytes, seq: int) -> bytes:
    """Header and payload of a record whose first sample is the ``seq``-th spooled."""
    stamp, count = payload_header(payload)
    head = _HEAD.pack(MAGIC, len(payload), count, seq, stamp, zlib.crc32(payload))
    return head + _HEAD_CRC.pack(zlib.crc32(head)) + payload


def parse_header(data: bytes | memoryview, pos: int) -> Header | None:
    """The header at ``pos`` if it is intact, else None."""
    if pos < 0 or pos + HEADER_SIZE > len(data) or data[pos:pos + 4] != MAGIC:
        return None
    (crc,) = _HEAD_CRC.unpack_from(data, pos + _HEAD.size)
    if zlib.crc32(data[pos:pos + _HEAD.size]) != crc:
        return None
    _, length, count, seq, stamp, payload_crc = _HEAD.unpack_from(data, pos)
    if not _PREFIX.size <= length <= MAX_PAYLOAD:
        return None
    return Header(length, count, seq, stamp, payload_crc)


def _payload_ok(data: bytes | memoryview, pos: int, header: Header) -> bool:
    start = pos + HEADER_SIZE
    if start + header.length > len(data):
        return False
    if zlib.crc32(data[start:start + header.length]) != header.crc:
        return False
    return tuple(_PREFIX.unpack_from(data, start)) == (header.stamp, header.count)


def check_record(data: bytes, pos: int, size: int, count: int, stamp: int) -> bytes | None:
    """The payload of the record at ``pos`` if it is intact and is the one indexed, else None."""
    header = parse_header(data, pos)
    if header is None or HEADER_SIZE + header.length != size:
        return None
    if (header.count, header.stamp) != (count, stamp) or not _payload_ok(data, pos, header):
        return None
    return data[pos + HEADER_SIZE:pos + size]


def decode_payload(payload: bytes) -> list[tuple[bytes, int, float]]:
    """(key, timestamp_ms, value) of every sample in a payload; raise CorruptRecord."""
    stamp, count = payload_header(payload)
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(payload[_PREFIX.size:], MAX_DECODED)
    except zlib.error as exc:
        raise CorruptRecord(f"payload does not inflate: {exc}") from None
    if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
        raise CorruptRecord("payload is cut, too large, or followed by other data")
    out = []
    pos = 0
    for _ in range(count):
        if pos + _KEYLEN.size > len(body):
            raise CorruptRecord(f"payload holds fewer than the {count} samples it declares")
        (klen,) = _KEYLEN.unpack_from(body, pos)
        pos += _KEYLEN.size
        if pos + klen + _VALUE.size > len(body):
            raise CorruptRecord("a sample runs past the end of the payload")
        key = body[pos:pos + klen]
        pos += klen
        (value,) = _VALUE.unpack_from(body, pos)
        pos += _VALUE.size
        out.append((key, stamp, value))
    if pos != len(body):
        raise CorruptRecord(f"payload holds more than the {count} samples it declares")
    return out


@dataclass
class Scan:
    """What a segment file holds: its good records and what was lost around them."""

    records: list[tuple[int, Header, int]] = field(default_factory=list)
    # ^ start, header, samples lost in damaged data just before it (or a gap in sequence)
    good_end: int = 0  # end of the last good record
    good_end_seq: int | None = None  # sequence number after the last good record
    end_seq: int | None = None  # after the last record whose header is intact
    tail_lost: int = 0  # samples known lost in damaged data after the last good record
    unknown: int = 0  # damaged stretches whose sample count cannot be known


def scan_records(data: bytes, expected_seq: int | None = None) -> Scan:
    """Index a segment's bytes, skipping damage; ``expected_seq`` ends the segment before it.

    A damaged record with an intact header counts its samples; a stretch whose headers are
    damaged too counts the gap in sequence numbers up to the next good record.
    """
    scan = Scan()
    view = memoryview(data)
    expected = expected_seq
    pos, lost, unknown_open = 0, 0, False
    while pos < len(data):
        header = parse_header(view, pos)
        if header is None:
            unknown_open = True  # damaged header: resynchronise on the next intact one
            pos = _next_header(view, data, pos + 1)
            continue
        if expected is not None:
            lost += max(0, header.seq - expected)
            unknown_open = False
        elif unknown_open:
            scan.unknown += 1  # nothing tells how many samples the damage held
            unknown_open = False
        expected = header.seq + header.count
        scan.end_seq = expected
        if not _payload_ok(view, pos, header):  # the header is intact: its samples are known
            lost += header.count
            end = pos + HEADER_SIZE + header.length
            pos = end if end <= len(data) and parse_header(view, end) is not None \
                else _next_header(view, data, pos + 1)
            continue
        scan.records.append((pos, header, lost))
        lost = 0
        pos += HEADER_SIZE + header.length
        scan.good_end, scan.good_end_seq = pos, expected
    scan.tail_lost = lost
    if unknown_open:
        scan.unknown += 1
    return scan


def _next_header(view: memoryview, data: bytes, pos: int) -> int:
    """Position of the next intact header at or after ``pos``, or the end of the data."""
    while True:
        pos = data.find(MAGIC, pos)
        if pos < 0:
            return len(data)
        if parse_header(view, pos) is not None:
            return pos
        pos += 1


_LEGACY_HEAD = struct.Struct("<II")


@dataclass
class Upgrade:
    """A segment written by an older agent (``u32 length, u32 crc32, payload``), rewritten."""

    data: bytes  # the same records in the current layout
    old_ends: list[int]  # where each record ended in the old file
    new_ends: list[int]  # and where it ends now
    end_seq: int


def upgrade_legacy(data: bytes, seq: int) -> Upgrade | None:
    """A segment of the layout before record headers in the current one; None if it is not one.

    Its payloads are the same; records after the first that does not check are left out (the
    old format's torn tail).
    """
    if data[:4] == MAGIC or len(data) < _LEGACY_HEAD.size:
        return None
    out = Upgrade(b"", [], [], seq)
    parts = []
    pos = size = 0
    while pos + _LEGACY_HEAD.size <= len(data):
        length, crc = _LEGACY_HEAD.unpack_from(data, pos)
        payload = data[pos + _LEGACY_HEAD.size:pos + _LEGACY_HEAD.size + length]
        if len(payload) != length or length < _PREFIX.size or zlib.crc32(payload) != crc:
            break
        record = pack_record(payload, out.end_seq)
        parts.append(record)
        out.end_seq += payload_header(payload)[1]
        pos += _LEGACY_HEAD.size + length
        size += len(record)
        out.old_ends.append(pos)
        out.new_ends.append(size)
    if not parts:
        return None
    out.data = b"".join(parts)
    return out
