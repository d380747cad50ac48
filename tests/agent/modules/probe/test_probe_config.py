"""Probe config: each kind loads with its defaults, and bad input names file, line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agent.config import AgentConfig, load_config
from agent.modules.probe.config import ProbeConfig
from agent.modules.probe.targets import (
    DnsTarget,
    H323Target,
    HttpTarget,
    IcmpTarget,
    PathTarget,
    SipTarget,
    TcpTarget,
)
from common.schema import ConfigError, load_yaml

ALL_KINDS = """
commune: "16318"
modules:
  probe:
    interval: 1m                 # a path probe takes up to 30s by default
    targets:
      - {name: portal, kind: http, url: "https://portal.example/", timeout: 5s}
      - {name: db, kind: tcp, host: db.example, port: 5432}
      - {name: mcu, kind: h323, host: 192.0.2.7}
      - {name: gateway, kind: icmp, host: 192.0.2.1}
      - {name: resolver, kind: dns, server: 192.0.2.53, query_name: portal.example}
      - {name: vc, kind: sip, host: 192.0.2.5, transport: tls}
      - {name: route, kind: path, host: portal.example}
"""


def agent_config(text: str, tmp_path: Path | None = None) -> AgentConfig:
    return load_yaml(AgentConfig, textwrap.dedent(text).lstrip("\n"), "agent.yml", tmp_path)


def errors(text: str, tmp_path: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        agent_config(text, tmp_path)
    return [str(issue) for issue in info.value.issues]


def test_every_kind_loads_with_defaults() -> None:
    config = agent_config(ALL_KINDS)
    probe = config.modules.entries[0].config
    assert isinstance(probe, ProbeConfig)
    kinds = [type(t) for t in probe.targets]
    assert kinds == [HttpTarget, TcpTarget, H323Target, IcmpTarget, DnsTarget, SipTarget,
                     PathTarget]
    http, _, h323, icmp, dns, sip, _ = probe.targets.items
    assert isinstance(http, HttpTarget) and http.timeout == 5 and http.method == "GET"
    assert not http.insecure_skip_verify and http.follow_redirects
    assert isinstance(h323, H323Target) and h323.port == 1720
    assert isinstance(icmp, IcmpTarget) and icmp.count == 10
    assert isinstance(dns, DnsTarget) and dns.port == 53 and dns.valid_rcodes == ("NOERROR",)
    assert isinstance(sip, SipTarget) and sip.effective_port == 5061


def test_unknown_and_missing_kind() -> None:
    assert errors("""
        commune: "1"
        modules:
          probe:
            targets:
              - {name: a, kind: ftp, host: x}
              - {name: b, host: x}
    """) == [
        "agent.yml:5:25: modules.probe.targets[0].kind: unknown probe kind 'ftp' "
        "(known: http, https, tcp, h323, icmp, dns, sip, path, scenario, ocsp, crl, throughput)",
        "agent.yml:6:9: modules.probe.targets[1]: missing required key 'kind' "
        "(one of http, https, tcp, h323, icmp, dns, sip, path, scenario, ocsp, crl, throughput)",
    ]


def test_duplicate_names_and_empty_list() -> None:
    assert errors("""
        commune: "1"
        modules:
          probe:
            targets:
              - {name: gw, kind: icmp, host: 192.0.2.1}
              - {name: gw, kind: tcp, host: 192.0.2.1, port: 22}
    """) == ["agent.yml:6:16: modules.probe.targets[1].name: duplicate target name 'gw' "
             "(also modules.probe.targets[0])"]
    assert errors("""
        commune: "1"
        modules:
          probe: {targets: []}
    """)[0].startswith("agent.yml:3:20: modules.probe.targets: list at least one target")


@pytest.mark.parametrize(("target", "key", "message"), [
    ('{name: p, kind: http, url: "ftp://portal.example/"}', "url",
     "expected an http:// or https:// URL"),
    ('{name: p, kind: https, url: "http://portal.example/"}', "url",
     "kind 'https' needs an https:// URL"),
    ('{name: p, kind: http, url: "https://portal.example/", valid_status_codes: [20]}',
     "valid_status_codes", "expected status codes in 100..699"),
    ('{name: p, kind: http, url: "https://portal.example/", body_must_match: ["(unclosed"]}',
     "body_must_match", "not a valid regular expression"),
    ('{name: p, kind: http, url: "https://portal.example/", method: "GE T"}', "method",
     "expected an HTTP method"),
    ('{name: p, kind: http, url: "https://portal.example/", timeout: 10x}', "timeout",
     "expected a duration like '10s'"),
    ('{name: p, kind: http, url: "https://portal.example/", ca_file: missing.pem}', "ca_file",
     "does not exist"),
    ('{name: p, kind: http, url: "https://portal.example/", basic_auth: {username: u}}',
     "basic_auth", "missing required key 'password_file'"),
    ('{name: p, kind: http, url: "https://portal.example/", body_size_limit: 1XB}',
     "body_size_limit", "expected a size like"),
    ('{name: p, kind: https, url: "https://portal.example/", verify: false}', "verify",
     "unknown key"),
    ("{name: t, kind: tcp, host: db.example}", "", "missing required key 'port'"),
    ("{name: t, kind: tcp, host: db.example, port: 70000}", "port", "expected a port in"),
    ("{name: t, kind: tcp, host: db.example, port: 25, query_response: [{}]}",
     "query_response[0]", "give 'expect', 'send' or both"),
    ("{name: t, kind: tcp, host: db.example, port: 23, expect_closed: true, tls: true}",
     "expect_closed", "takes no 'tls'"),
    ("{name: t, kind: h323, host: 'a b'}", "host", "expected a host name or IP address"),
    ("{name: i, kind: icmp, host: 192.0.2.1, count: 0}", "count", "expected 1..100 packets"),
    ("{name: i, kind: icmp, host: 192.0.2.1, count: 100, timeout: 5s}", "count",
     "longer than the timeout"),
    ("{name: d, kind: dns, server: 192.0.2.53}", "", "missing required key 'query_name'"),
    ("{name: d, kind: dns, server: 192.0.2.53, query_name: x.example, query_type: AXFR}",
     "query_type", "expected one of 'A'"),
    ("{name: d, kind: dns, server: 192.0.2.53, query_name: x.example, valid_rcodes: [OK]}",
     "valid_rcodes[0]", "expected one of 'NOERROR'"),
    ("{name: s, kind: sip, host: 192.0.2.5, transport: sctp}", "transport",
     "expected one of 'udp', 'tcp', 'tls'"),
    ("{name: s, kind: sip, host: 192.0.2.5, request_uri: 'vc.example'}", "request_uri",
     "expected a SIP URI"),
    ("{name: r, kind: path, host: portal.example, loss_threshold: 2}", "loss_threshold",
     "expected a ratio"),
    ("{name: r, kind: path, host: portal.example, max_hops: 0}", "max_hops", "expected 1..64"),
])
def test_validation_errors_name_the_key(target: str, key: str, message: str,
                                        tmp_path: Path) -> None:
    found = errors(f"""
        commune: "1"
        modules:
          probe:
            targets:
              - {{name: ok, kind: icmp, host: 192.0.2.1}}
              - {target}
    """, tmp_path)
    assert len(found) == 1, found
    where = "modules.probe.targets[1]" + (f".{key}" if key and not key.startswith("[") else key)
    assert found[0].startswith("agent.yml:6:"), found[0]
    assert f": {where}: " in found[0], found[0]
    assert message in found[0], found[0]


def test_check_config_reports_probe_errors(tmp_path: Path) -> None:
    from agent.cli import main

    path = tmp_path / "agent.yml"
    path.write_text(textwrap.dedent("""
        commune: "1"
        modules:
          probe:
            targets:
              - {name: p, kind: http, url: "portal.example"}
    """).lstrip())
    with pytest.raises(ConfigError):
        load_config(path)
    assert main(["check-config", str(path)]) == 2
