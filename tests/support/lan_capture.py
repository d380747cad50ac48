"""A LAN in a network namespace, its traffic captured to a pcap file: input for flow exporters.

The namespace holds the LAN hosts (addresses on one veth end); the other end stays in the test's
namespace with the "remote" address, where the servers run. Frames are captured there with an
AF_PACKET socket, so the test knows every byte that crossed the link.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.peers import require_binary

REMOTE = "192.168.77.1"
LAN = "192.168.77.8/29"
HOSTS = ("192.168.77.10", "192.168.77.11", "192.168.77.12")
LOCK = Path("/tmp/commune-monitor-lan-capture.lock")


@dataclass
class Capture:
    """What crossed the link: the pcap file and the IP bytes by (source, destination)."""

    pcap: Path
    ip_frames: int = 0
    ip_bytes: dict[tuple[str, str], int] = field(default_factory=dict)


def _ip(*args: str) -> None:
    subprocess.run([require_binary("ip"), *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def lan_namespace(tag: str) -> Iterator[tuple[str, str]]:
    """A namespace with HOSTS on its veth end; yields (namespace, outer interface).

    REMOTE and its server ports are fixed, so one such LAN exists at a time on the machine: a
    lock file makes other test processes (xdist workers, other checkouts) wait their turn.
    """
    ns, outer, inner = f"cmfl-{tag}", f"cmfl{tag}o", f"cmfl{tag}i"
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield from _namespace(ns, outer, inner)


def _namespace(ns: str, outer: str, inner: str) -> Iterator[tuple[str, str]]:
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns)
        _ip("addr", "add", f"{REMOTE}/24", "dev", outer)
        _ip("link", "set", outer, "up")
        for host in HOSTS:
            _ip("-n", ns, "addr", "add", f"{host}/24", "dev", inner)
        _ip("-n", ns, "link", "set", inner, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        yield ns, outer
    finally:
        subprocess.run(["ip", "link", "del", outer], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


# Run inside the namespace: host .10 uploads over TCP 443 (the top talker), .11 asks DNS and
# NTP over UDP, .12 pulls over TCP 7680 (Delivery Optimization, "windows-update").
_CLIENTS = """
import socket, sys
remote, https, wu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = socket.create_connection((remote, https), source_address=("192.168.77.10", 0))
t.sendall(b"u" * 400_000); t.shutdown(socket.SHUT_WR); t.recv(1); t.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("192.168.77.11", 0))
for _ in range(20): u.sendto(b"q" * 60, (remote, 53))
for _ in range(4): u.sendto(b"n" * 48, (remote, 123))
w = socket.create_connection((remote, wu), source_address=("192.168.77.12", 0))
w.sendall(b"g"); w.shutdown(socket.SHUT_WR)
while w.recv(65536): pass
w.close()
"""


def _serve(listener: socket.socket, download: int) -> None:
    conn, _ = listener.accept()
    with conn:
        if download:
            conn.recv(16)
            conn.sendall(b"d" * download)
        else:
            while conn.recv(65536):
                pass


def make_traffic(ns: str, outer: str, pcap: Path) -> Capture:
    """Run the clients in ``ns`` against servers here while capturing ``outer`` to ``pcap``."""
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    # Room for the whole exchange: a frame the sniffer had no room for is missing from the pcap.
    sniffer.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 32 << 20)
    sniffer.bind((outer, 0))
    sniffer.settimeout(0.1)
    frames: list[tuple[float, bytes]] = []
    stop = threading.Event()

    def sniff() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                frames.append((time.time(), sniffer.recv(65535)))

    servers = []
    for port, download in ((443, 0), (7680, 150_000)):
        listener = socket.create_server((REMOTE, port))
        servers.append(listener)
        threading.Thread(target=_serve, args=(listener, download), daemon=True).start()
    sniffing = threading.Thread(target=sniff, daemon=True)
    sniffing.start()
    try:
        subprocess.run([require_binary("ip"), "netns", "exec", ns, "python3", "-c", _CLIENTS,
                        REMOTE, str(servers[0].getsockname()[1]),
                        str(servers[1].getsockname()[1])], check=True, timeout=30,
                       env={**os.environ, "PYTHONPATH": ""})
        time.sleep(0.3)
    finally:
        stop.set()
        sniffing.join()
        sniffer.close()
        for listener in servers:
            listener.close()
    capture = Capture(pcap)
    with pcap.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
        for stamp, frame in frames:
            out.write(struct.pack("<IIII", int(stamp), int(stamp % 1 * 1e6), len(frame),
                                  len(frame)) + frame)
            if frame[12:14] == b"\x08\x00":
                key = (socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34]))
                length = int.from_bytes(frame[16:18], "big")
                capture.ip_bytes[key] = capture.ip_bytes.get(key, 0) + length
                capture.ip_frames += 1
    return capture
