"""VC profiles read from HTTP status APIs (Cisco xAPI XML, Huawei JSON) served by a local HTTP
server replaying recorded documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.peers import free_port
from tests.support.samples import value
from tests.support.snmp_collect import collect, samples, snmp_config
from tests.support.snmp_peers import FIXTURES, RecordedHttp, self_signed_cert

HTTP = FIXTURES / "http"
XML = "application/xml"
STATUS = "/getxml?location=/Status"


@pytest.fixture
def password(tmp_path: Path) -> Path:
    (tmp_path / "room.pw").write_text("s3cret-room\n")
    return tmp_path / "room.pw"


def test_cisco_xapi_in_call(tmp_path: Path, password: Path) -> None:
    routes = {STATUS: (HTTP / "cisco-status.xml", XML)}
    with RecordedHttp(routes, auth=("monitor", "s3cret-room")) as server:
        config = snmp_config(tmp_path, f"""
            - {{name: room-1, url: "{server.url}", username: monitor, password_file: {password},
               modules: [vc/cisco_xapi]}}
        """)
        registry = collect(config)
    assert server.requests == [STATUS]
    room = {"device": "room-1", "vendor": "cisco"}
    assert value(registry, "commune_snmp_up", device="room-1") == 1.0
    assert value(registry, "commune_vc_up", **room) == 1.0
    assert value(registry, "commune_vc_registered", **room, protocol="sip") == 1.0
    assert value(registry, "commune_vc_registered", **room, protocol="h323") == 0.0
    assert value(registry, "commune_vc_in_call", **room) == 1.0
    assert value(registry, "commune_vc_active_calls", **room) == 1.0
    assert value(registry, "commune_vc_uptime_seconds", **room) == 86400.0
    # Worst channel per direction: incoming video lost 50 of 10000, audio 20 of 1000.
    assert value(registry, "commune_vc_packet_loss_ratio", **room, direction="incoming") == \
        pytest.approx(0.02)
    assert value(registry, "commune_vc_packet_loss_ratio", **room, direction="outgoing") == 0.0
    assert value(registry, "commune_vc_jitter_seconds", **room, direction="incoming") == \
        pytest.approx(0.030)
    assert value(registry, "commune_vc_jitter_seconds", **room, direction="outgoing") == \
        pytest.approx(0.006)
    # The outgoing video channel sent 0 packets: no ratio from a division by zero, counted.
    assert value(registry, "commune_snmp_errors_total", device="room-1", reason="value") == 1.0


def test_cisco_xapi_idle_and_unregistered(tmp_path: Path, password: Path) -> None:
    with RecordedHttp({STATUS: (HTTP / "cisco-idle.xml", XML)}) as server:
        config = snmp_config(tmp_path, f"""
            - {{name: room-2, url: "{server.url}/", modules: [vc/cisco_xapi]}}
        """)
        registry = collect(config)
    room = {"device": "room-2", "vendor": "cisco"}
    assert value(registry, "commune_vc_registered", **room, protocol="sip") == 0.0
    assert value(registry, "commune_vc_in_call", **room) == 0.0  # no Call element: default
    assert samples(registry, "commune_vc_packet_loss_ratio") == []


def test_http_errors_become_reasons(tmp_path: Path, password: Path) -> None:
    (tmp_path / "wrong.pw").write_text("nope\n")
    (tmp_path / "garbage.xml").write_text("<Status><SIP>")
    routes = {STATUS: (HTTP / "cisco-status.xml", XML), "/bad" + STATUS: (
        tmp_path / "garbage.xml", XML)}
    closed = free_port()
    with RecordedHttp(routes, auth=("monitor", "s3cret-room")) as server:
        config = snmp_config(tmp_path, f"""
            - {{name: wrong-pw, url: "{server.url}", username: monitor,
               password_file: wrong.pw, modules: [vc/cisco_xapi]}}
            - {{name: garbage, url: "{server.url}/bad", username: monitor,
               password_file: {password}, modules: [vc/cisco_xapi]}}
            - {{name: closed, url: "http://127.0.0.1:{closed}", modules: [vc/cisco_xapi]}}
        """)
        registry = collect(config)
    for device, reason in (("wrong-pw", "auth"), ("garbage", "decode"), ("closed", "connect")):
        assert value(registry, "commune_snmp_up", device=device) == 0.0
        assert value(registry, "commune_snmp_failure_reason", device=device, reason=reason) == 1.0
        assert value(registry, "commune_vc_up", device=device, vendor="cisco") == 0.0
    assert samples(registry, "commune_vc_registered") == []


def test_huawei_cloud_meeting_json(tmp_path: Path) -> None:
    with RecordedHttp({"/status": (HTTP / "huawei-status.json", "application/json")}) as server:
        config = snmp_config(tmp_path, f"""
            - {{name: te30, url: "{server.url}/status", modules: [vc/huawei_cloud_meeting]}}
        """)
        registry = collect(config)
    te = {"device": "te30", "vendor": "huawei"}
    assert value(registry, "commune_vc_up", **te) == 1.0
    assert value(registry, "commune_vc_registered", **te, protocol="sip") == 1.0
    assert value(registry, "commune_vc_in_call", **te) == 1.0


def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    with RecordedHttp({STATUS: (HTTP / "cisco-status.xml", XML)}, tls=(cert, key)) as server:
        assert server.url.startswith("https://")
        config = snmp_config(tmp_path, f"""
            - {{name: trusted, url: "{server.url}", ca_file: {cert}, modules: [vc/cisco_xapi]}}
            - {{name: untrusted, url: "{server.url}", modules: [vc/cisco_xapi]}}
            - {{name: unchecked, url: "{server.url}", insecure_skip_verify: true,
               modules: [vc/cisco_xapi]}}
        """)
        registry = collect(config)
    for device in ("trusted", "unchecked"):
        assert value(registry, "commune_vc_registered", device=device, vendor="cisco",
                     protocol="sip") == 1.0
    assert value(registry, "commune_snmp_failure_reason", device="untrusted",
                 reason="tls") == 1.0
