"""Peers for the probe tests: a CA and certificates, HTTP(S) and DNS servers, all on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import http.server
import ipaddress
import socket
import ssl
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry

from agent.modules.probe.config import ProbeConfig
from agent.modules.probe.module import ProbeModule
from common.schema import load_yaml
from tests.support.peers import LOOPBACK
from tests.support.samples import registry_of


def load_probe_config(text: str, base_dir: Path | None = None) -> ProbeConfig:
    """Load a ``modules.probe`` mapping (as YAML text) into its config."""
    return load_yaml(ProbeConfig, textwrap.dedent(text), "agent.yml", base_dir)


def collect(module: ProbeModule) -> CollectorRegistry:
    """One collection of ``module``, in a fresh registry."""
    return registry_of(asyncio.run(module.collect()))


def probe(text: str, base_dir: Path | None = None) -> CollectorRegistry:
    """Load the YAML, build the module, collect once."""
    return collect(ProbeModule(load_probe_config(text, base_dir)))


def reasons(registry: CollectorRegistry, target: str) -> list[str]:
    """The failure reasons reported for ``target``."""
    return [s.labels["reason"] for m in registry.collect() for s in m.samples
            if s.name == "commune_probe_failure_reason" and s.labels["target"] == target]


# --- certificates -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Pki:
    """A test CA and a server certificate for 127.0.0.1/localhost, expiring at known times."""

    ca_file: Path
    cert_file: Path  # leaf, then an unrelated cross-signed-style CA expiring earlier
    key_file: Path
    leaf_not_after: int
    extra_not_after: int
    ca_not_after: int


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca(common: str, not_after: datetime.datetime) -> tuple[ec.EllipticCurvePrivateKey,
                                                             x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_pki(directory: Path, leaf_days: int = 30, extra_days: int = 10) -> Pki:
    """Write ca.pem, server.pem (leaf + extra CA) and server.key into ``directory``."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    ca_key, ca = _ca("commune-test CA", now + datetime.timedelta(days=3650))
    _, extra = _ca("commune-test old cross root", now + datetime.timedelta(days=extra_days))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf_not_after = now + datetime.timedelta(days=leaf_days)
    leaf = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(leaf_not_after)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(leaf.public_bytes(pem) + extra.public_bytes(pem))
    (directory / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key",
               int(leaf_not_after.timestamp()),
               int((now + datetime.timedelta(days=extra_days)).timestamp()),
               int((now + datetime.timedelta(days=3650)).timestamp()))


def server_context(pki: Pki) -> ssl.SSLContext:
    """A server-side TLS context with the test leaf (and its extra chain cert)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    return context


@contextlib.contextmanager
def line_server(context: ssl.SSLContext | None = None, banner: bytes = b"220 mail ESMTP\r\n",
                ) -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server that sends ``banner``, then records the lines it gets."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(16)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    got: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                conn.settimeout(2)
                if context is not None:
                    conn = context.wrap_socket(conn, server_side=True)
                conn.sendall(banner)
                data = conn.recv(1024)
                if data:
                    got.append(data)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, got
    finally:
        stop.set()
        thread.join(5)
        listener.close()


# --- HTTP ---------------------------------------------------------------------------------------

SLOW_SECONDS = 0.3
PORTAL_TEXT = b"<h1>TTHC portal</h1> Dich vu cong truc tuyen"
AUTH = ("operator", "s3cret")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen_bodies.append(self.rfile.read(length))
        self._send(200, b"posted")

    def do_GET(self) -> None:
        self.server.seen_headers.append(dict(self.headers))
        path = self.path
        if path == "/":
            self._send(200, PORTAL_TEXT)
        elif path == "/slow":
            time.sleep(SLOW_SECONDS)
            self._send(200, PORTAL_TEXT)
        elif path == "/redirect":
            self._send(302, b"", {"Location": "/"})
        elif path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif path == "/maintenance":
            self._send(200, b"<h1>Bao tri he thong</h1> under maintenance")
        elif path == "/bao-tri":
            self._send(200, "Hệ thống đang bảo trì".encode("utf-16"),
                       {"Content-Type": "text/html; charset=utf-16"})
        elif path == "/503":
            self._send(503, b"service unavailable")
        elif path == "/big":
            self._send(200, b"x" * 4096)
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for part in (PORTAL_TEXT[:10], PORTAL_TEXT[10:]):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/auth":
            token = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
            if self.headers.get("Authorization") == f"Basic {token}":
                self._send(200, b"welcome")
            else:
                self._send(401, b"who are you", {"WWW-Authenticate": 'Basic realm="tthc"'})
        elif path == "/barrier":
            try:
                self.server.barrier.wait()
                self._send(200, b"together")
            except threading.BrokenBarrierError:
                self._send(500, b"alone")
        else:
            self._send(404, b"not found")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    barrier: threading.Barrier
    seen_headers: list[dict[str, str]]
    seen_bodies: list[bytes]


@contextlib.contextmanager
def http_server(context: ssl.SSLContext | None = None, barrier_parties: int = 1,
                ) -> Iterator[_Server]:
    """A threaded HTTP (or HTTPS with ``context``) server on a free loopback port."""
    server = _Server((LOOPBACK, 0), _Handler)
    server.barrier = threading.Barrier(barrier_parties, timeout=30)
    server.seen_headers, server.seen_bodies = [], []
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def base_url(server: _Server, scheme: str = "http") -> str:
    """``scheme://127.0.0.1:PORT``."""
    return f"{scheme}://{LOOPBACK}:{server.server_address[1]}"


# --- DNS ----------------------------------------------------------------------------------------

ZONE = {("portal.example.", "A"): ["127.0.0.1"],
        ("portal.example.", "TXT"): ['"tthc"'],
        ("multi.example.", "A"): ["127.0.0.2", "127.0.0.3"]}


class DnsServer:
    """A tiny authoritative DNS server over UDP (dnspython), answering from ZONE."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.queries += 1
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().lower()
            rdtype = dns.rdatatype.to_text(question.rdtype)
            records = ZONE.get((name, rdtype))
            if records:
                response.answer.append(dns.rrset.from_text_list(name, 60, "IN", rdtype, records))
            elif not any(n == name for n, _ in ZONE):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        """Stop answering."""
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def __enter__(self) -> DnsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

