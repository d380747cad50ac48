"""The Prometheus rule files render copies, and ``--max-for``, which shortens their waits.

Rules come from ``--rules DIR`` or from the shipped rules (``common.shipped``: the override
folder ``/etc/commune-collector/rules``, the checkout's ``configs/prometheus/rules``, the
installed ``share/commune-monitor/rules``; a file name found first hides the same name later).
A render that would copy no rule file is an error: a province without rules never alerts.

``--max-for 10s`` caps every ``for:`` and ``keep_firing_for:`` of the copied files at 10s, for
rehearsals and tests, without editing the shipped files. Only those values change: comments,
layout and every other byte of a file stay as they are.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from common.cli import UsageError
from common.shipped import candidate_dirs, shipped_dirs, shipped_files
from common.units import Duration

RULES_PATTERN = "*.yml"
# The waits of an alerting rule: how long it must hold before firing, and keep firing after.
WAIT_KEYS = ("for", "keep_firing_for")


class NoRules(UsageError):
    """Render found no rule file; the message names every folder looked in."""

    def __init__(self, looked: list[Path]) -> None:
        self.looked = looked
        super().__init__(
            f"no Prometheus rule file (*.yml) found in {', '.join(str(p) for p in looked)}; "
            "a province without rules never alerts: reinstall commune-monitor, or give "
            "--rules DIR")


def read_rules(*dirs: Path) -> dict[str, bytes]:
    """The ``*.yml`` files of ``dirs`` by name; a name found first hides the same one later."""
    files = shipped_files("rules", RULES_PATTERN, [d for d in dirs if d.is_dir()])
    return {name: path.read_bytes() for name, path in files.items()}


def rules_for_render(rules_dir: Path | None) -> dict[str, bytes]:
    """The rule files of ``--rules`` or, without it, the shipped ones; NoRules if none."""
    if rules_dir is not None:
        if not rules_dir.is_dir():
            raise UsageError(f"--rules {rules_dir}: no such folder")
        looked, dirs = [rules_dir], [rules_dir]
    else:
        looked, dirs = candidate_dirs("rules"), shipped_dirs("rules")
    rules = read_rules(*dirs)
    if not rules:
        raise NoRules(looked)
    return rules


def _waits(root: yaml.Node, name: str) -> list[yaml.ScalarNode]:
    """The ``for:``/``keep_firing_for:`` value nodes of a composed rule file."""
    def items(node: yaml.Node | None, key: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            return []
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                if not isinstance(v, yaml.SequenceNode):
                    raise UsageError(f"{name}:{v.start_mark.line + 1}: {key}: expected a list")
                return list(v.value)
        return []

    found = []
    for group in items(root, "groups"):
        for rule in items(group, "rules"):
            if isinstance(rule, yaml.MappingNode):
                found += [v for k, v in rule.value
                          if isinstance(k, yaml.ScalarNode) and k.value in WAIT_KEYS
                          and isinstance(v, yaml.ScalarNode)]
    return found


def cap_waits(content: bytes, cap: Duration, name: str) -> bytes:
    """``content`` (a rule file) with every wait longer than ``cap`` set to ``cap``."""
    try:
        text = content.decode("utf-8")
        root = yaml.compose(text)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{name}: not a YAML rule file ({exc}); fix it or leave out "
                         "--max-for") from None
    edits = []
    for node in _waits(root, name) if root is not None else []:
        try:
            wait = Duration.parse(node.value)
        except ValueError as exc:
            raise UsageError(f"{name}:{node.start_mark.line + 1}: {exc}") from None
        if wait > cap:
            edits.append((node.start_mark.index, node.end_mark.index))
    for start, end in reversed(edits):
        text = text[:start] + str(cap) + text[end:]
    return text.encode("utf-8")
