"""Listening sockets from the kernel's sock_diag netlink interface (what ``ss`` uses).

The kernel filters by state, so only listening TCP and unconnected UDP sockets cross into user
space: the cost does not grow with the established connections of a busy server, unlike reading
``/proc/net/tcp``. Linux only; the caller falls back to ``/proc/net`` when this raises OSError.
"""

from __future__ import annotations

import socket
import struct

from agent.modules.security.procnet import ProcSocket

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
TCP_CLOSE, TCP_LISTEN = 7, 10  # UDP sockets without a peer are in TCP_CLOSE

_NLMSGHDR = struct.Struct("=IHHII")
# inet_diag_req_v2: family, protocol, ext, pad, states, then inet_diag_sockid (48 bytes).
_REQUEST = struct.Struct("=BBBxI48x")
# inet_diag_msg: family, state, timer, retrans, sockid(sport, dport, src[16], dst[16], if,
# cookie[2]), expires, rqueue, wqueue, uid, inode.
# Ports are in network byte order (socket.ntohs).
_MESSAGE = struct.Struct("=BBBBHH16s16sI8xIIIII")
_LOOPBACK_V6 = socket.inet_pton(socket.AF_INET6, "::1")
_MAPPED_PREFIX = bytes(10) + b"\xff\xff"


def _loopback(family: int, address: bytes) -> bool:
    if family == socket.AF_INET:
        return address[0] == 127
    if address == _LOOPBACK_V6:
        return True
    return address.startswith(_MAPPED_PREFIX) and address[12] == 127


def dump(family: int, protocol: int, states: int) -> list[ProcSocket]:
    """The sockets of one family and protocol in ``states`` (a bit mask of TCP states)."""
    proto = "tcp" if protocol == socket.IPPROTO_TCP else "udp"
    request = _REQUEST.pack(family, protocol, 0, states)
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(request), SOCK_DIAG_BY_FAMILY,
                            NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    found: list[ProcSocket] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as sock:
        sock.settimeout(5)
        sock.sendto(header + request, (0, 0))
        while True:
            data = sock.recv(1 << 16)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    raise OSError("malformed netlink message")
                body = offset + _NLMSGHDR.size
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR:
                    errno = -struct.unpack_from("=i", data, body)[0]
                    raise OSError(errno, f"sock_diag {proto}: error {errno}")
                if kind == SOCK_DIAG_BY_FAMILY:
                    (msg_family, _, _, _, sport, dport, src, _, _,
                     _, _, _, _, inode) = _MESSAGE.unpack_from(data, body)
                    if proto == "tcp" or dport == 0:  # a UDP socket with a peer is a client
                        size = 4 if msg_family == socket.AF_INET else 16
                        found.append(ProcSocket(proto, socket.ntohs(sport),
                                                _loopback(msg_family, src[:size]), inode))
                offset += (length + 3) & ~3


def read_listening_netlink() -> list[ProcSocket]:
    """Listening TCP and unconnected UDP sockets, IPv4 and IPv6; OSError if unavailable."""
    found: list[ProcSocket] = []
    for family in (socket.AF_INET, socket.AF_INET6):
        found += dump(family, socket.IPPROTO_TCP, 1 << TCP_LISTEN)
        found += dump(family, socket.IPPROTO_UDP, 1 << TCP_CLOSE)
    return found
