"""The on-disk spool: every collection is appended to a segment file before it is sent.

Layout of ``spool_dir``::

    00000000000000000001.seg   records, oldest segment first
    00000000000000000002.seg   the active segment, appended to
    cursor                     "SEGMENT OFFSET": everything before it has been delivered

A record is ``u32 length, u32 crc32, payload``; the payload is one collection: ``i64
timestamp_ms, u32 count`` then, zlib-compressed, ``count`` times ``u32 key length, key, f64
value``, where the key is the series' labels already encoded as remote-write ``Label`` fields.
A torn record at the tail (the agent died while writing) is cut off at start-up.

The spool never holds more than ``max_bytes`` of segments: the oldest segment is deleted first,
and every sample in it that was not delivered is counted in ``dropped``. The cursor is written
after each delivery; if the agent dies between delivery and that write, the batch is sent again,
which Prometheus accepts (same timestamp, same value).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import struct
import threading
import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from common.statefile import write_atomically

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
_STAMP = struct.Struct("<qI")
_KEYLEN = struct.Struct("<I")
_VALUE = struct.Struct("<d")
SUFFIX = ".seg"


def encode_record(timestamp_ms: int, entries: Sequence[tuple[bytes, float]]) -> bytes:
    """A whole record (header included) for one collection."""
    parts: list[bytes] = []
    for key, value in entries:
        parts += (_KEYLEN.pack(len(key)), key, _VALUE.pack(value))
    # zlib level 1 makes a host collection ~5x smaller (its labels repeat) for ~0.15 ms.
    payload = _STAMP.pack(timestamp_ms, len(entries)) + zlib.compress(b"".join(parts), 1)
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def iter_payload(payload: bytes) -> Iterator[tuple[bytes, int, float]]:
    """(key, timestamp_ms, value) of every sample in a record's payload."""
    timestamp, count = _STAMP.unpack_from(payload, 0)
    payload = zlib.decompress(payload[_STAMP.size:])
    pos = 0
    for _ in range(count):
        (klen,) = _KEYLEN.unpack_from(payload, pos)
        pos += 4
        key = payload[pos:pos + klen]
        pos += klen
        (value,) = _VALUE.unpack_from(payload, pos)
        pos += 8
        yield key, timestamp, value


@dataclass
class Segment:
    """One segment file and an index of its records (end offsets, cumulative samples, stamps)."""

    id: int
    path: Path
    size: int = 0
    ends: array[int] = field(default_factory=lambda: array("q"))
    samples: array[int] = field(default_factory=lambda: array("q"))  # cumulative
    stamps: array[int] = field(default_factory=lambda: array("q"))

    @property
    def total(self) -> int:
        """Samples in the whole segment."""
        return self.samples[-1] if self.samples else 0

    def record_at(self, offset: int) -> int:
        """Index of the first record starting at or after ``offset``."""
        return bisect.bisect_right(self.ends, offset)

    def samples_before(self, offset: int) -> int:
        """Samples in the records that end at or before ``offset``."""
        i = self.record_at(offset)
        return self.samples[i - 1] if i else 0

    def add(self, end: int, count: int, stamp: int) -> None:
        """Index one more record."""
        self.ends.append(end)
        self.samples.append(self.total + count)
        self.stamps.append(stamp)
        self.size = end


@dataclass
class Batch:
    """Records read from one segment, not yet delivered."""

    segment: int
    start: int
    end: int
    samples: int
    payloads: list[bytes]
    orphaned: bool = False  # its segment was dropped while the batch was being sent


class Spool:
    """Append-only segments on disk with a delivery cursor, bounded in bytes."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int,
                 segment_bytes: int | None = None) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(4096, min(8 << 20, max_bytes // 8))
        self.dropped = 0  # samples deleted to stay under max_bytes
        self._lock = threading.Lock()
        self._segments: list[Segment] = []
        self._active: BinaryIO | None = None
        self._inflight: Batch | None = None
        self._cursor_path = self.dir / "cursor"
        self._load()
        self._cursor = self._load_cursor()

    # -- start-up -------------------------------------------------------------------------
    def _load(self) -> None:
        for path in sorted(self.dir.glob(f"*{SUFFIX}")):
            try:
                seg_id = int(path.stem)
            except ValueError:
                continue
            self._segments.append(self._scan(Segment(seg_id, path)))

    def _scan(self, seg: Segment) -> Segment:
        data = seg.path.read_bytes()
        pos = 0
        while pos + _HEADER.size <= len(data):
            length, crc = _HEADER.unpack_from(data, pos)
            payload = data[pos + _HEADER.size:pos + _HEADER.size + length]
            if len(payload) != length or zlib.crc32(payload) != crc or length < _STAMP.size:
                break
            stamp, count = _STAMP.unpack_from(payload, 0)
            pos += _HEADER.size + length
            seg.add(pos, count, stamp)
        if pos != len(data):
            log.warning("spool: %s: cutting %d bytes of a torn record", seg.path, len(data) - pos)
            with open(seg.path, "r+b") as f:
                f.truncate(pos)
        seg.size = pos
        return seg

    def _load_cursor(self) -> tuple[int, int]:
        with contextlib.suppress(OSError, ValueError):
            seg_id, offset = (int(x) for x in self._cursor_path.read_text().split())
            if any(s.id == seg_id for s in self._segments):
                return seg_id, offset
            if self._segments and seg_id > self._segments[-1].id:
                return self._segments[-1].id, self._segments[-1].size
        return (self._segments[0].id, 0) if self._segments else (0, 0)

    def _save_cursor(self) -> None:
        write_atomically(self._cursor_path, f"{self._cursor[0]} {self._cursor[1]}\n")

    # -- state ------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Bytes of segment files on disk."""
        return sum(s.size for s in self._segments)

    def pending(self) -> int:
        """Samples not yet delivered."""
        with self._lock:
            return sum(self._unsent(s) for s in self._segments)

    def oldest_timestamp_ms(self) -> int | None:
        """Timestamp of the oldest sample not yet delivered, or None when all are."""
        with self._lock:
            for seg in self._segments:
                if seg.id < self._cursor[0]:
                    continue
                offset = self._cursor[1] if seg.id == self._cursor[0] else 0
                i = seg.record_at(offset)
                if i < len(seg.stamps):
                    return seg.stamps[i]
            return None

    def _unsent(self, seg: Segment) -> int:
        if seg.id < self._cursor[0]:
            return 0
        if seg.id == self._cursor[0]:
            return seg.total - seg.samples_before(self._cursor[1])
        return seg.total

    # -- writing ----------------------------------------------------------------------------
    def append(self, record: bytes, samples: int, timestamp_ms: int) -> int:
        """Append one record (from encode_record); return the samples dropped to make room."""
        with self._lock:
            if len(record) > self.max_bytes:
                self.dropped += samples
                return samples
            dropped = 0
            while self._segments and self.size + len(record) > self.max_bytes:
                dropped += self._drop_oldest()
            if self._active is None or self._segments[-1].size >= self.segment_bytes:
                self._roll()
            seg = self._segments[-1]
            assert self._active is not None
            try:
                self._active.write(record)
                self._active.flush()
            except OSError:
                # Disk full or gone: cut the partial record, or every later one would be lost
                # behind it at the next start.
                with contextlib.suppress(OSError):
                    self._active.close()
                    os.truncate(seg.path, seg.size)
                self._active = open(seg.path, "ab")  # noqa: SIM115 - kept open while active
                raise
            seg.add(seg.size + len(record), samples, timestamp_ms)
            self.dropped += dropped
            return dropped

    def _roll(self) -> None:
        if self._active is not None:
            self._active.close()
        seg_id = self._segments[-1].id + 1 if self._segments else max(1, self._cursor[0])
        seg = Segment(seg_id, self.dir / f"{seg_id:020d}{SUFFIX}")
        self._active = open(seg.path, "ab")  # noqa: SIM115 - kept open while active
        self._segments.append(seg)
        if not any(s.id == self._cursor[0] for s in self._segments[:-1]):
            self._cursor = (seg_id, 0)

    def _drop_oldest(self) -> int:
        seg = self._segments.pop(0)
        inflight = self._inflight
        if inflight is not None and inflight.segment == seg.id and not inflight.orphaned:
            inflight.orphaned = True  # counted when its send ends
            lost = seg.total - seg.samples_before(inflight.end)
        else:
            lost = self._unsent(seg)
        if not self._segments and self._active is not None:
            self._active.close()
            self._active = None
        with contextlib.suppress(FileNotFoundError):
            seg.path.unlink()
        if self._cursor[0] <= seg.id:
            nxt = self._segments[0].id if self._segments else seg.id + 1
            self._cursor = (nxt, 0)
            self._save_cursor()
        if lost:
            log.warning("spool: full (%d bytes): dropped %d unsent samples of %s",
                        self.max_bytes, lost, seg.path.name)
        return lost

    # -- reading ----------------------------------------------------------------------------
    def read(self, max_samples: int) -> Batch | None:
        """The oldest undelivered records of one segment, up to about ``max_samples``."""
        with self._lock:
            while True:
                seg = next((s for s in self._segments if s.id >= self._cursor[0]), None)
                if seg is None:
                    return None
                offset = self._cursor[1] if seg.id == self._cursor[0] else 0
                first = seg.record_at(offset)
                if first < len(seg.ends):
                    break
                if seg is self._segments[-1]:
                    return None  # everything delivered; wait for more
                self._advance_past(seg)
            start = seg.ends[first - 1] if first else 0
            base = seg.samples[first - 1] if first else 0
            last = first
            while last + 1 < len(seg.ends) and seg.samples[last] - base < max_samples:
                last += 1
            end = seg.ends[last]
            with open(seg.path, "rb") as f:
                f.seek(start)
                data = f.read(end - start)
            payloads = []
            pos = 0
            while pos < len(data):
                (length, _) = _HEADER.unpack_from(data, pos)
                payloads.append(data[pos + _HEADER.size:pos + _HEADER.size + length])
                pos += _HEADER.size + length
            batch = Batch(seg.id, start, end, seg.samples[last] - base, payloads)
            self._inflight = batch
            return batch

    def _advance_past(self, seg: Segment) -> None:
        self._segments.remove(seg)
        with contextlib.suppress(FileNotFoundError):
            seg.path.unlink()
        self._cursor = (next((s.id for s in self._segments if s.id > seg.id), seg.id + 1), 0)
        self._save_cursor()

    def done(self, batch: Batch, delivered: bool) -> None:
        """Mark a batch delivered (or given up); a batch that failed is read again later."""
        with self._lock:
            self._inflight = None
            if batch.orphaned:
                if not delivered:
                    self.dropped += batch.samples
                return
            if delivered:
                self._cursor = (batch.segment, batch.end)
                self._save_cursor()

    def close(self) -> None:
        """Close the active segment file."""
        with self._lock:
            if self._active is not None:
                self._active.close()
                self._active = None
