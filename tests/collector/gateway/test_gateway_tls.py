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
