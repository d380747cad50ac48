"""The v5/v9/IPFIX decoders: records as the netflow package reads them, templates per exporter,
what is skipped and counted."""

from __future__ import annotations

import struct

import netflow
import pytest

from agent.modules.flows.netflow import (
    MAX_SCOPES,
    MAX_SCOPES_PER_EXPORTER,
    Templates,
    decode_templated,
    decode_v5,
)
from agent.modules.flows.records import DecodeError
from tests.support.flow_packets import Flow, ipfix, netflow_v5, netflow_v9

FLOWS = [Flow(f"192.168.1.{i + 1}", "203.0.113.5", 1000 * i + 7, i + 1, 40000 + i, 443)
         for i in range(20)]


def _reference(data: bytes) -> list[tuple[int, int, int]]:
    templates: dict[str, dict[int, object]] = {"netflow": {}, "ipfix": {}}
    out = []
    for flow in netflow.parse_packet(data, templates).flows:
        d = flow.data
        octets = d.get("IN_OCTETS") or d.get("IN_BYTES") or d.get("octetDeltaCount")
        sport = d.get("SRC_PORT") or d.get("L4_SRC_PORT") or d.get("sourceTransportPort")
        out.append((octets, sport, d.get("PROTO") or d.get("PROTOCOL") or
                    d.get("protocolIdentifier")))
    return out


@pytest.mark.parametrize("encode", [netflow_v5, netflow_v9, ipfix])
def test_records_match_the_netflow_package(encode: object) -> None:
    data = encode(FLOWS)  # type: ignore[operator]
    if data[1] == 5:
        records = decode_v5(data).records
    else:
        records = decode_templated(data, "192.0.2.1", Templates()).records
    assert [(r.octets, r.sport, r.proto) for r in records] == _reference(data)
    assert records[3].src == bytes([192, 168, 1, 4]) and records[3].packets == 4


def test_v5_sampling_interval_scales_counts() -> None:
    record = decode_v5(netflow_v5(FLOWS[:1], sampling=0x4000 | 100)).records[0]
    assert (record.octets, record.packets) == (700, 100)


def test_v5_count_beyond_the_datagram_is_malformed() -> None:
    with pytest.raises(DecodeError):
        decode_v5(netflow_v5(FLOWS)[:-10])


@pytest.mark.parametrize("encode", [netflow_v9, ipfix])
def test_data_before_its_template_is_counted_missing_then_decoded(encode: object) -> None:
    store = Templates()
    early = decode_templated(encode(FLOWS, template=False), "192.0.2.1", store)  # type: ignore
    assert early.records == [] and early.template_errors == {"missing": 1}
    decode_templated(encode([], template=True), "192.0.2.1", store)  # type: ignore[operator]
    later = decode_templated(encode(FLOWS, template=False), "192.0.2.1", store)  # type: ignore
    assert len(later.records) == 20 and later.template_errors == {}
    # Another exporter's template is its own.
    other = decode_templated(encode(FLOWS, template=False), "192.0.2.2", store)  # type: ignore
    assert other.template_errors == {"missing": 1}


def _in_domain(data: bytes, domain: int) -> bytes:
    """A v9 datagram moved to another source id (the header's last field)."""
    return data[:16] + domain.to_bytes(4, "big") + data[20:]


def test_a_new_scope_evicts_the_least_recently_used_one() -> None:
    store = Templates()
    decode_templated(netflow_v9([]), "192.0.2.250", store)  # the real router, first
    for i in range(MAX_SCOPES - 1):
        decode_templated(netflow_v9([]), f"192.0.2.{i}", store)
    decode_templated(netflow_v9([]), "192.0.2.250", store)  # its template again: recently used
    stranger = decode_templated(netflow_v9(FLOWS), "198.51.100.1", store)
    assert len(stranger.records) == 20 and stranger.template_errors == {"limit": 1}
    # The router kept its templates; the scope evicted was the least recently used one.
    kept = decode_templated(netflow_v9(FLOWS, template=False), "192.0.2.250", store)
    assert len(kept.records) == 20 and kept.template_errors == {}
    lost = decode_templated(netflow_v9(FLOWS, template=False), "192.0.2.0", store)
    assert lost.template_errors == {"missing": 1, "limit": 1}  # its new scope evicts the next
    assert len(store.scopes) == MAX_SCOPES


def test_one_exporter_address_evicts_only_its_own_scopes() -> None:
    store = Templates()
    decode_templated(netflow_v9([]), "192.0.2.250", store)
    for domain in range(10, 10 + MAX_SCOPES):
        flood = decode_templated(_in_domain(netflow_v9([]), domain), "198.51.100.1", store)
    assert flood.template_errors == {"limit": 1}
    assert len(store.scopes) == 1 + MAX_SCOPES_PER_EXPORTER
    kept = decode_templated(netflow_v9(FLOWS, template=False), "192.0.2.250", store)
    assert len(kept.records) == 20 and kept.template_errors == {}


def test_a_template_without_addresses_is_unsupported() -> None:
    fields = struct.pack("!HHHH", 7, 2, 11, 2)  # ports only
    template = struct.pack("!HH", 300, 2) + fields
    data = struct.pack("!HHIIII", 9, 1, 0, 0, 0, 0) + struct.pack("!HH", 0, 4 + len(template)) \
        + template
    assert decode_templated(data, "192.0.2.1", Templates()).template_errors == \
        {"unsupported": 1}


def test_ipfix_variable_length_fields_and_withdrawal() -> None:
    # Template 400: src addr, dst addr, a variable-length field (applicationName), octets.
    fields = struct.pack("!HHHHHHHH", 8, 4, 12, 4, 96, 65535, 1, 8)
    template = struct.pack("!HH", 400, 4) + fields
    record = bytes([192, 168, 1, 9, 203, 0, 113, 1]) + b"\x03abc" + (5000).to_bytes(8, "big")
    sets = struct.pack("!HH", 2, 4 + len(template)) + template + \
        struct.pack("!HH", 400, 4 + 2 * len(record)) + record * 2
    data = struct.pack("!HHIII", 10, 16 + len(sets), 0, 0, 7) + sets
    store = Templates()
    records = decode_templated(data, "192.0.2.1", store).records
    assert [(r.octets, r.packets, r.sport) for r in records] == [(5000, 1, 0)] * 2
    withdraw = struct.pack("!HH", 2, 8) + struct.pack("!HH", 400, 0)
    decode_templated(struct.pack("!HHIII", 10, 16 + len(withdraw), 0, 0, 7) + withdraw,
                     "192.0.2.1", store)
    data_only = sets[4 + len(template):]
    message = struct.pack("!HHIII", 10, 16 + len(data_only), 0, 0, 7) + data_only
    assert decode_templated(message, "192.0.2.1", store).template_errors == {"missing": 1}


@pytest.mark.parametrize("cut", [10, 19, 30, 45])
def test_truncated_v9_is_malformed(cut: int) -> None:
    data = netflow_v9(FLOWS)
    with pytest.raises(DecodeError):
        decode_templated(data[:cut], "192.0.2.1", Templates())


def test_ipfix_length_beyond_the_datagram_is_malformed() -> None:
    with pytest.raises(DecodeError):
        decode_templated(ipfix(FLOWS)[:-4], "192.0.2.1", Templates())
