"""The ``tcp`` and ``h323`` probes: connect time, optional TLS, optional expect/send dialogue."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from typing import Any

from agent.modules.probe.result import CONNECT_DURATION, ProbeFailed, ProbeResult
from agent.modules.probe.targets import H323Target, TcpTarget
from agent.modules.probe.tls import (
    classify_tls_error,
    client_context,
    os_error_text,
    peer_expiry,
    record_expiry,
)


async def resolve(host: str, port: int, type_: int = socket.SOCK_STREAM) -> tuple[int, tuple]:
    """The first (family, address) for ``host``; ProbeFailed('dns') when it does not resolve."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=type_)
    except (socket.gaierror, UnicodeError) as exc:
        raise ProbeFailed("dns", f"cannot resolve {host!r}: {exc}") from None
    family, _, _, _, address = infos[0]
    return family, address


async def connect_socket(sock: socket.socket, address: tuple[Any, ...], port: int) -> None:
    """Connect the non-blocking ``sock``; ProbeFailed("connect") says why it could not."""
    try:
        await asyncio.get_running_loop().sock_connect(sock, address)
    except OSError as exc:
        raise ProbeFailed("connect", f"connect to {address[0]}:{port}: "
                                     f"{os_error_text(exc)}") from None


async def open_tls(sock: socket.socket, context: ssl.SSLContext, server_hostname: str,
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams over a TLS handshake on the connected ``sock``; ProbeFailed("tls") if it fails."""
    try:
        return await asyncio.open_connection(sock=sock, ssl=context,
                                             server_hostname=server_hostname)
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise ProbeFailed("tls", classify_tls_error(exc)) from None
    except OSError as exc:
        raise ProbeFailed("tls", f"TLS handshake: {exc}") from None


async def connect(host: str, port: int, result: ProbeResult,
                  context: ssl.SSLContext | None = None, server_name: str | None = None,
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP (and TLS) connection, recording the connect time and certificate expiry."""
    family, address = await resolve(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    start = time.perf_counter()
    try:
        await connect_socket(sock, address, port)
        connected = time.perf_counter() - start
        result.add(CONNECT_DURATION, connected)
        result.observe_rtt(connected)
        if context is None:
            return await asyncio.open_connection(sock=sock)
        reader, writer = await open_tls(sock, context, server_name or host)
        record_expiry(result, peer_expiry(writer.get_extra_info("ssl_object")))
        return reader, writer
    except BaseException:
        sock.close()
        raise


class TcpProbe:
    """Probes one ``tcp`` or ``h323`` target."""

    def __init__(self, target: TcpTarget | H323Target) -> None:
        self.target = target
        self.context: ssl.SSLContext | None = None
        self.steps: list[tuple[re.Pattern[bytes] | None, bytes | None]] = []
        if isinstance(target, TcpTarget):
            if target.tls:
                self.context = client_context(target.ca_file, target.insecure_skip_verify)
            self.steps = [(re.compile(s.expect.encode()) if s.expect is not None else None,
                           s.send.encode() + b"\r\n" if s.send is not None else None)
                          for s in target.query_response]

    async def probe(self, result: ProbeResult) -> None:
        """Connect, then run the dialogue; raise ProbeFailed on failure."""
        target = self.target
        server_name = target.server_name if isinstance(target, TcpTarget) else None
        if isinstance(target, TcpTarget) and target.expect_closed:
            await self._expect_closed(target, result)
            return
        reader, writer = await connect(target.host, target.port, result, self.context,
                                       server_name)
        try:
            for expect, send in self.steps:
                if expect is not None:
                    await self._expect(reader, expect)
                if send is not None:
                    writer.write(send)
                    await writer.drain()
        finally:
            writer.close()

    @staticmethod
    async def _expect_closed(target: TcpTarget, result: ProbeResult) -> None:
        # A filtered port (no answer at all) is as closed as a refused one.
        budget = max(target.timeout - 0.5, target.timeout / 2)
        try:
            _, writer = await asyncio.wait_for(connect(target.host, target.port, result), budget)
        except asyncio.TimeoutError:
            return
        except ProbeFailed as exc:
            if exc.reason == "connect":
                return
            raise
        writer.close()
        raise ProbeFailed("status", f"port {target.port} on {target.host} is open, "
                                    f"expected closed")

    @staticmethod
    async def _expect(reader: asyncio.StreamReader, pattern: re.Pattern[bytes]) -> None:
        while True:
            try:
                line = await reader.readline()
            except (ConnectionError, ValueError) as exc:
                raise ProbeFailed("connect", f"reading: {exc}") from None
            if not line:
                raise ProbeFailed("content", f"connection closed before a line matching "
                                             f"{pattern.pattern.decode()!r}")
            if pattern.search(line):
                return
