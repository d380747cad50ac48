"""Fuzzing the spool reader: damaged or arbitrary segment files never raise, never invent a
sample, never count one twice, and cost only the records the damage touched."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agent.push.client import group_records
from agent.push.record import HEADER_SIZE, decode_payload, encode_payload, pack_record
from agent.push.spool import Spool
from tests.support.fuzzing import fuzz

SEGMENT = "00000000000000000001.seg"


@contextmanager
def spool_dir() -> Iterator[Path]:
    """A fresh folder, in memory where the system has one (thousands of cases)."""
    shm = "/dev/shm"
    path = Path(tempfile.mkdtemp(dir=shm if os.path.isdir(shm) else None))
    try:
        yield path
    finally:
        shutil.rmtree(path)


def payload(ident: int, samples: int) -> bytes:
    """Record ``ident``: ``samples`` samples of value ``ident``."""
    return encode_payload(1_700_000_000_000 + ident,
                          [(b"k%d" % s, float(ident)) for s in range(samples)])


def segment(counts: list[int]) -> tuple[bytes, list[tuple[int, int]]]:
    """A segment of records 0, 1, ... with these sample counts; the (start, end) of each."""
    data, spans, seq = b"", [], 0
    for ident, count in enumerate(counts):
        record = pack_record(payload(ident, count), seq)
        spans.append((len(data), len(data) + len(record)))
        data += record
        seq += count
    return data, spans


def drain(spool: Spool) -> list[tuple[int, int]]:
    """(ident, samples) of every record delivered, in order; undecodable ones counted."""
    out = []
    while (batch := spool.read(5)) is not None:
        body, skipped = group_records(batch.payloads, batch.counts)
        assert skipped == 0 and body, "a record that passed its checks decodes"
        for p, count in zip(batch.payloads, batch.counts, strict=True):
            samples = decode_payload(p)
            assert len(samples) == count
            out.append((int(samples[0][2]), count))
        spool.done(batch, delivered=True)
    return out


@fuzz
@given(head=st.lists(st.integers(1, 4), max_size=4), junk=st.binary(max_size=600),
       tail=st.lists(st.integers(1, 4), max_size=3))
def test_any_segment_loads_reads_and_takes_appends(head: list[int], junk: bytes,
                                                   tail: list[int]) -> None:
    valid, _ = segment(head)
    after, _ = segment(tail)
    with spool_dir() as directory:
        (directory / SEGMENT).write_bytes(valid + junk + after)
        spool = Spool(directory, 1 << 20, fsync=False)
        delivered = drain(spool)
        idents = [ident for ident, _ in delivered]
        assert idents[:len(head)] == list(range(len(head))), "good records before junk all come"
        spool.append(payload(99, 2))
        spool.close()
        again = Spool(directory, 1 << 20, fsync=False)
        assert drain(again) == [(99, 2)]
        assert again.corrupt == 0


DAMAGE = st.sampled_from(["flip", "overwrite", "delete", "insert", "truncate"])


@fuzz
@given(counts=st.lists(st.integers(1, 5), min_size=2, max_size=7), kind=DAMAGE,
       where=st.floats(0, 1), length=st.integers(1, 80), noise=st.binary(min_size=1,
                                                                          max_size=80))
def test_damage_costs_only_the_records_it_touches(counts: list[int], kind: str, where: float,
                                                  length: int, noise: bytes) -> None:
    data, spans = segment(counts)
    at = min(int(where * len(data)), len(data) - 1)
    end = min(len(data), at + length)
    if kind == "flip":
        damaged, end = data[:at] + bytes([data[at] ^ 0xA5]) + data[at + 1:], at + 1
    elif kind == "overwrite":
        damaged = data[:at] + noise[:end - at] + data[at + len(noise[:end - at]):]
        end = at + len(noise[:end - at])
    elif kind == "delete":
        damaged = data[:at] + data[end:]
    elif kind == "insert":
        damaged, end = data[:at] + noise + data[at:], at
    else:
        damaged, end = data[:at], len(data)
    with spool_dir() as directory:
        (directory / SEGMENT).write_bytes(damaged)
        spool = Spool(directory, 1 << 20, fsync=False)
        delivered = drain(spool)
        corrupt = spool.corrupt
    idents = [ident for ident, _ in delivered]
    assert idents == sorted(set(idents)), "in order, none repeated"
    assert all(count == counts[ident] for ident, count in delivered), "none invented"
    untouched = [i for i, (s, e) in enumerate(spans) if e <= at or (s >= end and kind != "insert")
                 or (kind == "insert" and (e <= at or s >= at))]
    assert set(untouched) <= set(idents), "a record the damage did not touch was lost"
    total = sum(counts)
    got = sum(count for _, count in delivered)
    assert got + corrupt <= total, "a sample counted twice"
    first_header_whole = at >= HEADER_SIZE
    last_whole = end <= spans[-1][0] and kind != "truncate"
    if first_header_whole and last_whole:
        assert got + corrupt == total, "a lost sample not counted"
