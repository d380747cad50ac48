"""Fixtures for commune-diag: a real sshd on loopback, keys, known_hosts, and the CLI in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.diag.cli import main
from tests.support.diag import ADDRESSES, WRONG_KEY_ADDRESS, Run
from tests.support.sshd import Sshd, keygen


@pytest.fixture(scope="session")
def user_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated user key authorized by the test sshd."""
    return keygen(tmp_path_factory.mktemp("keys") / "id_ed25519")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory, user_key: Path) -> Iterator[Sshd]:
    """One sshd listening on 127.0.0.1-4 (same port); .4 only accepts another key."""
    workdir = tmp_path_factory.mktemp("sshd")
    other = keygen(workdir / "other_key")
    other_keys = workdir / "other_authorized_keys"
    other_keys.write_text(Path(f"{other}.pub").read_text())
    server = Sshd(workdir, [user_key], ADDRESSES, extra_config=(
        f"Match LocalAddress {WRONG_KEY_ADDRESS}\n  AuthorizedKeysFile {other_keys}\n"))
    yield server
    server.stop()


@pytest.fixture
def known_hosts(tmp_path: Path, sshd: Sshd) -> Path:
    """A known_hosts file that knows the test sshd at every address."""
    path = tmp_path / "known_hosts"
    path.write_text(sshd.known_hosts())
    return path


@pytest.fixture
def ssh_args(user_key: Path, known_hosts: Path) -> list[str]:
    """The SSH options every test run passes (no ~/.ssh/config, no agent)."""
    return ["--identity", str(user_key), "--known-hosts", str(known_hosts), "--ssh-config",
            "/dev/null", "--no-agent", "--connect-timeout", "5"]


@pytest.fixture
def diag(capsys: pytest.CaptureFixture[str]):
    """Run commune-diag in-process; return its exit code and output."""
    def run(*argv: str) -> Run:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(int(code), captured.out, captured.err)
    return run

