"""Scenario probes through a stand-in portal: cookies, CSRF token, SSO redirects, a slow step."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from agent.modules.probe.cookies import CookieJar
from agent.modules.probe.module import ProbeModule
from common.schema import ConfigError
from tests.support.portal import (
    PASSWORD,
    PORTAL_HOST,
    SSO_HOST,
    PortalState,
    portal,
    scenario_yaml,
)
from tests.support.probe_peers import collect, load_probe_config, probe, reasons
from tests.support.samples import maybe_value, samples, value

STEPS = ("home", "login", "search", "open", "logout")


@pytest.fixture(scope="module")
def site() -> Iterator[PortalState]:
    with portal(search_delay=0.3) as state:
        yield state


@pytest.fixture()
def password_file(tmp_path: Path) -> str:
    path = tmp_path / "portal-password"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    return str(path)


def test_scenario_passes_and_times_each_step(site: PortalState, password_file: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    site.rotate_token = False
    seen_before = len(site.sso_cookies_seen)
    caplog.set_level(logging.DEBUG)
    module = ProbeModule(load_probe_config(scenario_yaml(site, password_file)))
    reg = collect(module)
    assert reasons(reg, "tthc-dossier") == []
    assert value(reg, "probe_success", target="tthc-dossier", kind="scenario") == 1
    assert value(reg, "commune_scenario_success", scenario="tthc-dossier") == 1
    durations = {step: value(reg, "commune_scenario_step_duration_seconds",
                             scenario="tthc-dossier", step=step) for step in STEPS}
    assert all(value(reg, "commune_scenario_step_success", scenario="tthc-dossier",
                     step=step) == 1 for step in STEPS)
    assert durations["search"] >= 0.3 > max(d for s, d in durations.items() if s != "search")
    total = value(reg, "probe_duration_seconds", target="tthc-dossier", kind="scenario")
    assert total >= sum(durations.values())
    # The login's redirect chain: POST /login, the SSO's /authorize, /callback, /dashboard.
    hops = samples(reg, "commune_scenario_hop_duration_seconds")
    login = sorted((dict(k)["hop"], dict(k)["host"]) for k in hops if dict(k)["step"] == "login")
    assert login == [("0", f"{PORTAL_HOST}:{site.portal_port}"),
                     ("1", f"{SSO_HOST}:{site.sso_port}"),
                     ("2", f"{PORTAL_HOST}:{site.portal_port}"),
                     ("3", f"{PORTAL_HOST}:{site.portal_port}")]
    login_hops = sum(v for k, v in hops.items() if dict(k)["step"] == "login")
    assert login_hops <= durations["login"]
    assert value(reg, "commune_scenario_step_status_code", scenario="tthc-dossier",
                 step="open") == 200
    # The portal's cookies never went to the SSO host: cookies are per host.
    assert site.sso_cookies_seen[seen_before:] == [""]
    # A second run starts from an empty jar and passes again (a fresh login).
    assert value(collect(module), "commune_scenario_success", scenario="tthc-dossier") == 1
    text = generate_latest(reg).decode() + caplog.text
    assert PASSWORD not in text and "PORTALSESSID" not in text


def test_credential_headers_are_not_sent_to_another_host(site: PortalState,
                                                          password_file: str) -> None:
    site.rotate_token = False
    cookies_before, seen_before = len(site.sso_cookies_seen), len(site.authorization_seen)
    text = scenario_yaml(site, password_file).replace(
        "timeout: 10s\n", "timeout: 10s\n            headers: {Authorization: Bearer t0ken, "
        "Proxy-Authorization: Basic cHJveHk=, Cookie: lang=vi}\n", 1)
    reg = probe(text)
    assert reasons(reg, "tthc-dossier") == []
    seen = site.authorization_seen[seen_before:]
    # The SSO hop of the login got none of them; the portal, the step's host, got them all along.
    assert {value for host, value in seen if host == SSO_HOST} == {""}
    assert site.sso_cookies_seen[cookies_before:] == [""]
    portal_seen = [value for host, value in seen if host == PORTAL_HOST]
    assert len(portal_seen) >= 5 and set(portal_seen) == {"Bearer t0ken"}


def test_refused_login_fails_at_the_login_step(site: PortalState, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    site.rotate_token = False
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password-42\n")
    with caplog.at_level(logging.WARNING, logger="agent.modules.probe.module"):
        reg = probe(scenario_yaml(site, str(wrong)))
    assert value(reg, "probe_success", target="tthc-dossier", kind="scenario") == 0
    assert value(reg, "commune_scenario_success", scenario="tthc-dossier") == 0
    assert reasons(reg, "tthc-dossier") == ["login:content"]
    assert value(reg, "commune_scenario_step_success", scenario="tthc-dossier", step="home") == 1
    assert value(reg, "commune_scenario_step_success", scenario="tthc-dossier", step="login") == 0
    assert maybe_value(reg, "commune_scenario_step_success", scenario="tthc-dossier",
                       step="search") is None  # not run
    assert "step login: body of http://127.0.0.1:" in caplog.text
    assert "not-the-password-42" not in caplog.text + generate_latest(reg).decode()


def test_a_changed_token_fails_at_the_login_step(site: PortalState, password_file: str) -> None:
    site.rotate_token = True  # the token on the page is replaced before the form is posted
    try:
        reg = probe(scenario_yaml(site, password_file))
    finally:
        site.rotate_token = False
    assert reasons(reg, "tthc-dossier") == ["login:status"]
    assert value(reg, "commune_scenario_step_status_code", scenario="tthc-dossier",
                 step="login") == 403


def test_the_timeout_names_the_slow_step(password_file: str) -> None:
    with portal(search_delay=3.0) as slow:
        reg = probe(scenario_yaml(slow, password_file, timeout="1s"))
    assert reasons(reg, "tthc-dossier") == ["search:timeout"]
    assert value(reg, "commune_scenario_step_success", scenario="tthc-dossier",
                 step="search") == 0
    assert value(reg, "commune_scenario_step_success", scenario="tthc-dossier",
                 step="login") == 1
    assert value(reg, "probe_duration_seconds", target="tthc-dossier", kind="scenario") < 2


def test_an_unreadable_credentials_file_is_an_auth_failure(site: PortalState,
                                                           password_file: str) -> None:
    config = load_probe_config(scenario_yaml(site, password_file))
    Path(password_file).unlink()
    reg = collect(ProbeModule(config))
    assert reasons(reg, "tthc-dossier") == ["login:auth"]


def config_errors(text: str, tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_probe_config(text, tmp_path)
    return [str(issue) for issue in info.value.issues]


def test_config_refuses_a_variable_no_earlier_step_extracts(tmp_path: Path) -> None:
    found = config_errors("""
        targets:
          - name: s
            kind: scenario
            steps:
              - {name: open, url: "https://portal.example/dossier/${dossier}"}
              - {name: search, url: "https://portal.example/search",
                 extract: {dossier: 'id=(\\d+)'}}
    """, tmp_path)
    assert len(found) == 1 and "targets[0].steps[0]: variable 'dossier' is not extracted" \
        in found[0], found


@pytest.mark.parametrize(("step", "message"), [
    ('{name: "a b", url: "https://p.example/"}', "expected a step name"),
    ('{name: a, url: "ftp://p.example/"}', "expected an http:// or https:// URL"),
    ('{name: a, url: "https://p.example/", form: {u: x}, body: "y"}', "not both"),
    ('{name: a, url: "https://p.example/", extract: {"1x": "(a)"}}', "expected a variable name"),
    ('{name: a, url: "https://p.example/", extract: {v: "(a"}}', "not a valid regular"),
    ('{name: a, url: "https://p.example/", form_files: {password: missing.txt}}',
     "does not exist"),
])
def test_step_errors_name_the_key(step: str, message: str, tmp_path: Path) -> None:
    found = config_errors(f"""
        targets:
          - name: s
            kind: scenario
            steps: [{step}]
    """, tmp_path)
    assert len(found) == 1 and message in found[0], found
    assert "targets[0].steps[0]" in found[0], found


def test_cookie_jar_scopes_cookies_by_host_path_and_secure() -> None:
    jar = CookieJar()
    now = 1_800_000_000.0
    jar.store("https://portal.example/tthc/login", [
        "A=1; Path=/", "B=2", "C=3; Secure; Path=/", "D=4; Domain=example; Path=/",
        "E=5; Domain=other.example", "F=6; Max-Age=10; Path=/"], now)
    # B's default path is the request's folder, /tthc: longer paths come first.
    assert jar.header("https://portal.example/tthc/x", now) == "B=2; A=1; C=3; D=4; F=6"
    assert jar.header("http://portal.example/", now) == "A=1; D=4; F=6"  # no Secure, no /tthc
    assert jar.header("https://sso.example/", now) == "D=4"  # the Domain cookie only
    assert jar.header("https://portal.example/", now + 11) == "A=1; C=3; D=4"  # F expired
    jar.store("https://portal.example/", ["A=; Max-Age=0; Path=/"], now)
    assert "A=" not in (jar.header("https://portal.example/", now) or "")
    assert len(jar) == 4


def test_scenario_targets_stay_out_of_each_others_way(site: PortalState,
                                                      password_file: str) -> None:
    """Two scenarios of one module run concurrently, each with its own jar."""
    text = (scenario_yaml(site, password_file, name="first").rstrip(" ")
            + scenario_yaml(site, password_file, name="second").split("targets:\n", 1)[1])
    module = ProbeModule(load_probe_config(text))
    reg = collect(module)
    assert value(reg, "commune_scenario_success", scenario="first") == 1
    assert value(reg, "commune_scenario_success", scenario="second") == 1
    assert asyncio.iscoroutinefunction(module.collect)


def test_an_extracted_line_break_never_reaches_a_header(site: PortalState) -> None:
    reg = probe(f"""
        targets:
          - name: inject
            kind: scenario
            steps:
              - {{name: home, url: "{site.portal}/", extract: {{title: '(công</h1>\\s)'}}}}
              - {{name: next, url: "{site.portal}/", headers: {{X-Title: "${{title}}"}}}}
    """)
    assert reasons(reg, "inject") == ["next:content"]
    assert value(reg, "commune_scenario_step_success", scenario="inject", step="home") == 1


def test_non_ascii_paths_and_header_values(site: PortalState) -> None:
    reg = probe(f"""
        targets:
          - name: vi
            kind: scenario
            steps:
              - {{name: path, url: "{site.portal}/tìm-kiếm", valid_status_codes: [302],
                 follow_redirects: false}}
              - {{name: header, url: "{site.portal}/", headers: {{X-Xa: "Hạc Thành"}}}}
    """)
    assert value(reg, "commune_scenario_step_success", scenario="vi", step="path") == 1
    assert reasons(reg, "vi") == ["header:content"]
