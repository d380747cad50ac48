"""The connection limits' accounting (collector/gateway/limits.py ``Connections``), alone."""

from __future__ import annotations

import pytest

from collector.gateway.limits import Connections, Limited


def test_an_address_is_capped_until_its_connections_show_a_valid_token() -> None:
    limits = Connections(limit=10, per_source=2)
    first, second = limits.admit("192.0.2.7"), limits.admit("192.0.2.7")
    with pytest.raises(Limited) as refused:
        limits.admit("192.0.2.7")
    assert (refused.value.reason, refused.value.status) == ("per_source", 429)
    assert "192.0.2.7 has 2 connections open" in str(refused.value)
    assert "max_connections_per_source" in str(refused.value)
    limits.admit("198.51.100.1").close()  # another address is not affected
    first.proven()
    first.proven()  # once only
    assert limits.unproven("192.0.2.7") == 1
    third = limits.admit("192.0.2.7")
    assert (limits.open, limits.unproven("192.0.2.7")) == (3, 2)
    for conn in (first, second, third):
        conn.close()
    assert (limits.open, limits.unproven("192.0.2.7")) == (0, 0)


def test_max_connections_is_refused_with_503() -> None:
    limits = Connections(limit=2, per_source=5)
    held = [limits.admit("192.0.2.1"), limits.admit("192.0.2.2")]
    with pytest.raises(Limited) as refused:
        limits.admit("192.0.2.3")
    assert (refused.value.reason, refused.value.status) == ("connections", 503)
    held[0].close()
    limits.admit("192.0.2.3")


def test_a_delayed_connection_leaves_max_connections_but_not_its_address() -> None:
    limits = Connections(limit=2, per_source=5)
    waiting = [limits.admit("192.0.2.9") for _ in range(2)]
    assert all(conn.step_aside() for conn in waiting)
    assert (limits.open, limits.delayed, limits.unproven("192.0.2.9")) == (0, 2, 2)
    third = limits.admit("192.0.2.9")  # two slots free again
    assert not third.step_aside()  # the waiting room (max_connections) is full: keeps its slot
    assert (limits.open, limits.delayed) == (1, 2)
    for conn in (*waiting, third):
        conn.close()
        conn.close()  # closing twice gives back nothing more
    assert (limits.open, limits.delayed, limits.unproven("192.0.2.9")) == (0, 0, 0)
