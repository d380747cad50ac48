"""The logs module inside a real agent: ``once`` through the CLI, promtool's lint, a real
Prometheus scraping an agent that follows a log being written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.cli import main
from tests.support.agent_process import Agent, scrape_config
from tests.support.log_lines import combined
from tests.support.peers import Prometheus, require_binary, wait_for

pytestmark = pytest.mark.peer

TIMED = (r'(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>[^ \"]*)'
         r'[^\"]*" (?P<status>\d{3}) (?P<bytes>\d+|-) "[^\"]*" "(?P<user_agent>[^\"]*)" '
         r'(?P<request_time>[\d.]+)')


def logs_config(log: Path, interval: str = "1s", from_start: bool = True) -> str:
    return (f'commune: "16318"\ninterval: {interval}\nmodules:\n  logs:\n    files:\n'
            f"      - name: portal\n        path: {log}\n        format: regex\n"
            f"        regex: '{TIMED}'\n        from_start: {str(from_start).lower()}\n"
            "        routes: [{name: dossier, match: '^/dossier/'}]\n")


def test_once_prints_log_metrics_that_promtool_accepts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "access.log"
    log.write_text(combined("/dossier/1?x=1", extra=" 0.120")
                   + combined("/.env", 404, agent="Nuclei - Open-source project", extra=" 0.001"))
    config = tmp_path / "agent.yml"
    config.write_text(logs_config(log))
    assert main(["check-config", str(config)]) == 0
    capsys.readouterr()
    assert main(["once", "--config.file", str(config)]) == 0
    text = capsys.readouterr().out
    assert ('commune_http_requests_total{commune="16318",file="portal",method="GET",'
            'route="dossier",status_class="2xx"} 1.0') in text
    assert ('commune_http_suspicious_requests_total{commune="16318",file="portal",'
            'kind="sensitive_file"} 1.0') in text
    assert ('commune_http_request_duration_seconds_bucket{commune="16318",file="portal",'
            'le="0.25",route="dossier"} 1.0') in text
    lint = subprocess.run([require_binary("promtool"), "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=30)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_prometheus_sees_requests_appended_while_the_agent_runs(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(combined("/dossier/0", extra=" 0.5") * 50)  # history: not counted
    (tmp_path / "prom").mkdir()
    with Agent(tmp_path, logs_config(log, from_start=False)) as agent, \
            Prometheus(scrape_config(agent.address), tmp_path / "prom") as prom:
        wait_for(lambda: prom.query('commune_logs_file_up{file="portal"} == 1'), 20,
                 what="the log followed by the agent")
        with log.open("a") as f:
            f.write(combined("/dossier/1", extra=" 0.030") * 7
                    + combined("/dossier/1?id=1+union+select+1", 500, extra=" 2.0") * 3)
        total = 'sum(commune_http_requests_total{commune="16318",route="dossier"})'
        wait_for(lambda: [r for r in prom.query(total) if r["value"][1] == "10"], 20,
                 what=f"10 requests in Prometheus ({agent.log_path})")
        sqli = prom.query('commune_http_suspicious_requests_total{kind="sql_injection"}')
        assert sqli[0]["value"][1] == "3"
        fast = prom.query('commune_http_request_duration_seconds_bucket{le="0.05"}')
        assert fast[0]["value"][1] == "7"
        errors = prom.query('commune_http_requests_total{status_class="5xx"}')
        assert errors[0]["metric"]["method"] == "GET" and errors[0]["value"][1] == "3"
