"""enrol, revoke and expire share files.py and ledger.py, and never import one another."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
COMMANDS = {"collector.enrolment.enrol", "collector.enrolment.revoke",
            "collector.enrolment.expire"}


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from module import name`` in ``path``, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.module or "", alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) for alias in node.names]


def test_the_commands_do_not_import_each_other() -> None:
    for module in COMMANDS:
        path = ROOT / (module.replace(".", "/") + ".py")
        assert not {m for m, _ in _imports(path)} & COMMANDS, module


def test_no_private_name_is_imported_from_another_module() -> None:
    offenders = [f"{path.relative_to(ROOT)}: from {module} import {name}"
                 for package in ("agent", "collector", "common")
                 for path in sorted((ROOT / package).rglob("*.py"))
                 for module, name in _imports(path)
                 if name.startswith("_") and not name.startswith("__")]
    assert offenders == []
