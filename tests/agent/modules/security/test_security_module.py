"""The security module as the agent runs it: config from YAML, the scheduler, failing checks."""

from __future__ import annotations

import re
import socket
import textwrap
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.cli import main
from agent.config import AgentConfig, load_config
from agent.modules import MODULES
from agent.modules.security.config import SecurityConfig
from agent.modules.security.module import METRICS, SecurityModule
from common.schema import ConfigError, load_yaml
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, free_udp_port
from tests.support.samples import value


def test_registered_with_light_config() -> None:
    info = MODULES["security"]
    assert info.config_class is SecurityConfig
    assert info.load() is SecurityModule


def test_metric_declarations() -> None:
    names = [spec.name for spec in METRICS]
    assert len(names) == len(set(names))
    for spec in METRICS:
        assert spec.name.startswith("commune_"), spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        assert spec.help.endswith(".") or spec.help.endswith(")."), spec.name
        assert re.fullmatch(r"[a-z_]+", spec.name)


def test_config_errors_name_file_line_and_key() -> None:
    text = textwrap.dedent("""\
        commune: "16318"
        modules:
          security:
            auth: {top_sources: 500}
            listen:
              allow:
                - {proto: sctp, port: 22}
                - {proto: tcp, port: 70000}
            neighbours: {known: ["00:11:22"]}
            integrity: {path_sets: [{name: "web root", paths: [/var/www]}]}
            certs: {pathz: [/etc/ssl]}
        """)
    with pytest.raises(ConfigError) as info:
        load_yaml(AgentConfig, text, "agent.yml")
    got = [str(issue) for issue in info.value.issues]
    assert got == [
        "agent.yml:4:25: modules.security.auth.top_sources: expected 0..100, got 500",
        "agent.yml:7:19: modules.security.listen.allow[0].proto: expected one of 'tcp', 'udp', "
        "got 'sctp'",
        "agent.yml:8:30: modules.security.listen.allow[1].port: expected a port in 1..65535, "
        "got 70000",
        "agent.yml:9:25: modules.security.neighbours.known: known[0]: expected a MAC address like "
        "'00:1b:21:aa:bb:cc', got '00:11:22'",
        "agent.yml:10:36: modules.security.integrity.path_sets[0].name: expected letters, "
        "digits, '_', '.' or '-', got 'web root'",
        "agent.yml:11:13: modules.security.certs.pathz: unknown key (known: paths, max_series)",
        "agent.yml:11:12: modules.security.certs: missing required key 'paths' "
        "(a list of a string)",
    ]


def test_once_with_every_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    auth_log = tmp_path / "auth.log"
    auth_log.write_text("sshd[1]: Failed password for root from 10.0.0.9 port 1 ssh2\n")
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hi")
    config = tmp_path / "agent.yml"
    config.write_text(textwrap.dedent(f"""\
        commune: "16318"
        modules:
          security:
            state_dir: {tmp_path / "state"}
            auth: {{files: [{auth_log}], from_start: true}}
            listen: {{include_loopback: true}}
            neighbours: {{source: proc}}
            integrity: {{path_sets: [{{name: www, paths: [{tmp_path / "www"}]}}]}}
            certs: {{paths: [{tmp_path / "none.pem"}]}}
        """))
    load_config(config)
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["once", "--config.file", str(config)]) == 0
    families = list(text_string_to_metric_families(capsys.readouterr().out))
    assert value(families, "commune_module_up", module="security", commune="16318") == 1
    for check in ("auth", "listen", "neighbours", "integrity", "certs"):
        assert value(families, "commune_security_check_up", check=check, commune="16318") == 1
    assert value(families, "commune_auth_failures_total", service="ssh", reason="bad_password",
                 source_class="lan", commune="16318") == 1
    unexpected = [s for f in families for s in f.samples if s.name == "commune_unexpected_listen"]
    assert any(s.labels["port"] == str(port) for s in unexpected)
    assert value(families, "commune_integrity_files", path_set="www", commune="16318") == 1


def test_failing_check_does_not_hide_the_others(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where a folder should be")
    (tmp_path / "a").write_text("a")
    config = load_yaml(SecurityConfig, textwrap.dedent(f"""\
        state_dir: {tmp_path / "state"}
        integrity: {{path_sets: [{{name: a, paths: [{tmp_path / "a"}]}}]}}
        listen: {{}}
        """), "security.yml")
    module = SecurityModule(config)
    families = module.collect()
    assert value(families, "commune_security_check_up", check="integrity") == 0
    assert value(families, "commune_security_check_up", check="listen") == 1
    assert any(f.name == "commune_unexpected_listen_sockets" for f in families)
    module.close()


def test_collected_families_are_declared(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("sshd[1]: Failed password for root from 10.0.0.9 port 1 ssh2\n")
    (tmp_path / "f").write_text("f")
    apt_check = tmp_path / "apt-check"
    apt_check.write_text("#!/bin/sh\necho '3;1' >&2\n")
    apt_check.chmod(0o755)
    store = tmp_path / "store.pem"
    store.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    config = load_yaml(SecurityConfig, textwrap.dedent(f"""\
        state_dir: {tmp_path / "state"}
        auth: {{files: [{log}], from_start: true}}
        listen: {{}}
        neighbours: {{source: proc}}
        integrity: {{path_sets: [{{name: f, paths: [{tmp_path / "f"}]}}]}}
        certs: {{paths: [{tmp_path / "f"}]}}
        updates: {{apt_check: {apt_check}}}
        snmp_community: {{address: "127.0.0.1:{free_udp_port()}", timeout: 200ms}}
        trust_roots: {{roots: [{{name: r, sha256: "{"ab" * 32}"}}], stores: [{store}]}}
        """), "security.yml")
    module = SecurityModule(config)
    declared = {spec.name for spec in module.metrics}
    collected = {f.name + ("_total" if f.type == "counter" else "") for f in module.collect()}
    assert collected == declared


def test_example_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    example = ROOT / "configs" / "agent" / "security.yml"
    assert main(["check-config", str(example)]) == 0
    assert "modules: host, security" in capsys.readouterr().out


@pytest.mark.parametrize(("body", "expected"), [
    ("security: {}",
     "agent.yml:3:13: modules.security: configure at least one check: auth, listen, neighbours, "
     "integrity, certs, updates, snmp_community or trust_roots (e.g. 'listen: {}')"),
    ("security: {auth: {files: [auth.log]}}",
     "agent.yml:3:28: modules.security.auth.files: expected absolute paths like "
     "'/var/log/auth.log', got 'auth.log'"),
    ("security: {state_dir: state, listen: {}}",
     "agent.yml:3:25: modules.security.state_dir: expected an absolute path, got 'state'"),
    ("security: {updates: {every: 0s}}",
     "agent.yml:3:31: modules.security.updates.every: must be greater than 0"),
    ("security: {auth: {files: []}}",
     "agent.yml:3:28: modules.security.auth.files: list at least one auth log file, e.g. "
     "/var/log/auth.log, or read the journal with 'journal: {}'"),
])
def test_more_config_errors(body: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(AgentConfig, f'commune: "1"\nmodules:\n  {body}\n', "agent.yml")
    assert [str(i) for i in info.value.issues] == [expected]
