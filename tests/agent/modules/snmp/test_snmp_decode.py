"""Decoding walked values into samples: index types, lookups, enums, strings holding numbers,
and bad replies (wrong types, short indexes) that are counted and left out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.modules.snmp.decode import Decoder, Table, parse_index
from agent.modules.snmp.definitions import Definition, Index, Lookup, Oid, SnmpMetric

COL = Oid.parse("1.3.6.1.4.1.99.1.1.2")
NAMES = Oid.parse("1.3.6.1.4.1.99.1.1.3")


def definition(*metrics: SnmpMetric) -> Definition:
    return Definition(metrics=metrics, labels={"vendor": "x"})


def test_table_with_lookup_and_constant_labels() -> None:
    metric = SnmpMetric("rowValue", COL, "counter", indexes=(Index("idx"),),
                        lookups=(Lookup(("idx",), "rowName", NAMES),), labels={"k": "v"})
    table = Table([((*COL, 1), ("Counter64", 2**64 - 1)), ((*COL, 2), ("Counter32", 0)),
                   ((*NAMES, 1), ("OctetString", b"eth0\x00"))])
    decoder = Decoder(definition(metric), {"site": "a"})
    got = {tuple(sorted(s.labels.items())): s.value for s in decoder.samples(table)}
    # A Counter64 wraps at 2**53 as in snmp_exporter (exact in a float; rate() sees a reset);
    # a DisplayString keeps its NUL padding, as snmp_exporter keeps it.
    assert got == {
        (("idx", "1"), ("k", "v"), ("rowName", "eth0\x00"), ("site", "a"), ("vendor", "x")):
            float(2**53 - 1),
        (("idx", "2"), ("k", "v"), ("rowName", ""), ("site", "a"), ("vendor", "x")): 0.0,
    }
    assert not decoder.dropped


def test_wrong_types_and_malformed_rows_are_counted() -> None:
    metric = SnmpMetric("rowValue", COL, "gauge", indexes=(Index("idx"),))
    table = Table([((*COL, 1), ("OctetString", b"12")), ((*COL, 2), ("ObjectIdentifier", (1, 3))),
                   ((*COL, 3, 9), ("Integer", 5)), ((*COL, 4), ("Gauge32", 7))])
    decoder = Decoder(definition(metric), {})
    assert [(s.labels["idx"], s.value) for s in decoder.samples(table)] == [("4", 7.0)]
    assert decoder.dropped == {"type": 2, "index": 1}


def test_enums_strings_and_numbers_in_text() -> None:
    scalar = Oid.parse("1.3.6.1.4.1.99.2")
    metrics = (
        SnmpMetric("state", scalar, "EnumAsStateSet", enum_values={"1": "up", "2": "down"}),
        SnmpMetric("stateInfo", scalar, "EnumAsInfo", enum_values={"1": "up", "2": "down"}),
        SnmpMetric("loss", Oid.parse("1.3.6.1.4.1.99.3"), "NumberString", scale=0.01),
        SnmpMetric("descr", Oid.parse("1.3.6.1.4.1.99.4"), "DisplayString"),
        SnmpMetric("mac", Oid.parse("1.3.6.1.4.1.99.5"), "PhysAddress48"),
        SnmpMetric("reg", Oid.parse("1.3.6.1.4.1.99.4"), value_map={"Registered": 1}),
        SnmpMetric("bad", Oid.parse("1.3.6.1.4.1.99.6"), "NumberString"),
    )
    table = Table([((*scalar, 0), ("Integer", 2)),
                   ((1, 3, 6, 1, 4, 1, 99, 3, 0), ("OctetString", b"loss: 2.5 %")),
                   ((1, 3, 6, 1, 4, 1, 99, 4, 0), ("OctetString", b"Registered")),
                   ((1, 3, 6, 1, 4, 1, 99, 5, 0), ("OctetString", bytes.fromhex("00a0c9ffee01"))),
                   ((1, 3, 6, 1, 4, 1, 99, 6, 0), ("OctetString", b"n/a"))])
    decoder = Decoder(Definition(metrics=metrics), {})
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in decoder.samples(table)}
    assert got == {
        ("state", (("state", "up"),)): 0.0, ("state", (("state", "down"),)): 1.0,
        ("stateInfo_info", (("stateInfo", "down"),)): 1.0,
        ("loss", ()): 0.025,
        ("descr", (("descr", "Registered"),)): 1.0,
        ("mac", (("mac", "00:A0:C9:FF:EE:01"),)): 1.0,
        ("reg", ()): 1.0,
    }
    assert decoder.dropped == {"type": 1}


def test_string_and_address_indexes() -> None:
    assert parse_index(Index("name", "DisplayString"), (3, 97, 98, 99, 7)) == \
        ("abc", (3, 97, 98, 99))
    assert parse_index(Index("name", "DisplayString", implied=True), (97, 98)) == \
        ("ab", (97, 98))
    assert parse_index(Index("ip", "IpAddr"), (10, 0, 0, 1)) == ("10.0.0.1", (10, 0, 0, 1))
    assert parse_index(Index("mac", "PhysAddress48"), (0, 1, 2, 3, 4, 255)) == \
        ("00:01:02:03:04:FF", (0, 1, 2, 3, 4, 255))
    assert parse_index(Index("name", "DisplayString"), (5, 97)) is None  # too short
    assert parse_index(Index("mac", "PhysAddress48"), (0, 1, 2, 3, 4, 256)) is None
    assert parse_index(Index("i"), ()) is None


@given(st.lists(st.tuples(st.lists(st.integers(0, 2**32), max_size=6),
                          st.one_of(st.tuples(st.just("Integer"), st.integers()),
                                    st.tuples(st.just("OctetString"), st.binary(max_size=8)),
                                    st.tuples(st.just("ObjectIdentifier"),
                                              st.lists(st.integers(0, 9)).map(tuple)))),
                max_size=30))
def test_any_reply_decodes_without_crashing(rows: list) -> None:
    metric = SnmpMetric("v", COL, "gauge", indexes=(Index("a"), Index("b", "DisplayString")),
                        lookups=(Lookup(("b",), "n", NAMES),))
    text = SnmpMetric("t", COL, "NumberString", indexes=(Index("a", "IpAddr"),))
    table = Table([((*COL, *suffix), val) for suffix, val in rows])
    decoder = Decoder(definition(metric, text), {})
    for sample in decoder.samples(table):
        assert isinstance(sample.value, float)
        assert set(sample.labels) >= {"vendor"}
