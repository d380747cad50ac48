"""Fuzz the flows listener's datagram handler and the hand-written decoders (sFlow v5, NetFlow
v5/v9, IPFIX): random bytes and damaged exports never raise; each datagram is counted once, as
decoded or as a drop under a known reason; records are well formed; the accounting stays
bounded and its totals match the records it took."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from agent.modules.flows.accounting import Accounting
from agent.modules.flows.apps import AppTable
from agent.modules.flows.listener import DROP_REASONS, FlowListener
from agent.modules.flows.netflow import Templates, decode_templated
from agent.modules.flows.records import DecodeError
from agent.modules.flows.sflow import decode_sflow
from common.schema import HostPort
from tests.support.flow_packets import Flow, ipfix, netflow_v5, netflow_v9, sflow_v5
from tests.support.fuzzing import fuzz
from tests.support.mutations import mutated_bytes

addresses = st.sampled_from(("192.168.1.10", "192.168.1.11", "203.0.113.5", "198.51.100.1",
                             "10.0.0.1"))
flows = st.lists(st.builds(Flow, addresses, addresses, st.integers(0, 2**32 - 1),
                           st.integers(0, 2**32 - 1), st.integers(0, 65535),
                           st.integers(0, 65535), st.sampled_from((6, 17, 1, 132))),
                 max_size=8)
exports = st.one_of(
    flows.map(lambda f: netflow_v5(f[:30])),
    st.tuples(flows, st.booleans()).map(lambda t: netflow_v9(t[0], template=t[1])),
    st.tuples(flows, st.booleans()).map(lambda t: ipfix(t[0], template=t[1])),
    st.tuples(flows, st.integers(1, 4096), st.booleans()).map(
        lambda t: sflow_v5([Flow(f.src, f.dst, f.octets % 9000, 1, f.sport, f.dport, f.proto)
                            for f in t[0]], t[1], raw_header=t[2])))
datagrams = st.one_of(st.binary(max_size=600), exports, mutated_bytes(exports))


APPS = AppTable()  # built once: its port table is large, and it keeps no counts


def _listener() -> FlowListener:
    accounting = Accounting([ipaddress.ip_network("192.168.1.0/24")], APPS, 2, 4, 4)
    return FlowListener((HostPort("127.0.0.1:0"),), accounting)


@fuzz
@given(st.lists(datagrams, min_size=1, max_size=6))
def test_every_datagram_is_counted_once_and_nothing_raises(batch: list[bytes]) -> None:
    listener = _listener()
    for data in batch:
        listener.receive(data, "192.0.2.1")
    decoded = sum(listener.datagrams.values())
    assert decoded + sum(listener.dropped.values()) == len(batch)
    assert set(listener.dropped) <= set(DROP_REASONS)
    accounting = listener.accounting
    assert len(accounting.heavy.entries) <= 2 * accounting.tracked
    counted = sum(v[0] for v in accounting.totals.values())
    assert counted >= 0
    accounting.close_interval()
    assert sum(v[0] for v in accounting.series.values()) == counted


@fuzz
@given(st.one_of(st.binary(max_size=400), mutated_bytes(exports)))
def test_decoders_raise_only_decode_errors_and_yield_sane_records(data: bytes) -> None:
    for decode in (decode_sflow, lambda d: decode_templated(d, "192.0.2.1", Templates())):
        try:
            decoded = decode(data)
        except DecodeError:
            continue
        for record in decoded.records:
            assert len(record.src) in (4, 16) and len(record.dst) in (4, 16)
            assert record.octets >= 0 and record.packets >= 0
