"""/proc/net tables: listening sockets parsed, owners found once, same answer as psutil."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from agent.modules.security.config import ListenConfig
from agent.modules.security.listen import ListenCheck
from agent.modules.security.procnet import InodeOwners, ProcSocket, parse_proc_net, read_listening
from agent.modules.security.sockdiag import read_listening_netlink
from tests.support import paths
from tests.support.peers import LOOPBACK, wait_for

FIXTURES = paths.FIXTURES / "security"
TCP6 = (FIXTURES / "proc_net_tcp6").read_text()
UDP = (FIXTURES / "proc_net_udp").read_text()


def test_parse_tcp6_fixture() -> None:
    assert parse_proc_net(TCP6, "tcp") == [
        ProcSocket("tcp", 22, False, 1001),
        ProcSocket("tcp", 631, True, 1002),    # ::1
        ProcSocket("tcp", 8080, True, 1003),   # ::ffff:127.0.0.1
    ]  # the established connection is left out


def test_parse_udp_fixture() -> None:
    assert parse_proc_net(UDP, "udp") == [
        ProcSocket("udp", 161, False, 2001),
        ProcSocket("udp", 53, True, 2002),     # 127.0.0.53
    ]  # the connected client socket is left out


def test_own_socket_found_and_owner_scanned_once() -> None:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        port = sock.getsockname()[1]
        mine = [s for s in read_listening() if s.port == port]
        assert len(mine) == 1 and mine[0].loopback and mine[0].proto == "tcp"
        assert mine[0].inode == os.fstat(sock.fileno()).st_ino
        owners = InodeOwners()
        inodes = {s.inode for s in read_listening()}
        assert owners.resolve(inodes)[mine[0].inode] == os.getpid()
        owners.resolve(inodes)
        assert owners.scans == 1


def test_same_listeners_as_psutil() -> None:
    with socket.socket() as tcp:
        tcp.bind((LOOPBACK, 0))
        tcp.listen()
        port = tcp.getsockname()[1]
        config = ListenConfig(include_loopback=True)
        ours = ListenCheck(config)
        theirs = ListenCheck(config, connections=lambda: psutil.net_connections("inet"))

        def same() -> set[tuple[str, int, str, bool]] | None:
            # Other tests may open or close sockets between the two reads: compare again.
            found = ours.listeners()
            return found if found == theirs.listeners() else None

        found = wait_for(same, 10, what="the same listeners from /proc/net and psutil")
    assert ("tcp", port, psutil.Process().name(), True) in found


def test_socket_handed_to_a_child_is_found_again(tmp_path: Path) -> None:
    """A daemon's parent binds, forks and exits: the owner is looked up again."""
    ready = tmp_path / "port"
    code = ("import os, socket, sys, time\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
            "if os.fork():\n"
            "    open(sys.argv[1], 'w').write(str(s.getsockname()[1]))\n"
            "    time.sleep(1.0); os._exit(0)\n"
            "time.sleep(30)\n")
    parent = subprocess.Popen([sys.executable, "-c", code, str(ready)], start_new_session=True)
    try:
        port = int(wait_for(lambda: ready.exists() and ready.read_text(), 10, what="port"))
        check = ListenCheck(ListenConfig(include_loopback=True))
        first = {p for proto, p, _, _ in check.listeners() if proto == "tcp"}
        assert port in first
        parent.wait(10)
        time.sleep(0.1)
        check.listeners()  # the dead owner is noticed here...
        names = {(p, name) for proto, p, name, _ in check.listeners() if proto == "tcp"}
        assert (port, psutil.Process().name()) in names  # ...and the child found here
    finally:
        os.killpg(parent.pid, 9)


def test_netlink_and_proc_net_agree() -> None:
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind((LOOPBACK, 0))
        tcp.listen()
        udp.bind((LOOPBACK, 0))
        mine = {ProcSocket("tcp", tcp.getsockname()[1], True, os.fstat(tcp.fileno()).st_ino),
                ProcSocket("udp", udp.getsockname()[1], True, os.fstat(udp.fileno()).st_ino)}

        def same() -> set[ProcSocket] | None:
            found = set(read_listening_netlink())
            return found if found == set(read_listening()) else None

        found = wait_for(same, 10, what="the same sockets from sock_diag and /proc/net")
    assert mine <= found
