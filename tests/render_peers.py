"""Peers for the render tests: a real commune-agent and a real Alertmanager on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.peers import LOOPBACK, VENV_BIN, Process, free_port, http_get, require_binary, wait_for


class Agent(Process):
    """A real ``commune-agent`` (host module) on a free loopback port."""

    def __init__(self, commune: str, workdir: Path, interval: str = "1s") -> None:
        self.port = free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "agent.yml"
        config.write_text(f'commune: "{commune}"\ninterval: {interval}\nmodules:\n  host: {{}}\n')
        super().__init__([str(VENV_BIN / "commune-agent"), "--config.file", str(config),
                          "--web.listen-address", self.address], workdir / "agent.log")
        wait_for(lambda: http_get(f"http://{self.address}/-/ready")[0] == 200, 30,
                 what=f"commune-agent ready ({self.log_path})")


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
