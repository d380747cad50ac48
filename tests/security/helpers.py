"""For the security tests: values out of collected families; an sshd to fail logins on."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client.core import Metric

from tests.sshd import Sshd


def samples(families: Iterable[Metric], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """{sorted labels: value} of every sample called ``name``."""
    return {tuple(sorted(s.labels.items())): float(s.value)
            for family in families for s in family.samples if s.name == name}


def value(families: Iterable[Metric], name: str, **labels: str) -> float:
    """The value of the one sample ``name`` with exactly ``labels``; KeyError if absent."""
    found = samples(families, name)
    return found[tuple(sorted(labels.items()))]


def failing_sshd(workdir: Path, max_auth_tries: int = 3) -> Sshd:
    """A real sshd that takes passwords, authorises no key, and logs (INFO) to ``log_file``."""
    return Sshd(workdir, authorized_keys=(), log_level="INFO", log_file=workdir / "auth.log",
                password_auth=True, extra_config=f"MaxAuthTries {max_auth_tries}\n")
