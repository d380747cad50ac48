"""The error both SNMP backends raise, so devices report the same reasons whichever is used."""

from __future__ import annotations


class SnmpError(Exception):
    """A request that failed; ``reason`` is a short label value (timeout, auth, status...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
