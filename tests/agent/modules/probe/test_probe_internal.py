"""A probe that raises what it does not expect: reason ``internal``, one traceback per change."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import socket
import textwrap
from collections.abc import Iterable, Iterator

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from agent.modules.probe.config import ProbeConfig
from agent.modules.probe.kinds import KINDS, IcmpMode, Prober
from agent.modules.probe.module import ProbeModule
from agent.modules.probe.result import FAILURE_REASON, REASONS, ProbeResult
from agent.modules.probe.targets import DnsTarget
from common.schema import load_yaml

LOGGER = "agent.modules.probe.module"


class _Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


class BuggyProbe:
    """A probe with a bug while ``broken`` is set."""

    broken = True

    def __init__(self, target: DnsTarget, icmp_mode: IcmpMode) -> None:
        self.target = target

    async def probe(self, result: ProbeResult) -> None:
        if BuggyProbe.broken:
            raise KeyError(f"no answer section for {self.target.query_name}")


class UnreachableProbe:
    """A probe that lets the socket's own error through, as a network fault it did not name."""

    def __init__(self, target: DnsTarget, icmp_mode: IcmpMode) -> None:
        self.target = target

    async def probe(self, result: ProbeResult) -> None:
        raise OSError(errno.ENETUNREACH, os.strerror(errno.ENETUNREACH))


def buggy_factory(target: DnsTarget, icmp_mode: IcmpMode) -> Prober:
    return BuggyProbe(target, icmp_mode)


@pytest.fixture
def buggy_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The ``dns`` kind probes with BuggyProbe, through the kinds table."""
    monkeypatch.setitem(KINDS, "dns", dataclasses.replace(KINDS["dns"], factory=buggy_factory))
    monkeypatch.setattr(BuggyProbe, "broken", True)
    yield


@contextlib.contextmanager
def listening() -> Iterator[int]:
    """A loopback TCP port that accepts connections."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def closed_port() -> int:
    """A loopback TCP port nothing listens on."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        return int(server.getsockname()[1])


def module_for(open_port: int, refused_port: int) -> ProbeModule:
    """A probe module with a (buggy) dns target, a reachable and an unreachable tcp target."""
    config = load_yaml(ProbeConfig, textwrap.dedent(f"""
        targets:
          - {{name: resolver, kind: dns, server: 127.0.0.1, query_name: portal.example}}
          - {{name: db, kind: tcp, host: 127.0.0.1, port: {open_port}, timeout: 5s}}
          - {{name: down, kind: tcp, host: 127.0.0.1, port: {refused_port}, timeout: 5s}}
    """), "agent.yml")
    return ProbeModule(config, icmp_mode=lambda: False)


def collect(module: ProbeModule) -> CollectorRegistry:
    """One collection of ``module``, in a fresh registry."""
    registry = CollectorRegistry()
    registry.register(_Families(asyncio.run(module.collect())))
    return registry


def sample(registry: CollectorRegistry, name: str, target: str, kind: str,
           **labels: str) -> float | None:
    return registry.get_sample_value(name, {"target": target, "kind": kind, **labels})


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.exc_info is not None]


@pytest.mark.usefixtures("buggy_dns")
def test_an_unexpected_exception_is_reason_internal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with listening() as port:
        module = module_for(port, closed_port())
        registries = [collect(module) for _ in range(3)]
    for registry in registries:
        assert sample(registry, "probe_success", "resolver", "dns") == 0
        assert sample(registry, "commune_probe_failure_reason", "resolver", "dns",
                      reason="internal") == 1
        assert sample(registry, "commune_probe_failure_reason", "resolver", "dns",
                      reason="connect") is None
        # The other targets still report, a network fault still as such.
        assert sample(registry, "probe_success", "db", "tcp") == 1
        assert sample(registry, "probe_success", "down", "tcp") == 0
        assert sample(registry, "commune_probe_failure_reason", "down", "tcp",
                      reason="connect") == 1
    # Three collections, one traceback: logged when the target turned to that failure.
    [record] = tracebacks(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == ("probe resolver (dns) failing: internal: KeyError: "
                                   "'no answer section for portal.example'")
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert caplog.text.count("Traceback (most recent call last)") == 1
    assert "in probe" in caplog.text  # the frame of the faulty probe
    assert not [r for r in caplog.records if r.exc_info is None and "resolver" in r.getMessage()]


@pytest.mark.usefixtures("buggy_dns")
def test_the_traceback_is_logged_again_after_a_recovery(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with listening() as port:
        module = module_for(port, closed_port())
        collect(module)
        collect(module)
        BuggyProbe.broken = False
        healthy = collect(module)
        BuggyProbe.broken = True
        collect(module)
        collect(module)
    assert sample(healthy, "probe_success", "resolver", "dns") == 1
    resolver = [r.getMessage() for r in caplog.records if "resolver" in r.getMessage()]
    assert resolver == [
        "probe resolver (dns) failing: internal: KeyError: 'no answer section for portal.example'",
        "probe resolver (dns) succeeding again",
        "probe resolver (dns) failing: internal: KeyError: 'no answer section for portal.example'",
    ]
    assert len(tracebacks(caplog)) == 2


def test_an_os_error_a_probe_lets_through_stays_a_connect_fault(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(KINDS, "dns", dataclasses.replace(KINDS["dns"], factory=UnreachableProbe))
    caplog.set_level(logging.INFO, logger=LOGGER)
    with listening() as port:
        module = module_for(port, closed_port())
        registry = collect(module)
        collect(module)
    assert sample(registry, "commune_probe_failure_reason", "resolver", "dns",
                  reason="connect") == 1
    assert sample(registry, "commune_probe_failure_reason", "resolver", "dns",
                  reason="internal") is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and "resolver" in r.getMessage()]
    assert [r.getMessage() for r in warnings] == [
        "probe resolver (dns) failing: connect: OSError: [Errno 101] Network is unreachable"]
    assert warnings[0].exc_info is None


def test_internal_is_a_declared_reason() -> None:
    assert "internal" in REASONS
    assert "internal" in FAILURE_REASON.help
