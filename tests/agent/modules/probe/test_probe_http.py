"""HTTP(S) probes against real servers on loopback: phases, status, body, redirects, TLS expiry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.probe_peers import (
    AUTH,
    PORTAL_TEXT,
    SLOW_SECONDS,
    Pki,
    base_url,
    http_server,
    line_server,
    probe,
    reasons,
    server_context,
)
from tests.support.samples import maybe_value, value


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    with http_server() as server:
        yield base_url(server)


@pytest.fixture(scope="module")
def https_url(pki: Pki) -> Iterator[str]:
    with http_server(server_context(pki)) as server:
        yield base_url(server, "https")


def test_plain_get_reports_blackbox_metrics(http_url: str) -> None:
    reg = probe(f"""
        targets:
          - {{name: portal, kind: http, url: "{http_url}/", body_must_match: ["TTHC portal"]}}
    """)
    assert value(reg, "probe_success", target="portal", kind="http") == 1
    assert value(reg, "probe_http_status_code", target="portal", kind="http") == 200
    assert value(reg, "probe_http_content_length", target="portal", kind="http") == len(PORTAL_TEXT)
    assert value(reg, "probe_http_uncompressed_body_length", target="portal",
                 kind="http") == len(PORTAL_TEXT)
    assert value(reg, "probe_http_ssl", target="portal", kind="http") == 0
    assert value(reg, "probe_http_redirects", target="portal", kind="http") == 0
    assert value(reg, "probe_http_version", target="portal", kind="http") == 1.1
    assert value(reg, "probe_failed_due_to_regex", target="portal", kind="http") == 0
    assert reasons(reg, "portal") == []
    phases = {p: value(reg, "probe_http_duration_seconds", target="portal", kind="http", phase=p)
              for p in ("resolve", "connect", "tls", "processing", "transfer")}
    assert phases["tls"] == 0
    assert value(reg, "probe_dns_lookup_time_seconds", target="portal",
                 kind="http") == phases["resolve"]
    assert all(v is not None and v >= 0 for v in phases.values())
    total = value(reg, "probe_duration_seconds", target="portal", kind="http")
    assert total is not None and total >= sum(v or 0 for v in phases.values())
    # no TLS, no certificate series
    assert maybe_value(reg, "probe_ssl_earliest_cert_expiry", target="portal", kind="http") is None


def test_processing_phase_reflects_a_slow_handler(http_url: str) -> None:
    reg = probe(f"""
        targets:
          - {{name: slow, kind: http, url: "{http_url}/slow"}}
    """)
    processing = value(reg, "probe_http_duration_seconds", target="slow", kind="http",
                       phase="processing")
    connect = value(reg, "probe_http_duration_seconds", target="slow", kind="http", phase="connect")
    assert processing is not None and connect is not None
    assert processing >= SLOW_SECONDS
    assert connect < SLOW_SECONDS


def test_https_with_ca_file_reports_both_expiries(https_url: str, pki: Pki) -> None:
    reg = probe(f"""
        targets:
          - {{name: portal, kind: https, url: "{https_url}/", ca_file: "{pki.ca_file}"}}
    """)
    assert value(reg, "probe_success", target="portal", kind="https") == 1
    assert value(reg, "probe_http_ssl", target="portal", kind="https") == 1
    assert (value(reg, "probe_http_duration_seconds", target="portal", kind="https",
                  phase="tls") or 0) > 0
    # The leaf (30 days) is what the verified chain ends on; the extra cross-signed-style
    # certificate the server also sends (10 days) drags the "earliest" down, as in blackbox.
    assert value(reg, "probe_ssl_last_chain_expiry_timestamp_seconds", target="portal",
                 kind="https") \
        == pki.leaf_not_after
    assert value(reg, "probe_ssl_earliest_cert_expiry", target="portal",
                 kind="https") == pki.extra_not_after
    versions = [s.labels["version"] for m in reg.collect() for s in m.samples
                if s.name == "probe_tls_version_info"]
    assert versions and versions[0].startswith("TLSv1.")


def test_https_verify_is_on_by_default(https_url: str) -> None:
    reg = probe(f"""
        targets:
          - {{name: portal, kind: http, url: "{https_url}/"}}
          - {{name: lax, kind: http, url: "{https_url}/", insecure_skip_verify: true}}
    """)
    assert value(reg, "probe_success", target="portal", kind="http") == 0
    assert reasons(reg, "portal") == ["tls"]
    assert maybe_value(reg, "probe_http_status_code", target="portal", kind="http") is None
    assert value(reg, "probe_success", target="lax", kind="http") == 1
    assert value(reg, "probe_ssl_last_chain_expiry_timestamp_seconds", target="lax",
                 kind="http") is not None


def test_https_wrong_server_name_fails_tls(https_url: str, pki: Pki) -> None:
    reg = probe(f"""
        targets:
          - {{name: portal, kind: http, url: "{https_url}/", ca_file: "{pki.ca_file}",
              server_name: dichvucong.example}}
    """)
    assert reasons(reg, "portal") == ["tls"]


def test_redirect_is_followed_and_counted(http_url: str) -> None:
    reg = probe(f"""
        targets:
          - {{name: follow, kind: http, url: "{http_url}/redirect"}}
          - {{name: nofollow, kind: http, url: "{http_url}/redirect", follow_redirects: false,
              valid_status_codes: [302]}}
          - {{name: loop, kind: http, url: "{http_url}/loop", max_redirects: 3}}
    """)
    assert value(reg, "probe_success", target="follow", kind="http") == 1
    assert value(reg, "probe_http_redirects", target="follow", kind="http") == 1
    assert value(reg, "probe_http_status_code", target="follow", kind="http") == 200
    assert value(reg, "probe_http_status_code", target="nofollow", kind="http") == 302
    assert value(reg, "probe_success", target="nofollow", kind="http") == 1
    assert value(reg, "probe_success", target="loop", kind="http") == 0
    assert reasons(reg, "loop") == ["status"]
    assert value(reg, "probe_http_redirects", target="loop", kind="http") == 4


def test_body_must_and_must_not_match(http_url: str) -> None:
    reg = probe(f"""
        targets:
          - {{name: ok, kind: http, url: "{http_url}/", body_must_not_match: ["[Bb]ao tri"]}}
          - {{name: maint, kind: http, url: "{http_url}/maintenance",
              body_must_not_match: ["[Bb]ao tri"]}}
          - {{name: missing, kind: http, url: "{http_url}/maintenance",
              body_must_match: ["TTHC portal"]}}
          - {{name: vi, kind: http, url: "{http_url}/bao-tri",
              body_must_not_match: ["b[ảa]o tr[ìi]"]}}
    """)
    assert value(reg, "probe_success", target="ok", kind="http") == 1
    assert value(reg, "probe_success", target="maint", kind="http") == 0
    assert reasons(reg, "maint") == ["content"]
    assert value(reg, "probe_failed_due_to_regex", target="maint", kind="http") == 1
    assert reasons(reg, "missing") == ["content"]
    assert reasons(reg, "vi") == ["content"]  # decoded with the page's charset, then matched
    assert value(reg, "probe_http_status_code", target="missing", kind="http") == 200


def test_503_fails_with_status_reason(http_url: str) -> None:
    reg = probe(f"""
        targets:
          - {{name: down, kind: http, url: "{http_url}/503"}}
          - {{name: expected, kind: http, url: "{http_url}/503", valid_status_codes: [503]}}
    """)
    assert value(reg, "probe_success", target="down", kind="http") == 0
    assert value(reg, "probe_http_status_code", target="down", kind="http") == 503
    assert reasons(reg, "down") == ["status"]
    assert value(reg, "probe_success", target="expected", kind="http") == 1


def test_basic_auth_from_file(http_url: str, tmp_path: Path) -> None:
    (tmp_path / "good").write_text(AUTH[1] + "\n")
    (tmp_path / "bad").write_text("guess\n")
    reg = probe(f"""
        targets:
          - {{name: good, kind: http, url: "{http_url}/auth",
              basic_auth: {{username: {AUTH[0]}, password_file: good}}}}
          - {{name: bad, kind: http, url: "{http_url}/auth",
              basic_auth: {{username: {AUTH[0]}, password_file: bad}}}}
          - {{name: none, kind: http, url: "{http_url}/auth"}}
    """, base_dir=tmp_path)
    assert value(reg, "probe_success", target="good", kind="http") == 1
    assert reasons(reg, "bad") == ["auth"]
    assert value(reg, "probe_http_status_code", target="bad", kind="http") == 401
    assert reasons(reg, "none") == ["auth"]


def test_method_headers_and_body_are_sent(tmp_path: Path) -> None:
    with http_server() as server:
        url = base_url(server)
        reg = probe(f"""
            targets:
              - {{name: get, kind: http, url: "{url}/", headers: {{X-Commune: "16318"}}}}
              - {{name: post, kind: http, url: "{url}/", method: POST, body: "ping=1"}}
              - {{name: head, kind: http, url: "{url}/", method: HEAD}}
        """)
        # The three targets run concurrently: requests arrive in any order.
        assert [h.get("X-Commune") for h in server.seen_headers].count("16318") == 1
        assert server.seen_bodies == [b"ping=1"]
    assert value(reg, "probe_success", target="post", kind="http") == 1
    assert value(reg, "probe_http_uncompressed_body_length", target="head", kind="http") == 0
    assert value(reg, "probe_http_content_length", target="head", kind="http") == len(PORTAL_TEXT)


def test_chunked_body_and_size_limit(http_url: str) -> None:
    reg = probe(f"""
        targets:
          - {{name: chunked, kind: http, url: "{http_url}/chunked", body_must_match: [portal]}}
          - {{name: big, kind: http, url: "{http_url}/big", body_size_limit: 1KiB}}
    """)
    assert value(reg, "probe_success", target="chunked", kind="http") == 1
    assert value(reg, "probe_http_uncompressed_body_length", target="chunked", kind="http") \
        == len(PORTAL_TEXT)
    assert value(reg, "probe_http_content_length", target="chunked", kind="http") == -1
    assert reasons(reg, "big") == ["content"]


def test_closed_port_and_unresolvable_name() -> None:
    from tests.support.peers import free_port

    reg = probe(f"""
        targets:
          - {{name: closed, kind: http, url: "http://127.0.0.1:{free_port()}/"}}
          - {{name: noname, kind: http, url: "http://bad..name/"}}
    """)
    assert reasons(reg, "closed") == ["connect"]
    assert reasons(reg, "noname") == ["dns"]


def test_response_without_length_and_a_non_http_peer() -> None:
    with line_server(banner=b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nread to the end") as (
            old, _), line_server(banner=b"SSH-2.0-OpenSSH_9.2\r\n") as (ssh, _):
        reg = probe(f"""
            targets:
              - {{name: old, kind: http, url: "http://127.0.0.1:{old}/", body_must_match: [end]}}
              - {{name: ssh, kind: http, url: "http://127.0.0.1:{ssh}/"}}
        """)
    assert value(reg, "probe_success", target="old", kind="http") == 1
    assert value(reg, "probe_http_version", target="old", kind="http") == 1.0
    assert value(reg, "probe_http_content_length", target="old", kind="http") == -1
    assert value(reg, "probe_http_uncompressed_body_length", target="old", kind="http") == len(
        b"read to the end")
    assert reasons(reg, "ssh") == ["status"]
