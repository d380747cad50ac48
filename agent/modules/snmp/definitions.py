"""SNMP modules and VC profiles as YAML (``configs/snmp/*.yml``): what to poll and how to name it.

The format follows snmp_exporter's generated ``snmp.yml`` (``walk``, ``metrics`` with ``oid``,
``type``, ``indexes``, ``lookups``, ``enum_values``), with numeric OIDs only, so nothing is
compiled or fetched at run time. Additions of ours: ``get`` (scalars fetched with one GET),
``scale``, ``value_map`` and ``labels`` on a metric, the ``NumberString`` type (a DisplayString
holding a number), ``labels``/``up_metric`` on a whole module (VC profiles), and the ``http_json``
and ``http_xml`` kinds for devices whose status is only in an HTTP API. Loading a definition
never imports pysnmp. The shipped modules are found by ``common.shipped`` (kind ``snmp``: the
override ``/etc/commune-agent/snmp``, the checkout, the installed ``share/commune-monitor/snmp``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from common.schema import ConfigError, ConfigIssue, Invalid, load_file
from common.shipped import shipped_dirs

MetricType = Literal["gauge", "counter", "DisplayString", "OctetString", "PhysAddress48",
                     "EnumAsInfo", "EnumAsStateSet", "NumberString"]
IndexType = Literal["gauge", "DisplayString", "OctetString", "PhysAddress48", "IpAddr"]
Reduce = Literal["first", "max", "min", "sum", "count", "avg"]

class Oid(tuple[int, ...]):
    """A numeric OID such as ``1.3.6.1.2.1.2.2.1.10`` (names are not resolved)."""

    @classmethod
    def parse(cls, text: str) -> Oid:
        """Parse dotted decimal; raise ValueError on anything else."""
        parts = text.strip().lstrip(".").split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"expected a numeric OID like '1.3.6.1.2.1.1.3', got {text!r} "
                             "(MIB names are not resolved: write the number)")
        return cls(int(p) for p in parts)

    def __str__(self) -> str:
        return ".".join(map(str, self))


@dataclass(frozen=True)
class Index:
    """How one index label is read from the OID suffix of a table row."""

    labelname: str
    type: IndexType = "gauge"
    # A string index without its length sub-identifier (the MIB's IMPLIED keyword).
    implied: bool = False


@dataclass(frozen=True)
class Lookup:
    """A label taken from another column of the same row (``ifIndex`` -> ``ifName``)."""

    labels: tuple[str, ...]
    labelname: str
    oid: Oid
    type: Literal["DisplayString", "OctetString", "gauge", "PhysAddress48"] = "DisplayString"


@dataclass(frozen=True)
class SnmpMetric:
    """One metric read from an OID (a scalar, or a table column with ``indexes``)."""

    name: str
    oid: Oid
    type: MetricType = "gauge"
    help: str = ""
    indexes: tuple[Index, ...] = ()
    lookups: tuple[Lookup, ...] = ()
    enum_values: Mapping[str, str] = field(default_factory=dict)
    scale: float = 1.0
    value_map: Mapping[str, float] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    source: str = ""  # where the OID is documented, and whether that was confirmed

    def __post_init__(self) -> None:
        if self.type in ("EnumAsInfo", "EnumAsStateSet") and not self.enum_values:
            raise Invalid(f"type {self.type} needs enum_values", key="enum_values")
        if not all(k.lstrip("-").isdigit() for k in self.enum_values):
            raise Invalid("enum_values keys must be integers", key="enum_values")
        names = {i.labelname for i in self.indexes}
        for lookup in self.lookups:
            missing = [label for label in lookup.labels if label not in names]
            if missing:
                raise Invalid(f"lookup {lookup.labelname!r} uses labels {missing} that are not "
                              "indexes of this metric", key="lookups")


@dataclass(frozen=True)
class HttpMetric:
    """One metric read from a JSON or XML document by slash-separated paths.

    ``each`` selects repeated nodes (e.g. ``MediaChannels/Call/Channel``); ``value`` (relative
    to each node) is the number or the text mapped by ``value_map``; ``label_paths`` gives labels
    read from the same node (lower-cased); values of the same label set are combined by
    ``reduce``. ``divide_by`` turns a count into a ratio (``Loss`` / ``Packets``).
    """

    name: str
    value: str
    help: str = ""
    each: str = ""
    label_paths: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    value_map: Mapping[str, float] = field(default_factory=dict)
    scale: float = 1.0
    divide_by: str = ""
    reduce: Reduce = "max"
    default: float | None = None  # value when nothing matches (e.g. no call: in_call 0)
    source: str = ""


@dataclass(frozen=True)
class HttpRequest:
    """One GET against the device's base URL and the metrics read from its answer."""

    path: str
    metrics: tuple[HttpMetric, ...]


@dataclass(frozen=True)
class Definition:
    """One SNMP module or VC profile file."""

    kind: Literal["snmp", "http_json", "http_xml"] = "snmp"
    description: str = ""
    walk: tuple[Oid, ...] = ()
    get: tuple[Oid, ...] = ()
    metrics: tuple[SnmpMetric, ...] = ()
    requests: tuple[HttpRequest, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    up_metric: str = ""  # e.g. commune_vc_up: 1 when the device answered this module
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "snmp" and self.requests:
            raise Invalid("'requests' is for kind http_json/http_xml", key="requests")
        if self.kind != "snmp" and (self.metrics or self.walk or self.get):
            raise Invalid(f"kind {self.kind} reads 'requests', not metrics/walk/get",
                          key="metrics")
        if self.kind == "snmp" and not self.metrics:
            raise Invalid("define at least one metric", key="metrics")
        if self.kind != "snmp" and not self.requests:
            raise Invalid("define at least one request", key="requests")
        if self.walk:
            fetched = (*self.walk, *self.get)
            for metric in self.metrics:
                for oid in (metric.oid, *(lookup.oid for lookup in metric.lookups)):
                    if not any(oid[:len(root)] == root or root[:len(oid)] == oid
                               for root in fetched):
                        raise Invalid(f"metric {metric.name!r}: OID {oid} is under no 'walk' "
                                      "or 'get' OID; add it to one", key="walk")

    def walk_roots(self) -> tuple[Oid, ...]:
        """The subtrees to walk: ``walk`` if given, else every table metric's and lookup's OID."""
        if self.walk:
            return _minimal_roots(self.walk)
        roots: list[Oid] = []
        for metric in self.metrics:
            if metric.indexes:
                roots.append(metric.oid)
                roots.extend(lookup.oid for lookup in metric.lookups)
            elif not self._got(metric.oid):
                roots.append(metric.oid)
        return _minimal_roots(roots)

    def _got(self, oid: Oid) -> bool:
        return any(g[:len(oid)] == oid for g in self.get)


def _minimal_roots(oids: Iterable[Oid]) -> tuple[Oid, ...]:
    """Sorted OIDs without those inside another one (no subtree is walked twice)."""
    roots: list[Oid] = []
    for oid in sorted(set(oids)):
        if not roots or oid[:len(roots[-1])] != roots[-1]:
            roots.append(oid)
    return tuple(roots)


def search_dirs(extra: Iterable[str] = ()) -> list[Path]:
    """Folders searched for ``NAME.yml``, first match wins: the configured ones, then shipped
    (common.shipped: the /etc/commune-agent/snmp override, the checkout, the installed data)."""
    dirs = [Path(p) for p in extra]
    env = os.environ.get("COMMUNE_SNMP_MODULE_PATH")
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    return dirs + shipped_dirs("snmp")


def find_definition(name: str, dirs: Iterable[Path]) -> Path | None:
    """The file defining module ``name`` (``vc/poly`` is ``vc/poly.yml``), or None."""
    for folder in dirs:
        path = folder / f"{name}.yml"
        if os.path.isfile(path):  # False, not OSError, for a name too long
            return path
    return None


def known_names(dirs: Iterable[Path]) -> list[str]:
    """Every module name found in ``dirs``, for 'known: ...' messages."""
    names: set[str] = set()
    for folder in dirs:
        names.update(str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.yml"))
    return sorted(names)


def load_definition(path: str | os.PathLike[str]) -> Definition:
    """Load and validate one module file; raise ConfigError with file:line."""
    return load_file(Definition, path)


def load_definitions(names: Iterable[str], extra_dirs: Iterable[str] = ()
                     ) -> dict[str, Definition]:
    """Load the named modules; raise ConfigError naming every unknown or broken one."""
    dirs = search_dirs(extra_dirs)
    loaded: dict[str, Definition] = {}
    issues: list[ConfigIssue] = []
    for name in dict.fromkeys(names):
        path = find_definition(name, dirs)
        if path is None:
            known = ", ".join(known_names(dirs)) or "none"
            issues.append(ConfigIssue(name, 0, 0, "", f"unknown SNMP module {name!r} "
                                      f"(known: {known}); add {name}.yml to a module_paths folder"))
            continue
        try:
            loaded[name] = load_definition(path)
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues[0].file, issues)
    return loaded
