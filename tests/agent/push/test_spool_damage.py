"""Damaged segments and failed writes: every good record delivered, every lost sample counted."""

from __future__ import annotations

import errno
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.push.client import series_key
from agent.push.record import HEADER_SIZE, decode_payload, encode_payload
from agent.push.spool import Spool

BASE_MS = 1_700_000_000_000


def payload(i: int) -> bytes:
    """Collection ``i``: ``i % 4 + 1`` samples, each of value ``i``."""
    keys = [series_key("test_value", {"s": str(s)}) for s in range(i % 4 + 1)]
    return encode_payload(BASE_MS + i, [(key, float(i)) for key in keys])


def count(i: int) -> int:
    return i % 4 + 1


def fill(directory: Path, records: int, **kwargs: int) -> list[tuple[int, int]]:
    """Spool ``records`` collections; the (start, end) offset of each in its segment."""
    return [(start, end) for _, start, end in fill_segments(directory, records, **kwargs)]


def fill_segments(directory: Path, records: int, **kwargs: int) -> list[tuple[Path, int, int]]:
    """Spool ``records`` collections; the segment, start and end offset of each."""
    spool = Spool(directory, 1 << 20, fsync=False, **kwargs)
    spans = []
    for i in range(records):
        spool.append(payload(i))
        seg = spool._segments[-1]
        spans.append((seg.path, seg.starts[-1], seg.ends[-1]))
    spool.close()
    return spans


def drain(spool: Spool) -> list[int]:
    """Collections delivered, in order (the value of their samples)."""
    out: list[int] = []
    while (batch := spool.read(7)) is not None:
        for p in batch.payloads:
            values = {v for _, _, v in decode_payload(p)}
            assert len(values) == 1
            out.append(int(values.pop()))
        spool.done(batch, delivered=True)
    return out


def peek(spool: Spool) -> list[int]:
    """Collections waiting in the first segment, read as one batch and left undelivered."""
    batch = spool.read(1 << 20)
    if batch is None:
        return []
    spool.done(batch, delivered=False)
    return [int(decode_payload(p)[0][2]) for p in batch.payloads]


def segment(directory: Path) -> Path:
    (only,) = directory.glob("*.seg")
    return only


def test_a_cut_at_every_byte_of_the_last_records_keeps_all_before_it(tmp_path: Path) -> None:
    records = 12
    spans = fill(tmp_path / "orig", records)
    data = segment(tmp_path / "orig").read_bytes()
    assert spans[-1][1] == len(data)
    case = tmp_path / "case"
    case.mkdir()
    path = case / segment(tmp_path / "orig").name
    for cut in range(spans[-2][0], len(data) + 1):  # every byte of the last two records
        path.write_bytes(data[:cut])
        spool = Spool(case, 1 << 20, fsync=False)
        whole = sum(1 for _, end in spans if end <= cut)
        torn = next((i for i, (start, end) in enumerate(spans) if start < cut < end), None)
        assert peek(spool) == list(range(whole)), cut
        # A torn record whose header is whole is counted; one cut inside its header cannot be.
        header_whole = torn is not None and cut >= spans[torn][0] + HEADER_SIZE
        assert spool.corrupt == (count(torn) if header_whole and torn is not None else 0), cut
        assert path.stat().st_size == spans[whole - 1][1], "the torn tail is cut"
        spool.append(payload(100))  # appends continue after the last good record
        spool.close()
        again = Spool(case, 1 << 20, fsync=False)
        assert peek(again) == [*range(whole), 100], cut
        assert again.corrupt == 0, "counted once"


def test_a_damaged_byte_in_the_middle_loses_only_its_record(tmp_path: Path) -> None:
    spans = fill(tmp_path / "orig", 7)
    data = segment(tmp_path / "orig").read_bytes()
    case = tmp_path / "case"
    case.mkdir()
    path = case / segment(tmp_path / "orig").name
    start, end = spans[3]
    for pos in range(start, end):  # every byte of record 3, header and payload
        damaged = bytearray(data)
        damaged[pos] ^= 0xFF
        path.write_bytes(damaged)
        spool = Spool(case, 1 << 20, fsync=False)
        assert spool.corrupt == 0, "counted when delivery passes it, once"
        batch = spool.read(1 << 20)
        assert batch is not None
        assert [int(decode_payload(p)[0][2]) for p in batch.payloads] == [0, 1, 2, 4, 5, 6], pos
        assert batch.corrupt == count(3), pos


def test_a_damaged_first_header_costs_an_unknown_count_only(tmp_path: Path) -> None:
    """Nothing before the first record tells its sequence number: the documented blind spot."""
    fill(tmp_path, 5)
    path = segment(tmp_path)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(data)
    spool = Spool(tmp_path, 1 << 20, fsync=False)
    assert drain(spool) == [1, 2, 3, 4]
    assert spool.corrupt == 0


def test_a_cut_or_missing_older_segment_is_counted_from_sequence_numbers(
        tmp_path: Path) -> None:
    spans = fill_segments(tmp_path, 40, segment_bytes=600)
    paths = sorted({path for path, _, _ in spans})
    assert len(paths) >= 4
    # Segment 1 cut cleanly in its middle (between two records), segment 2 removed.
    in_second = [i for i, (path, _, _) in enumerate(spans) if path == paths[1]]
    cut_after = in_second[len(in_second) // 2]
    os.truncate(paths[1], spans[cut_after][2])
    paths[2].unlink()
    lost = [i for i, (path, _, _) in enumerate(spans)
            if path == paths[2] or (path == paths[1] and i > cut_after)]
    spool = Spool(tmp_path, 1 << 20, fsync=False)
    assert drain(spool) == [i for i in range(40) if i not in lost]
    assert spool.corrupt == sum(count(i) for i in lost)


def test_damage_at_run_time_is_skipped_and_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, fsync=False, segment_bytes=600)
    spans = []
    for i in range(30):
        spool.append(payload(i))
        seg = spool._segments[-1]
        spans.append((seg.path, seg.starts[-1]))
    paths = sorted({path for path, _ in spans})
    # A byte changes in record 2 (first segment) while the agent runs; segment 2 is deleted.
    path, start = spans[2]
    data = bytearray(path.read_bytes())
    data[start + HEADER_SIZE + 3] ^= 0x55
    path.write_bytes(data)
    gone = [i for i, (p, _) in enumerate(spans) if p == paths[1]]
    paths[1].unlink()
    assert drain(spool) == [i for i in range(30) if i != 2 and i not in gone]
    assert spool.corrupt == count(2) + sum(count(i) for i in gone)


def test_a_batch_not_delivered_counts_its_damage_only_once_delivered(tmp_path: Path) -> None:
    spans = fill(tmp_path, 6)
    path = segment(tmp_path)
    data = bytearray(path.read_bytes())
    data[spans[1][0] + HEADER_SIZE + 1] ^= 1
    path.write_bytes(data)
    spool = Spool(tmp_path, 1 << 20, fsync=False)
    batch = spool.read(100)
    assert batch is not None and batch.corrupt == count(1)
    spool.done(batch, delivered=False)
    assert spool.corrupt == 0
    spool.close()
    again = Spool(tmp_path, 1 << 20, fsync=False)
    assert drain(again) == [0, 2, 3, 4, 5]
    assert again.corrupt == count(1)
    again.close()
    data = bytearray(path.read_bytes())
    data[spans[4][0] + HEADER_SIZE + 1] ^= 1  # damage after delivery costs nothing
    path.write_bytes(data)
    third = Spool(tmp_path, 1 << 20, fsync=False)
    assert drain(third) == [] and third.corrupt == 0


class Faults:
    """Make the spool's os calls fail: ``write`` after ``partial`` bytes, and others."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.real = {name: getattr(os, name) for name in
                     ("write", "fdatasync", "ftruncate", "close", "open")}

    def fail(self, name: str, error: int, partial: int | None = None) -> None:
        real: Callable[..., object] = self.real[name]

        def failing(*args: Any) -> object:
            if name == "write" and partial:
                fd, data = args
                real(fd, bytes(data)[:partial])
            if name == "close":
                real(*args)  # the descriptor is released, then the error comes
            raise OSError(error, os.strerror(error))

        self.monkeypatch.setattr(os, name, failing)

    def heal(self) -> None:
        for name, real in self.real.items():
            self.monkeypatch.setattr(os, name, real)


@pytest.mark.parametrize("fault", ["partial-enospc", "fdatasync-eio", "partial-then-no-truncate",
                                   "cannot-open"])
def test_a_failed_append_leaves_the_segment_consistent(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      fault: str) -> None:
    spool = Spool(tmp_path, 1 << 20, segment_bytes=600)
    for i in range(8):
        spool.append(payload(i))
    good = sum(p.stat().st_size for p in tmp_path.glob("*.seg"))
    faults = Faults(monkeypatch)
    if fault == "partial-enospc":
        faults.fail("write", errno.ENOSPC, partial=20)
    elif fault == "fdatasync-eio":
        faults.fail("fdatasync", errno.EIO)
    elif fault == "partial-then-no-truncate":
        faults.fail("write", errno.EIO, partial=50)
        faults.fail("ftruncate", errno.EIO)
        faults.fail("close", errno.EIO)
    else:
        spool.close()  # the next append must open (or roll) the segment again
        faults.fail("open", errno.EMFILE)
    for i in range(8, 11):
        with pytest.raises(OSError):
            spool.append(payload(i))
    faults.heal()
    on_disk = sum(p.stat().st_size for p in tmp_path.glob("*.seg"))
    if fault != "partial-then-no-truncate":
        assert on_disk == good, "cut back to the last good record"
    spool.append(payload(11))  # the disk has room again: spooling resumes by itself
    assert drain(spool) == [*range(8), 11]
    spool.close()
    again = Spool(tmp_path, 1 << 20)
    assert again.corrupt == 0 and again.pending() == 0
    again.append(payload(12))
    assert drain(again) == [12]


def test_a_segment_of_the_older_layout_is_rewritten_and_delivered(tmp_path: Path) -> None:
    """Before records had headers: ``u32 length, u32 crc32, payload``; the cursor in its offsets."""
    old = b""
    ends = []
    for i in range(6):
        p = payload(i)
        old += struct.pack("<II", len(p), zlib.crc32(p)) + p
        ends.append(len(old))
    (tmp_path / "00000000000000000003.seg").write_bytes(old + b"\x07torn")
    (tmp_path / "cursor").write_text(f"3 {ends[1]}\n")  # records 0 and 1 were delivered
    spool = Spool(tmp_path, 1 << 20, fsync=False)
    assert drain(spool) == [2, 3, 4, 5]
    assert spool.corrupt == 0
    spool.append(payload(6))
    spool.close()
    assert drain(Spool(tmp_path, 1 << 20, fsync=False)) == [6]
