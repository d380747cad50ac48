"""The probe kinds table: the one place a ``kind:`` is tied to its config class and its probe."""

from __future__ import annotations

import inspect
import typing

import pytest

from agent.modules.probe.kinds import KINDS
from agent.modules.probe.targets import (
    CrlTarget,
    DnsTarget,
    H323Target,
    HttpTarget,
    IcmpTarget,
    OcspTarget,
    PathTarget,
    ScenarioStep,
    ScenarioTarget,
    SipTarget,
    Target,
    TcpTarget,
    ThroughputTarget,
)
from common.schema import ExistingFile

ONE_OF_EACH: list[Target] = [
    HttpTarget("portal", "http://127.0.0.1:9/"),
    HttpTarget("secure-portal", "https://127.0.0.1:9/", kind="https"),
    TcpTarget("db", "127.0.0.1", 9),
    H323Target("mcu", "127.0.0.1"),
    IcmpTarget("gateway", "127.0.0.1"),
    DnsTarget("resolver", "127.0.0.1", "portal.example"),
    SipTarget("vc", "127.0.0.1"),
    PathTarget("route", "127.0.0.1"),
    ScenarioTarget("login", (ScenarioStep("home", "http://127.0.0.1:9/"),)),
    # Files are read at the first probe, not when the probe is built.
    OcspTarget("ocsp", ExistingFile("/nonexistent/ca.pem"), serial="0x1a",
               url="http://127.0.0.1:9/"),
    CrlTarget("crl", "http://127.0.0.1:9/ca.crl"),
    ThroughputTarget("province", "127.0.0.1"),
]


def test_the_table_covers_every_target_class() -> None:
    assert {kind.config_class for kind in KINDS.values()} == set(typing.get_args(Target))


@pytest.mark.parametrize("cls", typing.get_args(Target))
def test_a_config_class_takes_exactly_the_kinds_that_name_it(cls: type[Target]) -> None:
    declared = set(typing.get_args(typing.get_type_hints(cls)["kind"]))
    assert declared == {name for name, kind in KINDS.items() if kind.config_class is cls}


def test_every_kind_builds_its_probe_without_probing() -> None:
    assert sorted(target.kind for target in ONE_OF_EACH) == sorted(KINDS)
    for target in ONE_OF_EACH:
        prober = KINDS[target.kind].prober(target, lambda: False)
        assert inspect.iscoroutinefunction(prober.probe), target.kind


def test_a_kind_refuses_a_target_of_another_kind() -> None:
    with pytest.raises(TypeError, match="a TcpTarget probe cannot probe a DnsTarget"):
        KINDS["tcp"].prober(DnsTarget("resolver", "127.0.0.1", "portal.example"), lambda: False)
