"""A link with a known delay, made in userspace: this kernel has no netem.

``DelayLink()`` opens two TUN devices: one stays in the root namespace with ``near`` (its peer
``far``), the other goes to a new namespace with ``far``. A thread of the test copies every packet
from one device to the other after ``delay`` seconds each way, so ICMP and TCP handshakes to
``far`` take ``2 × delay`` more, whatever the kernel's own handling. Run a server in the namespace
with ``link.argv([...])``. The /24 is taken from the pool of ``tests.support.netns`` under its lock
(a route claims it), and names carry the pid, so a killed run's leftovers go with the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import os
import select
import struct
import subprocess
import threading
import time
from collections.abc import Sequence

from tests.support.netns import PREFIX, delete_namespace, free_block, remove_stale
from tests.support.peer_marker import require_peer


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=True)


TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class DelayLink:
    """Root namespace ``near`` <-> namespace ``namespace`` ``far``, ``delay`` seconds each way."""

    def __init__(self, delay: float, index: int = 0) -> None:
        require_peer("ip netns")
        remove_stale()
        self.delay = delay
        pid = os.getpid()
        self.namespace = f"{PREFIX}-{pid}-{900 + index}"
        self.near_if, far_if = f"cb{pid}d{index}", f"cb{pid}e{index}"
        self.fds: list[int] = []
        self.packets = 0
        self._stop = threading.Event()
        with free_block() as network:
            hosts = list(network.hosts())
            self.near, self.far = str(hosts[0]), str(hosts[1])
            try:
                _ip("netns", "add", self.namespace)
                _ip("-n", self.namespace, "link", "set", "lo", "up")
                self.fds = [_open_tun(self.near_if), _open_tun(far_if)]
                _ip("link", "set", far_if, "netns", self.namespace)
                _ip("-n", self.namespace, "link", "set", far_if, "name", "tun0")
                _ip("addr", "add", self.near, "peer", self.far, "dev", self.near_if)
                _ip("-n", self.namespace, "addr", "add", self.far, "peer", self.near,
                    "dev", "tun0")
                _ip("link", "set", self.near_if, "up")
                _ip("-n", self.namespace, "link", "set", "tun0", "up")
                _ip("route", "add", str(network), "dev", self.near_if)  # claims the /24
            except (subprocess.CalledProcessError, OSError):
                self.close()
                raise
        self.network = network
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the far namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def _relay(self) -> None:
        near, far = self.fds
        other = {near: far, far: near}
        due: list[tuple[float, int, int, bytes]] = []  # (when, seq, destination fd, packet)
        seq = 0
        while not self._stop.is_set():
            now = time.monotonic()
            while due and due[0][0] <= now:
                _, _, fd, packet = heapq.heappop(due)
                with contextlib.suppress(OSError):  # the device went down: a lost packet
                    os.write(fd, packet)
            wait = min(0.05, due[0][0] - now) if due else 0.05
            readable, _, _ = select.select([near, far], [], [], max(wait, 0))
            for fd in readable:
                try:
                    packet = os.read(fd, 65535)
                except OSError:
                    continue
                seq += 1
                self.packets += 1
                heapq.heappush(due, (time.monotonic() + self.delay, seq, other[fd], packet))

    def close(self) -> None:
        """Stop the relay; remove the namespace, its processes and both devices."""
        self._stop.set()
        if hasattr(self, "_thread"):
            self._thread.join(5)
        delete_namespace(self.namespace)
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def __enter__(self) -> DelayLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
