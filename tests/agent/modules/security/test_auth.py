"""Failed logins: exact counts from a syslog fixture and from a real sshd; bounded top-N."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.modules.security.auth import AuthCheck, AuthFailures, source_class
from agent.modules.security.config import AuthConfig
from common.units import ByteSize
from tests.support.paths import FIXTURES
from tests.support.peers import wait_for
from tests.support.samples import samples, value
from tests.support.sshd import failing_sshd

FIXTURE = FIXTURES / "security" / "auth.log"
FAILURES = "commune_auth_failures_total"
TOP = "commune_auth_failures_top_source"


def test_syslog_fixture_counts_each_attempt_once() -> None:
    failures = AuthFailures(top_sources=3)
    failures.feed(FIXTURE.read_text().splitlines())
    families = failures.families()
    got = {dict(k)["service"] + "/" + dict(k)["reason"] + "/" + dict(k)["source_class"]: v
           for k, v in samples(families, FAILURES).items()}
    assert got == {
        "ssh/invalid_user/wan": 3,    # two passwords for 'admin', one 'oracle' that gave up
        "ssh/bad_password/lan": 2,
        "ssh/max_attempts/lan": 1,
        "ssh/bad_key/lan": 1,         # closed while authenticating, nothing else counted
        "ssh/bad_key/wan": 1,
        "ssh/not_allowed/loopback": 1,
        "sudo/bad_password/local": 1,
        "sudo/not_allowed/local": 1,
        "su/bad_password/local": 1,
        "login/bad_password/local": 1,
    }
    top = {dict(k)["source"]: v for k, v in samples(families, TOP).items()}
    assert top == {"192.168.1.20": 3, "203.0.113.7": 3, "10.38.1.5": 1}


def test_source_classes() -> None:
    assert source_class("127.0.0.1") == "loopback"
    assert source_class("::1") == "loopback"
    assert source_class("10.38.1.5") == "lan"
    assert source_class("172.16.0.9") == "lan"
    assert source_class("fe80::1%eth0") == "lan"
    assert source_class("::ffff:192.168.1.4") == "lan"
    assert source_class("203.0.113.70") == "wan"  # documentation range: not a LAN
    assert source_class("100.64.1.1") == "lan"  # carrier NAT
    assert source_class("14.160.0.1") == "wan"
    assert source_class("not-an-ip") == "wan"


def test_top_sources_stay_bounded_under_100k_distinct_sources() -> None:
    failures = AuthFailures(top_sources=10, tracked_sources=200)
    lines = []
    for i in range(100_000):
        ip = f"100.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        lines.append(f"sshd[9]: Failed password for root from {ip} port {i % 60000} ssh2")
        if i % 100 == 0:  # one persistent attacker among the noise
            lines.append(f"sshd[9]: Failed password for root from 198.51.100.66 port {i} ssh2")
    failures.feed(lines)
    families = failures.families()
    top = samples(families, TOP)
    assert len(top) == 10
    assert len(failures.sources.current.counts) == 200
    assert len(failures.sources.previous.counts) == 0
    assert max(top, key=lambda k: top[k]) == (("source", "198.51.100.66"),)
    assert top[(("source", "198.51.100.66"),)] >= 1000
    assert sum(samples(families, FAILURES).values()) == 101_000


@pytest.mark.peer
def test_real_sshd_failed_logins_are_read_from_its_log(tmp_path: Path) -> None:
    with failing_sshd(tmp_path / "sshd") as sshd:
        check = AuthCheck(AuthConfig(files=(str(sshd.log_file),)), str(tmp_path / "state"))
        check.collect()  # starts at the end: the startup lines are not news
        assert sshd.fail_password("root") != 0
        assert sshd.fail_password("no-such-user-x") != 0
        assert sshd.fail_password("root", tries=5) != 0  # MaxAuthTries 3
        assert sshd.fail_key("root") != 0
        wait_for(lambda: sshd.auth_log().count("Connection closed by") >= 3, 10,
                 what="sshd log lines")
        families = check.collect()
    assert value(families, FAILURES, service="ssh", reason="bad_password",
                 source_class="loopback") == 4
    assert value(families, FAILURES, service="ssh", reason="invalid_user",
                 source_class="loopback") == 1
    assert value(families, FAILURES, service="ssh", reason="max_attempts",
                 source_class="loopback") == 1
    assert value(families, FAILURES, service="ssh", reason="bad_key",
                 source_class="loopback") == 1
    assert value(families, TOP, source="127.0.0.1") == 7
    assert value(families, "commune_auth_log_readable", file=str(sshd.log_file)) == 1
    # A new check resumes from the saved position: nothing is counted twice.
    again = AuthCheck(AuthConfig(files=(str(sshd.log_file),)), str(tmp_path / "state"))
    assert samples(again.collect(), FAILURES) == {}


def test_missing_log_is_reported_and_picked_up_when_created(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    check = AuthCheck(AuthConfig(files=(str(path),)), None)
    assert value(check.collect(), "commune_auth_log_readable", file=str(path)) == 0
    path.write_text("sshd[1]: Failed password for root from 10.0.0.1 port 1 ssh2\n")
    families = check.collect()
    assert value(families, "commune_auth_log_readable", file=str(path)) == 1
    assert value(families, FAILURES, service="ssh", reason="bad_password", source_class="lan") == 1


def test_100mb_backlog_read_in_bounded_steps(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    noise = b"Nov 25 10:00:00 lan-1 CRON[4000]: pam_unix(cron:session): session closed for root\n"
    failure = b"Nov 25 10:00:01 lan-1 sshd[1]: Failed password for root from 10.2.3.4 port 5\n"
    block = noise * 99 + failure  # 100 lines, one failure
    blocks = 100 * 2**20 // len(block) + 1
    with open(path, "wb") as handle:
        for _ in range(blocks // 100):
            handle.write(block * 100)
        handle.write(block * (blocks % 100))
    assert path.stat().st_size >= 100 * 2**20
    check = AuthCheck(AuthConfig(files=(str(path),), from_start=True,
                                 max_read_bytes=ByteSize(40 * 2**20)), None)
    totals = []
    for _ in range(4):
        families = check.collect()
        totals.append(value(families, FAILURES, service="ssh", reason="bad_password",
                            source_class="lan"))
    assert totals[0] < totals[1] < totals[2] == totals[3] == blocks


FRAGMENTS = ["Failed password for ", "invalid user ", " from ", " port ", "Invalid user ",
             "Connection closed by authenticating user ", "[preauth]", "pam_unix(",
             "sudo:auth): authentication failure", "maximum authentication attempts exceeded for ",
             "127.0.0.1", "::1", "999999999999", "x", " ", "\ufffd", "not allowed because"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join), max_size=20))
def test_any_line_is_counted_or_ignored_never_a_crash(lines: list[str]) -> None:
    failures = AuthFailures(top_sources=3, tracked_sources=5)
    failures.feed(lines)
    families = failures.families()
    assert all(v >= 1 for v in samples(families, FAILURES).values())
    assert len(samples(families, TOP)) <= 3
    assert sum(samples(families, FAILURES).values()) <= len(lines)  # a line counts once at most
