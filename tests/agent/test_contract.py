"""The module contract: every registry entry builds its module from its own config, lazily."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.config import AgentConfig, load_config
from agent.modules import MODULES
from agent.modules.base import ModuleConfig
from agent.modules.host_config import HostConfig
from agent.modules.probe.config import ProbeConfig
from common.schema import load_yaml

# One small, valid ``modules.NAME`` mapping per registered module; TMP is a scratch folder.
SAMPLES = {
    "host": "{}",
    "probe": "{targets: [{name: portal, kind: http, url: 'http://127.0.0.1:9/', timeout: 3s},"
             " {name: gateway, kind: icmp, host: 127.0.0.1}]}",
    "logs": "{files: [{name: portal, path: TMP/access.log}]}",
    "security": "{state_dir: TMP, listen: {}}",
    "snmp": "{devices: [{name: core-switch, address: '127.0.0.1:9', modules: [if_mib]}]}",
    "flows": "{listen: ['127.0.0.1:0'], lan: ['192.0.2.0/24'], portal: ['203.0.113.10']}",
}


def agent_yaml(name: str, tmp_path: Path) -> str:
    """An agent config with only module ``name``, configured from its sample."""
    sample = SAMPLES[name].replace("TMP", str(tmp_path))
    return f"commune: '16318'\nmodules:\n  {name}: {sample}\n"


def sample_config(name: str, tmp_path: Path) -> ModuleConfig:
    """The validated config of module ``name`` from its sample."""
    config = load_yaml(AgentConfig, agent_yaml(name, tmp_path), "agent.yml", tmp_path)
    [entry] = config.modules.entries
    return entry.config


def test_every_registered_module_has_a_sample() -> None:
    assert set(SAMPLES) == set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_entry_builds_its_module_from_its_config(name: str, tmp_path: Path) -> None:
    info = MODULES[name]
    config = sample_config(name, tmp_path)
    assert type(config) is info.config_class
    module = info.build(config)
    try:
        assert type(module) is info.load()
        assert module.name == info.name == name
        assert module.metrics == info.load().metrics  # declared on the class, as tests read them
    finally:
        module.close()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_config_class_keeps_the_contract(name: str, tmp_path: Path) -> None:
    info = MODULES[name]
    assert issubclass(info.config_class, ModuleConfig)
    config = sample_config(name, tmp_path)
    assert isinstance(config, ModuleConfig)
    longest = config.longest_timeout()
    assert longest is None or longest > 0
    assert dataclasses.is_dataclass(config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, dataclasses.fields(config)[0].name, None)


def test_only_probe_targets_have_timeouts_of_their_own(tmp_path: Path) -> None:
    longest = {name: sample_config(name, tmp_path).longest_timeout() for name in MODULES}
    assert longest == {"host": None, "probe": 10.0, "logs": None, "security": None, "snmp": None,
                       "flows": None}


def test_build_refuses_the_config_of_another_module(tmp_path: Path) -> None:
    probe = sample_config("probe", tmp_path)
    assert isinstance(probe, ProbeConfig)
    with pytest.raises(TypeError, match="module 'host' is configured by a HostConfig, got a "
                                        "ProbeConfig"):
        MODULES["host"].build(probe)
    assert MODULES["host"].config_class is HostConfig


def test_loading_a_config_imports_no_module_code(tmp_path: Path) -> None:
    path = tmp_path / "agent.yml"
    samples = "\n".join(f"  {name}: {SAMPLES[name].replace('TMP', str(tmp_path))}"
                        for name in sorted(MODULES))
    path.write_text(f"commune: '16318'\nmodules:\n{samples}\n")
    assert load_config(path).modules.names() == sorted(MODULES)
    code = textwrap.dedent(f"""
        import sys
        from agent.config import load_config
        load_config({str(path)!r})
        heavy = ("psutil", "pysnmp", "icmplib", "dns", "agent.modules.host",
                 "agent.modules.probe.module", "agent.modules.logs.module",
                 "agent.modules.security.module", "agent.modules.snmp.module",
                 "agent.modules.flows.module")
        print(sorted(m for m in heavy if m in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.stdout.strip() == "[]", result.stderr
