"""The shipped runbooks against real things on loopback: a commune-agent, HTTP and TLS servers."""

from __future__ import annotations

import datetime
import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.agent_process import host_config
from tests.support.peers import VENV_BIN, Process, free_port, http_get, wait_for

pytestmark = pytest.mark.peer


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """An HTTP(S) server on a free loopback port, in a thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def certificate(tmp_path: Path, days: int) -> ssl.SSLContext:
    """A TLS context with a self-signed certificate for 127.0.0.1 valid ``days`` more days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days, hours=12))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"cert{days}.pem", tmp_path / f"key{days}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


@pytest.fixture
def http_port() -> Iterator[int]:
    yield from serve()


def checks(run) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(run.out)["hosts"][0]["checks"]}


@pytest.mark.parametrize(("days", "passes"), [(40, True), (5, False)])
def test_portal_slow(diag, sshd, ssh_args, http_port, tmp_path, days, passes) -> None:
    for tls_port in serve(certificate(tmp_path, days)):
        run = diag("run", "portal-slow", "--host", f"127.0.0.1:{sshd.port}", "--json",
                   "--param", f"portal_url=http://127.0.0.1:{http_port}/",
                   "--param", "portal_host=127.0.0.1", "--param", f"tls_port={tls_port}",
                   *ssh_args)
    result = checks(run)
    for name in ("dns-time", "timing", "repeat"):
        assert result[name]["status"] == "pass", result[name]
    assert "code=200" in result["timing"]["stdout"]
    assert result["repeat"]["values"][0] == 0            # no failed request of the 5
    tls = result["tls-expiry"]
    assert tls["values"] == [days]
    assert (tls["status"] == "pass") is passes
    assert run.code == (0 if passes else 1)
    if not passes:
        assert tls["reasons"] == [f"{days} is below the minimum 14"]


def test_portal_slow_when_the_portal_is_down(diag, sshd, ssh_args) -> None:
    closed = free_port()
    run = diag("run", "portal-slow", "--host", f"127.0.0.1:{sshd.port}", "--json",
               "--param", f"portal_url=http://127.0.0.1:{closed}/", "--param",
               "portal_host=127.0.0.1", "--param", f"tls_port={closed}", *ssh_args)
    assert run.code == 1
    result = checks(run)
    assert result["timing"]["status"] == "fail"
    assert "code=000" in result["timing"]["stdout"]
    assert result["repeat"]["values"][0] == 5             # all 5 requests failed
    assert "no certificate from 127.0.0.1" in result["tls-expiry"]["stdout"]


def test_services_sees_the_agent(diag, sshd, ssh_args, tmp_path) -> None:
    port = free_port()
    # Host module only: configs/agent/example.yml probes documentation addresses, never loopback.
    config = tmp_path / "agent.yml"
    config.write_text(host_config())
    agent = Process([str(VENV_BIN / "commune-agent"), "--config.file",
                     str(config), "--web.listen-address",
                     f"127.0.0.1:{port}"], tmp_path / "agent.log")
    try:
        wait_for(lambda: http_get(f"http://127.0.0.1:{port}/-/healthy")[0] == 200, 20,
                 what="commune-agent healthy")
        run = diag("run", "services", "--host", f"127.0.0.1:{sshd.port}", "--json",
                   "--param", f"agent_port={port}", *ssh_args)
        result = checks(run)
        assert result["agent-running"]["status"] == "pass", result["agent-running"]
        assert result["agent-healthy"]["status"] == "pass", result["agent-healthy"]
    finally:
        agent.stop()
    run = diag("run", "services", "--host", f"127.0.0.1:{sshd.port}", "--json",
               "--param", f"agent_port={port}", *ssh_args)
    result = checks(run)
    assert run.code == 1
    assert result["agent-healthy"]["status"] == "fail"
    assert "code=000" in result["agent-healthy"]["stdout"]


def test_interfaces_on_a_real_node(diag, sshd, ssh_args) -> None:
    run = diag("run", "interfaces", "--host", f"127.0.0.1:{sshd.port}", "--json", *ssh_args)
    result = checks(run)
    assert list(result) == ["link-state", "errors", "drops", "speed-duplex"]
    for name in ("errors", "drops"):
        assert result[name]["exit_code"] == 0 and len(result[name]["values"]) == 1
        assert 0 <= result[name]["values"][0] <= 1


def test_security_on_a_real_node(diag, sshd, ssh_args, http_port) -> None:
    """The security runbook lists the sockets of the node (here a test HTTP server's), reads the
    failed logins and counts pending security updates, changing nothing."""
    run = diag("run", "security", "--host", f"127.0.0.1:{sshd.port}", "--json", *ssh_args)
    result = checks(run)
    assert list(result) == ["listening", "failed-logins", "security-updates"]
    assert result["listening"]["status"] == "pass", result["listening"]
    assert f"127.0.0.1:{http_port}" in result["listening"]["stdout"]
    assert f"127.0.0.1:{sshd.port}" in result["listening"]["stdout"]
    assert result["failed-logins"]["status"] == "pass", result["failed-logins"]
    updates = result["security-updates"]
    assert len(updates["values"]) == 1 and updates["values"][0] >= 0
    assert updates["status"] == ("pass" if updates["values"][0] == 0 else "fail")
