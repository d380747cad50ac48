"""make demo-incident: the stand-in portal switches modes; the script needs a running demo."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, Process, free_port, http_get, wait_for


def _post(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_demo_portal_normal_slow_down(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    with Process([sys.executable, str(ROOT / "scripts/demo_portal.py"), "--port", str(port),
                  "--slow-seconds", "0.6"], tmp_path / "portal.log"):
        wait_for(lambda: http_get(f"{url}/-/mode")[0] == 200, 15, what="demo portal up")
        status, body, _ = http_get(f"{url}/")
        assert status == 200 and "Cổng dịch vụ công" in body.decode()
        assert _post(f"{url}/-/mode/slow") == (200, "slow\n")
        start = time.monotonic()
        assert http_get(f"{url}/")[0] == 200
        assert time.monotonic() - start >= 0.6
        assert _post(f"{url}/-/mode/down") == (200, "down\n")
        assert http_get(f"{url}/")[0] == 503
        assert http_get(f"{url}/-/mode")[1] == b"down\n"
        status, text = _post(f"{url}/-/mode/broken")
        assert status == 400 and "normal, slow, down" in text
        assert _post(f"{url}/-/mode/normal") == (200, "normal\n")
        assert http_get(f"{url}/")[0] == 200


def test_demo_incident_says_to_start_the_demo() -> None:
    env = {"PATH": "/usr/bin:/bin", "PORTAL_PORT": str(free_port()),
           "ALERTMANAGER_PORT": str(free_port())}
    result = subprocess.run([str(ROOT / "scripts/demo-incident.sh")], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "start `make demo`" in result.stderr
