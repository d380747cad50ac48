"""Hypothesis strategies that damage valid inputs, for the fuzz targets: a few bytes set,
inserted, deleted, cut, repeated, or one byte inserted many times (for BER: long arcs, long
integers), often one of the bytes that matter to BER."""

from __future__ import annotations

from hypothesis import strategies as st

# Bytes that matter to BER: long-form length markers, the universal tags, context tags, 0x80.
_INTERESTING = (0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x30, 0x40, 0x43, 0x46, 0x7F, 0x80, 0x81,
                0x82, 0x84, 0x85, 0x88, 0xA2, 0xA4, 0xA6, 0xA7, 0xFF)
_byte = st.one_of(st.sampled_from(_INTERESTING), st.integers(0, 255))


@st.composite
def mutated_bytes(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """A value of ``base`` with 1 to 4 random edits."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("set", "insert", "delete", "cut", "repeat", "run")))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "set" and data:
            data[at] = draw(_byte)
        elif op == "insert":
            data[at:at] = draw(st.lists(_byte, min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "cut":
            del data[at:]
        elif op == "repeat" and data:  # a chunk doubled: nested lengths no longer add up
            data[at:at] = data[at:at + draw(st.integers(1, 64))]
        elif op == "run":  # one byte many times: long OID arcs, long integers, long lengths
            data[at:at] = bytes((draw(_byte),)) * draw(st.integers(2, 24))
    return bytes(data)


@st.composite
def mutated_text(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """A value of ``base`` with 1 to 4 random edits (any character, quotes and spaces often)."""
    text = list(draw(base))
    chars = st.one_of(st.sampled_from(' "[]\\-/%\t\x00\r\u2028\ufeff0'), st.characters())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("set", "insert", "delete", "cut")))
        at = draw(st.integers(0, max(0, len(text) - 1)))
        if op == "set" and text:
            text[at] = draw(chars)
        elif op == "insert":
            text[at:at] = draw(st.lists(chars, min_size=1, max_size=8))
        elif op == "delete" and text:
            del text[at:at + draw(st.integers(1, 8))]
        elif op == "cut":
            del text[at:]
    return "".join(text)
