"""The console scripts as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.cli import main
from tests.support.agent_process import host_config

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("script", ["commune-agent", "commune-collector", "commune-diag"])
def test_every_console_script_has_help(script: str) -> None:
    result = subprocess.run([str(BIN / script), "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: " + script)


@pytest.fixture
def host_only(tmp_path: Path) -> Path:
    """A config that collects without network traffic (the example probes example addresses)."""
    path = tmp_path / "agent.yml"
    path.write_text(host_config())
    return path


def test_once_prints_one_exposition(host_only: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["once", "--config.file", str(host_only)]) == 0
    text = capsys.readouterr().out
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"node_cpu_seconds", "node_load1", "commune_module_up", "commune_agent_build_info",
            "process_resident_memory_bytes"} <= names


def test_agent_never_imports_paramiko_and_host_needs_no_extras(host_only: Path) -> None:
    code = ("import sys, asyncio\n"
            "from agent.cli import main\n"
            "from agent.config import load_config\n"
            "from agent.scheduler import build_scheduler\n"
            f"s = build_scheduler(load_config({str(host_only)!r}))\n"
            "asyncio.run(s.collect_all())\n"
            "bad = [m for m in ('paramiko', 'pysnmp', 'bcrypt', 'collector') if m in sys.modules]\n"
            "print(bad)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_missing_config_file_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config.file", "/nonexistent.yml"]) == 2
    assert capsys.readouterr().err == (
        "commune-agent: /nonexistent.yml: file not found; check the path given on the "
        "command line\n")


def test_bad_listen_address_exit_2(host_only: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--config.file", str(host_only),
                 "--web.listen-address", "9810"])
    assert code == 2
    assert "--web.listen-address: expected 'host:port' like '127.0.0.1:9810', got '9810'" in \
        capsys.readouterr().err


def test_a_spool_folder_that_cannot_be_made_is_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a folder\n")
    (tmp_path / "token").write_text("t0ken\n")
    config = tmp_path / "agent.yml"
    config.write_text(host_config() + "push:\n  url: http://127.0.0.1:9/api/v1/write\n"
                      f"  token_file: {tmp_path / 'token'}\n"
                      f"  spool_dir: {tmp_path / 'file' / 'spool'}\n")
    code = main(["run", "--config.file", str(config), "--web.listen-address", "127.0.0.1:0"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"cannot open the spool {tmp_path / 'file' / 'spool'}: Not a directory" in err, err
    assert "Traceback" not in err
