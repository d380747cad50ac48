"""Prometheus remote-write 1.0 on the wire: protobuf ``WriteRequest`` bodies, snappy-compressed.

The message types of ``prompb/remote.proto`` and ``prompb/types.proto`` that remote-write 1.0
uses are described here at run time, so no generated code has to match the installed protobuf
runtime. The protobuf library (its C ``upb`` parser) checks every body; the agent encodes its
own bodies with a few lines of wire format, which is faster than building message objects one
label at a time.

    >>> body = encode_write_request([((("__name__", "up"),), [(1700000000000, 1.0)])])
    >>> [ts.samples[0].value for ts in decode_write_request(body).timeseries]
    [1.0]
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

CONTENT_TYPE = "application/x-protobuf"
HEADERS = {
    "Content-Type": CONTENT_TYPE,
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}

Labels = tuple[tuple[str, str], ...]
Sample = tuple[int, float]  # (timestamp in ms, value)


def _describe() -> dict[str, Any]:
    fdp = descriptor_pb2.FileDescriptorProto(name="commune_prompb.proto", package="prometheus",
                                             syntax="proto3")
    F = descriptor_pb2.FieldDescriptorProto

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("Label", ("name", 1, F.TYPE_STRING, opt, ""), ("value", 2, F.TYPE_STRING, opt, ""))
    message("Sample", ("value", 1, F.TYPE_DOUBLE, opt, ""),
            ("timestamp", 2, F.TYPE_INT64, opt, ""))
    message("TimeSeries", ("labels", 1, F.TYPE_MESSAGE, rep, ".prometheus.Label"),
            ("samples", 2, F.TYPE_MESSAGE, rep, ".prometheus.Sample"))
    message("WriteRequest", ("timeseries", 1, F.TYPE_MESSAGE, rep, ".prometheus.TimeSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(fdp.SerializeToString())
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
            for name in ("Label", "Sample", "TimeSeries", "WriteRequest")}


_MESSAGES = _describe()
WriteRequest: Any = _MESSAGES["WriteRequest"]
TimeSeries: Any = _MESSAGES["TimeSeries"]

_DOUBLE = struct.Struct("<d")


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of ``value``; negative int64 values take ten bytes."""
    if value < 0:
        value += 1 << 64
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a varint at ``pos``; return (value, next position). Raise ValueError if cut."""
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def encode_label(name: str, value: str) -> bytes:
    """One ``TimeSeries.labels`` entry, tag included."""
    n, v = name.encode(), value.encode()
    return field_bytes(1, field_bytes(1, n) + field_bytes(2, v))


def encode_labels(labels: Iterable[tuple[str, str]]) -> bytes:
    """The label entries of a TimeSeries, sorted by name as receivers expect."""
    return b"".join(encode_label(n, v) for n, v in sorted(labels))


def encode_sample(timestamp_ms: int, value: float) -> bytes:
    """One ``TimeSeries.samples`` entry, tag included."""
    payload = b"\x09" + _DOUBLE.pack(value) + b"\x10" + varint(timestamp_ms)
    return b"\x12" + varint(len(payload)) + payload


def encode_series(encoded_labels: bytes, samples: Iterable[Sample]) -> bytes:
    """One ``WriteRequest.timeseries`` entry from pre-encoded labels and its samples."""
    body = encoded_labels + b"".join(encode_sample(t, v) for t, v in samples)
    return b"\x0a" + varint(len(body)) + body


def encode_write_request(series: Iterable[tuple[Sequence[tuple[str, str]], Sequence[Sample]]]
                         ) -> bytes:
    """A snappy-compressed WriteRequest body from (labels, samples) pairs."""
    raw = b"".join(encode_series(encode_labels(labels), samples) for labels, samples in series)
    return compress(raw)


def compress(raw: bytes) -> bytes:
    """Snappy block format, as remote-write requires (not the framed stream format)."""
    return bytes(cramjam.snappy.compress_raw(raw))


def decompress(body: bytes, limit: int) -> bytes:
    """Undo snappy; raise ValueError on a corrupt body or one inflating past ``limit`` bytes."""
    try:  # a snappy block starts with the uncompressed length, as a varint
        size, _ = read_varint(body, 0)
    except ValueError:
        raise ValueError("bad snappy header: no length") from None
    if size > limit:
        raise OverflowError(f"body inflates to {size} bytes, more than the {limit} allowed")
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:
        raise ValueError(f"bad snappy data: {exc}") from None


def parse_write_request(raw: bytes) -> Any:
    """Parse an uncompressed WriteRequest; raise ValueError if it is not valid protobuf."""
    request = WriteRequest()
    try:
        request.ParseFromString(raw)
    except Exception as exc:  # google.protobuf.message.DecodeError and friends
        raise ValueError(f"bad protobuf: {exc}") from None
    return request


def decode_write_request(body: bytes, limit: int = 64 << 20) -> Any:
    """Decompress and parse a remote-write body (used by tests and tools)."""
    return parse_write_request(decompress(body, limit))
