"""An iperf3 server for the throughput probe's tests, a shaped path, and the probe run in it.

``iperf3_server(bind)`` runs Debian's ``iperf3 -s`` on a free port of ``bind``. ``Bottleneck``
builds three namespaces, province - router - commune, the router's two egresses shaped by
``tc tbf``: the queue builds where packets are forwarded, as at a real access router (a sender's
own interface would not queue much: TCP small queues hold its data back in the socket).
``run_probe`` runs one throughput run of the probe (this module as a script) inside the commune,
and returns the samples it reported: ``{"metric{label,...}": value}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from tests.support.netns import PREFIX, delete_namespace, remove_stale
from tests.support.peer_marker import require_peer
from tests.support.peers import free_port, require_binary, wait_for


@contextlib.contextmanager
def iperf3_server(bind: str, namespace: str | None = None) -> Iterator[int]:
    """``iperf3 -s`` listening on ``bind`` (in ``namespace``, if given); its port."""
    binary = require_binary("iperf3")
    port = free_port() if namespace else free_port(bind)
    wrap = ["ip", "netns", "exec", namespace] if namespace else []
    process = subprocess.Popen([*wrap, binary, "-s", "-B", bind, "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        check = [*wrap, sys.executable, "-c",
                 f"import socket; socket.create_connection(({bind!r}, {port}), timeout=0.5)"]
        wait_for(lambda: subprocess.run(check, capture_output=True, timeout=10).returncode == 0,
                 what=f"iperf3 on {bind}:{port}")
        yield port
    finally:
        process.kill()
        process.wait(timeout=10)


def shape(argv_prefix: list[str], dev: str, rate: str, limit: str, burst: str = "15kb") -> None:
    """Replace ``dev``'s root qdisc with a token bucket of ``rate`` and a ``limit`` queue."""
    subprocess.run([*argv_prefix, "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate",
                    rate, "burst", burst, "limit", limit], check=True, capture_output=True,
                   timeout=30)


class Bottleneck:
    """province (10.77.1.1) - router - commune (10.77.2.2), each a namespace of its own.

    The addresses live only inside the namespaces, so they clash with nothing of this machine.
    """

    province_ip = "10.77.1.1"

    def __init__(self) -> None:
        require_peer("ip netns")
        remove_stale()
        base = f"{PREFIX}-{os.getpid()}-"
        self.province, self.router, self.commune = (f"{base}{90 + i}" for i in range(3))
        try:
            for namespace in (self.province, self.router, self.commune):
                _ip("netns", "add", namespace)
                _ip("-n", namespace, "link", "set", "lo", "up")
            self._pair(self.province, "p0", "10.77.1.1/30", self.router, "rp", "10.77.1.2/30")
            self._pair(self.commune, "c0", "10.77.2.2/30", self.router, "rc", "10.77.2.1/30")
            _ip("-n", self.province, "route", "add", "default", "via", "10.77.1.2")
            _ip("-n", self.commune, "route", "add", "default", "via", "10.77.2.1")
            subprocess.run(self.argv(self.router, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
                           check=True, capture_output=True, timeout=30)
        except subprocess.CalledProcessError:
            self.close()
            raise

    @staticmethod
    def _pair(ns_a: str, if_a: str, ip_a: str, ns_b: str, if_b: str, ip_b: str) -> None:
        _ip("-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
        for namespace, name, address in ((ns_a, if_a, ip_a), (ns_b, if_b, ip_b)):
            _ip("-n", namespace, "addr", "add", address, "dev", name)
            _ip("-n", namespace, "link", "set", name, "up")

    @staticmethod
    def argv(namespace: str, argv: list[str]) -> list[str]:
        """``argv`` run inside ``namespace``."""
        return ["ip", "netns", "exec", namespace, *argv]

    def shape(self, rate: str, limit: str) -> None:
        """Both ways through the router: ``rate``, with a queue of ``limit`` bytes."""
        for dev in ("rc", "rp"):
            shape(self.argv(self.router, []), dev, rate, limit)

    def close(self) -> None:
        """Delete the three namespaces and whatever runs in them."""
        for namespace in (self.province, self.router, self.commune):
            delete_namespace(namespace)

    def __enter__(self) -> Bottleneck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def run_probe(namespace: str, target: dict[str, Any], timeout: float = 120) -> dict[str, float]:
    """One run of a throughput probe of ``target`` inside ``namespace``; its samples."""
    done = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-m",
                           "tests.support.throughput_peer", json.dumps(target)],
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr
    samples: dict[str, float] = json.loads(done.stdout)
    return samples


async def _run(target_fields: dict[str, Any]) -> dict[str, float]:
    from agent.modules.probe.result import ProbeFailed, ProbeResult
    from agent.modules.probe.targets import ThroughputTarget
    from agent.modules.probe.throughput import ThroughputProbe

    target = ThroughputTarget(**target_fields)
    probe = ThroughputProbe(target, lambda: True)
    await probe.run()
    result = ProbeResult()
    with contextlib.suppress(ProbeFailed):
        probe.report(result)
    samples = {f"{spec.name}{{{','.join(labels)}}}": value
               for spec, labels, value in result.samples}
    if result.reason or probe.state.failure:
        samples["failure"] = 1.0
        print(probe.state.failure, file=sys.stderr)
    return samples


if __name__ == "__main__":
    fields = json.loads(sys.argv[1])
    fields["directions"] = tuple(fields.get("directions", ("download", "upload")))
    print(json.dumps(asyncio.run(_run(fields))))
