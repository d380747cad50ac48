"""Line-level edits of hand-written YAML files that keep every comment, blank line and order.

The inventory and the gateway config are edited by people; enrolment must add and remove list
items without reformatting them. PyYAML's composed nodes carry the line and column of every
value, so an item is inserted as one new line after the last item of its list (in the style of
that list: ``- {name: lan-2, ...}``) and removed by deleting the lines it spans. This needs no
round-trip parser (ruamel.yaml would add a dependency and still re-indent flow mappings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

import yaml

from common import yamlnodes

__all__ = ["EditError", "append_item", "compose", "flow_mapping", "mapping_value",
           "quote", "remove_items", "scalar_items"]


class EditError(ValueError):
    """The file does not have the shape the edit needs."""


def compose(text: str) -> yaml.Node:
    """The composed node tree of ``text`` (an empty document is an empty mapping).

    Composed by ``common.yamlnodes`` (bounded in depth and alias expansion); its YamlProblem
    is raised as it is, for the caller to name the file.
    """
    node, loader = yamlnodes.compose(text)
    loader.dispose()
    if node is None:
        return yaml.MappingNode("tag:yaml.org,2002:map", [])
    return node


def mapping_value(node: yaml.Node, key: str) -> yaml.Node | None:
    """The value node of ``key`` in a mapping node, or None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key),
                None)


def scalar_items(node: yaml.Node) -> dict[str, str]:
    """The scalar key/values of a mapping node (nested values are skipped)."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: v.value for k, v in node.value
            if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)}


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def quote(value: str) -> str:
    """``value`` as a YAML scalar: plain when unambiguous, else double-quoted (JSON syntax)."""
    if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
        return value
    return json.dumps(value, ensure_ascii=False)


def flow_mapping(values: Mapping[str, str]) -> str:
    """``{key: value, ...}`` on one line, quoting values that would not read back as strings."""
    return "{" + ", ".join(f"{k}: {quote(v)}" for k, v in values.items()) + "}"


def _last_line(node: yaml.Node) -> int:
    """The 0-based line of the last character that belongs to ``node``."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
        end = node.end_mark
        return end.line if end.column > 0 else end.line - 1
    if isinstance(node, yaml.MappingNode) and node.value:
        return _last_line(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and node.value:
        return _last_line(node.value[-1])
    return node.start_mark.line


def _dash_column(lines: list[str], item: yaml.Node) -> int:
    """The column of the ``-`` that introduces a block sequence item."""
    line = lines[item.start_mark.line]
    col = line.rfind("-", 0, item.start_mark.column)
    if col < 0:
        raise EditError(f"line {item.start_mark.line + 1}: expected '- ' before the item")
    return col


def append_item(text: str, parent: yaml.Node, key: str, item: str) -> str:
    """Append ``item`` (one line of YAML, e.g. a flow mapping) to the list at ``parent[key]``.

    The list may be a block list (the item goes after its last item, same indentation), empty
    (``key: []`` or ``key:``), or absent (``key:`` is added at the end of ``parent``).
    """
    if not isinstance(parent, yaml.MappingNode):
        raise EditError(f"line {parent.start_mark.line + 1}: expected a mapping with {key!r}")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    seq = mapping_value(parent, key)
    if isinstance(seq, yaml.SequenceNode) and seq.value and not seq.flow_style:
        last = seq.value[-1]
        indent = _dash_column(lines, seq.value[0])
        at = _last_line(last) + 1
        lines.insert(at, " " * indent + "- " + item + "\n")
        return "".join(lines)
    key_node = next((k for k, _ in parent.value if getattr(k, "value", None) == key), None)
    if key_node is not None and seq is not None:
        if isinstance(seq, yaml.SequenceNode) and seq.value:
            raise EditError(f"line {seq.start_mark.line + 1}: {key!r} is a one-line [...] list; "
                            "write it as a block list (one '- ' item per line) and retry")
        if not (isinstance(seq, yaml.SequenceNode)
                or (isinstance(seq, yaml.ScalarNode) and seq.value in ("", "~", "null"))):
            raise EditError(f"line {seq.start_mark.line + 1}: {key!r} must be a list")
        # `key: []` or `key:` -> `key:` followed by the first item.
        joined = "".join(lines)
        start, end = seq.start_mark.index, seq.end_mark.index
        indent = key_node.start_mark.column + 2
        replaced = joined[:start].rstrip(" ") + "\n" + " " * indent + "- " + item + joined[end:]
        return replaced.replace(":\n\n" + " " * indent + "- ", ":\n" + " " * indent + "- ", 1)
    indent = parent.value[0][0].start_mark.column if parent.value else 0
    at = _last_line(parent) + 1 if parent.value else len(lines)
    lines[at:at] = [" " * indent + f"{key}:\n", " " * (indent + 2) + "- " + item + "\n"]
    return "".join(lines)


def remove_items(text: str, seq: yaml.Node, match: Callable[[yaml.Node], bool]) -> tuple[str, int]:
    """Delete the items of the block list ``seq`` for which ``match`` is true; (text, count)."""
    if not isinstance(seq, yaml.SequenceNode) or not seq.value:
        return text, 0
    if seq.flow_style:
        raise EditError(f"line {seq.start_mark.line + 1}: a one-line [...] list; write it as a "
                        "block list (one '- ' item per line) and retry")
    lines = text.splitlines(keepends=True)
    doomed = [item for item in seq.value if match(item)]
    if len(doomed) == len(seq.value):
        # An empty block list would read as null: leave `key: []` instead.
        first = seq.value[0].start_mark.line
        del lines[first:_last_line(seq.value[-1]) + 1]
        key_line = first - 1
        while key_line > 0 and lines[key_line].lstrip().startswith(("#", "\n")):
            key_line -= 1
        head, sep, comment = lines[key_line].rstrip("\n").partition(" #")
        lines[key_line] = head.rstrip() + " []" + (f"  #{comment}" if sep else "") + "\n"
        return "".join(lines), len(doomed)
    for item in reversed(doomed):
        del lines[item.start_mark.line:_last_line(item) + 1]
    return "".join(lines), len(doomed)
