"""The module contract: what every pluggable unit of the agent provides.

A module is configured from its mapping under ``modules:`` (a frozen dataclass, its
``config_class``) and, each time the scheduler asks, returns fresh metric families. Timing,
timeouts, error accounting and the ``commune`` label are the scheduler's business, not the module's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

MetricKind = Literal["gauge", "counter", "histogram"]


@dataclass(frozen=True)
class MetricSpec:
    """A metric a module exposes: declared once at the top of the module, used for every family.

    ``name`` is the full series name (counters keep their ``_total`` suffix), so grep finds it as
    Prometheus shows it. Info metrics are gauges of value 1 named ``*_info``, as node_exporter's.
    """

    name: str
    kind: MetricKind
    help: str
    labels: Sequence[str] = ()

    def family(self) -> GaugeMetricFamily | CounterMetricFamily:
        """A new, empty family for one collection."""
        if self.kind == "counter":
            return CounterMetricFamily(self.name.removesuffix("_total"), self.help,
                                       labels=self.labels)
        if self.kind == "histogram":
            raise TypeError(f"{self.name} is a histogram: use histogram_family()")
        return GaugeMetricFamily(self.name, self.help, labels=self.labels)

    def histogram_family(self) -> HistogramMetricFamily:
        """A new, empty histogram family for one collection (``kind="histogram"`` only)."""
        if self.kind != "histogram":
            raise TypeError(f"{self.name} is a {self.kind}, not a histogram")
        return HistogramMetricFamily(self.name, self.help, labels=self.labels)


class Module(Protocol):
    """One pluggable unit of the agent (``host``, ``probe``, ``snmp``...)."""

    @property
    def name(self) -> str:
        """The module's key under ``modules:``."""
        ...

    @property
    def metrics(self) -> Sequence[MetricSpec]:
        """Every metric the module may expose."""
        ...

    def collect(self) -> Iterable[Metric] | Awaitable[Iterable[Metric]]:
        """Return fresh metric families; may be a coroutine for I/O-bound modules."""
        ...

    def close(self) -> None:
        """Release sockets, threads or files the module holds."""
        ...


@dataclass(frozen=True)
class ModuleInfo:
    """A registry entry: the module's name, its config class, and where its code lives.

    The implementation is imported only when the module is configured, so an agent that does
    not poll SNMP never imports pysnmp.
    """

    name: str
    config_class: type[Any]
    implementation: str  # "package.module:Class"

    def load(self) -> type[Module]:
        """Import and return the module class."""
        import importlib

        module_name, _, class_name = self.implementation.partition(":")
        cls: type[Module] = getattr(importlib.import_module(module_name), class_name)
        return cls
