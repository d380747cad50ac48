"""The probe module as a whole: concurrency, failures as data, logging once per state change."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from agent.config import AgentConfig
from agent.exposition import render
from agent.modules import MODULES
from agent.modules.probe.module import ProbeModule
from agent.modules.probe.result import METRICS, VC_MOS, VC_R_FACTOR, ProbeResult
from agent.modules.probe.throughput_metrics import THROUGHPUT_METRICS
from agent.scheduler import build_scheduler
from common.schema import load_yaml
from tests.support.peers import free_port, require_binary
from tests.support.probe_peers import (
    base_url,
    collect,
    http_server,
    load_probe_config,
    make_pki,
    reasons,
    server_context,
)
from tests.support.samples import value


def test_registered_and_metrics_declared() -> None:
    info = MODULES["probe"]
    assert info.load() is ProbeModule
    names = [spec.name for spec in METRICS]
    assert len(names) == len(set(names))
    for spec in METRICS:
        if spec.name.startswith("commune_scenario_"):  # a scenario is named, its kind implied
            assert spec.labels[:1] == ("scenario",), spec.name
        elif spec in (*THROUGHPUT_METRICS, VC_MOS, VC_R_FACTOR):  # one kind has them: implied
            assert spec.labels[:1] == ("target",) and "kind" not in spec.labels, spec.name
        else:
            assert spec.labels[:2] == ("target", "kind"), spec.name
        assert re.fullmatch(r"(probe|commune_(probe|scenario|ocsp|crl|throughput|latency_under_load"
                            r"|bufferbloat|vc))_[a-z0-9_]+",
                            spec.name), spec.name
        assert spec.help.endswith("."), spec.name


def test_targets_are_probed_concurrently() -> None:
    # The handler waits until all 12 requests are in at once; probed one by one, none would be.
    parties = 12
    with http_server(barrier_parties=parties) as server:
        url = base_url(server)
        targets = "\n".join(f'  - {{name: t{i}, kind: http, url: "{url}/barrier", timeout: 30s}}'
                            for i in range(parties))
        reg = collect(ProbeModule(load_probe_config(f"targets:\n{targets}\n")))
    for i in range(parties):
        assert value(reg, "probe_success", target=f"t{i}", kind="http") == 1, i
        assert value(reg, "probe_http_status_code", target=f"t{i}", kind="http") == 200


def test_a_timed_out_target_does_not_hold_the_others() -> None:
    with http_server(barrier_parties=2) as server:  # never 2 at once: /barrier hangs
        url = base_url(server)
        reg = collect(ProbeModule(load_probe_config(f"""
            targets:
              - {{name: hung, kind: http, url: "{url}/barrier", timeout: 500ms}}
              - {{name: fine, kind: http, url: "{url}/"}}
        """)))
        server.barrier.abort()
    assert reasons(reg, "hung") == ["timeout"]
    assert value(reg, "probe_success", target="fine", kind="http") == 1


class _Broken:
    async def probe(self, result: ProbeResult) -> None:
        raise RuntimeError("a bug in a probe")


def test_failures_are_data_and_logged_once_per_change(caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    closed = free_port()
    module = ProbeModule(load_probe_config(f"""
        targets:
          - {{name: db, kind: tcp, host: 127.0.0.1, port: {closed}}}
          - {{name: buggy, kind: h323, host: 127.0.0.1}}
    """))
    module.probers[1] = (module.probers[1][0], _Broken())
    caplog.set_level(logging.INFO, logger="agent.modules.probe.module")
    for _ in range(3):
        reg = collect(module)
    assert reasons(reg, "db") == ["connect"]
    assert reasons(reg, "buggy") == ["internal"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert any("db (tcp) failing: connect" in w for w in warnings)
    assert any("RuntimeError: a bug in a probe" in w for w in warnings)

    # the port opens: one recovery line, then silence
    with http_server() as server:
        port = server.server_address[1]
        module = ProbeModule(load_probe_config(f"""
            targets:
              - {{name: db, kind: tcp, host: 127.0.0.1, port: {port}}}
        """))
        module._state["db"] = "connect"
        caplog.clear()
        collect(module)
        collect(module)
    assert [r.getMessage() for r in caplog.records] == ["probe db (tcp) succeeding again"]


def test_runs_under_the_scheduler_with_the_commune_label() -> None:
    with http_server() as server:
        config = load_yaml(AgentConfig, textwrap.dedent(f"""
            commune: "16318"
            modules:
              probe:
                timeout: 5s
                targets:
                  - {{name: portal, kind: http, url: "{base_url(server)}/", timeout: 2s}}
        """), "agent.yml")
        scheduler = build_scheduler(config)
        asyncio.run(scheduler.collect_all())
    text = scheduler.snapshot.plain.decode()
    assert 'probe_success{commune="16318",kind="http",target="portal"} 1.0' in text
    assert scheduler.runs[0].up


@pytest.mark.peer
def test_exposition_passes_promtool_lint(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with http_server(server_context(pki)) as server:
        module = ProbeModule(load_probe_config(f"""
            targets:
              - {{name: portal, kind: https, url: "{base_url(server, 'https')}/redirect",
                  ca_file: "{pki.ca_file}", body_must_match: [portal]}}
              - {{name: lo, kind: icmp, host: 127.0.0.1, count: 2, interval: 20ms}}
              - {{name: route, kind: path, host: 127.0.0.1, count: 1, max_hops: 2}}
              - {{name: closed, kind: tcp, host: 127.0.0.1, port: {free_port()}}}
        """))
        families = asyncio.run(module.collect())
    text = render(families)
    assert b"probe_ssl_last_chain_expiry_timestamp_seconds" in text
    assert b'commune_probe_rtt_histogram_seconds_count{kind="icmp",target="lo"} 2.0' in text
    done = subprocess.run([require_binary("promtool"), "check", "metrics"], input=text,
                          capture_output=True, timeout=60)
    # The latency histogram's name is the one the dashboards and the docs promise; the only
    # lint it breaks is the word "histogram" in it.
    complaints = (done.stdout + done.stderr).decode().splitlines()
    assert complaints == ["commune_probe_rtt_histogram_seconds metric name should not include "
                          "type 'histogram'"], complaints
