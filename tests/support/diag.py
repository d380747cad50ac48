"""For the commune-diag tests: the test sshd's addresses, the fixture runbooks, one run's result."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import FIXTURES
from tests.support.peers import require_binary

RUNBOOKS = FIXTURES / "diag"
# 127.0.0.4 is the same sshd, but it accepts only another key: a host with a "wrong key".
ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
WRONG_KEY_ADDRESS = "127.0.0.4"


@dataclass
class Run:
    """What one in-process commune-diag run returned and printed."""

    code: int
    out: str
    err: str


def fingerprint(pub_key: Path) -> str:
    """The SHA256 fingerprint of a public key, as ssh-keygen prints it."""
    out = subprocess.run([require_binary("ssh-keygen"), "-lf", str(pub_key)], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[1]
