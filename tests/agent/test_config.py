"""Config loading: every bad input gives an exact file:line:col message; good input loads."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from agent.cli import main
from agent.config import AgentConfig, load_config
from agent.modules import MODULES
from agent.modules.host_config import HostConfig
from common.schema import ConfigError
from tests.support.paths import ROOT
from tests.support.peers import VENV_BIN


def write(tmp_path: Path, text: str, name: str = "agent.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_example_config_loads() -> None:
    config = load_config(ROOT / "configs/agent/example.yml")
    assert config.commune == "16318"
    assert config.interval == 15.0
    assert {"host", "probe"} <= set(config.modules.names())
    assert isinstance(config.modules.entries[0].config, HostConfig)


def test_schedule_keys_and_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
        commune: 16318
        interval: 30s
        modules:
          host: {interval: 1m, timeout: 5s}
    """))
    entry = config.modules.entries[0]
    assert config.commune == "16318"  # an unquoted code is still text
    assert config.interval_of(entry) == 60.0
    assert config.timeout_of(entry) == 5.0


KNOWN_MODULES = ", ".join(MODULES)  # grows as modules are registered

BAD = [
    ("commune: '1'\nmodules: {host: {}}\ninterval: 10x\n",
     ["agent.yml:3:11: interval: expected a duration like '10s', '1m30s' or '500ms', got '10x'"]),
    ("commune: '1'\nmodules:\n  snpm: {}\n",
     [f"agent.yml:3:3: modules.snpm: unknown module (known: {KNOWN_MODULES})"]),
    ("commune: '1'\nmodules: {host: {}}\ncolour: red\n",
     ["agent.yml:3:1: colour: unknown key (known: commune, modules, interval, timeout, push)"]),
    ("modules: {host: {}}\n",
     ["agent.yml:1:1: missing required key 'commune' (a string)"]),
    ("commune: '1'\nmodules: {host: {}}\ninterval: [15]\n",
     ["agent.yml:3:11: interval: expected Duration, got a list"]),
    ("commune: 'a b'\nmodules: {host: {}}\n",
     ["agent.yml:1:10: commune: expected the commune's code from the inventory, like '16318', "
      "got 'a b'"]),
    ("commune: '1'\nmodules: {}\n",
     ["agent.yml:2:10: modules: configure at least one module, e.g. 'host: {}'"]),
    ("commune: '1'\nmodules:\n  host:\n    netdev_exclude: '(('\n",
     ["agent.yml:4:21: modules.host.netdev_exclude: not a valid regular expression: "
      "missing ), unterminated subpattern at position 1"]),
    ("commune: '1'\nmodules:\n  host: {timeout: 1m}\n",
     ["agent.yml:3:3: modules: timeout of module 'host' (1m) exceeds its interval (15s)"]),
    ("commune: '1'\ninterval: 5s\nmodules:\n  probe:\n    targets:\n"
     "      - {name: portal, kind: tcp, host: 127.0.0.1, port: 1, timeout: 10s}\n",
     ["agent.yml:4:3: modules: module 'probe' has a check with a 10s timeout, longer than the "
      "module's timeout (5s); lower it or raise the module's interval/timeout"]),
    ("commune: '1'\ncommune: '2'\nmodules: {host: {}}\n",
     ["agent.yml:2:1: commune: duplicate key"]),
    ("commune: '1'\nmodules: {host: {}\n",
     ["agent.yml:3:1: invalid YAML: expected ',' or '}', but got '<stream end>'"]),
    ("- 1\n", ["agent.yml:1:1: expected a mapping, got a list"]),
    ("commune: '1'\ninterval: 0s\nmodules: {host: {}}\n",
     ["agent.yml:2:11: interval: must be greater than 0s"]),
    ("commune: '1'\nmodules:\n  host: {interval: soon, mount_points_exclude: [a]}\n",
     ["agent.yml:3:20: modules.host.interval: expected a duration like '10s', '1m30s' or "
      "'500ms', got 'soon'",
      "agent.yml:3:48: modules.host.mount_points_exclude: expected a string, got a list"]),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[b[1][0].split(": ")[1] for b in BAD])
def test_bad_config_messages(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    got = [str(issue).removeprefix(str(tmp_path) + "/") for issue in info.value.issues]
    assert got == expected


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "commune: ''\ninterval: x\nmodules:\n  snpm: {}\n  bogus: {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.issues) == 3
    assert str(info.value).startswith(f"{path}: 3 errors\n  {path}:2:11: interval:")


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="file not found; check the path"):
        load_config("/nonexistent/agent.yml")


def test_check_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "commune: '16318'\nmodules: {host: {}}\n", "good.yml")
    assert main(["check-config", str(good)]) == 0
    assert "ok (commune 16318; modules: host)" in capsys.readouterr().out
    bad = write(tmp_path, "commune: '16318'\nmodules: {hots: {}}\n", "bad.yml")
    assert main(["check-config", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"commune-agent: {bad}:2:11: modules.hots: unknown module (known: {KNOWN_MODULES})\n")


def test_agent_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "commune: '1'\nmodules: {host: {}}\n"))
    assert isinstance(config, AgentConfig)
    with pytest.raises(AttributeError):
        config.commune = "2"  # type: ignore[misc]


AGENT_CONFIGS = sorted((ROOT / "configs" / "agent").glob("*.yml"))


def test_the_shipped_agent_configs_are_all_checked() -> None:
    assert {"example.yml", "security.yml", "tthc-web.yml"} <= {p.name for p in AGENT_CONFIGS}


@pytest.mark.parametrize("path", AGENT_CONFIGS, ids=lambda p: p.name)
def test_shipped_agent_config_passes_check_config(path: Path) -> None:
    # Checked only (loaded, never collected): their addresses are documentation examples.
    done = subprocess.run([str(VENV_BIN / "commune-agent"), "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{path}: ok (commune ")
