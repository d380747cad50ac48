"""Pending updates: apt-check and apt-get outputs, a real apt-get simulation, no upgrade."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from prometheus_client.core import Metric

from agent.modules.security.config import UpdatesConfig
from agent.modules.security.patches import UpdatesCheck, parse_apt_check, parse_apt_get
from common.units import Duration
from tests.support.peers import wait_for
from tests.support.samples import samples, value

APT_GET_OUTPUT = """\
Reading package lists...
Calculating upgrade...
The following packages will be upgraded:
  libssl3 openssl tzdata
Inst libssl3 [3.0.11-1~deb12u1] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst openssl [3.0.11-1~deb12u1] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/stable-updates [all])
Inst newpkg (1.0 Ubuntu:22.04/jammy-security [amd64])
Conf libssl3 (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])
"""


def test_parse_apt_get() -> None:
    assert parse_apt_get(APT_GET_OUTPUT) == (4, 3)
    assert parse_apt_get("Reading package lists...\n0 upgraded, 0 newly installed\n") == (0, 0)


def test_parse_apt_check() -> None:
    assert parse_apt_check("12;3") == (12, 3)


def test_apt_check_script_is_preferred_and_run_once_per_every(tmp_path: Path) -> None:
    script = tmp_path / "apt-check"
    calls = tmp_path / "calls"
    script.write_text(f"#!/bin/sh\necho x >> {calls}\necho '7;2' >&2\n")
    script.chmod(0o755)
    now = [100.0]
    check = UpdatesCheck(UpdatesConfig(apt_check=str(script), every=Duration(3600)),
                         clock=lambda: now[0])
    assert samples(check.collect(), "commune_pending_updates") == {}  # counting in background
    families = wait_for(lambda: samples(fam := check.collect(), "commune_pending_updates")
                        and fam, 10, what="the apt-check count")
    assert value(families, "commune_pending_updates", kind="all") == 7
    assert value(families, "commune_pending_updates", kind="security") == 2
    assert value(families, "commune_pending_updates_checked_timestamp_seconds") == 100
    now[0] = 200.0
    check.collect()
    assert calls.read_text().count("x") == 1
    now[0] = 4000.0
    check.collect()
    wait_for(lambda: calls.read_text().count("x") == 2, 10, what="the second count")
    check.close()


def test_failing_apt_check_is_an_error_until_it_succeeds(tmp_path: Path) -> None:
    script = tmp_path / "apt-check"
    script.write_text("#!/bin/sh\necho 'E: could not open lock file' >&2\nexit 100\n")
    script.chmod(0o755)
    now = [100.0]
    check = UpdatesCheck(UpdatesConfig(apt_check=str(script)), clock=lambda: now[0])
    check.collect()

    def failed() -> bool:
        try:
            check.collect()
        except RuntimeError as exc:
            assert "unexpected apt-check output: 'E: could not open lock file'" in str(exc)
            return True
        return False

    wait_for(failed, 10, what="the failed count")
    script.write_text("#!/bin/sh\necho '4;0' >&2\n")
    now[0] = 4000.0
    with pytest.raises(RuntimeError):
        check.collect()  # the new count has only started
    families = wait_for(lambda: _quiet(check), 10, what="a good count")
    assert value(families, "commune_pending_updates", kind="all") == 4
    check.close()


def _quiet(check: UpdatesCheck) -> list[Metric] | None:
    try:
        families = check.collect()
    except RuntimeError:
        return None
    return families if samples(families, "commune_pending_updates") else None


def test_real_apt_get_simulation(tmp_path: Path) -> None:
    assert shutil.which("apt-get"), "this test runs on Debian"
    status = Path("/var/lib/dpkg/status")
    before = status.stat().st_mtime_ns
    check = UpdatesCheck(UpdatesConfig(apt_check=str(tmp_path / "absent")))
    check.collect()
    families = wait_for(lambda: _quiet(check), 60, what="apt-get -s dist-upgrade")
    check.close()
    everything = value(families, "commune_pending_updates", kind="all")
    security = value(families, "commune_pending_updates", kind="security")
    assert 0 <= security <= everything
    assert status.stat().st_mtime_ns == before  # simulated: nothing installed
