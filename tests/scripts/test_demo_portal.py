"""scripts/demo_portal.py: the demo's stand-in portal keeps answering over TLS."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import urllib.request

import pytest

from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, free_port, http_get, wait_for
from tests.support.tlsfiles import TLSFiles


@pytest.mark.peer
def test_a_silent_tls_client_does_not_block_the_others(tls: TLSFiles) -> None:
    port, tls_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts/demo_portal.py"),
                             "--port", str(port), "--tls-port", str(tls_port),
                             "--tls-cert", str(tls.cert), "--tls-key", str(tls.key)])
    try:
        wait_for(lambda: http_get(f"http://{LOOPBACK}:{port}/-/mode")[0] == 200, 15,
                 what="demo portal")
        with socket.create_connection((LOOPBACK, tls_port), timeout=5):  # says nothing
            context = ssl.create_default_context(cafile=str(tls.ca_cert))
            with urllib.request.urlopen(f"https://{LOOPBACK}:{tls_port}/-/mode", timeout=5,
                                        context=context) as response:
                assert response.status == 200 and response.read() == b"normal\n"
    finally:
        proc.terminate()
        proc.wait(10)
