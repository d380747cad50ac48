"""render/alertmanager.py: routes, inhibitions and the bilingual template, checked by amtool."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.inventory import load_inventory
from collector.render.alertmanager import alertmanager_config, alertmanager_files, region_slug
from common.units import Duration
from tests.support.alertmanager_peer import Alertmanager
from tests.support.paths import ROOT
from tests.support.peers import require_binary, serving, wait_for

PROVINCE = ROOT / "configs" / "inventory" / "thanh-hoa.yml"
TEMPLATE = (ROOT / "configs" / "alertmanager" / "commune.tmpl").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("am")
    config = alertmanager_config(load_inventory(PROVINCE), "http://127.0.0.1:9/hook")
    (out / "alertmanager.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    for rel, content in alertmanager_files().items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(content)
    return out / "alertmanager.yml"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("amtool"), *args], capture_output=True, text=True)


def route(config_file: Path, *labels: str) -> list[str]:
    out = amtool("config", "routes", "test", f"--config.file={config_file}", *labels)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().split(",")


@pytest.mark.peer
def test_amtool_check_config(config_file: Path) -> None:
    out = amtool("check-config", str(config_file))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 templates" in out.stdout


@pytest.mark.peer
def test_a_broken_template_fails_the_check(config_file: Path, tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "commune.tmpl").write_text(TEMPLATE.replace("{{ end }}", "", 1))
    (tmp_path / "alertmanager.yml").write_text(config_file.read_text())
    assert amtool("check-config", str(tmp_path / "alertmanager.yml")).returncode != 0


@pytest.mark.peer
def test_routes_by_severity_and_region(config_file: Path) -> None:
    assert route(config_file, "alertname=CommuneUplinkDown", "severity=critical", "scope=commune",
                 "region=Huyện Mường Lát", "commune=14866") == [
        "critical", "technicians-huyen-muong-lat"]
    assert route(config_file, "alertname=InterfaceErrors", "severity=warning", "scope=commune",
                 "region=Thành phố Thanh Hóa", "commune=14797") == [
        "warning", "technicians-thanh-pho-thanh-hoa"]
    # province-wide incidents go to the province team only
    assert route(config_file, "alertname=TTHCPortalDown", "severity=critical",
                 "scope=province", "target=tthc-portal") == ["critical"]


def test_every_region_has_technicians(config_file: Path) -> None:
    config = yaml.safe_load(config_file.read_text())
    receivers = {r["name"] for r in config["receivers"]}
    regions = {c.group for c in load_inventory(PROVINCE).communes}
    assert {f"technicians-{region_slug(r)}" for r in regions} <= receivers
    assert len(receivers) == 4 + len(regions)
    assert all(r["webhook_configs"][0]["url"] == "http://127.0.0.1:9/hook"
               for r in config["receivers"])


def test_region_slug() -> None:
    assert region_slug("Thành phố Thanh Hóa") == "thanh-pho-thanh-hoa"
    assert region_slug("Huyện Đông Sơn") == "huyen-dong-son"


def test_inhibitions_name_one_cause(config_file: Path) -> None:
    rules = yaml.safe_load(config_file.read_text())["inhibit_rules"]
    by_source = {r["source_matchers"][0]: r for r in rules}
    uplink = by_source['alertname="CommuneUplinkDown"']
    assert uplink["equal"] == ["commune"] and 'scope="commune"' in uplink["target_matchers"]
    portal = by_source['alertname="TTHCPortalDown"']
    assert "CommunePortalSlow" in portal["target_matchers"][0]
    severity = by_source['severity="critical"']
    assert {"alertname", "commune", "target", "mountpoint"} <= set(severity["equal"])


@pytest.mark.peer
def test_template_title_renders(config_file: Path) -> None:
    out = amtool("template", "render", f"--template.glob={config_file.parent}/templates/*.tmpl",
                 '--template.text={{ template "commune.title" . }}')
    assert out.returncode == 0, out.stderr
    assert "RESOLVED" in out.stdout  # amtool's example data is not "firing"


def _post_alerts(url: str, alerts: list[dict[str, dict[str, str]]]) -> None:
    request = urllib.request.Request(f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


@pytest.mark.peer
def test_inhibitions_in_a_real_alertmanager(config_file: Path, tmp_path: Path) -> None:
    """One incident, one alert: what a real Alertmanager keeps active and what it inhibits."""
    commune = {"commune": "14797", "commune_name": "Phường Hạc Thành",
               "region": "Thành phố Thanh Hóa", "terrain": "lowland", "scope": "commune"}
    other = {**commune, "commune": "16531", "commune_name": "Phường Sầm Sơn"}
    alerts = [
        # commune 14797: uplink down silences its other alerts
        {**commune, "alertname": "CommuneUplinkDown", "severity": "critical"},
        {**commune, "alertname": "CommuneLinkPacketLoss", "severity": "warning"},
        {**commune, "alertname": "InterfaceErrors", "severity": "warning",
         "device": "core-switch", "ifIndex": "1"},
        # but not a security finding of the same commune
        {**commune, "alertname": "FileIntegrityChanged", "severity": "warning",
         "runbook": "security", "instance": "n2", "path_set": "ssh"},
        # the portal down silences the per-commune portal alerts of other communes
        {"alertname": "TTHCPortalDown", "severity": "critical", "scope": "province",
         "target": "tthc-portal", "kind": "http"},
        {**other, "alertname": "CommuneTargetUnreachable", "severity": "warning",
         "target": "tthc-portal", "kind": "http"},
        {**other, "alertname": "CommunePortalSlow", "severity": "warning",
         "target": "tthc-portal", "kind": "http"},
        # but not what is about another target
        {**other, "alertname": "CommuneTargetUnreachable", "severity": "warning",
         "target": "tthc-db", "kind": "tcp"},
        # critical silences the warning of the same disk, not of another disk
        {**other, "alertname": "CommuneDiskNearlyFull", "severity": "critical",
         "instance": "n1", "mountpoint": "/var"},
        {**other, "alertname": "CommuneDiskNearlyFull", "severity": "warning",
         "instance": "n1", "mountpoint": "/var"},
        {**other, "alertname": "CommuneDiskNearlyFull", "severity": "warning",
         "instance": "n1", "mountpoint": "/"},
        # critical silences the warning of the same certificate, not of another one
        {**other, "alertname": "LocalCertificateExpiring", "severity": "critical",
         "runbook": "security", "instance": "n1", "path": "/etc/ssl/db.pem"},
        {**other, "alertname": "LocalCertificateExpiring", "severity": "warning",
         "runbook": "security", "instance": "n1", "path": "/etc/ssl/db.pem"},
        {**other, "alertname": "LocalCertificateExpiring", "severity": "warning",
         "runbook": "security", "instance": "n1", "path": "/etc/ssl/portal.pem"},
    ]
    am = Alertmanager(config_file, tmp_path)
    try:
        _post_alerts(am.url, [{"labels": labels} for labels in alerts])

        expected_active = {
            ("CommuneUplinkDown", "14797", "", "critical"),
            ("TTHCPortalDown", "", "tthc-portal", "critical"),
            ("CommuneTargetUnreachable", "16531", "tthc-db", "warning"),
            ("CommuneDiskNearlyFull", "16531", "/var", "critical"),
            ("CommuneDiskNearlyFull", "16531", "/", "warning"),
            ("FileIntegrityChanged", "14797", "", "warning"),
            ("LocalCertificateExpiring", "16531", "/etc/ssl/db.pem", "critical"),
            ("LocalCertificateExpiring", "16531", "/etc/ssl/portal.pem", "warning"),
        }

        def states() -> dict[tuple[str, ...], str]:
            return {(a["labels"]["alertname"], a["labels"].get("commune", ""),
                     a["labels"].get("target", a["labels"].get("mountpoint",
                                                               a["labels"].get("path", ""))),
                     a["labels"]["severity"]): a["status"]["state"] for a in am.alerts()}

        def active() -> set[tuple[str, ...]]:
            return {k for k, state in states().items() if state == "active"}

        # The inhibitor learns of the alerts asynchronously: until it has seen the sources, the
        # targets show as active. Wait for the expected state; a wrong rule never reaches it.
        wait_for(lambda: len(states()) == len(alerts) and active() == expected_active, 15,
                 what="inhibitions applied")
        time.sleep(1)  # and it stays so
        got = states()
        assert {k for k, state in got.items() if state == "active"} == expected_active
        assert sum(state == "suppressed" for state in got.values()) == 6
    finally:
        am.stop()


class _ChatHandler(BaseHTTPRequestHandler):
    server: _Chat

    def do_POST(self) -> None:
        self.server.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


class _Chat(ThreadingHTTPServer):
    """A chat webhook (Slack's format) on loopback: Alertmanager renders our template into it."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ChatHandler)
        self.posts: list[dict[str, Any]] = []


@pytest.mark.peer
def test_bilingual_template_in_a_real_notification(config_file: Path, tmp_path: Path) -> None:
    """A chat receiver using commune.title / commune.text gets Vietnamese and English text."""
    chat = _Chat()
    with serving(chat):
        config = yaml.safe_load(config_file.read_text())
        assert config["templates"] == ["templates/*.tmpl"]  # relative to the config file
        config["route"] = {"receiver": "chat", "group_by": ["commune"], "group_wait": "1s"}
        config["receivers"] = [{"name": "chat", "slack_configs": [{
            "api_url": f"http://127.0.0.1:{chat.server_address[1]}/hook",
            "title": '{{ template "commune.title" . }}',
            "text": '{{ template "commune.text" . }}'}]}]
        config["inhibit_rules"] = []
        chat_config = config_file.parent / "alertmanager-chat.yml"  # beside templates/
        chat_config.write_text(yaml.safe_dump(config, allow_unicode=True))
        am = Alertmanager(chat_config, tmp_path)
        try:
            _post_alerts(am.url, [{
                "labels": {"alertname": "CommuneUplinkDown", "severity": "critical",
                           "scope": "commune", "commune": "14866",
                           "commune_name": "Xã Mường Chanh", "region": "Huyện Mường Lát",
                           "terrain": "mountain", "runbook": "network-basic"},
                "annotations": {
                    "summary_vi": "Mất kết nối đường truyền: Xã Mường Chanh (14866)",
                    "summary_en": "Uplink down: Xã Mường Chanh (14866)",
                    "description_vi": "Mọi phép thử tới các dịch vụ của tỉnh đều thất bại.",
                    "description_en": "Every probe to the province's services fails.",
                    "diag": "commune-diag run network-basic --commune 14866"}}])
            wait_for(lambda: chat.posts, 20, what="a chat notification")
        finally:
            am.stop()
    attachment = chat.posts[0]["attachments"][0]
    assert attachment["title"] == ("[ĐANG XẢY RA / FIRING x1] CommuneUplinkDown - Xã Mường Chanh")
    text = attachment["text"]
    for line in ("[ĐANG XẢY RA / FIRING] CRITICAL",
                 "VI: Mất kết nối đường truyền: Xã Mường Chanh (14866)",
                 "    Mọi phép thử tới các dịch vụ của tỉnh đều thất bại.",
                 "EN: Uplink down: Xã Mường Chanh (14866)",
                 "    Every probe to the province's services fails.",
                 "Xã / Commune: Xã Mường Chanh (14866), Huyện Mường Lát, miền núi / mountain",
                 "Chẩn đoán / Diagnose: commune-diag run network-basic --commune 14866"):
        assert line in text.splitlines(), (line, text)


class _Hook(ThreadingHTTPServer):
    """A webhook receiver on loopback keeping every notification posted."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ChatHandler)
        self.posts: list[dict[str, Any]] = []


@pytest.mark.peer
def test_a_conferences_communes_not_ready_make_one_notification(tmp_path: Path) -> None:
    """Readiness alerts of many communes: one notification to the province team, one to each
    region's technicians with their communes only; another conference is another one."""
    hook = _Hook()
    with serving(hook):
        url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
        config = alertmanager_config(load_inventory(PROVINCE), url, max_wait=Duration(1))
        (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
        base = {"alertname": "ConferenceReadinessAtRisk", "severity": "warning",
                "scope": "commune", "runbook": "vc-endpoint", "conference": "giao-ban",
                "reason": "unregistered"}
        communes = [("14797", "Thành phố Thanh Hóa"), ("14800", "Thành phố Thanh Hóa"),
                    ("14866", "Huyện Mường Lát"), ("14860", "Huyện Mường Lát"),
                    ("14857", "Huyện Mường Lát")]
        alerts = [{"labels": {**base, "commune": c, "region": r}} for c, r in communes]
        alerts.append({"labels": {**base, "commune": "14797", "region": "Thành phố Thanh Hóa",
                                  "conference": "hop-khac"}})
        am = Alertmanager(tmp_path / "alertmanager.yml", tmp_path)
        try:
            _post_alerts(am.url, alerts)

            def by_receiver() -> dict[tuple[str, str], set[str]]:
                return {(p["receiver"], p["groupLabels"]["conference"]):
                        {a["labels"]["commune"] for a in p["alerts"]} for p in hook.posts}

            wait_for(lambda: len(hook.posts) >= 5, 20, what="the notifications")
            time.sleep(2)  # and no more
        finally:
            am.stop()
    assert len(hook.posts) == 5, [(p["receiver"], p["groupLabels"]) for p in hook.posts]
    assert by_receiver() == {
        ("warning", "giao-ban"): {"14797", "14800", "14866", "14860", "14857"},
        ("technicians-thanh-pho-thanh-hoa", "giao-ban"): {"14797", "14800"},
        ("technicians-huyen-muong-lat", "giao-ban"): {"14866", "14860", "14857"},
        ("warning", "hop-khac"): {"14797"},
        ("technicians-thanh-pho-thanh-hoa", "hop-khac"): {"14797"},
    }
