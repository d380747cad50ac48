"""The gateway over TLS (exporter-toolkit web config), the agent checking it with ca_file."""

from __future__ import annotations

import ssl
import subprocess
import textwrap
from pathlib import Path

import pytest

from agent.push.client import PushClient
from agent.push.config import PushConfig
from collector.cli import main as collector_main
from common.poster import Poster, Retry
from common.remote_write import encode_write_request
from common.schema import ExistingFile
from common.units import Duration
from tests.support.peers import Prometheus, http_get, require_binary, wait_for
from tests.support.push_peers import (
    Gateway,
    NodeToken,
    raw_samples,
    spooled_value,
    write_gateway_config,
)


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "gateway.crt", tmp_path / "gateway.key"
    subprocess.run([require_binary("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=commune-gateway", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.mark.peer
def test_push_over_tls_with_a_private_ca(tmp_path: Path, prometheus: Prometheus) -> None:
    cert, key = self_signed(tmp_path)
    web = tmp_path / "web.yml"
    web.write_text(textwrap.dedent(f"""\
        tls_server_config: {{cert_file: {cert}, key_file: {key}}}
        http_server_config: {{headers: {{X-Content-Type-Options: nosniff}}}}
        """))
    token = NodeToken.new("14797")
    config = write_gateway_config(tmp_path / "gateway.yml", [f"{prometheus.url}/api/v1/write"],
                                  [token])
    gateway = Gateway(config, tmp_path, web_config=web, ca_file=cert)
    assert gateway.write_url.startswith("https://")
    status, _, headers = http_get(f"{gateway.url}/-/healthy",
                                  context=ssl.create_default_context(cafile=str(cert)))
    assert status == 200 and headers["X-Content-Type-Options"] == "nosniff"
    (tmp_path / "token").write_text(token.token)
    push = PushConfig(gateway.write_url, ExistingFile(tmp_path / "token"),
                      str(tmp_path / "spool"), ca_file=ExistingFile(cert),
                      min_backoff=Duration(0.05), max_backoff=Duration(0.1))
    client = PushClient(push, interval=0.05)
    try:
        for i in (1, 2, 3):
            client.collected("test", spooled_value(i))
        client.start(heartbeat=False)
        wait_for(lambda: client.sent == 3, 15, what="samples sent over TLS")
        # Without the private CA the certificate is refused: retried, never dropped.
        untrusting = Poster(gateway.write_url, token.token, 5.0)
        with pytest.raises(Retry, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.post(encode_write_request([]))
        untrusting.close()
    finally:
        client.close()
        gateway.stop()
    assert [v for _, v in raw_samples(prometheus, "test_spooled_value")] == [1.0, 2.0, 3.0]


def test_basic_auth_users_are_refused_on_the_gateway(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users: {prometheus: '$2b$12$hNf2lSsxfm0.i4a.1kVpSOVyBCfIB51VRjgBU"
                   "yv6kdnyTlgWj81Ay'}\n")
    config = write_gateway_config(tmp_path / "gateway.yml", ["http://127.0.0.1:9/x"],
                                  [NodeToken.new("1")])
    assert collector_main(["serve", "--config.file", str(config), "--web.config.file",
                           str(web), "--web.listen-address", "127.0.0.1:0"]) == 2
    assert "basic_auth_users is not used by the gateway" in capsys.readouterr().err


@pytest.mark.peer
def test_limits_hold_over_tls(tmp_path: Path, prometheus: Prometheus) -> None:
    import http.client
    import socket
    import time

    from tests.collector.gateway.hostile import small_body

    cert, key = self_signed(tmp_path)
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config: {{cert_file: {cert}, key_file: {key}}}\n")
    token = NodeToken.new("14797")
    config = write_gateway_config(tmp_path / "gateway.yml", [f"{prometheus.url}/api/v1/write"],
                                  [token], "body_timeout: 1s\nmax_requests_per_token: 1\n")
    context = ssl.create_default_context(cafile=str(cert))
    with Gateway(config, tmp_path, web_config=web, ca_file=cert) as gateway:
        held = context.wrap_socket(socket.create_connection(("127.0.0.1", gateway.port)),
                                   server_hostname="127.0.0.1")
        held.sendall(f"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     f"{token.token}\r\nContent-Length: 1000\r\n\r\n".encode() + b"\0" * 999)
        wait_for(lambda: b"commune_gateway_receiving_bytes 1000.0" in http_get(
            f"{gateway.url}/metrics", context=context)[1], 5,
            what="the held request admitted: it holds the token's only slot")
        poster = Poster(gateway.write_url, token.token, 5.0, str(cert))
        with pytest.raises(Retry, match="HTTP 429"):
            poster.post(small_body())
        started = time.monotonic()
        resp = http.client.HTTPResponse(held)
        resp.begin()
        assert resp.status == 408 and 0.3 < time.monotonic() - started < 3
        held.close()
        poster.post(small_body())  # the slot is free again: 204
        poster.close()
        assert "Traceback" not in gateway.log()
