"""TCP, H.323, DNS, SIP, ICMP and path probes against real peers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.core import Metric

from agent.modules.probe.icmp import (
    NO_ICMP,
    IcmpUnavailable,
    first_bad_hop,
    icmp_privileged,
    rfc3550_jitter,
)
from agent.modules.probe.module import ProbeModule
from tests.support.paths import ROOT
from tests.support.peers import (
    LOOPBACK,
    Process,
    free_port,
    free_udp_port,
    require_binary,
    wait_for,
)
from tests.support.probe_peers import (
    DnsServer,
    Pki,
    collect,
    line_server,
    load_probe_config,
    probe,
    reasons,
    server_context,
)
from tests.support.samples import registry_of, value

# --- tcp / h323 ---------------------------------------------------------------------------------

def test_tcp_open_and_closed_port() -> None:
    with line_server() as (port, got):
        closed = free_port()
        reg = probe(f"""
            targets:
              - {{name: smtp, kind: tcp, host: 127.0.0.1, port: {port},
                  query_response: [{{expect: "^220 "}}, {{send: "QUIT"}}]}}
              - {{name: closed, kind: tcp, host: 127.0.0.1, port: {closed}}}
              - {{name: wrong-banner, kind: tcp, host: 127.0.0.1, port: {port},
                  query_response: [{{expect: "^SSH-"}}]}}
        """)
        wait_for(lambda: b"QUIT\r\n" in got, 5, what="QUIT line at the server")
    assert value(reg, "probe_success", target="smtp", kind="tcp") == 1
    assert (value(reg, "commune_probe_connect_duration_seconds", target="smtp",
                  kind="tcp") or -1) >= 0
    assert value(reg, "probe_success", target="closed", kind="tcp") == 0
    assert reasons(reg, "closed") == ["connect"]
    assert reasons(reg, "wrong-banner") == ["content"]


def test_tcp_tls_reports_expiry_and_verifies(pki: Pki) -> None:
    with line_server(server_context(pki)) as (port, _):
        reg = probe(f"""
            targets:
              - {{name: smtps, kind: tcp, host: 127.0.0.1, port: {port}, tls: true,
                  ca_file: "{pki.ca_file}", query_response: [{{expect: "^220"}}]}}
              - {{name: unverified, kind: tcp, host: 127.0.0.1, port: {port}, tls: true}}
        """)
    assert value(reg, "probe_success", target="smtps", kind="tcp") == 1
    assert value(reg, "probe_ssl_last_chain_expiry_timestamp_seconds", target="smtps", kind="tcp") \
        == pki.leaf_not_after
    assert reasons(reg, "unverified") == ["tls"]


def test_tcp_expect_closed() -> None:
    with line_server(banner=b"") as (port, _):
        reg = probe(f"""
            targets:
              - {{name: telnet-open, kind: tcp, host: 127.0.0.1, port: {port},
                  expect_closed: true}}
              - {{name: telnet-closed, kind: tcp, host: 127.0.0.1, port: {free_port()},
                  expect_closed: true}}
        """)
    assert reasons(reg, "telnet-open") == ["status"]
    assert value(reg, "probe_success", target="telnet-closed", kind="tcp") == 1


def test_h323_connect() -> None:
    with line_server(banner=b"") as (port, _):
        reg = probe(f"""
            targets:
              - {{name: mcu, kind: h323, host: 127.0.0.1, port: {port}}}
              - {{name: vc-off, kind: h323, host: 127.0.0.1, port: {free_port()}}}
        """)
    assert value(reg, "probe_success", target="mcu", kind="h323") == 1
    assert reasons(reg, "vc-off") == ["connect"]


# --- dns ----------------------------------------------------------------------------------------

def test_dns_against_a_local_server() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((LOOPBACK, 0))
    try:
        with DnsServer() as server:
            reg = probe(f"""
                targets:
                  - {{name: portal, kind: dns, server: 127.0.0.1, port: {server.port},
                      query_name: portal.example}}
                  - {{name: multi, kind: dns, server: 127.0.0.1, port: {server.port},
                      query_name: multi.example}}
                  - {{name: txt, kind: dns, server: 127.0.0.1, port: {server.port},
                      query_name: portal.example, query_type: TXT}}
                  - {{name: nx, kind: dns, server: 127.0.0.1, port: {server.port},
                      query_name: nothing.example}}
                  - {{name: nx-ok, kind: dns, server: 127.0.0.1, port: {server.port},
                      query_name: nothing.example, valid_rcodes: [NXDOMAIN],
                      fail_if_no_answer: false}}
                  - {{name: nodata, kind: dns, server: 127.0.0.1, port: {server.port},
                      query_name: portal.example, query_type: AAAA}}
                  - {{name: silent, kind: dns, server: 127.0.0.1,
                      port: {silent.getsockname()[1]}, query_name: portal.example, timeout: 1s}}
            """)
            assert server.queries == 6
    finally:
        silent.close()
    assert value(reg, "probe_success", target="portal", kind="dns") == 1
    assert value(reg, "probe_dns_answer_rrs", target="portal", kind="dns") == 1
    assert value(reg, "commune_probe_dns_rcode", target="portal", kind="dns") == 0
    assert (value(reg, "probe_dns_lookup_time_seconds", target="portal", kind="dns") or -1) > 0
    assert value(reg, "probe_dns_answer_rrs", target="multi", kind="dns") == 2
    assert value(reg, "probe_success", target="txt", kind="dns") == 1
    assert value(reg, "probe_success", target="nx", kind="dns") == 0
    assert value(reg, "commune_probe_dns_rcode", target="nx", kind="dns") == 3
    assert reasons(reg, "nx") == ["dns"]
    assert value(reg, "probe_success", target="nx-ok", kind="dns") == 1
    assert reasons(reg, "nodata") == ["dns"]
    assert reasons(reg, "silent") == ["timeout"]


# --- sip ----------------------------------------------------------------------------------------

def _can_connect(port: int) -> bool:
    with socket.create_connection((LOOPBACK, port), 0.5):
        return True


@contextlib.contextmanager
def sipp_uas(tmp_path: Path, transport: str) -> Iterator[int]:
    """Real sipp in UAS mode, answering OPTIONS with 200 (-aa), on a loopback port."""
    port = free_port() if transport == "t1" else free_udp_port()
    with Process([require_binary("sipp"), "-sn", "uas", "-aa", "-i", LOOPBACK, "-p", str(port),
                  "-t", transport, "-nostdin", "-trace_err",
                  "-error_file", str(tmp_path / f"sipp-{transport}-err.log")],
                 tmp_path / f"sipp-{transport}.log", cwd=tmp_path) as proc:
        if transport == "t1":
            wait_for(lambda: _can_connect(port), 15, what=f"sipp listening ({proc.log_path})")
        else:
            wait_for(lambda: f":{port:04X}" in Path("/proc/net/udp").read_text(), 15,
                     what=f"sipp bound ({proc.log_path})")
        yield port


@pytest.mark.peer
def test_sip_options_against_sipp_udp_and_tcp(tmp_path: Path) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((LOOPBACK, 0))
    try:
        with sipp_uas(tmp_path, "u1") as udp_port, sipp_uas(tmp_path, "t1") as tcp_port:
            reg = probe(f"""
                targets:
                  - {{name: vc-udp, kind: sip, host: 127.0.0.1, port: {udp_port}}}
                  - {{name: vc-tcp, kind: sip, host: 127.0.0.1, port: {tcp_port},
                      transport: tcp}}
                  - {{name: vc-picky, kind: sip, host: 127.0.0.1, port: {udp_port},
                      valid_status_codes: [404]}}
                  - {{name: vc-silent, kind: sip, host: 127.0.0.1,
                      port: {silent.getsockname()[1]}, timeout: 1s}}
                  - {{name: vc-closed, kind: sip, host: 127.0.0.1, port: {free_port()},
                      transport: tcp}}
            """)
    finally:
        silent.close()
    assert value(reg, "probe_success", target="vc-udp", kind="sip") == 1
    assert value(reg, "commune_probe_sip_status_code", target="vc-udp", kind="sip") == 200
    assert (value(reg, "commune_probe_sip_rtt_seconds", target="vc-udp", kind="sip") or -1) > 0
    assert value(reg, "probe_success", target="vc-tcp", kind="sip") == 1
    assert value(reg, "commune_probe_sip_status_code", target="vc-tcp", kind="sip") == 200
    assert reasons(reg, "vc-picky") == ["status"]
    assert value(reg, "probe_success", target="vc-silent", kind="sip") == 0
    assert reasons(reg, "vc-silent") == ["timeout"]
    assert value(reg, "commune_probe_sip_status_code", target="vc-silent", kind="sip") == 0
    assert reasons(reg, "vc-closed") == ["connect"]


def test_sip_over_tls(pki: Pki) -> None:
    """sipp is built without TLS here, so a minimal TLS SIP responder stands in for it."""
    context = server_context(pki)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        keep = [ln for ln in lines if ln.split(":")[0] in ("Via", "From", "To", "Call-ID",
                                                             "CSeq")]
        writer.write(("\r\n".join(["SIP/2.0 405 Method Not Allowed", *keep,
                                   "Content-Length: 0"]) + "\r\n\r\n").encode())
        await writer.drain()
        writer.close()

    async def run() -> list[Metric]:
        server = await asyncio.start_server(answer, LOOPBACK, 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        module = ProbeModule(load_probe_config(f"""
            targets:
              - {{name: vc-tls, kind: sip, host: 127.0.0.1, port: {port}, transport: tls,
                  ca_file: "{pki.ca_file}"}}
              - {{name: vc-tls-unverified, kind: sip, host: 127.0.0.1, port: {port},
                  transport: tls}}
        """))
        families = await module.collect()
        server.close()
        await server.wait_closed()
        return families

    reg = registry_of(asyncio.run(run()))
    assert value(reg, "probe_success", target="vc-tls", kind="sip") == 1  # any final answer: alive
    assert value(reg, "commune_probe_sip_status_code", target="vc-tls", kind="sip") == 405
    assert value(reg, "probe_ssl_last_chain_expiry_timestamp_seconds", target="vc-tls",
                 kind="sip") \
        == pki.leaf_not_after
    assert reasons(reg, "vc-tls-unverified") == ["tls"]


# --- icmp / path --------------------------------------------------------------------------------

def test_icmp_burst_to_loopback() -> None:
    reg = probe("""
        targets:
          - {name: lo, kind: icmp, host: 127.0.0.1, count: 5, interval: 20ms}
    """)
    assert value(reg, "probe_success", target="lo", kind="icmp") == 1
    assert value(reg, "commune_probe_icmp_packet_loss_ratio", target="lo", kind="icmp") == 0
    assert value(reg, "commune_probe_icmp_packets_sent", target="lo", kind="icmp") == 5
    rtt = {s: value(reg, "commune_probe_icmp_rtt_seconds", target="lo", kind="icmp", stat=s)
           for s in ("min", "avg", "max")}
    assert rtt["min"] is not None and rtt["avg"] is not None and rtt["max"] is not None
    assert 0 < rtt["min"] <= rtt["avg"] <= rtt["max"]
    assert (value(reg, "commune_probe_icmp_jitter_seconds", target="lo", kind="icmp") or -1) >= 0


_UNPRIVILEGED_SCRIPT = """
import asyncio, json
from agent.modules.probe.icmp import icmp_privileged
from agent.modules.probe.module import ProbeModule
from tests.support.probe_peers import collect, load_probe_config
from tests.support.samples import maybe_value
module = ProbeModule(load_probe_config(
    "targets: [{name: lo, kind: icmp, host: 127.0.0.1, count: 3, interval: 20ms}]"))
reg = collect(module)
lo = {"target": "lo", "kind": "icmp"}
print(json.dumps({"privileged": icmp_privileged(),
                  "success": maybe_value(reg, "probe_success", **lo),
                  "loss": maybe_value(reg, "commune_probe_icmp_packet_loss_ratio", **lo)}))
"""


@pytest.mark.peer
def test_icmp_unprivileged_ping_sockets_in_a_namespace() -> None:
    """In a network namespace of its own, the test allows ping sockets to every group."""
    unshare, ip, sysctl = (require_binary(b) for b in ("unshare", "ip", "sysctl"))
    setup = (f"{ip} link set lo up && "
             f"{sysctl} -q -w net.ipv4.ping_group_range='0 2147483647' && "
             f"exec {sys.executable} -c \"$0\"")
    done = subprocess.run([unshare, "--net", "sh", "-c", setup, _UNPRIVILEGED_SCRIPT],
                          capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"privileged": False, "success": 1.0, "loss": 0.0}


def test_icmp_mode_falls_back_to_raw_then_names_the_sysctl() -> None:
    def only_raw(family: int, kind: int, proto: int) -> socket.socket:
        if kind == socket.SOCK_DGRAM:
            raise PermissionError(13, "Permission denied")
        return socket.socket(family, kind, proto)

    def neither(family: int, kind: int, proto: int) -> socket.socket:
        raise PermissionError(13, "Permission denied")

    assert icmp_privileged(open_socket=only_raw) is True
    with pytest.raises(IcmpUnavailable, match=r"net\.ipv4\.ping_group_range"):
        icmp_privileged(open_socket=neither)

    def denied() -> bool:
        return icmp_privileged(open_socket=neither)

    module = ProbeModule(load_probe_config("""
        targets:
          - {name: lo, kind: icmp, host: 127.0.0.1, count: 2, interval: 20ms}
    """), icmp_mode=denied)
    reg = collect(module)
    assert value(reg, "probe_success", target="lo", kind="icmp") == 0
    assert reasons(reg, "lo") == ["connect"]
    assert "ping_group_range" in NO_ICMP and "CAP_NET_RAW" in NO_ICMP


def test_rfc3550_jitter() -> None:
    assert rfc3550_jitter([0.010] * 5) == 0
    # one step of 16 ms: J = 16/16 = 1 ms
    assert rfc3550_jitter([0.010, 0.026]) == pytest.approx(0.001)
    assert rfc3550_jitter([0.010]) == 0


def test_path_to_loopback() -> None:
    reg = probe("""
        targets:
          - {name: to-portal, kind: path, host: 127.0.0.1, count: 2, max_hops: 5}
    """)
    assert value(reg, "probe_success", target="to-portal", kind="path") == 1
    assert value(reg, "commune_probe_path_hops", target="to-portal", kind="path") == 1
    assert value(reg, "commune_probe_path_first_bad_hop", target="to-portal", kind="path") == 0
    assert value(reg, "commune_probe_path_hop_loss_ratio", target="to-portal", kind="path", hop="1",
                 address="127.0.0.1") == 0


def test_first_bad_hop_ignores_rate_limited_routers() -> None:
    # hop 2 drops ICMP to itself only (later hops fine): not a fault
    assert first_bad_hop([(1, 0.001, 0), (2, 0.002, 0.9), (3, 0.003, 0)], 0.5, 0.05) == 0
    # loss from hop 3 on, to the end
    assert first_bad_hop([(1, 0.001, 0), (2, 0.002, 0), (3, 0.01, 0.8), (4, 0.01, 0.7)],
                         0.5, 0.05) == 3
    # the uplink (hop 2) adds 200 ms that every later hop keeps
    assert first_bad_hop([(1, 0.001, 0), (2, 0.2, 0), (3, 0.21, 0)], 0.5, 0.05) == 2
    # a single slow reply at hop 2 that later hops do not show
    assert first_bad_hop([(1, 0.001, 0), (2, 0.2, 0), (3, 0.003, 0)], 0.5, 0.05) == 0
