"""The on-disk spool: every collection is appended to a segment file before it is sent.

Layout of ``spool_dir``::

    00000000000000000001.seg   records, oldest segment first
    00000000000000000002.seg   the active segment, appended to
    cursor                     "SEGMENT OFFSET": everything before it has been delivered

A record is a 36-byte header then its payload (:mod:`agent.push.record`). The header carries
the sample count, the collection time and a sequence number (samples spooled before it), under
a CRC of its own; a second CRC covers the payload. Every record is checked when the segments are
scanned at start-up and again when it is read for sending. A bad record is skipped and its samples
counted in ``corrupt``: from its header if that is intact, otherwise from the sequence number of
the next good record. Only a bad region at the end of the newest segment is a torn tail (the agent
died while writing); it is cut off so appends continue after the last good record.

An append is written with one ``write`` and made durable with ``fdatasync`` before it returns. If
either fails (disk full, I/O error) the segment is cut back to its last good record, the samples
are lost (the caller counts them) and the next append tries again, so spooling resumes by itself
once the disk has room. A power cut therefore loses at most the records being written at that
moment: one collection per module, never a delivered or acknowledged one.

The spool never holds more than ``max_bytes`` of segments: the oldest segment is deleted first,
and every sample in it that was not delivered is counted in ``dropped``. The cursor is written
after each delivery; if the agent dies between delivery and that write, or the cursor cannot be
written, the batch is sent again, which Prometheus accepts (same timestamp, same value).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import logging
import os
import threading
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from agent.push.record import (
    HEADER_SIZE,
    Header,
    Upgrade,
    check_record,
    pack_record,
    payload_header,
    scan_records,
    upgrade_legacy,
)
from common.statefile import write_atomically

log = logging.getLogger(__name__)

SUFFIX = ".seg"
READ_ATTEMPTS = 3  # reads of the same records that fail with an OSError before they are given up


@dataclass
class Segment:
    """One segment file and an index of its good records."""

    id: int
    path: Path
    size: int = 0  # end of the last good record: appends go here
    starts: array[int] = field(default_factory=lambda: array("q"))
    ends: array[int] = field(default_factory=lambda: array("q"))
    samples: array[int] = field(default_factory=lambda: array("q"))  # cumulative
    stamps: array[int] = field(default_factory=lambda: array("q"))
    lost: array[int] = field(default_factory=lambda: array("q"))  # cumulative, damaged before
    lost_tail: int = 0  # samples in damaged data after the last good record
    end_seq: int | None = None  # sequence number after its last record
    disk_size: int = 0  # bytes in the file (the newest segment: more if its tail is torn)

    @property
    def total(self) -> int:
        """Samples in the whole segment."""
        return self.samples[-1] if self.samples else 0

    def record_at(self, offset: int) -> int:
        """Index of the first record that ends after ``offset``."""
        return bisect.bisect_right(self.ends, offset)

    def samples_before(self, offset: int) -> int:
        """Samples in the records that end at or before ``offset``."""
        i = self.record_at(offset)
        return self.samples[i - 1] if i else 0

    def count(self, i: int) -> int:
        """Samples in record ``i``."""
        return self.samples[i] - (self.samples[i - 1] if i else 0)

    def lost_in(self, first: int, last: int) -> int:
        """Samples lost to damage just before records ``first`` to ``last``."""
        return self.lost[last] - (self.lost[first - 1] if first else 0)

    def lost_from(self, i: int) -> int:
        """Samples lost to damage from just before record ``i`` to the end of the segment."""
        total = self.lost[-1] if self.lost else 0
        return total - (self.lost[i - 1] if i else 0) + self.lost_tail

    def add(self, start: int, header: Header, lost: int = 0) -> None:
        """Index one more record, with the samples lost to damage just before it."""
        self.starts.append(start)
        self.ends.append(start + HEADER_SIZE + header.length)
        self.samples.append(self.total + header.count)
        self.stamps.append(header.stamp)
        self.lost.append((self.lost[-1] if self.lost else 0) + lost)
        self.size = start + HEADER_SIZE + header.length
        self.end_seq = header.seq + header.count


@dataclass
class Batch:
    """Records read from one segment, not yet delivered."""

    segment: int
    start: int
    end: int
    samples: int  # in the good records
    payloads: list[bytes]
    counts: list[int]
    corrupt: int = 0  # samples of records that failed their check; counted when the batch is done
    orphaned: bool = False  # its segment was dropped while the batch was being sent


class Spool:
    """Append-only segments on disk with a delivery cursor, bounded in bytes."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int,
                 segment_bytes: int | None = None, fsync: bool = True) -> None:
        """``fsync=False`` (tests) skips every wait for the disk; a power cut may then cost more."""
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(4096, min(8 << 20, max_bytes // 8))
        self.fsync = fsync
        self.dropped = 0  # samples deleted to stay under max_bytes
        self.corrupt = 0  # samples in damaged records, counted as delivery passes them
        self._lock = threading.Lock()
        self._segments: list[Segment] = []
        self._fd: int | None = None  # the newest segment, open for appending
        self._inflight: Batch | None = None
        self._read_failures = (0, 0, 0)  # segment, offset, attempts
        self._cursor_path = self.dir / "cursor"
        self._next_seq = 0
        self._upgraded: dict[int, Upgrade] = {}
        self._load()
        self._cursor = self._load_cursor()
        if self._segments:
            with contextlib.suppress(OSError):  # read-only: repaired before the next append
                self._cut_tail(self._segments[-1], None)

    # -- start-up -------------------------------------------------------------------------
    def _load(self) -> None:
        paths = []
        for path in self.dir.glob(f"*{SUFFIX}"):
            with contextlib.suppress(ValueError):
                paths.append((int(path.stem), path))
        paths.sort()
        for n, (seg_id, path) in enumerate(paths):
            expected = self._segments[-1].end_seq if self._segments else None
            try:
                data = path.read_bytes()
                data = self._upgrade(seg_id, path, data, expected or 0)
            except OSError as exc:
                log.error("spool: cannot read %s (%s): its samples are lost", path, exc)
                continue
            self._segments.append(self._index(Segment(seg_id, path), data, expected,
                                              newest=n == len(paths) - 1))
        if self._segments:
            self._next_seq = self._segments[-1].end_seq or 0

    def _upgrade(self, seg_id: int, path: Path, data: bytes, seq: int) -> bytes:
        """A segment written before records had headers, rewritten in the current layout."""
        upgrade = upgrade_legacy(data, seq)
        if upgrade is None:
            return data
        write_atomically(path, upgrade.data, 0o600)
        self._upgraded[seg_id] = upgrade
        log.info("spool: %s: rewrote %d records in the current layout", path,
                 len(upgrade.new_ends))
        return upgrade.data

    @staticmethod
    def _index(seg: Segment, data: bytes, expected: int | None, newest: bool) -> Segment:
        scan = scan_records(data, expected)
        for start, header, lost in scan.records:
            seg.add(start, header, lost)
        seg.size = scan.good_end
        seg.lost_tail = scan.tail_lost
        damaged = sum(lost for _, _, lost in scan.records) + scan.tail_lost
        if damaged or scan.unknown:
            log.warning("spool: %s: skipping %d samples in damaged records%s", seg.path, damaged,
                        f" and {scan.unknown} damaged stretches holding an unknown number"
                        if scan.unknown else "")
        if newest:  # appends continue after the last good record
            seg.end_seq = scan.good_end_seq if scan.good_end_seq is not None else expected
            seg.disk_size = len(data)
        else:
            seg.end_seq = scan.end_seq if scan.end_seq is not None else expected
        return seg

    def _load_cursor(self) -> tuple[int, int]:
        cursor = (self._segments[0].id, 0) if self._segments else (0, 0)
        with contextlib.suppress(OSError, ValueError):
            seg_id, offset = (int(x) for x in self._cursor_path.read_text().split())
            seg = next((s for s in self._segments if s.id == seg_id), None)
            upgrade = self._upgraded.get(seg_id)
            if upgrade is not None:  # the offset counted in the old layout
                i = bisect.bisect_right(upgrade.old_ends, offset)
                offset = upgrade.new_ends[i - 1] if i else 0
            if seg is not None:
                if offset > seg.size:  # delivered records were damaged after delivery
                    seg.lost_tail = 0
                    offset = seg.size
                cursor = (seg_id, offset)
            elif self._segments and seg_id > self._segments[-1].id:
                self._segments[-1].lost_tail = 0
                cursor = (self._segments[-1].id, self._segments[-1].size)
        return cursor

    def _cut_tail(self, seg: Segment, fd: int | None) -> None:
        """Cut damaged bytes after the newest segment's last good record; count what they held."""
        if seg.disk_size == seg.size:
            return
        log.warning("spool: %s: cutting %d bytes after the last good record", seg.path,
                    seg.disk_size - seg.size)
        if fd is None:
            os.truncate(seg.path, seg.size)
        else:
            os.ftruncate(fd, seg.size)
        seg.disk_size = seg.size
        self.corrupt += seg.lost_tail
        seg.lost_tail = 0

    def _save_cursor(self) -> None:
        text = f"{self._cursor[0]} {self._cursor[1]}\n"
        try:
            if self.fsync:
                write_atomically(self._cursor_path, text)
            else:  # tests: the same rename, without waiting for the disk
                tmp = self._cursor_path.with_suffix(".tmp")
                tmp.write_text(text)
                tmp.replace(self._cursor_path)
        except OSError as exc:  # delivered batches may be sent again after a restart
            log.warning("spool: cannot save the cursor in %s: %s", self.dir, exc)

    # -- state ------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Bytes of segment files on disk."""
        return sum(s.size for s in self._segments)

    def pending(self) -> int:
        """Samples in good records not yet delivered."""
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

    def newest_timestamp_ms(self) -> int | None:
        """Timestamp of the newest record spooled, or None when the spool is empty."""
        with self._lock:
            return next((s.stamps[-1] for s in reversed(self._segments) if s.stamps), None)

    def _unsent(self, seg: Segment) -> int:
        if seg.id < self._cursor[0]:
            return 0
        if seg.id == self._cursor[0]:
            return seg.total - seg.samples_before(self._cursor[1])
        return seg.total

    def _lost_unsent(self, seg: Segment, offset: int) -> int:
        """Samples lost to damage in ``seg`` after ``offset``, not yet counted."""
        i = seg.record_at(offset)
        lost = seg.lost_from(i)
        if i < len(seg.ends) and offset > (seg.ends[i - 1] if i else 0):
            lost -= seg.lost_in(i, i)  # the cursor is past that damage: delivered before it
        return lost

    # -- writing ----------------------------------------------------------------------------
    def append(self, payload: bytes) -> int:
        """Append one payload (from ``encode_payload``); return the samples dropped to make room.

        Raise OSError if the record could not be written; the segment is then as it was.
        """
        stamp, count = payload_header(payload)
        size = HEADER_SIZE + len(payload)
        with self._lock:
            if size > self.max_bytes:
                self.dropped += count
                return count
            dropped = 0
            while self._segments and self.size + size > self.max_bytes:
                dropped += self._drop_oldest()
            self.dropped += dropped
            seg, fd = self._writable()
            try:
                _write_all(fd, pack_record(payload, self._next_seq))
                if self.fsync:
                    os.fdatasync(fd)
            except OSError:
                self._cut_back(seg, fd)
                raise
            seg.add(seg.size, Header(len(payload), count, self._next_seq, stamp, 0))
            seg.disk_size = seg.size
            self._next_seq += count
            return dropped

    def _writable(self) -> tuple[Segment, int]:
        """The segment to append to and its descriptor, opened or rolled over as needed."""
        if not self._segments or self._segments[-1].size >= self.segment_bytes:
            self._close_active()
            self._new_segment()
        seg = self._segments[-1]
        if self._fd is None:
            fd = os.open(seg.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                seg.disk_size = os.fstat(fd).st_size
                self._cut_tail(seg, fd)  # a torn tail, or what a failed append left
            except OSError:
                _close(fd)
                raise
            self._fd = fd
        return seg, self._fd

    def _new_segment(self) -> None:
        seg_id = self._segments[-1].id + 1 if self._segments else max(1, self._cursor[0])
        seg = Segment(seg_id, self.dir / f"{seg_id:020d}{SUFFIX}", end_seq=self._next_seq)
        fd = os.open(seg.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if self.fsync:
                _fsync_dir(self.dir)  # the new name survives a power cut
        except OSError:
            _close(fd)
            raise
        self._fd = fd
        self._segments.append(seg)
        if not any(s.id == self._cursor[0] for s in self._segments[:-1]):
            self._cursor = (seg_id, 0)

    def _cut_back(self, seg: Segment, fd: int) -> None:
        """After a failed append: cut the segment back to its last good record."""
        try:
            os.ftruncate(fd, seg.size)
        except OSError as exc:  # the next append cuts it before writing
            log.error("spool: cannot cut %s back to %d bytes: %s", seg.path, seg.size, exc)
            self._close_active()

    def _close_active(self) -> None:
        if self._fd is not None:
            _close(self._fd)
            self._fd = None

    def _drop_oldest(self) -> int:
        seg = self._segments.pop(0)
        inflight = self._inflight
        if inflight is not None and inflight.segment == seg.id and not inflight.orphaned:
            inflight.orphaned = True  # counted when its send ends
            lost = seg.total - seg.samples_before(inflight.end)
            self.corrupt += self._lost_unsent(seg, inflight.end)
        else:
            lost = self._unsent(seg)
            if seg.id >= self._cursor[0]:
                offset = self._cursor[1] if seg.id == self._cursor[0] else 0
                self.corrupt += self._lost_unsent(seg, offset)
        if not self._segments:
            self._close_active()
        with contextlib.suppress(OSError):
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
        """The oldest undelivered good records of one segment, up to about ``max_samples``.

        Records that fail their check are skipped and counted when the batch is done. Raise
        OSError if the segment cannot be read; after READ_ATTEMPTS failures on the same records
        (at once if the file is gone) they are given up and counted as corrupt.
        """
        with self._lock:
            while True:
                found = self._next_records(max_samples)
                if found is None:
                    return None
                seg, first, last = found
                batch = self._read_batch(seg, first, last)
                if batch.payloads:
                    self._inflight = batch
                    return batch
                self.corrupt += batch.corrupt  # nothing good in it: skip it now
                self._cursor = (seg.id, batch.end)
                self._save_cursor()

    def _next_records(self, max_samples: int) -> tuple[Segment, int, int] | None:
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
        base = seg.samples[first - 1] if first else 0
        last = first
        while last + 1 < len(seg.ends) and seg.samples[last] - base < max_samples:
            last += 1
        return seg, first, last

    def _read_batch(self, seg: Segment, first: int, last: int) -> Batch:
        start, end = seg.starts[first], seg.ends[last]
        try:
            with open(seg.path, "rb") as f:
                f.seek(start)
                data = f.read(end - start)
        except OSError as exc:
            same = self._read_failures[:2] == (seg.id, start)
            attempts = self._read_failures[2] + 1 if same else 1
            self._read_failures = (seg.id, start, attempts)
            if attempts < READ_ATTEMPTS and exc.errno != errno.ENOENT:
                raise
            log.error("spool: cannot read %s (%s): giving its records up", seg.path, exc)
            data = b""
        offset = self._cursor[1] if seg.id == self._cursor[0] else 0
        batch = Batch(seg.id, start, end, 0, [], [])
        batch.corrupt = seg.lost_in(first, last)
        if offset > (seg.ends[first - 1] if first else 0):
            batch.corrupt -= seg.lost_in(first, first)  # that damage was delivered before
        changed = 0
        for i in range(first, last + 1):
            count = seg.count(i)
            payload = check_record(data, seg.starts[i] - start, seg.ends[i] - seg.starts[i],
                                   count, seg.stamps[i])
            if payload is None:
                changed += count
                continue
            batch.payloads.append(payload)
            batch.counts.append(count)
            batch.samples += count
        if changed and data:
            log.warning("spool: %s: skipping %d samples in records damaged on disk", seg.path,
                        changed)
        batch.corrupt += changed
        return batch

    def _advance_past(self, seg: Segment) -> None:
        self.corrupt += seg.lost_tail
        self._segments.remove(seg)
        with contextlib.suppress(OSError):
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
                self.corrupt += batch.corrupt
                return
            if delivered:
                self.corrupt += batch.corrupt
                self._cursor = (batch.segment, batch.end)
                self._save_cursor()

    def give_up(self, batch: Batch) -> None:
        """Drop a batch that can never be sent (its records do not decode); count it corrupt."""
        with self._lock:
            self.corrupt += batch.samples
            batch.samples = 0
        self.done(batch, delivered=True)

    def close(self) -> None:
        """Close the active segment file."""
        with self._lock:
            self._close_active()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "short write")
        view = view[written:]


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):  # the descriptor is released even when close fails
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        _close(fd)
