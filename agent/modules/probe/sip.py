"""The ``sip`` probe: SIP OPTIONS (RFC 3261 11) over UDP, TCP or TLS; status code and RTT.

A VC endpoint or SIP server that answers anything final (200, 403, 404, 405...) has a live SIP
stack; ``valid_status_codes`` narrows that. Over UDP the request is retransmitted with RFC 3261's
timer (500 ms, doubling) until an answer or the target's timeout.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import time

from agent.modules.probe.result import SIP_RTT, SIP_STATUS, ProbeFailed, ProbeResult, Reason
from agent.modules.probe.targets import SipTarget
from agent.modules.probe.tcp import connect, resolve
from agent.modules.probe.tls import client_context
from common import __version__

T1 = 0.5
_STATUS_LINE = re.compile(rb"SIP/2\.0 (\d{3})[^\r\n]*")


def options_request(target: SipTarget, local: tuple[str, int], call_id: str) -> bytes:
    """The OPTIONS request, from ``local`` (address, port)."""
    transport = target.transport.upper()
    host = target.host if ":" not in target.host else f"[{target.host}]"
    uri = target.request_uri or f"sip:{host}:{target.effective_port}"
    local_host = local[0] if ":" not in local[0] else f"[{local[0]}]"
    branch = "z9hG4bK" + secrets.token_hex(8)
    lines = [
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {local_host}:{local[1]};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:commune-agent@{local_host}>;tag={secrets.token_hex(6)}",
        f"To: <{uri}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:commune-agent@{local_host}:{local[1]}>",
        "Accept: application/sdp",
        f"User-Agent: commune-agent/{__version__}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_status(message: bytes, call_id: str) -> int | None:
    """The status code of a response to our request (matching Call-ID); None for anything else."""
    match = _STATUS_LINE.match(message)
    if not match:
        return None
    head = message.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"call-id", b"i"):
            return int(match.group(1)) if value.strip().decode(errors="replace") == call_id \
                else None
    return None


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.queue.put_nowait(exc)


class SipProbe:
    """Probes one ``sip`` target."""

    def __init__(self, target: SipTarget) -> None:
        self.target = target
        self.context = (client_context(target.ca_file, target.insecure_skip_verify)
                        if target.transport == "tls" else None)

    async def probe(self, result: ProbeResult) -> None:
        """Send OPTIONS and wait for a final answer; raise ProbeFailed on failure."""
        target = self.target
        call_id = f"{secrets.token_hex(12)}@commune-agent"
        result.add(SIP_STATUS, 0)  # stays 0 if the probe times out waiting
        start = time.perf_counter()
        if target.transport == "udp":
            status = await self._udp(call_id)
        else:
            status = await self._stream(call_id, result)
        result.add(SIP_RTT, time.perf_counter() - start)
        result.add(SIP_STATUS, status)
        if target.valid_status_codes and status not in target.valid_status_codes:
            reason: Reason = "auth" if status in (401, 407) else "status"
            raise ProbeFailed(reason, f"SIP status {status}, expected "
                                      f"{', '.join(map(str, target.valid_status_codes))}")

    async def _udp(self, call_id: str) -> int:
        target = self.target
        family, address = await resolve(target.host, target.effective_port, socket.SOCK_DGRAM)
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            _Datagrams, remote_addr=address[:2], family=family)
        try:
            local = transport.get_extra_info("sockname")
            request = options_request(target, (local[0], local[1]), call_id)
            wait = T1
            while True:
                transport.sendto(request)
                deadline = loop.time() + wait
                while (left := deadline - loop.time()) > 0:
                    try:
                        item = await asyncio.wait_for(protocol.queue.get(), left)
                    except asyncio.TimeoutError:
                        break
                    if isinstance(item, Exception):
                        raise ProbeFailed("connect", f"{target.host}:{target.effective_port}/udp:"
                                                     f" {item}")
                    status = parse_status(item, call_id)
                    if status is not None and status >= 200:
                        return status
                wait = min(wait * 2, 4.0)  # RFC 3261 T2
        finally:
            transport.close()

    async def _stream(self, call_id: str, result: ProbeResult) -> int:
        target = self.target
        reader, writer = await connect(target.host, target.effective_port, result, self.context,
                                       target.server_name)
        try:
            local = writer.get_extra_info("sockname")
            writer.write(options_request(target, (local[0], local[1]), call_id))
            await writer.drain()
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                    if length:
                        await reader.readexactly(int(length.group(1)))
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    raise ProbeFailed("connect", f"connection closed before an answer: "
                                                 f"{exc}") from None
                except asyncio.LimitOverrunError:
                    raise ProbeFailed("status", "not a SIP answer (header too long)") from None
                status = parse_status(head, call_id)
                if status is not None and status >= 200:
                    return status
        finally:
            writer.close()
