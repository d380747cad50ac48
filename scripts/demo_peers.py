#!/usr/bin/env python3
"""Stand-ins for ``make demo``, so every dashboard panel has data, all on loopback:

    --sip-port      the province's VC call server: answers SIP OPTIONS (UDP) with 200 OK
    --dns-port      the province's resolver: answers every A query with 127.0.0.1
    --vc-port       a Cisco room system's xAPI (GET /getxml?location=/Status), in a call
    --access-log    a TTHC web server's access log (combined format), written every second:
                    mostly 200s, some 5xx, suspicious paths, a burst of 401s from one client
    --auth-log      an auth.log with failed SSH logins from a WAN and a LAN address
    --diag-textfile commune-diag's fleet results, as its --textfile writes them
    --flows-port    the commune's router: a NetFlow v5 export to the agent's flows module (UDP),
                    every second: an office PC on the portal, downloads, Windows Update, a
                    camera's stream, DNS

Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import itertools
import random
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from flow_export import Flow, netflow_v5

LOOPBACK = "127.0.0.1"
SIP_KEEP = ("via", "from", "to", "call-id", "cseq")
# path, status, seconds: what the portal's users and a scanner ask for
REQUESTS = [("/dossier/nop-ho-so", 200, 0.12), ("/dossier/tra-cuu?ma=H38.1", 200, 0.3),
            ("/thanh-toan/phi", 200, 0.8), ("/static/app.js", 200, 0.01),
            ("/dossier/nop-ho-so", 502, 2.5), ("/", 200, 0.05)]
SUSPICIOUS = ["/wp-login.php", "/index.php?id=1%27%20OR%201=1--", "/../../etc/passwd",
              "/.env"]
DIAG_CHECKS = {"ping-gateway": 1, "dns-portal": 1, "mtu": 0}  # runbook network-basic
# A second of the commune's traffic (LAN 192.168.1.0/24; the portal is 203.0.113.10): bytes,
# packets. demo.sh names .20 ketoan-pc and .31 camera-cong.
FLOWS = [Flow("203.0.113.10", "192.168.1.20", 180_000, 130, 443, 51000),       # the portal
         Flow("198.51.100.20", "192.168.1.21", 900_000, 620, 443, 52000),      # a download
         Flow("198.51.100.30", "192.168.1.22", 400_000, 280, 7680, 53000),     # Windows Update
         Flow("192.168.1.31", "203.0.113.50", 250_000, 200, 20000, 20000, 17),  # camera, RTP
         Flow("192.168.1.40", "192.0.2.53", 2_000, 20, 40000, 53, 17)]         # DNS


def diag_textfile(commune: str) -> str:
    """commune-diag's textfile for one node of ``commune`` (the mtu check failed)."""
    node = f'commune="{commune}",node="lan-1"'
    lines = ["# HELP commune_diag_check_success 1 if the check passed on the node, 0 if it failed.",
             "# TYPE commune_diag_check_success gauge"]
    lines += [f'commune_diag_check_success{{runbook="network-basic",check="{check}",{node}}} {ok}'
              for check, ok in DIAG_CHECKS.items()]
    lines += ["# HELP commune_diag_host_reachable 1 if the node could be reached over SSH.",
              "# TYPE commune_diag_host_reachable gauge",
              f"commune_diag_host_reachable{{{node}}} 1"]
    return "\n".join(lines) + "\n"


def _serve_udp(port: int, answer: Any, stop: threading.Event) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, port))
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(65535)
        except TimeoutError:
            continue
        try:
            reply = answer(data)
            if reply:
                sock.sendto(reply, peer)
        except Exception as exc:  # one odd datagram must not stop the stand-in
            print(f"demo_peers: port {port}: ignored a datagram from {peer[0]}: {exc}",
                  file=sys.stderr)
    sock.close()


def sip_answer(data: bytes) -> bytes:
    """200 OK to any SIP request, with the headers a response must echo."""
    head = data.decode("utf-8", "replace").split("\r\n\r\n")[0].split("\r\n")
    keep = [line for line in head[1:] if line.split(":")[0].strip().lower() in SIP_KEEP]
    return ("\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0"]) + "\r\n\r\n").encode()


def dns_answer(data: bytes) -> bytes:
    """127.0.0.1 for any A query; no record for other types."""
    query = dns.message.from_wire(data)
    response = dns.message.make_response(query)
    for question in query.question:
        if question.rdtype == dns.rdatatype.A and question.rdclass == dns.rdataclass.IN:
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", LOOPBACK))
    return bytes(response.to_wire())


def vc_server(port: int, status: bytes) -> ThreadingHTTPServer:
    """The room system's xAPI: the recorded status document at /getxml."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path.startswith("/getxml")
            body = status if found else b"not found\n"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "text/xml" if found else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, port), Handler)
    server.daemon_threads = True
    return server


def access_line(client: str, path: str, status: int, seconds: float) -> str:
    """One combined-format line with the request time appended (nginx's $request_time)."""
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    return (f'{client} - - [{stamp}] "GET {path} HTTP/1.1" {status} 512 "-" '
            f'"Mozilla/5.0 (demo)" {seconds:.3f}\n')


def auth_line(source: str, user: str, pid: int) -> str:
    """One sshd failed-password line in syslog's format."""
    stamp = time.strftime("%b %e %H:%M:%S", time.gmtime())
    return (f"{stamp} lan-1 sshd[{pid}]: Failed password for invalid user {user} from {source} "
            f"port {40000 + pid % 20000} ssh2\n")


def write_logs(access: Path, auth: Path, stop: threading.Event) -> None:
    """Append a second's worth of traffic to both logs, every second."""
    rng = random.Random(38)
    for tick in itertools.count():
        with access.open("a", encoding="utf-8") as out:
            for n in range(10):
                path, status, seconds = rng.choice(REQUESTS)
                out.write(access_line(f"10.38.1.{20 + n}", path, status, seconds))
            out.write(access_line("203.0.113.9", rng.choice(SUSPICIOUS), 404, 0.002))
            for _ in range(5):  # a password-guessing client: a burst of 401s
                out.write(access_line("198.51.100.77", "/dang-nhap", 401, 0.02))
        with auth.open("a", encoding="utf-8") as out:
            out.write(auth_line("203.0.113.7", "admin", 1000 + tick))
            if tick % 5 == 0:
                out.write(auth_line("192.168.1.20", "ketoan", 5000 + tick))
        if stop.wait(1.0):
            return


def export_flows(port: int, stop: threading.Event) -> None:
    """Send :data:`FLOWS` as one NetFlow v5 datagram to ``port`` on loopback, every second."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for sequence in itertools.count(step=len(FLOWS)):
            sock.sendto(netflow_v5(FLOWS, sequence=sequence), (LOOPBACK, port))
            if stop.wait(1.0):
                return


def main() -> int:
    """Start the stand-ins and run until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--dns-port", type=int, required=True)
    parser.add_argument("--vc-port", type=int, required=True)
    parser.add_argument("--vc-status", type=Path, required=True, help="xAPI status XML")
    parser.add_argument("--access-log", type=Path, required=True)
    parser.add_argument("--auth-log", type=Path, required=True)
    parser.add_argument("--diag-textfile", type=Path, required=True)
    parser.add_argument("--flows-port", type=int, required=True)
    parser.add_argument("--commune", default="16318", help="the commune of the diag results")
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    args.diag_textfile.parent.mkdir(parents=True, exist_ok=True)
    args.diag_textfile.write_text(diag_textfile(args.commune), encoding="utf-8")
    for log in args.access_log, args.auth_log:
        log.touch()
    server = vc_server(args.vc_port, args.vc_status.read_bytes())
    threads = [threading.Thread(target=_serve_udp, args=(args.sip_port, sip_answer, stop)),
               threading.Thread(target=_serve_udp, args=(args.dns_port, dns_answer, stop)),
               threading.Thread(target=write_logs, args=(args.access_log, args.auth_log, stop)),
               threading.Thread(target=export_flows, args=(args.flows_port, stop)),
               threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})]
    for thread in threads:
        thread.daemon = True
        thread.start()
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
