"""commune-collector expire: unused expired codes lose their token; used ones are settled."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from collector.cli import main
from collector.enrolment.enrol import NodeRequest, enrol
from collector.enrolment.expire import PrometheusError, expire
from collector.enrolment.ledger import ledger_path, read_ledger
from collector.gateway.config import load_gateway_config, token_digest
from common.remote_write import HEADERS, encode_write_request
from tests.support.peers import LOOPBACK, Prometheus, answering_json, free_port, serving
from tests.support.province import Province
from tests.support.push_peers import PROMETHEUS_PUSH_ARGS, PROMETHEUS_PUSH_CONFIG

URL = "http://127.0.0.1:9820/api/v1/write"
HOUR = 3600.0


def _heartbeat(prometheus: Prometheus, commune: str, node: str) -> None:
    labels = (("__name__", "commune_agent_heartbeat_timestamp_seconds"), ("commune", commune),
              ("instance", node), ("job", "commune-agent"))
    body = encode_write_request([(labels, [(int(time.time() * 1000), time.time())])])
    request = urllib.request.Request(f"{prometheus.url}/api/v1/write", data=body,
                                     headers=HEADERS, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


@pytest.mark.peer
def test_expire_settles_pending_enrolments(tmp_path: Path, province: Province, capsys):
    (tmp_path / "prom").mkdir()
    prometheus = Prometheus(PROMETHEUS_PUSH_CONFIG, tmp_path / "prom", PROMETHEUS_PUSH_ARGS)
    try:
        old = time.time() - 2 * HOUR
        used = enrol(NodeRequest("16318", "lan-2"), province.inventory, province.gateway, URL,
                     HOUR, now=old)
        unused = enrol(NodeRequest("16318", "vc-1", role="vc"), province.inventory,
                       province.gateway, URL, HOUR, now=old)
        fresh = enrol(NodeRequest("14797", "lan-2"), province.inventory, province.gateway, URL,
                      HOUR)
        assert [(p.commune, p.node) for p in read_ledger(province.gateway)] == [
            ("16318", "lan-2"), ("16318", "vc-1"), ("14797", "lan-2")]
        _heartbeat(prometheus, "16318", "lan-2")
        assert main(["expire", "--gateway-config", str(province.gateway), "--prometheus",
                     prometheus.url]) == 0
        assert capsys.readouterr().out.splitlines() == [
            "16318/lan-2: enrolled (heartbeat seen)",
            "16318/vc-1: code expired unused, token removed"]
        digests = {t.sha256 for t in load_gateway_config(str(province.gateway)).tokens}
        assert digests == {token_digest(used.enrolment.token),
                           token_digest(fresh.enrolment.token)}
        assert token_digest(unused.enrolment.token) not in province.gateway.read_text()
        assert [(p.commune, p.node) for p in read_ledger(province.gateway)] == [
            ("14797", "lan-2")]
        # A second run has nothing to do until the fresh code expires.
        assert expire(province.gateway, prometheus.url) == []
        assert expire(province.gateway, prometheus.url, now=time.time() + 2 * HOUR) == [
            "14797/lan-2: code expired unused, token removed"]
    finally:
        prometheus.stop()


def test_expire_changes_nothing_without_prometheus(province: Province):
    enrol(NodeRequest("16318", "lan-2"), province.inventory, province.gateway, URL, HOUR,
          now=time.time() - 2 * HOUR)
    before = (province.gateway.read_text(), ledger_path(province.gateway).read_text())
    with pytest.raises(PrometheusError, match="nothing changed"):
        expire(province.gateway, f"http://{LOOPBACK}:{free_port()}")
    assert (province.gateway.read_text(), ledger_path(province.gateway).read_text()) == before


def test_offline_and_revoked_enrolments_are_not_pending(province: Province, tmp_path: Path):
    assert main(["enroll", "--commune", "16318", "--node", "lan-2", *province.args(),
                 "--gateway-url", URL, "--offline", str(tmp_path / "usb")]) == 0
    assert read_ledger(province.gateway) == []
    enrol(NodeRequest("16318", "lan-3"), province.inventory, province.gateway, URL, HOUR)
    assert main(["revoke", "--commune", "16318", "--node", "lan-3", "--gateway-config",
                 str(province.gateway)]) == 0
    assert read_ledger(province.gateway) == []


@pytest.mark.parametrize(("ledger", "problem"), [
    ("{commune: '16318'}\n", "expected a list of pending enrolments"),
    ("- {commune: '16318', node: lan-2}\n", "entry 1 is not {commune, node, sha256, expires}"),
    ("- {commune: '1', node: a, sha256: b, expires: .inf}\n", "entry 1 is not {commune"),
    ("- [\n", "invalid YAML: "),
    ("- {expires: 2024-13-45}\n", "invalid YAML value: month must be in 1..12"),
])
def test_a_damaged_ledger_is_exit_2_and_changes_nothing(province: Province, ledger: str,
                                                        problem: str, capsys) -> None:
    ledger_path(province.gateway).write_text(ledger)
    before = province.gateway.read_text()
    assert main(["expire", "--gateway-config", str(province.gateway), "--prometheus",
                 f"http://{LOOPBACK}:{free_port()}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"commune-collector: {ledger_path(province.gateway)}")
    assert problem in err and err.rstrip().endswith("revoke the tokens of nodes that never "
                                                    "pushed by hand)")
    assert len(err.splitlines()) == 1
    assert province.gateway.read_text() == before
    assert ledger_path(province.gateway).read_text() == ledger


@pytest.mark.parametrize("body", [[], [{"status": "success"}], {"status": "success"},
                                  {"status": "success", "data": {"result": None}},
                                  {"status": "error", "error": "parse error"}])
def test_an_answer_not_from_prometheus_is_one_line_naming_the_flag(
        province: Province, body: object, capsys: pytest.CaptureFixture[str]) -> None:
    enrol(NodeRequest("16318", "lan-2"), province.inventory, province.gateway, URL, HOUR,
          now=time.time() - 2 * HOUR)
    before = (province.gateway.read_text(), ledger_path(province.gateway).read_text())
    server = answering_json(body)
    with serving(server):
        code = main(["expire", "--gateway-config", str(province.gateway), "--prometheus",
                     f"http://{LOOPBACK}:{server.server_address[1]}"])
    err = capsys.readouterr().err
    assert code == 1 and "check --prometheus" in err and len(err.splitlines()) == 1
    assert (province.gateway.read_text(), ledger_path(province.gateway).read_text()) == before
