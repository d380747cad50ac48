"""Fuzz the gateway's remote-write relabeler and label checks (collector/gateway/ingest.py).

Generated WriteRequests, valid and not: label names valid, empty, look-alike or repeated,
spoofed identity labels, samples in and out of the time window, odd but valid layouts, then a
byte changed or the tail cut. Whatever comes in, the relabeler refuses it with BadRequest or
Limited, or forwards only what Prometheus would take: every sample of a valid request in the
window, under labels that are valid, sorted, unique and carry the token's identity.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from collector.gateway.config import load_gateway_config
from collector.gateway.ingest import BadRequest, Decoded, Identity, Relabeler, decode
from collector.gateway.limits import Limited
from common import remote_write
from tests.support.fuzzing import fuzz
from tests.support.push_peers import NodeToken, write_gateway_config

TOKEN = NodeToken.new("14797")
VALID_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
NOW_MS = int(time.time() * 1000)
HOUR_MS = 3600_000

NAMES = st.one_of(
    st.sampled_from(["__name__", "job", "commune", "instance", "region", "zone", "_x", "a1"]),
    st.sampled_from(["", "commun\u0435", "0a", "a-b", "a b", "é", "a.b", "__name__\0"]),
    st.from_regex(VALID_NAME, fullmatch=True).filter(lambda s: len(s) < 20),
    st.text(max_size=6),
)
LABELS = st.lists(st.tuples(NAMES, st.text(max_size=8)), max_size=5)
STAMPS = st.one_of(st.integers(NOW_MS - HOUR_MS // 2, NOW_MS + 1000),  # in the window
                   st.integers(-(1 << 63), (1 << 63) - 1))  # anything int64
SAMPLES = st.lists(st.tuples(STAMPS, st.floats(allow_nan=False)), max_size=4)
SERIES = st.lists(st.tuples(LABELS, SAMPLES), max_size=6)


def _relabeler() -> tuple[Relabeler, Identity]:
    path = write_gateway_config(Path(tempfile.mkdtemp(prefix="fuzz-relabel-")) / "g.yml",
                                ["http://127.0.0.1:9/api/v1/write"], [TOKEN],
                                "max_sample_age: 1h\nmax_series_per_request: 5\n"
                                "max_samples_per_request: 12\n")
    relabeler = Relabeler(load_gateway_config(str(path)), {})
    shutil.rmtree(path.parent)
    ident = relabeler.identify(TOKEN.token)
    assert ident is not None
    return relabeler, ident


# One relabeler for every case, so later cases also take the cache's fast path.
RELABELER, IDENT = _relabeler()


def encode(series: list[tuple[list[tuple[str, str]], list[tuple[int, float]]]],
           layout: int) -> bytes:
    """A WriteRequest; ``layout`` 1 puts a label after the samples, 2 adds an exemplar."""
    out = []
    for labels, samples in series:
        encoded = [remote_write.encode_label(n, v) for n, v in labels]
        body = b"".join(remote_write.encode_sample(t, v) for t, v in samples)
        if layout == 1:
            series_body = b"".join(encoded[:1]) + body + b"".join(encoded[1:])
        else:
            series_body = b"".join(encoded) + body
        if layout == 2:
            series_body += b"\x1a\x02\x08\x01"  # field 3 (exemplars): valid, not forwarded
        out.append(b"\x0a" + remote_write.varint(len(series_body)) + series_body)
    return b"".join(out)


def mutate(raw: bytes, how: tuple[int, int, int]) -> bytes:
    """0: as is; 1: one byte changed; 2: cut short."""
    kind, pos, byte = how
    if not raw or kind == 0:
        return raw
    pos %= len(raw)
    if kind == 1:
        return raw[:pos] + bytes((byte,)) + raw[pos + 1:]
    return raw[:pos]


def parsed(raw: bytes) -> Any | None:
    try:
        return remote_write.parse_write_request(raw)
    except ValueError:
        return None


def in_window(stamp: int) -> bool:
    return NOW_MS - HOUR_MS + 60_000 <= stamp <= NOW_MS + 590_000  # with a margin each side


@fuzz
@given(series=SERIES, layout=st.integers(0, 2),
       how=st.tuples(st.sampled_from([0, 0, 1, 2]), st.integers(0, 1 << 16), st.integers(0, 255)))
def test_relabel_refuses_or_forwards_only_valid_series(series: Any, layout: int,
                                                       how: tuple[int, int, int]) -> None:
    raw = mutate(encode(series, layout), how)
    request = parsed(raw)
    try:
        out, count, dropped = RELABELER.relabel(raw, IDENT)
    except BadRequest as exc:
        assert exc.reason in ("protobuf", "label_name")
        if exc.reason == "label_name" and request is not None:
            assert any(_bad_names(ts) for ts in request.timeseries)
        return
    except Limited as exc:
        assert exc.reason in ("series", "samples") and exc.status == 413
        if request is not None:
            assert (len(request.timeseries) > 5
                    or sum(len(ts.samples) for ts in request.timeseries) > 12)
        return
    forwarded = remote_write.parse_write_request(out)  # always valid protobuf
    assert sum(len(ts.samples) for ts in forwarded.timeseries) == count
    for ts in forwarded.timeseries:
        names = [label.name for label in ts.labels]
        assert names == sorted(set(names)), names
        assert all(VALID_NAME.fullmatch(name) for name in names), names
        labels = {label.name: label.value for label in ts.labels}
        assert (labels["commune"], labels["instance"]) == ("14797", "lan-1")
        assert "job" in labels and ts.samples
    if request is None:
        return  # not valid protobuf: decode() refuses it after the walk
    given_samples = sum(len(ts.samples) for ts in request.timeseries)
    assert count + dropped["too_old"] + dropped["too_new"] == given_samples
    wanted = sorted((s.timestamp, s.value) for ts in request.timeseries for s in ts.samples
                    if in_window(s.timestamp))
    got = sorted((s.timestamp, s.value) for ts in forwarded.timeseries for s in ts.samples)
    assert set(wanted) <= set(got)


def _bad_names(ts: Any) -> bool:
    names = [label.name for label in ts.labels]
    return (len(set(names)) != len(names)
            or not all(VALID_NAME.fullmatch(name) for name in names))


@fuzz
@given(series=SERIES, layout=st.integers(0, 2),
       how=st.tuples(st.sampled_from([0, 1, 2]), st.integers(0, 1 << 16), st.integers(0, 255)),
       compressed=st.booleans())
def test_decode_answers_every_body_with_a_result_or_a_refusal(
        series: Any, layout: int, how: tuple[int, int, int], compressed: bool) -> None:
    raw = encode(series, layout)
    body = mutate(remote_write.compress(raw), how) if compressed else mutate(raw, how)
    reserved: list[int] = []
    try:
        result = decode(body, IDENT, RELABELER, 64 << 10, reserved.append)
    except (BadRequest, Limited):
        return
    assert isinstance(result, Decoded) and len(reserved) == 1
    inflated = remote_write.decompress(body, 64 << 10)
    assert reserved == [3 * len(inflated)] and parsed(inflated) is not None


@fuzz
@given(name=st.text(max_size=12))
def test_label_names_are_checked_as_prometheus_defines_them(name: str) -> None:
    series = remote_write.encode_series(
        remote_write.encode_labels([("__name__", "m"), (name, "v")]), [(NOW_MS, 1.0)])
    valid = bool(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name, flags=re.ASCII))
    valid = valid and name != "__name__"  # given twice
    try:
        out, count, _ = RELABELER.relabel(series, IDENT)
    except BadRequest as exc:
        assert exc.reason == "label_name" and not valid, (name, exc)
        return
    assert valid and count == 1, name
    (ts,) = remote_write.parse_write_request(out).timeseries
    assert name in [label.name for label in ts.labels] or name in (
        "commune", "instance", "commune_name", "region", "terrain", "role")
