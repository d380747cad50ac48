"""Fuzz the trap listener's datagram handler: random bytes and damaged traps, informs and v1 traps
(with the right community and a wrong one) never raise; each datagram is counted exactly once,
as a trap or as a drop under a known reason; an acknowledgement answers the inform it got."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.modules.snmp.config import TrapConfig
from agent.modules.snmp.native import RESPONSE, decode_message
from agent.modules.snmp.traps import DROP_REASONS, TrapListener
from common.schema import HostPort
from tests.support.fuzzing import fuzz
from tests.support.mutations import mutated_bytes
from tests.support.snmp_traps import (
    INFORM,
    TRAP_V2,
    huge_arc_trap,
    integer,
    oid,
    padded,
    tlv,
    trap_v1,
    trap_v2,
    v3_message,
    varbind,
)

SECRET = b"fuzz-secret"
communities = st.sampled_from((SECRET, b"public", b"", SECRET + b"x"))
trap_oids = st.lists(st.integers(0, 2 ** 32), min_size=1, max_size=12).map(
    lambda rest: (1, 3, *rest))
extras = st.lists(st.one_of(
    st.tuples(trap_oids, st.binary(max_size=40)).map(lambda t: varbind(t[0], tlv(0x04, t[1]))),
    st.tuples(trap_oids, st.integers(-(2 ** 31), 2 ** 31 - 1)).map(
        lambda t: varbind(t[0], integer(t[1]))),
    trap_oids.map(lambda o: varbind(o, oid(o)))), max_size=4)

notifications = st.one_of(
    st.builds(trap_v2, communities, trap_oids, extras,
              st.sampled_from((TRAP_V2, INFORM, 0xA2, 0xA0)), st.integers(0, 2 ** 31 - 1)),
    st.builds(trap_v1, communities, trap_oids, st.integers(0, 7), st.integers(-5, 2 ** 31)),
    st.builds(huge_arc_trap, communities, st.integers(15, 7000)),
    st.builds(padded, communities, st.sampled_from((300, 1400, 16384, 16385, 64000))),
    st.just(v3_message()),
)


@pytest.fixture(scope="module")
def listener() -> Iterator[TrapListener]:
    os.environ["FUZZ_TRAP_COMMUNITY"] = SECRET.decode()
    try:
        yield TrapListener(TrapConfig(HostPort.parse("127.0.0.1:0"),
                                      community_envs=("FUZZ_TRAP_COMMUNITY",)), {})
    finally:
        del os.environ["FUZZ_TRAP_COMMUNITY"]


def handle_once(listener: TrapListener, data: bytes) -> None:
    """Feed one datagram; check it was counted exactly once, and any reply."""
    before = (sum(listener.counts.values()), sum(listener.dropped.values()))
    reply = listener.receive(data, "192.0.2.9")
    after = (sum(listener.counts.values()), sum(listener.dropped.values()))
    assert after[0] + after[1] == before[0] + before[1] + 1
    assert set(listener.dropped) <= set(DROP_REASONS) - {"internal", "overflow"}
    if reply is not None:
        asked, answer = decode_message(data), decode_message(reply)
        assert asked.pdu_type == INFORM and asked.community == SECRET
        assert answer.pdu_type == RESPONSE and answer.header[0] == asked.header[0]
        assert after[0] == before[0] + 1


@fuzz
@given(st.one_of(st.binary(max_size=1500),
                 st.binary(max_size=400).map(lambda b: b"\x30\x82\x01\x00\x02\x01\x01" + b)))
def test_random_datagrams_are_counted_once(listener: TrapListener, data: bytes) -> None:
    handle_once(listener, data)


@fuzz
@given(mutated_bytes(notifications))
def test_damaged_notifications_are_counted_once(listener: TrapListener, data: bytes) -> None:
    handle_once(listener, data)


@fuzz
@given(notifications)
def test_notifications_are_counted_once(listener: TrapListener, data: bytes) -> None:
    handle_once(listener, data)
