"""A real Alertmanager on loopback, for the render and alert tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.peers import LOOPBACK, Process, free_port, http_get, require_binary, wait_for


class Alertmanager(Process):
    """A real Alertmanager (Debian's prometheus-alertmanager) on a free loopback port."""

    def __init__(self, config_file: Path, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        self.url = f"http://{self.address}"
        (workdir / "am-data").mkdir(parents=True, exist_ok=True)
        super().__init__([require_binary("prometheus-alertmanager"),
                          f"--config.file={config_file}",
                          f"--storage.path={workdir / 'am-data'}",
                          f"--web.listen-address={self.address}",
                          "--cluster.listen-address="],  # no gossip: a single local instance
                         workdir / "alertmanager.log")
        wait_for(lambda: http_get(f"{self.url}/-/ready")[0] == 200, 30,
                 what=f"alertmanager ready ({self.log_path})")

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (API v2)."""
        status, body, _ = http_get(f"{self.url}/api/v2/alerts")
        assert status == 200, body
        alerts: list[dict[str, Any]] = json.loads(body)
        return alerts
