"""The ``dns`` probe: one query to a given server with dnspython; rcode, answer count and RTT."""

from __future__ import annotations

import socket
import time

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from agent.modules.probe.result import (
    DNS_ANSWERS,
    DNS_LOOKUP,
    DNS_RCODE,
    ProbeFailed,
    ProbeResult,
)
from agent.modules.probe.targets import DnsTarget
from agent.modules.probe.tcp import resolve
from agent.modules.probe.tls import os_error_text


class DnsProbe:
    """Probes one ``dns`` target."""

    def __init__(self, target: DnsTarget) -> None:
        self.target = target
        self.valid = {dns.rcode.from_text(r) for r in target.valid_rcodes}

    async def probe(self, result: ProbeResult) -> None:
        """Ask the server; fail on a timeout, an rcode not listed, or (by default) no answer."""
        target = self.target
        _, address = await resolve(target.server, target.port,
                                    socket.SOCK_DGRAM if target.transport == "udp"
                                    else socket.SOCK_STREAM)
        query = dns.message.make_query(target.query_name, dns.rdatatype.from_text(
            target.query_type))
        if not target.recursion_desired:
            query.flags &= ~dns.flags.RD
        start = time.perf_counter()
        try:
            if target.transport == "udp":
                response, _ = await dns.asyncquery.udp_with_fallback(
                    query, address[0], timeout=target.timeout, port=target.port)
            else:
                response = await dns.asyncquery.tcp(query, address[0], timeout=target.timeout,
                                                    port=target.port)
        except dns.exception.Timeout:
            raise ProbeFailed("timeout", f"no answer from {target.server}:{target.port}"
                                         f" within {target.timeout}") from None
        except OSError as exc:
            raise ProbeFailed("connect", f"query to {target.server}:{target.port}: "
                                         f"{os_error_text(exc)}") from None
        except dns.exception.DNSException as exc:
            raise ProbeFailed("dns", f"bad answer from {target.server}:{target.port}: "
                                     f"{exc}") from None
        result.add(DNS_LOOKUP, time.perf_counter() - start)
        rcode = response.rcode()
        answers = sum(len(rrset) for rrset in response.answer)
        result.add(DNS_RCODE, int(rcode))
        result.add(DNS_ANSWERS, answers)
        if rcode not in self.valid:
            raise ProbeFailed("dns", f"rcode {dns.rcode.to_text(rcode)} for "
                                     f"{target.query_name} {target.query_type}, expected "
                                     f"{', '.join(target.valid_rcodes)}")
        if target.fail_if_no_answer and answers == 0:
            raise ProbeFailed("dns", f"no {target.query_type} record for {target.query_name}")
