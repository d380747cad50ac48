"""A real commune-agent process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.peers import LOOPBACK, Process, free_port, http_get, wait_for


def host_config(commune: str = "16318", interval: str = "1s") -> str:
    """An agent config with only the host module."""
    return f'commune: "{commune}"\ninterval: {interval}\nmodules:\n  host: {{}}\n'


HOST_ONLY = host_config()


def scrape_config(target: str, extra: str = "") -> str:
    """A Prometheus config scraping the agent at ``target`` every second (job commune-agent)."""
    return ("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: commune-agent\n"
            f"    static_configs:\n      - targets: ['{target}']\n{extra}")


class Agent(Process):
    """``commune-agent run`` started from this venv; ready when /-/ready answers 200."""

    def __init__(self, workdir: Path, config: str = HOST_ONLY, args: Sequence[str] = (),
                 scheme: str = "http", wait: bool = True) -> None:
        self.port = free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        self.url = f"{scheme}://{self.address}"
        self.config_path = workdir / f"agent-{self.port}.yml"
        self.config_path.write_text(config)
        super().__init__([sys.executable, "-m", "agent.cli", "--config.file",
                          str(self.config_path), "--web.listen-address", self.address, *args],
                         workdir / f"agent-{self.port}.log")
        if wait and scheme == "http":
            wait_for(lambda: http_get(f"{self.url}/-/ready")[0] == 200, 15,
                     what=f"agent ready ({self.log_path})")
