"""Sample values out of collected families."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric


def samples(families: Iterable[Metric], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """{sorted labels: value} of every sample called ``name``."""
    return {tuple(sorted(s.labels.items())): float(s.value)
            for family in families for s in family.samples if s.name == name}


def value(families: Iterable[Metric], name: str, **labels: str) -> float:
    """The value of the one sample ``name`` with exactly ``labels``; KeyError if absent."""
    found = samples(families, name)
    return found[tuple(sorted(labels.items()))]

