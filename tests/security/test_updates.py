"""Pending updates: apt-check and apt-get outputs, a real apt-get simulation, no upgrade."""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.modules.security.config import UpdatesConfig
from agent.modules.security.patches import UpdatesCheck, parse_apt_check, parse_apt_get
from agent.units import Duration
from tests.security.helpers import value

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
    families = check.collect()
    assert value(families, "commune_pending_updates", kind="all") == 7
    assert value(families, "commune_pending_updates", kind="security") == 2
    now[0] = 200.0
    check.collect()
    assert calls.read_text().count("x") == 1
    now[0] = 4000.0
    check.collect()
    assert calls.read_text().count("x") == 2


def test_real_apt_get_simulation(tmp_path: Path) -> None:
    assert shutil.which("apt-get"), "this test runs on Debian"
    status = Path("/var/lib/dpkg/status")
    before = status.stat().st_mtime_ns
    check = UpdatesCheck(UpdatesConfig(apt_check=str(tmp_path / "absent")))
    families = check.collect()
    everything = value(families, "commune_pending_updates", kind="all")
    security = value(families, "commune_pending_updates", kind="security")
    assert 0 <= security <= everything
    assert status.stat().st_mtime_ns == before  # simulated: nothing installed
