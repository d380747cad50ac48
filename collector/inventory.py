"""The province inventory (``configs/inventory/thanh-hoa.yml``): communes, their nodes, targets.

Example::

    province: {code: "38", name: "Thanh Hóa"}
    defaults: {agent_port: 9810, ssh_port: 22, ssh_user: commune-diag}
    province_targets:
      - {name: tthc-portal, kind: http, url: "https://dichvucong.thanhhoa.gov.vn/"}
    communes:
      - code: "14797"
        name: "Phường Hạc Thành"
        type: phường
        terrain: lowland
        group: "Thành phố Thanh Hóa"
        nodes:
          - {name: lan-1, role: lan-node, mode: scrape, address: "10.38.1.10:9810"}

Loading resolves the defaults: a node ``address`` without a port gets ``defaults.agent_port``;
``ssh`` defaults to the address' host on ``defaults.ssh_port``; ``ssh_user`` to
``defaults.ssh_user``. Every error names the file, line, column and key.
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from common.filetext import INVENTORY_MAX_BYTES
from common.schema import MISSING, ConfigError, Invalid, Loader, describe, load_file

__all__ = ["MODES", "ROLES", "Address", "Commune", "ConfigError", "Defaults", "Inventory", "Node",
           "Province", "ProvinceTarget", "UnknownCommune", "load_inventory"]

Role = Literal["lan-node", "vc", "server"]
Mode = Literal["scrape", "push"]
Terrain = Literal["lowland", "mountain"]
TargetKind = Literal["http", "tcp", "sip", "icmp", "throughput"]

ROLES: tuple[str, ...] = ("lan-node", "vc", "server")
MODES: tuple[str, ...] = ("scrape", "push")

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_HOST = re.compile(r"[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]")


class CommuneType(str):
    """``xã`` (commune) or ``phường`` (ward), in NFC whatever the editor wrote."""

    CHOICES = ("xã", "phường")

    @classmethod
    def parse(cls, text: str) -> CommuneType:
        """Check ``text`` is one of the two unit types."""
        value = unicodedata.normalize("NFC", text)
        if value not in cls.CHOICES:
            raise ValueError(f"expected one of 'xã', 'phường', got {text!r}")
        return cls(value)


class Address(str):
    """``host:port`` (or ``[v6]:port``) of an agent or SSH server; a bare host is also accepted.

    A bare host gets its port from the inventory's ``defaults`` when the inventory loads.
    """

    @classmethod
    def parse(cls, text: str) -> Address:
        """Check ``text`` is ``host`` or ``host:port`` with a port in 1..65535."""
        example = "like '10.38.1.10:9810' or '[fd00::1]:9810'"
        if text.count(":") == 0 or (text.startswith("[") and text.endswith("]")):
            host, port = text, ""
        else:
            host, _, port = text.rpartition(":")
            if ":" in host and not (host.startswith("[") and host.endswith("]")):
                raise ValueError(f"an IPv6 address needs brackets, {example}, got {text!r}")
            if not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"expected 'host:port' with a port in 1..65535, {example}, "
                                 f"got {text!r}")
        if not _HOST.fullmatch(host):
            raise ValueError(f"expected 'host:port' {example}, got {text!r}")
        return cls(f"{host}:{int(port)}" if port else host)

    @property
    def host(self) -> str:
        """The host part, without IPv6 brackets."""
        return self._split()[0].strip("[]")

    @property
    def port(self) -> int | None:
        """The port number, None for a bare host."""
        port = self._split()[1]
        return int(port) if port else None

    def _split(self) -> tuple[str, str]:
        if self.startswith("[") and self.endswith("]"):
            return str(self), ""
        host, sep, port = self.rpartition(":")
        return (host, port) if sep else (str(self), "")

    def with_port(self, port: int) -> Address:
        """This address, with ``port`` if it has none."""
        return self if self.port is not None else Address(f"{self}:{port}")


@dataclass(frozen=True)
class Province:
    """The province: its code (``38`` for Thanh Hóa) and name."""

    code: str
    name: str


@dataclass(frozen=True)
class Defaults:
    """Values a node takes when it does not set its own."""

    agent_port: int = 9810
    ssh_port: int = 22
    ssh_user: str = "commune-diag"

    def __post_init__(self) -> None:
        for key in ("agent_port", "ssh_port"):
            if not 1 <= getattr(self, key) <= 65535:
                raise Invalid(f"expected a port in 1..65535, got {getattr(self, key)}", key=key)


@dataclass(frozen=True)
class ProvinceTarget:
    """A province-level service probed by every commune's agent (portal, database, VC/SIP)."""

    name: str
    kind: TargetKind
    url: str | None = None
    host: str | None = None
    port: int | None = None
    mos: bool = False  # icmp: every agent also estimates a call's MOS over the path (VC MCU)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise Invalid(f"expected a name like 'tthc-portal' (a-z, 0-9, '-', '_'), "
                          f"got {self.name!r}", key="name")
        if self.mos and self.kind != "icmp":
            raise Invalid(f"'mos: true' needs an icmp target (the MOS comes from its RTT, "
                          f"jitter and loss), not {self.kind}", key="mos")
        if self.kind == "http":
            if not self.url or not re.match(r"https?://[^/\s]+", self.url):
                raise Invalid("an http target needs 'url: https://host/path'", key="url")
            if self.host is not None or self.port is not None:
                raise Invalid("an http target takes 'url', not 'host'/'port'", key="host")
            return
        if self.url is not None:
            raise Invalid(f"a {self.kind} target takes 'host' (and 'port'), not 'url'", key="url")
        if not self.host or not _HOST.fullmatch(self.host):
            raise Invalid(f"a {self.kind} target needs 'host: NAME-OR-IP', got {self.host!r}",
                          key="host")
        if self.kind in ("tcp", "sip") and self.port is None:
            raise Invalid(f"a {self.kind} target needs 'port'", key="host")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise Invalid(f"expected a port in 1..65535, got {self.port}", key="port")


@dataclass(frozen=True)
class Node:
    """One agent in a commune: its role, whether it is scraped or pushes, where it is."""

    name: str
    role: Role
    mode: Mode
    address: Address | None = None
    ssh: Address | None = None
    ssh_user: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise Invalid(f"expected a node name like 'lan-1' (a-z, 0-9, '-', '_'), "
                          f"got {self.name!r}", key="name")
        if self.mode == "scrape" and self.address is None:
            raise Invalid("a scrape node needs 'address: host:port' (where its agent listens); "
                          "or set 'mode: push'", key="mode")


@dataclass(frozen=True)
class Commune:
    """One commune-level unit (xã or phường) and its nodes."""

    code: str
    name: str
    type: CommuneType
    terrain: Terrain
    group: str
    nodes: Nodes

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code):
            raise Invalid(f"expected the official unit code, like '14797', got {self.code!r}",
                          key="code")
        if not self.name.strip():
            raise Invalid("expected the commune's name, got ''", key="name")
        if not self.group.strip():
            raise Invalid("expected the region (former district), got ''", key="group")
        # Labels must match byte for byte: keep names in NFC whatever the editor wrote.
        for key in ("name", "group"):
            object.__setattr__(self, key, unicodedata.normalize("NFC", getattr(self, key)))

    def node(self, name: str) -> Node:
        """The node called ``name``; raise KeyError if absent."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"commune {self.code} has no node {name!r} "
                       f"(nodes: {', '.join(n.name for n in self.nodes)})")


def _unique_sequence(loader: Loader, item_cls: type[Any], node: yaml.Node, key: str,
                     id_key: str, what: str) -> list[Any] | None:
    """Load a list of ``item_cls``, reporting a repeated ``id_key`` at its second occurrence."""
    if not isinstance(node, yaml.SequenceNode):
        loader.error(node, key, f"expected a list, got {describe(node)}")
        return None
    values: list[Any] = []
    first_line: dict[str, int] = {}
    ok = True
    for i, item in enumerate(node.value):
        item_key = f"{key}[{i}]"
        value = loader.load(item_cls, item, item_key)
        ok = ok and value is not MISSING
        values.append(value)
        id_node = _value_node(item, id_key)
        if id_node is None or not isinstance(id_node, yaml.ScalarNode):
            continue
        ident = unicodedata.normalize("NFC", str(id_node.value))
        if ident in first_line:
            loader.error(id_node, f"{item_key}.{id_key}",
                         f"duplicate {what} {ident!r} (first at line {first_line[ident]}); "
                         f"each {what} must be unique")
            ok = False
        else:
            first_line[ident] = id_node.start_mark.line + 1
    return values if ok else None


def _value_node(node: yaml.Node, name: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if getattr(k, "value", None) == name), None)


class Nodes(tuple[Node, ...]):
    """A commune's nodes; names are unique within the commune."""

    @classmethod
    def __config_load__(cls, loader: Loader, node: yaml.Node, key: str) -> Any:
        values = _unique_sequence(loader, Node, node, key, "name", "node name")
        if values is None:
            return MISSING
        if not values:
            loader.error(node, key, "list at least one node, e.g. "
                         "'- {name: lan-1, role: lan-node, mode: push}'")
            return MISSING
        return cls(values)


class Communes(tuple[Commune, ...]):
    """The inventory's communes; codes are unique."""

    @classmethod
    def __config_load__(cls, loader: Loader, node: yaml.Node, key: str) -> Any:
        values = _unique_sequence(loader, Commune, node, key, "code", "commune code")
        return MISSING if values is None else cls(values)


class ProvinceTargets(tuple[ProvinceTarget, ...]):
    """The province-level targets; names are unique."""

    @classmethod
    def __config_load__(cls, loader: Loader, node: yaml.Node, key: str) -> Any:
        values = _unique_sequence(loader, ProvinceTarget, node, key, "name", "target name")
        return MISSING if values is None else cls(values)


class UnknownCommune(KeyError):
    """A commune code that is not in the inventory."""

    def __init__(self, code: str, file: str) -> None:
        super().__init__(code)
        self.code = code
        self.file = file

    def __str__(self) -> str:
        return f"commune {self.code!r} is not in the inventory {self.file}; check the code"


@dataclass(frozen=True)
class Inventory:
    """The whole inventory: province, defaults, province targets and communes."""

    province: Province
    communes: Communes
    defaults: Defaults = Defaults()
    province_targets: ProvinceTargets = dataclasses.field(default_factory=ProvinceTargets)
    # The file it was loaded from (set by load_inventory; not a YAML key).
    file: str = dataclasses.field(default="", init=False, compare=False)

    def commune(self, code: str) -> Commune:
        """The commune with this code; raise UnknownCommune if absent."""
        for commune in self.communes:
            if commune.code == code:
                return commune
        raise UnknownCommune(code, self.file)

    def nodes(self) -> Iterator[tuple[Commune, Node]]:
        """Every (commune, node) pair, in file order."""
        for commune in self.communes:
            for node in commune.nodes:
                yield commune, node


def throughput_slots(inventory: Inventory) -> dict[str, int]:
    """Each commune's second of the hour for its throughput runs: the codes in order, spread
    evenly over the hour, so that no two communes load the province's iperf3 server at once."""
    codes = sorted(commune.code for commune in inventory.communes)
    return {code: i * 3600 // len(codes) for i, code in enumerate(codes)}


def agent_probe_targets(inventory: Inventory, commune: str | None = None) -> list[dict[str, Any]]:
    """The province targets as entries of an agent's ``modules.probe.targets`` (what render
    writes to agent-probe-targets.yml and enrolment into each agent.yml); for ``commune``, a
    throughput target carries its ``slot_second``."""
    targets = []
    for t in inventory.province_targets:
        entry = {"name": t.name, "kind": t.kind, "url": t.url, "host": t.host, "port": t.port,
                 "mos": True if t.mos else None}
        if t.kind == "throughput" and commune is not None:
            entry["slot_second"] = throughput_slots(inventory)[commune]
        targets.append({k: v for k, v in entry.items() if v is not None})
    return targets


def _resolve(inventory: Inventory, file: str) -> Inventory:
    """Fill in node ports, ssh addresses and users from ``defaults``."""
    d = inventory.defaults
    communes = []
    for commune in inventory.communes:
        nodes = []
        for node in commune.nodes:
            address = node.address.with_port(d.agent_port) if node.address else None
            ssh = node.ssh or (Address(address.rpartition(":")[0]) if address else None)
            nodes.append(dataclasses.replace(
                node, address=address, ssh=ssh.with_port(d.ssh_port) if ssh else None,
                ssh_user=node.ssh_user or d.ssh_user))
        communes.append(dataclasses.replace(commune, nodes=Nodes(nodes)))
    resolved = dataclasses.replace(inventory, communes=Communes(communes))
    object.__setattr__(resolved, "file", file)
    return resolved


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Load and validate an inventory file; raise ConfigError listing every problem."""
    return _resolve(load_file(Inventory, path, INVENTORY_MAX_BYTES, "an inventory"), str(path))
