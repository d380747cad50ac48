"""scripts/demo_peers.py: the demo's SIP, DNS and log stand-ins answer and write what the agent
reads (the demo test, tests/e2e/test_demo.py, checks the panels they feed)."""

from __future__ import annotations

import importlib.util
import ipaddress
import re
import socket
import threading
from types import ModuleType

import dns.message
import dns.rdataclass
import dns.rdatatype
import pytest
import yaml

from agent.modules.flows.apps import AppTable
from agent.modules.flows.config import Network
from agent.modules.flows.netflow import decode_v5
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, free_udp_port


@pytest.fixture(scope="module")
def demo_peers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_peers", ROOT / "scripts/demo_peers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:  # run as a script, scripts/ is its sys.path[0]
        patch.syspath_prepend(str(ROOT / "scripts"))
        spec.loader.exec_module(module)
    return module


def test_the_router_exports_netflow_v5_the_agent_decodes(demo_peers: ModuleType) -> None:
    """One datagram a second, records the flows module names: the portal (demo.sh's
    modules.flows.portal), https, windows-update, rtp, dns."""
    stop = threading.Event()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(5)
        sender = threading.Thread(target=demo_peers.export_flows,
                                  args=(sock.getsockname()[1], stop))
        sender.start()
        try:
            data = sock.recv(65535)
        finally:
            stop.set()
            sender.join(5)
    decoded = decode_v5(data)
    assert decoded.protocol == "netflow5" and len(decoded.records) == len(demo_peers.FLOWS)
    apps = AppTable(portal=[Network.parse("203.0.113.10")])
    lan = ipaddress.ip_network("192.168.1.0/24")
    named = []
    for r in decoded.records:
        upload = ipaddress.ip_address(r.src) in lan
        remote, remote_port, local_port = ((r.dst, r.dport, r.sport) if upload
                                           else (r.src, r.sport, r.dport))
        named.append(apps.app(remote, r.proto, remote_port, local_port))
    assert named == ["tthc-portal", "https", "windows-update", "rtp", "dns"]


def test_sip_options_get_200_with_the_dialog_headers(demo_peers: ModuleType) -> None:
    request = (b"OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n"
               b"Via: SIP/2.0/UDP 127.0.0.1:4000;branch=z9\r\n"
               b"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: abc\r\n"
               b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n")
    lines = demo_peers.sip_answer(request).decode().split("\r\n")
    assert lines[0] == "SIP/2.0 200 OK"
    assert "Call-ID: abc" in lines and "CSeq: 1 OPTIONS" in lines
    assert not any(line.startswith("Max-Forwards") for line in lines)


def test_every_a_query_resolves_to_loopback(demo_peers: ModuleType) -> None:
    query = dns.message.make_query("dichvucong.demo.", "A")
    answer = dns.message.from_wire(demo_peers.dns_answer(query.to_wire()))
    assert answer.id == query.id
    assert [r.to_text() for r in answer.find_rrset(answer.answer, query.question[0].name,
                                                   dns.rdataclass.IN, dns.rdatatype.A)] == [
        "127.0.0.1"]


def test_access_lines_match_the_shipped_access_log_regex(demo_peers: ModuleType) -> None:
    config = yaml.safe_load((ROOT / "configs/agent/tthc-web.yml").read_text())
    pattern = re.compile(config["modules"]["logs"]["files"][0]["regex"])
    match = pattern.fullmatch(demo_peers.access_line("10.38.1.20", "/dossier/x", 502, 2.5).rstrip())
    assert match and match["status"] == "502" and match["request_time"] == "2.500"


def test_auth_lines_are_failed_ssh_logins(demo_peers: ModuleType) -> None:
    line = demo_peers.auth_line("203.0.113.7", "admin", 1001)
    assert re.fullmatch(r"\w{3} [ \d]\d \d\d:\d\d:\d\d lan-1 sshd\[1001\]: Failed password for "
                        r"invalid user admin from 203\.0\.113\.7 port \d+ ssh2\n", line)


def test_the_diag_textfile_has_one_failed_check(demo_peers: ModuleType) -> None:
    text = demo_peers.diag_textfile("16318")
    samples = [line for line in text.splitlines() if line.startswith("commune_diag_check_success")]
    assert len(samples) == 3 and sum(line.endswith(" 0") for line in samples) == 1
    assert all('commune="16318",node="lan-1"' in line for line in samples)


def test_only_a_queries_get_an_a_record(demo_peers: ModuleType) -> None:
    query = dns.message.make_query("dichvucong.demo.", "AAAA")
    answer = dns.message.from_wire(demo_peers.dns_answer(query.to_wire()))
    assert answer.id == query.id and answer.answer == []


def test_an_odd_datagram_does_not_stop_the_dns_stand_in(demo_peers: ModuleType,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    port = free_udp_port()
    stop = threading.Event()
    thread = threading.Thread(target=demo_peers._serve_udp,
                              args=(port, demo_peers.dns_answer, stop), daemon=True)
    thread.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            query = dns.message.make_query("dichvucong.demo.", "A")
            reply = b""
            for _ in range(20):  # until the stand-in has bound its port
                sock.sendto(b"not dns", (LOOPBACK, port))
                sock.sendto(query.to_wire(), (LOOPBACK, port))
                try:
                    reply = sock.recv(65535)
                    break
                except TimeoutError:
                    continue
            answer = dns.message.from_wire(reply)
        assert answer.id == query.id and len(answer.answer) == 1
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(5)
    assert f"port {port}: ignored a datagram from 127.0.0.1" in capsys.readouterr().err
