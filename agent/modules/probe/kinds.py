"""The probe kinds, in one table: each ``kind:`` names its targets' config class and their probe.

The config loader picks a target's config class here, the module its probe. Each probe's code
(icmplib, dnspython...) is imported by its factory when a target of its kind is set up, so
loading a config imports no probing library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from agent.modules.probe.result import ProbeResult
from agent.modules.probe.targets import (
    CrlTarget,
    DnsTarget,
    H323Target,
    HttpTarget,
    IcmpTarget,
    OcspTarget,
    PathTarget,
    ScenarioTarget,
    SipTarget,
    Target,
    TcpTarget,
    ThroughputTarget,
)

# Whether this process may open raw ICMP sockets; asked when an ICMP probe first runs.
IcmpMode = Callable[[], bool]
T = TypeVar("T", bound=Target)


class Prober(Protocol):
    """One target's probe."""

    async def probe(self, result: ProbeResult) -> None:
        """Measure into ``result``; raise ProbeFailed on failure."""
        ...


@dataclass(frozen=True)
class ProbeKind(Generic[T]):
    """A probe kind: the config class of its targets, and the factory of their probe."""

    config_class: type[T]
    factory: Callable[[T, IcmpMode], Prober]

    def prober(self, target: Target, icmp_mode: IcmpMode) -> Prober:
        """The probe of ``target``, which must be an instance of ``config_class``."""
        if not isinstance(target, self.config_class):
            raise TypeError(f"a {self.config_class.__name__} probe cannot probe a "
                            f"{type(target).__name__}")
        return self.factory(target, icmp_mode)


def _http(target: HttpTarget, icmp_mode: IcmpMode) -> Prober:
    from agent.modules.probe.http import HttpProbe

    return HttpProbe(target)


def _tcp(target: TcpTarget | H323Target, icmp_mode: IcmpMode) -> Prober:
    from agent.modules.probe.tcp import TcpProbe

    return TcpProbe(target)


def _icmp(target: IcmpTarget, icmp_mode: IcmpMode) -> Prober:
    from agent.modules.probe.icmp import IcmpProbe

    return IcmpProbe(target, icmp_mode)


def _path(target: PathTarget, icmp_mode: IcmpMode) -> Prober:
    from agent.modules.probe.icmp import PathProbe

    return PathProbe(target, icmp_mode)


def _dns(target: DnsTarget, icmp_mode: IcmpMode) -> Prober:
    from agent.modules.probe.dns import DnsProbe

    return DnsProbe(target)


def _sip(target: SipTarget, icmp_mode: IcmpMode) -> Prober:
    from agent.modules.probe.sip import SipProbe

    return SipProbe(target)


def _scenario(target: ScenarioTarget, icmp_mode: IcmpMode) -> Prober:
    from agent.modules.probe.scenario import ScenarioProbe

    return ScenarioProbe(target)


def _ocsp(target: OcspTarget, icmp_mode: IcmpMode) -> Prober:
    from agent.modules.probe.ocsp import OcspProbe

    return OcspProbe(target)


def _crl(target: CrlTarget, icmp_mode: IcmpMode) -> Prober:
    from agent.modules.probe.crl import CrlProbe

    return CrlProbe(target)


def _throughput(target: ThroughputTarget, icmp_mode: IcmpMode) -> Prober:
    from agent.modules.probe.throughput import ThroughputProbe

    return ThroughputProbe(target, icmp_mode)


# Any: each entry pairs its own config class with its factory, checked where it is written.
KINDS: dict[str, ProbeKind[Any]] = {
    "http": ProbeKind(HttpTarget, _http),
    "https": ProbeKind(HttpTarget, _http),
    "tcp": ProbeKind(TcpTarget, _tcp),
    "h323": ProbeKind(H323Target, _tcp),
    "icmp": ProbeKind(IcmpTarget, _icmp),
    "dns": ProbeKind(DnsTarget, _dns),
    "sip": ProbeKind(SipTarget, _sip),
    "path": ProbeKind(PathTarget, _path),
    "scenario": ProbeKind(ScenarioTarget, _scenario),
    "ocsp": ProbeKind(OcspTarget, _ocsp),
    "crl": ProbeKind(CrlTarget, _crl),
    "throughput": ProbeKind(ThroughputTarget, _throughput),
}
