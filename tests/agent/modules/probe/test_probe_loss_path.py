"""The path probe an icmp target runs by itself once its bursts lose packets."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from agent.modules.probe.loss_path import LossPath, LossyHop, first_lossy_hop
from agent.modules.probe.module import ProbeModule
from agent.modules.probe.result import ProbeResult
from agent.modules.probe.targets import IcmpTarget, PathTarget
from common.units import Duration
from tests.support.delay_link import DelayLink
from tests.support.netns import PREFIX, delete_namespace, nft_binary
from tests.support.probe_peers import collect, load_probe_config
from tests.support.samples import maybe_value, samples, value

FIRST_LOSSY = "commune_probe_loss_path_first_lossy_hop"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_runs_on_loss_at_most_once_per_period_and_counts_failures() -> None:
    traced: list[PathTarget] = []
    outcome: list[LossyHop | Exception] = [LossyHop(2, "192.0.2.2")]

    def trace(target: PathTarget) -> LossyHop:
        traced.append(target)
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]

    clock = Clock()
    target = IcmpTarget("gw", "192.0.2.2", path_on_loss=Duration(60))
    path = LossPath(target, trace, clock, lambda: 5.0)
    assert path.after_burst(0.0) is False  # no loss: no trace
    assert path.after_burst(0.1) is True
    path.wait(5)
    assert traced[0].host == "192.0.2.2" and traced[0].count == 10
    clock.now += 59
    assert path.after_burst(0.5) is False  # within the period
    clock.now += 1
    outcome[0] = OSError("no route")
    assert path.after_burst(0.5) is True
    path.wait(5)
    result = ProbeResult()
    path.report(result)
    got = {(spec.name, labels): v for spec, labels, v in result.samples}
    assert got == {("commune_probe_loss_path_runs_total", ()): 2,
                   ("commune_probe_loss_path_failures_total", ()): 1,
                   (FIRST_LOSSY, ("192.0.2.2",)): 2,  # the last trace that worked
                   ("commune_probe_loss_path_timestamp_seconds", ()): 5.0}


def test_the_hop_that_starts_the_loss_is_the_first_of_those_losing_to_the_end() -> None:
    assert first_lossy_hop([(1, "a", 0.0), (2, "b", 0.0), (3, "c", 0.3)]) == LossyHop(3, "c")
    assert first_lossy_hop([(1, "a", 0.0), (2, "b", 0.2), (4, "d", 0.3)]) == LossyHop(2, "b")
    # A rate-limited router whose later hops lose nothing is not where loss starts.
    assert first_lossy_hop([(1, "a", 0.6), (2, "b", 0.0), (3, "c", 0.0)]) == LossyHop(0, "")
    assert first_lossy_hop([]) == LossyHop(0, "")


def test_zero_period_never_traces() -> None:
    path = LossPath(IcmpTarget("gw", "192.0.2.2", path_on_loss=Duration(0)),
                    lambda t: pytest.fail("traced"))
    assert path.after_burst(1.0) is False
    result = ProbeResult()
    path.report(result)
    assert result.samples == []


def test_the_period_is_an_hour_unless_configured() -> None:
    config = load_probe_config("targets: [{name: gw, kind: icmp, host: 192.0.2.2}, "
                               "{name: quiet, kind: icmp, host: 192.0.2.3, path_on_loss: 0s}]")
    assert [t.path_on_loss for t in config.targets] == [3600, 0]  # type: ignore[union-attr]


@pytest.fixture
def two_hops() -> Iterator[tuple[DelayLink, str]]:
    """Root -> router namespace (the link's far end) -> a host namespace that drops 40 % of the
    echo requests it gets. Yields the link and the host's address."""
    with DelayLink(0.0, index=1) as link:
        hosts = list(link.network.hosts())
        router_ip, host_ip = str(hosts[4]), str(hosts[5])
        host_ns = f"{PREFIX}-{os.getpid()}-951"

        def run(*argv: str) -> None:
            subprocess.run(argv, check=True, capture_output=True, timeout=30)

        try:
            run("ip", "netns", "add", host_ns)
            run("ip", "-n", link.namespace, "link", "add", "r0", "type", "veth", "peer",
                "name", "h0", "netns", host_ns)
            run("ip", "-n", link.namespace, "addr", "add", f"{router_ip}/30", "dev", "r0")
            run("ip", "-n", host_ns, "addr", "add", f"{host_ip}/30", "dev", "h0")
            for ns, dev in ((link.namespace, "r0"), (host_ns, "h0"), (host_ns, "lo")):
                run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", host_ns, "route", "add", "default", "via", router_ip)
            # A router that forwards and answers every expired probe (Linux's default limits
            # its "time exceeded" to about one a second per destination, which a trace shows
            # as loss at that hop).
            run("ip", "netns", "exec", link.namespace, "sysctl", "-qw",
                "net.ipv4.ip_forward=1", "net.ipv4.icmp_ratelimit=0")
            subprocess.run(["ip", "netns", "exec", host_ns, nft_binary(), "-f", "-"],
                           input="add table inet loss\n"
                                 "add chain inet loss input { type filter hook input "
                                 "priority 0 ; }\n"
                                 "add rule inet loss input icmp type echo-request "
                                 "numgen random mod 100 < 40 drop\n",
                           text=True, check=True, capture_output=True, timeout=30)
            yield link, host_ip
        finally:
            delete_namespace(host_ns)


@pytest.mark.peer
def test_loss_names_the_hop_that_starts_it(two_hops: tuple[DelayLink, str]) -> None:
    link, host_ip = two_hops
    module = ProbeModule(load_probe_config(f"""
        targets:
          - {{name: far, kind: icmp, host: {host_ip}, count: 20, interval: 10ms,
              packet_timeout: 300ms, path_on_loss: 1h}}
    """))
    [(_, prober)] = module.probers
    first = collect(module)
    assert value(first, "commune_probe_icmp_packet_loss_ratio", target="far") > 0
    assert maybe_value(first, FIRST_LOSSY, target="far") is None  # still tracing
    prober.loss_path.wait(30)  # type: ignore[attr-defined]
    second = collect(module)
    assert samples(second, FIRST_LOSSY) == {
        (("address", host_ip), ("kind", "icmp"), ("target", "far")): 2.0}
    assert value(second, "commune_probe_loss_path_runs_total", target="far") == 1
    assert value(second, "commune_probe_loss_path_failures_total", target="far") == 0
    prober.loss_path.wait(30)  # type: ignore[attr-defined]
    third = collect(module)  # loss again, within the hour: no second trace
    assert value(third, "commune_probe_loss_path_runs_total", target="far") == 1
    assert link.packets > 0
