"""Network namespaces for the tests: each commune node behind links of its own to the province.

``Province()`` takes a private /24 no route of this machine uses (under a lock, so parallel runs
pick different ones) and holds the province's service addresses on a veth pair of the root
namespace: ``services`` (where the stand-in portal and other province targets listen) and
``collector`` (where the gateway listens). ``province.commune(name)`` makes a namespace with two
veth links to the root namespace, each a /30 of the block:

- ``uplink``: the commune's uplink to the province's services (routes to ``services``);
- ``collector_link``: its path to the collector (routes to ``collector``).

A link is cut with ``ip link set down`` on its province end (the node keeps its interface, its
packets vanish as on a cut line) and made lossy with an nftables ``numgen random mod 100 < N
drop`` rule in the commune's namespace (this kernel has no netem). ``close()`` kills every process
left in the namespaces, deletes their nft tables, the namespaces and the veths; a run killed
before it could clean up is cleaned up by the next one (names carry the owner's pid).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.peer_marker import require_peer

PREFIX = "cbox"  # namespaces cbox-PID-N, interfaces cbPID...: ours, and whose run made them
POOL = ipaddress.IPv4Network("10.200.0.0/16")  # the /24 blocks tried, in order
LOCK = Path("/run/lock/commune-monitor-netns.lock")
LOSS_TABLE = "commune_box_loss"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30,
                          check=check)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_pids(namespace: str) -> None:
    """SIGKILL every process still running in ``namespace``."""
    done = _ip("netns", "pids", namespace, check=False)
    for pid in done.stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def remove_stale() -> list[str]:
    """Delete the namespaces and interfaces of runs whose process is gone; their names."""
    removed = []
    for name in _ip("netns", "list", check=False).stdout.split():
        m = re.fullmatch(rf"{PREFIX}-(\d+)-\d+", name)
        if m and not _alive(int(m[1])):
            _kill_pids(name)
            _ip("netns", "del", name, check=False)
            removed.append(name)
    links = json.loads(_ip("-j", "link", "show", check=False).stdout or "[]")
    for link in links:
        m = re.fullmatch(r"cb(\d+)[a-z]\d*[a-z]?", link.get("ifname", ""))
        if m and not _alive(int(m[1])):
            _ip("link", "del", link["ifname"], check=False)
            removed.append(link["ifname"])
    return removed


def _used_networks() -> list[ipaddress.IPv4Network]:
    routes = json.loads(_ip("-j", "route", "show", "table", "all", check=False).stdout or "[]")
    used = []
    for route in routes:
        dst = route.get("dst", "")
        with contextlib.suppress(ValueError):
            if dst and dst != "default":
                net = ipaddress.ip_network(dst, strict=False)
                if isinstance(net, ipaddress.IPv4Network):
                    used.append(net)
    return used


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def free_block() -> Iterator[ipaddress.IPv4Network]:
    """Under the pool's lock, a /24 of the pool no route uses; claim it with a route before
    leaving the ``with`` block, as ``Province`` does."""
    with _locked():
        used = _used_networks()
        yield next(net for net in POOL.subnets(new_prefix=24)
                   if not any(net.overlaps(u) for u in used))


def delete_namespace(namespace: str) -> None:
    """Kill every process left in ``namespace``, then delete it."""
    _kill_pids(namespace)
    _ip("netns", "del", namespace, check=False)


@dataclass
class Link:
    """One veth pair: ``host_if``/``host_ip`` in the root namespace, ``node_if``/``node_ip`` in
    the commune's."""

    namespace: str
    host_if: str
    node_if: str
    host_ip: str
    node_ip: str
    loss: int = 0

    def cut(self) -> None:
        """Take the province end down: the node's packets go nowhere."""
        _ip("link", "set", self.host_if, "down")

    def restore(self) -> None:
        """Bring the province end back up (its address and route come back with it)."""
        _ip("link", "set", self.host_if, "up")
        deadline = time.monotonic() + 10
        while not self._carrier() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _carrier(self) -> bool:
        [info] = json.loads(_ip("-j", "link", "show", self.host_if).stdout)
        return bool(info.get("operstate") == "UP")

    def is_up(self) -> bool:
        """Whether the province end is up."""
        [info] = json.loads(_ip("-j", "link", "show", self.host_if).stdout)
        return "UP" in info.get("flags", [])

    def set_loss(self, percent: int) -> None:
        """Drop ``percent`` % of the packets each way at random (0 removes the rule)."""
        if not 0 <= percent <= 100:
            raise ValueError(f"loss {percent}: expected 0-100")
        chain = f"loss_{self.node_if}"
        script = [f"add table inet {LOSS_TABLE}",
                  f"add chain inet {LOSS_TABLE} {chain}_out "
                  "{ type filter hook output priority 0 ; }",
                  f"add chain inet {LOSS_TABLE} {chain}_in "
                  "{ type filter hook input priority 0 ; }",
                  f"flush chain inet {LOSS_TABLE} {chain}_out",
                  f"flush chain inet {LOSS_TABLE} {chain}_in"]
        if percent:
            script += [f'add rule inet {LOSS_TABLE} {chain}_out oifname "{self.node_if}" '
                       f"numgen random mod 100 < {percent} drop",
                       f'add rule inet {LOSS_TABLE} {chain}_in iifname "{self.node_if}" '
                       f"numgen random mod 100 < {percent} drop"]
        subprocess.run(["ip", "netns", "exec", self.namespace, nft_binary(), "-f", "-"],
                       input="\n".join(script) + "\n", text=True, check=True,
                       capture_output=True, timeout=30)
        self.loss = percent


def nft_binary() -> str:
    """nft from Debian's nftables (scripts/install-peers.sh)."""
    for path in ("/usr/sbin/nft", "/sbin/nft"):
        if os.access(path, os.X_OK):
            return path
    import pytest
    pytest.fail("nft is not installed; run scripts/install-peers.sh (make peers)")


@dataclass
class Commune:
    """A commune node's namespace and its two links to the province."""

    name: str
    namespace: str
    uplink: Link
    collector_link: Link

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def nft_tables(self) -> list[str]:
        """The nftables tables of the namespace."""
        done = subprocess.run(self.argv([nft_binary(), "list", "tables"]), capture_output=True,
                              text=True, timeout=30, check=True)
        return [line.split()[-1] for line in done.stdout.splitlines() if line.strip()]


@dataclass
class Province:
    """A private /24 for the box: the province's addresses and one namespace per commune."""

    pid: int = field(default_factory=os.getpid)
    communes: list[Commune] = field(default_factory=list)
    network: ipaddress.IPv4Network = field(init=False)
    services: str = field(init=False)
    collector: str = field(init=False)
    _hold: str = field(init=False)

    def __post_init__(self) -> None:
        require_peer("ip netns")
        remove_stale()
        self._hold = f"cb{self.pid}h"
        with _locked():
            used = _used_networks()
            self.network = next(net for net in POOL.subnets(new_prefix=24)
                                if not any(net.overlaps(u) for u in used))
            hosts = list(self.network.hosts())
            self.services, self.collector = str(hosts[0]), str(hosts[1])
            # The province's addresses live on a veth pair whose two ends stay in the root
            # namespace (this kernel has no dummy interfaces). Its route claims the /24 for
            # this run (and leads a cut commune's packets nowhere: the other end forwards
            # nothing); it goes when the pair is deleted.
            try:
                _ip("link", "add", self._hold, "type", "veth", "peer", "name", f"{self._hold}p")
                _ip("addr", "add", f"{self.services}/32", "dev", self._hold)
                _ip("addr", "add", f"{self.collector}/32", "dev", self._hold)
                for dev in (self._hold, f"{self._hold}p"):
                    _ip("link", "set", dev, "up")
                _ip("route", "add", str(self.network), "dev", self._hold)
            except subprocess.CalledProcessError:
                self.close()
                raise

    def _link(self, namespace: str, kind: str, index: int, block: int) -> Link:
        base = self.network.network_address + block
        host_ip, node_ip = str(base + 1), str(base + 2)
        host_if, node_if = f"cb{self.pid}{kind}{index}", f"{kind}0"
        _ip("link", "add", host_if, "type", "veth", "peer", "name", f"{host_if}n")
        _ip("link", "set", f"{host_if}n", "netns", namespace)
        _ip("-n", namespace, "link", "set", f"{host_if}n", "name", node_if)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("-n", namespace, "addr", "add", f"{node_ip}/30", "dev", node_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", namespace, "link", "set", node_if, "up")
        return Link(namespace, host_if, node_if, host_ip, node_ip)

    def commune(self, name: str) -> Commune:
        """A new namespace with its uplink (to ``services``) and collector link."""
        index = len(self.communes)
        if index >= 31:
            raise ValueError("a /24 holds 31 communes of two /30 links")
        namespace = f"{PREFIX}-{self.pid}-{index}"
        _ip("netns", "add", namespace)
        commune = Commune(name, namespace, Link(namespace, "", "", "", ""),
                          Link(namespace, "", "", "", ""))
        self.communes.append(commune)
        _ip("-n", namespace, "link", "set", "lo", "up")
        commune.uplink = self._link(namespace, "u", index, 8 * (index + 1))
        commune.collector_link = self._link(namespace, "c", index, 8 * (index + 1) + 4)
        _ip("-n", namespace, "route", "add", f"{self.services}/32", "via",
            commune.uplink.host_ip, "dev", commune.uplink.node_if)
        _ip("-n", namespace, "route", "add", f"{self.collector}/32", "via",
            commune.collector_link.host_ip, "dev", commune.collector_link.node_if)
        return commune

    def close(self) -> list[str]:
        """Remove every process, nft table, namespace and interface of the box; what is left
        (empty when all went)."""
        for commune in self.communes:
            _kill_pids(commune.namespace)
        time.sleep(0.1)
        for commune in self.communes:
            _ip("netns", "del", commune.namespace, check=False)  # its nft tables and veths too
            _ip("link", "del", commune.uplink.host_if, check=False)
            _ip("link", "del", commune.collector_link.host_if, check=False)
        _ip("link", "del", self._hold, check=False)  # and the /24's route with it
        return self.leftovers()

    def leftovers(self) -> list[str]:
        """Namespaces, interfaces and routes of this box that still exist."""
        left = [n for n in _ip("netns", "list", check=False).stdout.split()
                if n.startswith(f"{PREFIX}-{self.pid}-")]
        links = json.loads(_ip("-j", "link", "show", check=False).stdout or "[]")
        left += [link["ifname"] for link in links
                 if link.get("ifname", "").startswith(f"cb{self.pid}")]
        left += [str(net) for net in _used_networks() if net.overlaps(self.network)]
        return left

    def __enter__(self) -> Province:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
