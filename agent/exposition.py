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


def _bare_counter(family: Metric) -> bool:
    return family.type == "counter" and bool(family.samples) and all(
        s.name == family.name for s in family.samples)


def _render_bare_counter(family: Metric) -> bytes:
    # prometheus_client writes a counter's HELP/TYPE as NAME_total; snmp_exporter's counters
    # (ifHCInOctets) have no _total and are typed counter under their own name.
    untyped = Metric(family.name, family.documentation, "unknown")
    untyped.samples = family.samples
    help_line, _, samples = generate_latest(_Families([untyped])).partition(b"\n")
    samples = samples.partition(b"\n")[2]
    return help_line + f"\n# TYPE {family.name} counter\n".encode() + samples


def render(families: Iterable[Metric]) -> bytes:
    """The text exposition (format 0.0.4) of ``families``; a counter whose samples carry its
    bare name (no ``_total``) is typed counter under that name."""
    parts: list[bytes] = []
    plain: list[Metric] = []
    for family in families:
        if _bare_counter(family):
            parts.append(generate_latest(_Families(plain)))
            plain = []
            parts.append(_render_bare_counter(family))
        else:
            plain.append(family)
    parts.append(generate_latest(_Families(plain)))
    return b"".join(parts)


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
