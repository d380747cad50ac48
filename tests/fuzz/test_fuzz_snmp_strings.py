"""SNMP string rendering against a byte-by-byte model of Go's ``strings.ToValidUTF8`` (what
later snmp_exporter releases apply to DisplayStrings), and against prometheus_client's own
exposition of the label: any bytes an agent sends must come out as one valid label value."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from agent.exposition import render
from agent.modules.snmp.decode import render_string, valid_utf8
from tests.support.fuzzing import fuzz

REPLACEMENT = "\ufffd"


def go_to_valid_utf8(raw: bytes) -> str:
    """Go's algorithm: decode one rune at a time; a run of undecodable bytes becomes one
    U+FFFD (a U+FFFD that was in the input is a valid rune and stays)."""
    out: list[str] = []
    in_invalid_run = False
    i = 0
    while i < len(raw):
        for width in (1, 2, 3, 4):
            try:
                rune = raw[i:i + width].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(rune) == 1:
                out.append(rune)
                i += width
                in_invalid_run = False
                break
        else:
            if not in_invalid_run:
                out.append(REPLACEMENT)
            in_invalid_run = True
            i += 1
    return "".join(out)


# Bytes around the UTF-8 boundaries (continuations, leads, surrogates, overlongs) more often
# than uniform bytes would give them.
edgy = st.lists(st.sampled_from([0x00, 0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED,
                                 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]) | st.integers(0, 255),
                max_size=40).map(bytes)


@fuzz
@given(st.one_of(st.binary(max_size=40), edgy, st.text(max_size=20).map(str.encode)))
def test_display_string_is_go_valid_utf8(raw: bytes) -> None:
    text = valid_utf8(raw)
    assert text == go_to_valid_utf8(raw)
    text.encode("utf-8")  # no lone surrogate survives
    assert render_string("DisplayString", ("OctetString", raw)) == text


@fuzz
@given(st.binary(max_size=12))
def test_phys_address_is_always_six_octets(raw: bytes) -> None:
    text = render_string("PhysAddress48", ("OctetString", raw))
    octets = text.split(":")
    assert len(octets) == 6 and all(len(o) == 2 for o in octets)
    assert bytes.fromhex("".join(octets)) == raw[:6].ljust(6, b"\x00")


@fuzz
@given(st.one_of(st.binary(max_size=40), edgy))
def test_rendered_label_round_trips_through_the_exposition(raw: bytes) -> None:
    family = Metric("ifDescr", "A textual string - 1.3.6.1.2.1.2.2.1.2", "gauge")
    family.add_sample("ifDescr", {"ifDescr": valid_utf8(raw)}, 1.0)
    parsed = list(text_string_to_metric_families(render([family]).decode("utf-8")))
    assert [s.labels["ifDescr"] for s in parsed[0].samples] == [valid_utf8(raw)]
