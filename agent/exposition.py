"""Rendering metric families to the Prometheus text format, once per collection.

This is the one place where prometheus_client's collector protocol meets the agent's modules:
a scrape only sends the bytes rendered here (plain and gzip), it never collects.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest

__all__ = ["CONTENT_TYPE", "Snapshot", "render", "with_labels"]

# What render() writes: the classic text format, which every Prometheus version reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Families:
    """A one-shot prometheus_client collector over already built families."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def with_labels(families: Iterable[Metric], labels: Mapping[str, str]) -> Iterable[Metric]:
    """Set constant labels (the agent's ``commune``) on every sample, over what a module set."""
    for family in families:
        family.samples = [s._replace(labels={**s.labels, **labels}) for s in family.samples]
        yield family


def render(families: Iterable[Metric]) -> bytes:
    """The text exposition (format 0.0.4) of ``families``."""
    return generate_latest(_Families(families))


@dataclass(frozen=True)
class Snapshot:
    """One complete exposition, ready to send as it is or gzipped."""

    plain: bytes
    gzipped: bytes
    created: float

    @classmethod
    def of(cls, parts: Iterable[bytes], created: float) -> Snapshot:
        """Join rendered parts and compress them once."""
        plain = b"".join(parts)
        return cls(plain, gzip.compress(plain, compresslevel=6, mtime=0), created)
