"""The three console scripts share one Exit enum and turn every error into one stderr line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from common.cli import Exit, Failure, Run, UsageError, add_command, dispatch
from common.schema import ConfigError, ConfigIssue
from tests.support.agent_process import host_config
from tests.support.peers import LOOPBACK, free_port

BIN = Path(sys.executable).parent


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / script), *args], capture_output=True, text=True, timeout=60)


def test_exit_values_are_the_documented_ones() -> None:
    assert {e.name: int(e) for e in Exit} == {
        "OK": 0, "FAILURE": 1, "USAGE": 2, "UNREACHABLE": 3, "INTERRUPTED": 130}


def test_a_usage_error_is_one_line_and_exit_2_in_every_script(tmp_path: Path) -> None:
    config = tmp_path / "agent.yml"
    config.write_text(host_config())
    runs = {
        "commune-agent": _run("commune-agent", "run", "--config.file", str(config),
                              "--web.listen-address", "9810"),
        "commune-collector": _run("commune-collector", "revoke", "--commune", "16318",
                                  "--node", "lan-1", "--gateway-config",
                                  str(tmp_path / "gateway.yml"), "--remove-node"),
        "commune-diag": _run("commune-diag", "run", "disk-mem", "--commune", "16318"),
    }
    expected = {
        "commune-agent": "commune-agent: --web.listen-address: expected 'host:port' like "
                         "'127.0.0.1:9810', got '9810'\n",
        "commune-collector": "commune-collector revoke: --remove-node needs --inventory FILE\n",
        "commune-diag": "commune-diag: --commune and --all need --inventory FILE "
                        "(e.g. configs/inventory/thanh-hoa.yml)\n",
    }
    for script, result in runs.items():
        assert (result.returncode, result.stderr) == (Exit.USAGE, expected[script]), script
        assert result.stdout == ""


def test_a_config_error_names_the_file_after_the_program(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yml")
    message = f"{missing}: file not found; check the path given on the command line\n"
    agent = _run("commune-agent", "check-config", missing)
    assert (agent.returncode, agent.stderr) == (2, f"commune-agent: {message}")
    bad = tmp_path / "bad.yml"
    bad.write_text("province: [\n")
    collector = _run("commune-collector", "render", "--inventory", str(bad),
                     "--out", str(tmp_path / "out"))
    assert collector.returncode == 2
    assert collector.stderr.startswith(f"commune-collector: {bad}:")


def test_a_failure_is_one_line_and_exit_1() -> None:
    url = f"http://{LOOPBACK}:{free_port()}"
    result = _run("commune-collector", "reload", url, "--timeout", "5")
    assert result.returncode == Exit.FAILURE
    assert result.stderr.startswith(f"commune-collector reload: {url}/-/reload: cannot connect")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("script", ["commune-agent", "commune-collector", "commune-diag"])
def test_no_command_prints_the_help_and_exits_2(script: str) -> None:
    result = _run(script)
    assert result.returncode == Exit.USAGE
    assert result.stderr.startswith("usage: " + script)


def _parser(run: Run) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    sub = parser.add_subparsers()
    add_command(sub, "do", run)
    return parser


@pytest.mark.parametrize(("error", "code", "line"), [
    (UsageError("--x: expected a number"), Exit.USAGE, "tool do: --x: expected a number"),
    (Failure("cannot write into out"), Exit.FAILURE, "tool do: cannot write into out"),
    (PermissionError(13, "Permission denied"), Exit.FAILURE,
     "tool do: [Errno 13] Permission denied"),
    (ConfigError("a.yml", [ConfigIssue("a.yml", 2, 3, "key", "wrong")]), Exit.USAGE,
     "tool: a.yml:2:3: key: wrong"),
    (KeyboardInterrupt(), Exit.INTERRUPTED, "tool: interrupted"),
])
def test_dispatch_is_the_one_place_errors_become_a_line(
        error: BaseException, code: Exit, line: str, capsys: pytest.CaptureFixture[str]) -> None:
    def run(args: argparse.Namespace) -> Exit:
        raise error

    parser = _parser(run)
    assert dispatch(parser, parser.parse_args(["do"]), name_command=True) == code
    assert capsys.readouterr().err == line + "\n"
    # Without name_command (commune-agent, commune-diag) errors start with the program.
    assert dispatch(parser, parser.parse_args(["do"])) == code
    assert capsys.readouterr().err == line.replace("tool do:", "tool:") + "\n"
