"""The web endpoint: /metrics from the snapshot, health, TLS and bcrypt basic auth."""

from __future__ import annotations

import base64
import gzip
import ssl
import subprocess
import urllib.error
from pathlib import Path

import pytest

from tests.support.agent_process import Agent
from tests.support.node_exporter import NodeExporter
from tests.support.peers import http_get, require_binary, wait_for
from tests.support.tlsfiles import TLSFiles
from tests.support.web_config import PASSWORD, web_config


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_metrics_health_ready_and_gzip(tmp_path: Path) -> None:
    with Agent(tmp_path) as agent:
        status, body, headers = http_get(f"{agent.url}/metrics")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert b'node_load1{commune="16318"}' in body
        status, zipped, headers = http_get(f"{agent.url}/metrics",
                                           headers={"Accept-Encoding": "gzip"})
        assert headers.get("Content-Encoding") == "gzip"
        assert b"node_cpu_seconds_total" in gzip.decompress(zipped)
        assert http_get(f"{agent.url}/-/healthy")[:2] == (200, b"Healthy\n")
        assert http_get(f"{agent.url}/-/ready")[:2] == (200, b"Ready\n")
        assert http_get(f"{agent.url}/nope")[0] == 404


def _lint(promtool: str, body: bytes) -> tuple[int, set[str]]:
    """promtool check metrics' exit code and its lint lines."""
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
    return result.returncode, {line.strip() for line in result.stderr.decode().splitlines()
                               if line.strip()}


@pytest.mark.peer
def test_exposition_passes_promtool_beside_node_exporter(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    with Agent(tmp_path) as agent:
        body = http_get(f"{agent.url}/metrics")[1]
    with NodeExporter(tmp_path) as exporter:
        reference = exporter.scrape().encode()
    # Exit 1 is a parse failure; 3 is lint only. The node_* names are node_exporter's, lint
    # and all (node_memory_MemTotal_bytes is camelCase, node_entropy_available_bits has no
    # base unit): the agent may have only the lint that node_exporter itself has.
    code, problems = _lint(promtool, body)
    assert code in (0, 3), problems
    _, allowed = _lint(promtool, reference)
    assert problems - allowed == set()


@pytest.mark.peer
def test_tls_and_basic_auth_with_a_real_client(tmp_path: Path, tls: TLSFiles) -> None:
    config = web_config(tmp_path, tls)
    with Agent(tmp_path, args=["--web.config.file", str(config)], scheme="https",
               wait=False) as agent:
        context = ssl.create_default_context(cafile=str(tls.ca_cert))
        url = f"{agent.url}/metrics"
        wait_for(lambda: http_get(f"{agent.url}/-/ready", context=context,
                                  headers=basic("prometheus", PASSWORD))[0] == 200,
                 15, what=f"agent over TLS ({agent.log_path})")
        status, body, headers = http_get(url, context=context,
                                         headers=basic("prometheus", PASSWORD))
        assert status == 200 and b"node_load1" in body
        assert headers["X-Frame-Options"] == "deny"
        assert http_get(url, context=context)[0] == 401
        status, _, headers = http_get(url, context=context, headers=basic("prometheus", "x"))
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
        assert http_get(url, context=context, headers=basic("nobody", PASSWORD))[0] == 401
        # curl is a client we did not write.
        curl = subprocess.run([require_binary("curl"), "-s", "-o", "/dev/null", "-w",
                               "%{http_code}", "--cacert", str(tls.ca_cert), "-u",
                               f"prometheus:{PASSWORD}", url], capture_output=True, text=True)
        assert curl.stdout == "200"
        # Plain HTTP to the TLS port gets no metrics.
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            http_get(f"http://{agent.address}/metrics")
        # A client that does not trust the CA is refused.
        with pytest.raises(urllib.error.URLError):
            http_get(url, context=ssl.create_default_context())


def test_bad_web_config_is_a_startup_error_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "web.yml"
    bad.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n"
                   "basic_auth_users:\n  alice: plain-text\n")
    agent = Agent(tmp_path, args=["--web.config.file", str(bad)], wait=False)
    code = agent.proc.wait(15)
    log = agent.log()
    agent.stop()
    assert code == 2
    assert f"{bad}: 3 errors" in log
    assert (f"{bad}:2:14: tls_server_config.cert_file: file "
            f"'{tmp_path}/missing.crt' does not exist; create it or fix the path") in log
    assert (f"{bad}:5:10: basic_auth_users.alice: expected a bcrypt hash like '$2y$10$...', "
            "not a password; make one with: htpasswd -nBC 10 '' | tr -d ':'") in log


def test_listen_address_in_use_says_what_to_do(tmp_path: Path) -> None:
    with Agent(tmp_path) as first:
        second = subprocess.run(
            [*first.argv[:5], "--web.listen-address", first.address],
            capture_output=True, text=True, timeout=30)
    assert second.returncode == 2
    assert f"cannot listen on '{first.address}'" in second.stderr
    assert "choose another --web.listen-address" in second.stderr
