"""Inventory files for the tests, from one builder: a test names its communes and nodes, the
builder writes the YAML the collector reads (province 38, Thanh Hóa).

``inventory_yaml([HAC_THANH.with_nodes(Node("lan-1"))])`` is a one-commune inventory whose
lan-1 node pushes. Comments and block-style nodes are there for the tests of tools that edit
the file and must keep what a person wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

PROVINCE = 'province: {code: "38", name: "Thanh Hóa"}'
_PLAIN = re.compile(r"[^\W\d][\w-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


@dataclass(frozen=True)
class Node:
    """One node of a commune; keys left at None are not written."""

    name: str
    role: str = "lan-node"
    mode: str = "push"
    address: str | None = None
    ssh: str | None = None
    ssh_user: str | None = None
    comment: str = ""    # written at the end of the node's line
    block: bool = False  # one key a line instead of a flow mapping


@dataclass(frozen=True)
class Commune:
    """A commune of the inventory; a code given as an int is written unquoted."""

    code: str | int
    name: str
    type: str
    terrain: str
    group: str
    nodes: tuple[Node, ...] = ()
    comment: str = ""  # a comment line above the commune

    def with_nodes(self, *nodes: Node) -> Commune:
        """This commune with ``nodes``."""
        return replace(self, nodes=nodes)


HAC_THANH = Commune("14797", "Phường Hạc Thành", "phường", "lowland", "Thành phố Thanh Hóa")
MUONG_LAT = Commune("14845", "Xã Mường Lát", "xã", "mountain", "Huyện Mường Lát")


def scalar(value: str | int) -> str:
    """``value`` as a YAML scalar: plain when it reads back as the same string, else quoted."""
    if isinstance(value, int):
        return str(value)
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)


def flow(mapping: Mapping[str, str | int | None]) -> str:
    """``{key: value, ...}`` on one line, leaving out None values."""
    return "{" + ", ".join(f"{k}: {scalar(v)}" for k, v in mapping.items() if v is not None) + "}"


def _node_keys(node: Node) -> dict[str, str | None]:
    return {"name": node.name, "role": node.role, "mode": node.mode, "address": node.address,
            "ssh": node.ssh, "ssh_user": node.ssh_user}


def _node_lines(node: Node) -> list[str]:
    comment = f"   # {node.comment}" if node.comment else ""
    if not node.block:
        return [f"      - {flow(_node_keys(node))}{comment}"]
    keys = [(k, v) for k, v in _node_keys(node).items() if v is not None]
    lines = [f"        {k}: {scalar(v)}" for k, v in keys]
    lines[0] = "      - " + lines[0].lstrip() + comment
    return lines


def _commune_lines(commune: Commune) -> list[str]:
    lines = [f"  # {commune.comment}"] if commune.comment else []
    code = commune.code if isinstance(commune.code, int) else json.dumps(commune.code)
    lines += [f"  - code: {code}", f"    name: {scalar(commune.name)}",
              f"    type: {scalar(commune.type)}", f"    terrain: {scalar(commune.terrain)}",
              f"    group: {scalar(commune.group)}", "    nodes:"]
    for node in commune.nodes:
        lines += _node_lines(node)
    return lines


def inventory_yaml(communes: Sequence[Commune], *,
                   defaults: Mapping[str, str | int] | None = None,
                   targets: Sequence[Mapping[str, str | int]] = (),
                   comment: str = "", end_comment: str = "") -> str:
    """The text of an inventory listing ``communes`` (and ``defaults``, province ``targets``);
    ``comment`` opens the file, ``end_comment`` follows the communes."""
    lines = [f"# {comment}"] if comment else []
    lines.append(PROVINCE)
    if defaults:
        lines.append(f"defaults: {flow(defaults)}")
    if targets:
        lines.append("province_targets:")
        lines += [f"  - {flow(target)}" for target in targets]
    lines.append("communes:")
    for commune in communes:
        lines += _commune_lines(commune)
    if end_comment:
        lines.append(f"# {end_comment}")
    return "\n".join(lines) + "\n"

