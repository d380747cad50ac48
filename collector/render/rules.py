"""The Prometheus rule files render copies, and ``--max-for``, which shortens their waits.

Rules come from ``--rules DIR`` or from the shipped rules (``common.shipped``: the override
folder ``/etc/commune-collector/rules``, the checkout's ``configs/prometheus/rules``, the
installed ``share/commune-monitor/rules``; a file name found first hides the same name later).
A render that would copy no rule file is an error: a province without rules never alerts.
Each rule file is read as the loaders read configs: one bounded YAML document of at most
:data:`RULE_FILE_MAX_BYTES`, UTF-8 without NUL or control characters (``common.filetext``,
``common.yamlnodes``); any other is refused naming the file (exit 2), before Prometheus sees it.

``--max-for 10s`` caps every ``for:`` and ``keep_firing_for:`` of the copied files at 10s, for
rehearsals and tests, without editing the shipped files. Only those values change: comments,
layout and every other byte of a file stay as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from common.cli import UsageError
from common.filetext import CONFIG_MAX_BYTES, FileProblem, decode_text
from common.schema import compose_config, read_config_text
from common.shipped import candidate_dirs, shipped_dirs, shipped_files
from common.units import Duration
from common.yamlnodes import YamlProblem, compose

RULES_PATTERN = "*.yml"
# The waits of an alerting rule: how long it must hold before firing, and keep firing after.
WAIT_KEYS = ("for", "keep_firing_for")
#: The largest rule file read; the shipped ones are under 16 KiB.
RULE_FILE_MAX_BYTES = CONFIG_MAX_BYTES


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
    return {name: read_rule_file(path) for name, path in files.items()}


def read_rule_file(path: Path) -> bytes:
    """The content of rule file ``path`` once checked to be one bounded YAML document (a UTF-8
    BOM is dropped); ConfigError naming the file."""
    text = read_config_text(path, RULE_FILE_MAX_BYTES, "a rule file")
    _, loader = compose_config(text, str(path))
    loader.dispose()
    return text.encode("utf-8")


def rules_for_render(rules_dir: Path | None) -> dict[str, bytes]:
    """The rule files of ``--rules`` or, without it, the shipped ones; NoRules if none."""
    if rules_dir is not None:
        if not os.path.isdir(rules_dir):  # unlike Path.is_dir, False for a name too long
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
        text = decode_text(content, name)
        root, loader = compose(text)
    except (FileProblem, YamlProblem) as exc:
        where = f"{name}:{exc.line}:{exc.column}" if exc.line else name
        problem = exc.message if isinstance(exc, FileProblem) else exc.problem
        raise UsageError(f"{where}: not a YAML rule file: {problem} (fix it, or leave out "
                         "--max-for)") from None
    loader.dispose()
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
