"""Config of the ``probe`` module: ``modules.probe.targets``, one mapping per target, by ``kind``.

Example::

    probe:
      targets:
        - {name: tthc-portal, kind: http, url: "https://portal.example/", timeout: 10s}
        - {name: gateway, kind: icmp, host: 192.0.2.1, count: 10}
        - {name: vc-sip, kind: sip, host: 192.0.2.5, transport: udp}

Kept light: loading a config imports no probing library.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from agent.modules.base import ModuleConfig
from agent.modules.probe.kinds import KINDS
from agent.modules.probe.targets import Target
from common.schema import MISSING, Invalid, Loader

# Where the throughput targets' daily budgets are kept across restarts.
DEFAULT_STATE_DIR = "/var/lib/commune-agent/probe"


@dataclass(frozen=True)
class Targets:
    """The ``targets:`` list; each item's ``kind`` picks its config class. Names are unique."""

    items: tuple[Target, ...] = ()

    @classmethod
    def __config_load__(cls, loader: Loader, node: yaml.Node, key: str) -> Any:
        if not isinstance(node, yaml.SequenceNode):
            loader.error(node, key, "expected a list of targets, each with 'name' and 'kind'")
            return MISSING
        items: list[Target] = []
        names: dict[str, str] = {}
        ok = True
        for i, item in enumerate(node.value):
            ikey = f"{key}[{i}]"
            target = _load_target(loader, item, ikey)
            if target is MISSING:
                ok = False
                continue
            if target.name in names:
                at = _value_node(loader, item, "name") or item
                loader.error(at, f"{ikey}.name",
                             f"duplicate target name {target.name!r} (also {names[target.name]})")
                ok = False
                continue
            names[target.name] = ikey
            items.append(target)
        return cls(tuple(items)) if ok else MISSING

    def __iter__(self) -> Iterator[Target]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _value_node(loader: Loader, node: yaml.Node, name: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            if loader.scalar(knode) == name:
                return vnode
    return None


def _load_target(loader: Loader, node: yaml.Node, key: str) -> Any:
    known = ", ".join(KINDS)
    if not isinstance(node, yaml.MappingNode):
        loader.error(node, key, "expected a mapping with 'name' and 'kind'")
        return MISSING
    kind_node = _value_node(loader, node, "kind")
    if kind_node is None:
        loader.error(node, key, f"missing required key 'kind' (one of {known})")
        return MISSING
    kind = loader.scalar(kind_node) if isinstance(kind_node, yaml.ScalarNode) else None
    probe_kind = KINDS.get(kind) if isinstance(kind, str) else None
    if probe_kind is None:
        loader.error(kind_node, f"{key}.kind", f"unknown probe kind {kind!r} (known: {known})")
        return MISSING
    return loader.load_dataclass(probe_kind.config_class, node, key)


@dataclass(frozen=True)
class ProbeConfig(ModuleConfig):
    """``modules.probe``: the targets this agent probes, all concurrently, every interval."""

    targets: Targets
    state_dir: str = DEFAULT_STATE_DIR

    def __post_init__(self) -> None:
        if not self.targets.items:
            raise Invalid("list at least one target, e.g. "
                          "{name: portal, kind: http, url: 'https://portal.example/'}",
                          key="targets")
        if not os.path.isabs(self.state_dir):
            raise Invalid(f"expected an absolute path, got {self.state_dir!r}", key="state_dir")

    def longest_timeout(self) -> float:
        """The longest target timeout: the module's own timeout must leave room for it."""
        return max(target.timeout for target in self.targets.items)
