"""Listening sockets straight from Linux's ``/proc/net/{tcp,tcp6,udp,udp6}``, and their processes.

psutil's ``net_connections`` parses every socket and maps each inode to its process by reading
every ``/proc/PID/fd`` link at each call. Only listening sockets matter here, and a listening
socket keeps its inode and its process for its whole life, so the fd scan runs only when a
listening inode appears that was not seen before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TCP_LISTEN = "0A"
_LOOPBACK_V6 = "00000000000000000000000001000000"
_MAPPED_PREFIX = "0000000000000000FFFF0000"


@dataclass(frozen=True)
class ProcSocket:
    """A listening TCP or bound, unconnected UDP socket."""

    proto: str
    port: int
    loopback: bool
    inode: int


def _is_loopback(hex_address: str) -> bool:
    if len(hex_address) == 8:  # IPv4, in host (little-endian) byte order: first octet last
        return hex_address[6:8] == "7F"
    if hex_address == _LOOPBACK_V6:
        return True
    return hex_address.startswith(_MAPPED_PREFIX) and hex_address[30:32] == "7F"


def parse_proc_net(text: str, proto: str) -> list[ProcSocket]:
    """The listening (TCP) or unconnected (UDP) sockets of one ``/proc/net/*`` table."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, remote, state = fields[1], fields[2], fields[3]
        if proto == "tcp" and state != _TCP_LISTEN:
            continue
        address, _, port_hex = local.partition(":")
        if proto == "udp" and not remote.endswith(":0000"):
            continue  # connected UDP socket: a client
        found.append(ProcSocket(proto, int(port_hex, 16), _is_loopback(address), int(fields[9])))
    return found


def read_listening(proc_root: Path = Path("/proc")) -> list[ProcSocket]:
    """Every listening socket of this network namespace."""
    found: list[ProcSocket] = []
    for table, proto in (("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp")):
        try:
            text = (proc_root / "net" / table).read_text()
        except FileNotFoundError:
            continue  # no IPv6 on this host
        found += parse_proc_net(text, proto)
    return found


class InodeOwners:
    """Maps socket inodes to the pid holding them, scanning ``/proc/*/fd`` only for new inodes."""

    def __init__(self, proc_root: Path = Path("/proc")) -> None:
        self.proc_root = proc_root
        self.owners: dict[int, int | None] = {}
        self.scans = 0

    def resolve(self, inodes: set[int]) -> dict[int, int | None]:
        """{inode: pid or None (not visible to this user)} for ``inodes``."""
        if not inodes <= self.owners.keys():
            self._scan(inodes - self.owners.keys())
        # Forget sockets that closed, so the map stays as small as the listening set.
        self.owners = {inode: self.owners.get(inode) for inode in inodes}
        return self.owners

    def forget(self, pids: set[int]) -> None:
        """Drop the inodes owned by ``pids`` (gone), so the next resolve scans for them."""
        if pids:
            self.owners = {i: p for i, p in self.owners.items() if p not in pids}

    def _scan(self, wanted: set[int]) -> None:
        self.scans += 1
        links = {f"socket:[{inode}]": inode for inode in wanted}
        for inode in wanted:
            self.owners[inode] = None
        remaining = len(wanted)
        for entry in os.scandir(self.proc_root):
            if not entry.name.isdigit():
                continue
            fd_dir = os.path.join(entry.path, "fd")
            try:
                fds = os.listdir(fd_dir)
            except OSError:
                continue  # gone, or another user's process
            for fd in fds:
                try:
                    found = links.get(os.readlink(os.path.join(fd_dir, fd)))
                except OSError:
                    continue
                if found is not None and self.owners[found] is None:
                    self.owners[found] = int(entry.name)
                    remaining -= 1
            if remaining == 0:
                return
