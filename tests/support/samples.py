"""Sample values out of whatever a test collected: metric families (a list, an iterable, or a
dict of them), a CollectorRegistry, a scheduler's snapshot, or exposition text.

``value(source, "probe_success", target="portal")`` is the sample with exactly those labels,
or else the only sample whose labels include them; it fails the test when there is none or
several. ``maybe_value`` returns None when there is none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families


class _Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def registry_of(families: Iterable[Metric]) -> CollectorRegistry:
    """A fresh registry holding ``families``."""
    registry = CollectorRegistry()
    registry.register(_Families(families))
    return registry


def families(source: Any) -> list[Metric]:
    """The metric families of ``source`` (see the module docstring for what it may be)."""
    if isinstance(source, CollectorRegistry):
        return list(source.collect())
    snapshot = getattr(source, "snapshot", None)  # a Scheduler: its last complete exposition
    if snapshot is not None:
        source = snapshot.plain
    if isinstance(source, bytes):
        source = source.decode()
    if isinstance(source, str):
        return list(text_string_to_metric_families(source))
    if isinstance(source, Mapping):
        return list(source.values())
    return list(source)


def samples(source: Any, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """{sorted labels: value} of every sample called ``name``."""
    return {tuple(sorted(s.labels.items())): float(s.value)
            for family in families(source) for s in family.samples if s.name == name}


def maybe_value(source: Any, name: str, /, **labels: str) -> float | None:
    """The value of the sample ``name`` with ``labels`` (exactly, else the only one having them);
    None when there is none."""
    found = {(tuple(sorted(s.labels.items())), float(s.value)) for family in families(source)
             for s in family.samples if s.name == name}  # a series repeated as is counts once
    wanted = tuple(sorted(labels.items()))
    matching = [v for got, v in found if got == wanted] or [
        v for got, v in found if set(wanted) <= set(got)]
    assert len(matching) <= 1, (
        f"{name}{labels}: {len(matching)} samples have these labels; name more of them")
    return matching[0] if matching else None


def value(source: Any, name: str, /, **labels: str) -> float:
    """The value of the sample ``name`` with ``labels`` (exactly, else the only one having them);
    fails the test when there is none."""
    got = maybe_value(source, name, **labels)
    assert got is not None, f"no sample {name}{labels}"
    return got
