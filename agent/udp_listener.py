"""The UDP sockets of a listener: the SNMP trap listener's and the flows collector's.

Each socket asks for a large receive buffer (the kernel caps it at net.core.rmem_max); every
datagram goes to the receiver's ``receive``, whose answer, if any, is sent back; a ``receive``
that raises counts the datagram as ``dropped["internal"]`` and is logged once. What the kernel
dropped because a socket's queue was full (:func:`~agent.udp_drops.socket_drops`) stays counted
after the socket is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import typing
from collections import Counter
from collections.abc import Iterable
from typing import Protocol

from agent.udp_drops import socket_drops
from common.schema import HostPort


class Receiver(Protocol):
    """What the sockets hand their datagrams to."""

    dropped: Counter[str]

    def receive(self, data: bytes, sender: str) -> bytes | None:
        """Count one datagram; return the answer to send back, if any."""


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, sockets: UdpSockets) -> None:
        self.sockets = sockets
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        receiver = self.sockets.receiver
        try:
            reply = receiver.receive(data, addr[0])
        except Exception:  # a bug here must not flood the log once per datagram
            if not receiver.dropped["internal"]:
                self.sockets.log.exception("%s: a datagram from %s could not be handled",
                                           self.sockets.name, addr[0])
            receiver.dropped["internal"] += 1
            return
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class UdpSockets:
    """The bound sockets of ``receiver``, named ``name`` in the log."""

    def __init__(self, name: str, receiver: Receiver, receive_buffer: int,
                 log: logging.Logger) -> None:
        self.name = name
        self.receiver = receiver
        self.receive_buffer = receive_buffer
        self.log = log
        self._transports: list[asyncio.DatagramTransport] = []
        self._closed_drops = 0  # kernel drops of the sockets closed so far

    async def bind(self, addresses: Iterable[HostPort]) -> None:
        """Bind every address; raises OSError (and binds none) when one cannot be had."""
        loop = asyncio.get_running_loop()
        try:
            for address in addresses:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self), local_addr=(address.host, address.port))
                self._transports.append(typing.cast(asyncio.DatagramTransport, transport))
                sock = transport.get_extra_info("socket")
                with contextlib.suppress(OSError, AttributeError):
                    # Room for a burst (a switch rebooting, exporters at their active timeout);
                    # what still does not fit is counted as the kernel's drops.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        except OSError:
            self.close()
            raise

    @property
    def running(self) -> bool:
        """True while the sockets are bound."""
        return bool(self._transports)

    def bound(self) -> list[tuple[str, int]]:
        """The (host, port) each socket is bound to (port 0 picks one)."""
        return [t.get_extra_info("sockname")[:2] for t in self._transports]

    def drops(self, reasons: Iterable[str], kernel: str = "overflow") -> dict[str, int]:
        """The receiver's drops by reason, every one of ``reasons`` (0 too, for ``rate()``),
        the kernel's counted as ``kernel``."""
        drops = dict.fromkeys(reasons, 0)
        drops.update(self.receiver.dropped)
        drops[kernel] = drops.get(kernel, 0) + self.kernel_drops()
        return drops

    def kernel_drops(self) -> int:
        """Datagrams the kernel dropped (queue full), on the sockets open now and closed."""
        return self._closed_drops + self._open_drops()

    def _open_drops(self) -> int:
        total = 0
        for transport in self._transports:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.fileno() >= 0:
                total += socket_drops(os.fstat(sock.fileno()).st_ino) or 0
        return total

    def close(self) -> None:
        """Unbind the sockets (keeping their kernel drops counted)."""
        self._closed_drops += self._open_drops()
        for transport in self._transports:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                transport.close()
        self._transports = []
