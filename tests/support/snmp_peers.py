"""SNMP peers for the tests: Debian's snmpd, snmpsim with recordings, a silent UDP port, and a
small HTTP server replaying recorded VC status documents. All on 127.0.0.1, always stopped."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.support.paths import FIXTURES
from tests.support.peers import LOOPBACK, Process, free_udp_port, require_binary, wait_for

SNMPREC = FIXTURES / "snmprec"
V3_USER = "monitor"
V3_AUTH = "auth-pass-123"
V3_PRIV = "priv-pass-456"
COMMUNITY = "tests-community"


def snmp_tool(tool: str, *args: str, version: str = "2c", community: str = COMMUNITY,
              v3: bool = False) -> str:
    """Run net-snmp's ``snmpget``/``snmpbulkwalk`` with numeric output; return stdout."""
    auth = (["-v3", "-l", "authPriv", "-u", V3_USER, "-a", "SHA", "-A", V3_AUTH, "-x", "AES",
             "-X", V3_PRIV] if v3 else [f"-v{version}", "-c", community])
    env = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}
    out = subprocess.run([require_binary(tool), *auth, "-On", "-Oe", "-Ot", "-r1", "-t5",
                          *args], capture_output=True, text=True, env=env, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def parse_tool_output(text: str) -> dict[str, str]:
    """``.1.3.6... = Counter64: 12`` lines -> {"1.3.6...": "12"} (strings unquoted)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        oid, sep, rest = line.partition(" = ")
        if not sep:
            continue
        kind, sep, value = rest.partition(": ")
        if not sep:  # -Ot prints bare TimeTicks
            kind, value = "Timeticks", rest
        value = value.strip()
        if kind == "STRING" and value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        values[oid.lstrip(".")] = value
    return values


class Snmpd(Process):
    """Debian's snmpd on a free loopback UDP port, with its own config only (``-C``), answering
    v1/v2c ``community`` and the v3 users."""

    def __init__(self, workdir: Path, extra_config: str = "", community: str = COMMUNITY) -> None:
        self.community = community
        self.port = free_udp_port()
        self.address = f"{LOOPBACK}:{self.port}"
        config = workdir / "snmpd.conf"
        config.write_text(textwrap.dedent(f"""\
            agentAddress udp:{self.address}
            rocommunity {community} 127.0.0.1
            createUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"
            rouser {V3_USER} priv
            createUser {V3_USER}-sha512 SHA-512 "{V3_AUTH}" AES "{V3_PRIV}"
            rouser {V3_USER}-sha512 priv
            createUser {V3_USER}-noauth
            rouser {V3_USER}-noauth noauth
            createUser {V3_USER}-authonly SHA-256 "{V3_AUTH}"
            rouser {V3_USER}-authonly auth
            disk / 10000
            load 12 10 5
            """) + extra_config)
        state = workdir / "snmpd-state"
        state.mkdir(exist_ok=True)
        super().__init__([require_binary("snmpd"), "-f", "-Lo", "-C", "-c", str(config),
                          "-p", str(workdir / "snmpd.pid")],
                         workdir / "snmpd.log",
                         env={"SNMP_PERSISTENT_DIR": str(state), "MIBS": "",
                              "MIBDIRS": "/nonexistent"})
        wait_for(lambda: self.alive() and self._probe(), 60,
                 what=f"snmpd answering on {self.address} ({self.log_path})")

    def _probe(self) -> str:
        return snmp_tool("snmpget", self.address, "1.3.6.1.2.1.1.3.0", community=self.community)


# snmpsim refuses to run as root unless it drops to a user, and `nobody` cannot read a Python
# installed under /root: run it in-process with the privilege drop disabled (test peer only).
_SNMPSIM_MAIN = """
import contextlib, sys
import snmpsim.daemon
snmpsim.daemon.PrivilegesOf = lambda *a, **k: contextlib.nullcontext()
from snmpsim.commands.responder import main
sys.exit(main())
"""


class Snmpsim(Process):
    """snmpsim serving ``.snmprec`` recordings; each file's stem is its v2c community."""

    def __init__(self, workdir: Path, recordings: Mapping[str, Path]) -> None:
        self.port = free_udp_port()
        self.address = f"{LOOPBACK}:{self.port}"
        data = workdir / "snmpsim-data"
        data.mkdir(exist_ok=True)
        for community, path in recordings.items():
            shutil.copy(path, data / f"{community}.snmprec")
        cache = Path(tempfile.mkdtemp(prefix="snmpsim-cache-", dir=workdir))
        super().__init__([sys.executable, "-c", _SNMPSIM_MAIN, f"--data-dir={data}",
                          f"--agent-udpv4-endpoint={self.address}", f"--cache-dir={cache}"],
                         workdir / "snmpsim.log")
        first = next(iter(recordings))
        wait_for(lambda: self.alive() and snmp_tool("snmpget", self.address, "1.3.6.1.2.1.1.3.0",
                                                    community=first), 60,
                 what=f"snmpsim answering on {self.address} ({self.log_path})")


@contextlib.contextmanager
def silent_udp() -> Iterator[str]:
    """A bound UDP socket that never answers: a dead device. Yields its host:port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    try:
        yield f"{LOOPBACK}:{sock.getsockname()[1]}"
    finally:
        sock.close()


class RecordedHttp:
    """An HTTP server on 127.0.0.1 answering GETs with recorded files (by request path)."""

    def __init__(self, routes: Mapping[str, tuple[Path, str]],
                 auth: tuple[str, str] | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        import base64

        expected = ("Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
                    if auth else None)
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                if expected and self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                route = routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = route[0].read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", route[1])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://{LOOPBACK}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> RecordedHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def self_signed_cert(workdir: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself (cert.pem, key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vc-room-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = workdir / "cert.pem", workdir / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
