"""The module contract: what every pluggable unit of the agent provides.

A module is configured from its mapping under ``modules:`` (a frozen dataclass, its
``config_class``) and, each time the scheduler asks, returns fresh metric families. Timing,
timeouts, error accounting and the ``commune`` label are the scheduler's business, not the module's.
A registry entry (``ModuleInfo``) ties a module's name, its config class and its class together,
so the type checker sees that the class is built from that config.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar, runtime_checkable

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


@runtime_checkable
class ModuleConfig(Protocol):
    """What the agent reads off every module's config, besides what the module itself reads.

    The built-in configs subclass it to inherit the defaults.
    """

    def longest_timeout(self) -> float | None:
        """The longest timeout of the module's own checks in seconds; None when it has none.

        A module is cancelled whole at its timeout, so the config loader rejects a module
        timeout shorter than this: one slow check must not take the others' results with it.
        """
        return None


C = TypeVar("C", bound=ModuleConfig)
C_contra = TypeVar("C_contra", bound=ModuleConfig, contravariant=True)


class ModuleClass(Protocol[C_contra]):
    """A module's class: it declares the module's metrics and builds the module from its config."""

    @property
    def metrics(self) -> Sequence[MetricSpec]:
        """Every metric the module may expose."""
        ...

    def __call__(self, config: C_contra, /) -> Module:
        """Build the module from its validated config."""
        ...


@dataclass(frozen=True)
class ModuleInfo(Generic[C]):
    """A registry entry: the module's name, its config class, and how to import its class.

    ``load`` imports the implementation only when called (when the module is configured), so an
    agent that does not poll SNMP never imports pysnmp.
    """

    name: str
    config_class: type[C]
    load: Callable[[], ModuleClass[C]]

    def build(self, config: ModuleConfig) -> Module:
        """Build the module from its config, which must be an instance of ``config_class``."""
        if not isinstance(config, self.config_class):
            raise TypeError(f"module {self.name!r} is configured by a "
                            f"{self.config_class.__name__}, got a {type(config).__name__}")
        return self.load()(config)
