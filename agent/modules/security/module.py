"""The ``security`` module: runs the configured checks; one failing check never hides the others.

Each check reports ``commune_security_check_up{check}`` (0 when it raised; the error is logged
once until it recovers), so an alert can tell "no failed logins" from "the auth log is not read".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.security import (
    auth,
    certs,
    integrity,
    listen,
    neighbours,
    patches,
    snmp_community,
    trustroots,
)
from agent.modules.security.config import SecurityConfig

log = logging.getLogger(__name__)

CHECK_UP = MetricSpec("commune_security_check_up", "gauge",
                      "1 if the security check ran without error at the last collection.",
                      ("check",))
METRICS: tuple[MetricSpec, ...] = (
    CHECK_UP, *auth.METRICS, *listen.METRICS, *neighbours.METRICS, *integrity.METRICS,
    *certs.METRICS, *patches.METRICS, *snmp_community.METRICS, *trustroots.METRICS,
)


class Check(Protocol):
    """One security check."""

    name: str

    def collect(self) -> list[Metric]:
        """Fresh families."""
        ...


class SecurityModule:
    """Failed logins, listening ports, LAN neighbours, file integrity, certificates, updates,
    trust roots."""

    name = "security"
    metrics = METRICS

    def __init__(self, config: SecurityConfig, proc_root: Path = Path("/proc")) -> None:
        self.config = config
        state_dir = config.state_dir
        self.checks: list[Check] = []
        if config.auth is not None:
            self.checks.append(auth.AuthCheck(config.auth, state_dir))
        if config.listen is not None:
            self.checks.append(listen.ListenCheck(config.listen, proc_root))
        if config.neighbours is not None:
            self.checks.append(neighbours.NeighboursCheck(config.neighbours, state_dir))
        if config.integrity is not None and state_dir:
            self.checks.append(integrity.IntegrityCheck(config.integrity, state_dir))
        if config.certs is not None:
            self.checks.append(certs.CertsCheck(config.certs))
        if config.updates is not None:
            self.checks.append(patches.UpdatesCheck(config.updates))
        if config.snmp_community is not None:
            self.checks.append(snmp_community.SnmpCommunityCheck(config.snmp_community))
        if config.trust_roots is not None:
            self.checks.append(trustroots.TrustRootsCheck(config.trust_roots))
        self._failing: set[str] = set()

    def collect(self) -> list[Metric]:
        """Run every check; a check that raises reports 0 in ``commune_security_check_up``."""
        up = CHECK_UP.family()
        families: list[Metric] = [up]
        for check in self.checks:
            try:
                families.extend(check.collect())
            except Exception as exc:  # one broken check must not hide the others
                if check.name not in self._failing:
                    log.warning("security check %s failed: %s: %s", check.name,
                                type(exc).__name__, exc)
                self._failing.add(check.name)
                up.add_metric([check.name], 0.0)
                continue
            self._failing.discard(check.name)
            up.add_metric([check.name], 1.0)
        return merge(families)

    def close(self) -> None:
        """Close the auth log files and stop the background apt count."""
        for check in self.checks:
            close = getattr(check, "close", None)
            if close is not None:
                close()


def merge(families: list[Metric]) -> list[Metric]:
    """Families in order; a failed check leaves no family, a present one appears once."""
    seen: dict[str, Metric] = {}
    for family in families:
        if family.name in seen:
            seen[family.name].samples.extend(family.samples)
        else:
            seen[family.name] = family
    return list(seen.values())
