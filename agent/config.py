"""The agent's YAML config (``agent.yml``): loaded into frozen dataclasses and validated at load.

Example::

    commune: "16318"
    interval: 15s
    modules:
      host: {}
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import yaml

from agent.modules import MODULES
from agent.modules.base import ModuleConfig
from agent.push.config import PushConfig
from common.schema import MISSING, Invalid, Loader, load_file
from common.units import Duration

DEFAULT_INTERVAL = Duration(15)
_COMMUNE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class ModuleEntry:
    """One configured module: its validated config and its schedule."""

    name: str
    config: ModuleConfig
    interval: Duration | None = None
    timeout: Duration | None = None


@dataclass(frozen=True)
class ModuleSchedule:
    """The keys every module's mapping accepts besides its own."""

    interval: Duration | None = None
    timeout: Duration | None = None


_SCHEDULE_KEYS = ("interval", "timeout")


@dataclass(frozen=True)
class Modules:
    """The ``modules:`` mapping: module name -> its config, checked against the registry."""

    entries: tuple[ModuleEntry, ...] = ()

    @classmethod
    def __config_load__(cls, loader: Loader, node: yaml.Node, key: str) -> Any:
        items = loader.mapping(node, key)
        if items is None:
            return MISSING
        entries: list[ModuleEntry] = []
        ok = True
        for name, knode, vnode in items:
            info = MODULES.get(name)
            if info is None:
                known = ", ".join(MODULES)
                loader.error(knode, f"{key}.{name}", f"unknown module (known: {known})")
                ok = False
                continue
            entry = _load_entry(loader, info.config_class, name, vnode, f"{key}.{name}")
            if entry is None:
                ok = False
            else:
                entries.append(entry)
        return cls(tuple(entries)) if ok else MISSING

    def __iter__(self) -> Any:
        return iter(self.entries)

    def names(self) -> list[str]:
        """The configured module names, in file order."""
        return [e.name for e in self.entries]


def _load_entry(loader: Loader, config_class: type[ModuleConfig], name: str, node: yaml.Node,
                key: str) -> ModuleEntry | None:
    """Split a module's mapping into its schedule keys and its own config."""
    schedule = ModuleSchedule()
    own = node
    if isinstance(node, yaml.MappingNode):
        sched_pairs = [(k, v) for k, v in node.value if loader.scalar(k) in _SCHEDULE_KEYS]
        own_pairs = [(k, v) for k, v in node.value if loader.scalar(k) not in _SCHEDULE_KEYS]
        own = yaml.MappingNode(node.tag, own_pairs, node.start_mark, node.end_mark)
        sched_node = yaml.MappingNode(node.tag, sched_pairs, node.start_mark, node.end_mark)
        schedule = loader.load_dataclass(ModuleSchedule, sched_node, key)
    config = loader.load_dataclass(config_class, own, key)
    if config is MISSING or schedule is MISSING:
        return None
    return ModuleEntry(name, config, schedule.interval, schedule.timeout)


@dataclass(frozen=True)
class AgentConfig:
    """The whole agent config."""

    commune: str
    modules: Modules
    interval: Duration = DEFAULT_INTERVAL
    # Default per-module timeout; a module's own ``timeout`` wins. None means the interval.
    timeout: Duration | None = None
    # Remote-write to the province gateway through an on-disk spool (agent/push/).
    push: PushConfig | None = None

    def __post_init__(self) -> None:
        if not _COMMUNE_CODE.fullmatch(self.commune):
            raise Invalid(f"expected the commune's code from the inventory, like '16318', "
                          f"got {self.commune!r}", key="commune")
        if self.interval <= 0:
            raise Invalid("must be greater than 0s", key="interval")
        if not self.modules.entries:
            raise Invalid("configure at least one module, e.g. 'host: {}'", key="modules")
        for entry in self.modules:
            interval, timeout = self.interval_of(entry), self.timeout_of(entry)
            if timeout > interval:
                raise Invalid(f"timeout of module {entry.name!r} ({timeout}) exceeds its "
                              f"interval ({interval})", key="modules")
            # A module whose own checks have timeouts (probe targets) is cancelled whole at the
            # module timeout: one slow target must not take the others' results with it.
            longest = entry.config.longest_timeout()
            if longest is not None and longest > timeout:
                raise Invalid(f"module {entry.name!r} has a check with a {Duration(longest)} "
                              f"timeout, longer than the module's timeout ({timeout}); lower "
                              "it or raise the module's interval/timeout", key="modules")

    def interval_of(self, entry: ModuleEntry) -> Duration:
        """The collection interval of a module."""
        return entry.interval or self.interval

    def timeout_of(self, entry: ModuleEntry) -> Duration:
        """The timeout of one collection of a module."""
        return entry.timeout or self.timeout or self.interval_of(entry)


def load_config(path: str | os.PathLike[str]) -> AgentConfig:
    """Load and validate an agent config file; raise ConfigError listing every problem."""
    return load_file(AgentConfig, path)

