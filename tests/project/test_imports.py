"""The import graph: no cycles, the layering of common/agent/collector, no private imports.

Every ``import`` counts, including those inside functions (a cycle hidden in a function still
ties two modules together); imports under ``if TYPE_CHECKING:`` are left out of the cycle check,
since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "agent", "collector")
# The agent modules the collector may use (DESIGN.md: "the agent's public modules").
AGENT_PUBLIC = frozenset({"agent.config"})


@dataclass(frozen=True)
class Import:
    """One imported module (or a name from it) at a line of a file."""

    source: str
    target: str
    names: tuple[str, ...]
    line: int
    type_checking: bool


def module_name(path: Path, root: Path = ROOT) -> str:
    """``agent/modules/base.py`` -> ``agent.modules.base``; a package is its ``__init__``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(packages: tuple[str, ...] = PACKAGES) -> Iterator[Path]:
    """Every Python file of the products' packages."""
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of this repository."""
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _resolve(source: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = source.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[:len(base) - drop] if drop else base
    return ".".join([*base, node.module] if node.module else base)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(path: Path) -> Iterator[Import]:
    """The repository modules that ``path`` imports, one per module (a ``from`` import of a
    submodule counts as importing that submodule)."""
    source = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    guarded = _type_checking_lines(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_module(alias.name):
                    yield Import(source, alias.name, (), node.lineno, node.lineno in guarded)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(source, path.name == "__init__.py", node)
            if not is_module(target):
                continue
            plain = []
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if is_module(sub):
                    yield Import(source, sub, (), node.lineno, node.lineno in guarded)
                else:
                    plain.append(alias.name)
            if plain:
                yield Import(source, target, tuple(plain), node.lineno, node.lineno in guarded)


def graph() -> dict[str, set[str]]:
    """Module -> the repository modules it imports at run time."""
    edges: dict[str, set[str]] = {}
    for path in source_files():
        node = edges.setdefault(module_name(path), set())
        node.update(i.target for i in imports_of(path) if not i.type_checking)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_has_the_known_edges() -> None:
    edges = graph()
    assert "common.schema" in edges["agent.config"]
    assert "collector.gateway.config" in edges["collector.gateway.ingest"]
    # imports inside functions count
    assert "agent.web" in edges["agent.cli"]


def _layer_violations(package: str, allowed: frozenset[str]) -> list[str]:
    bad = []
    for path in source_files((package,)):
        for imp in imports_of(path):
            top = imp.target.split(".")[0]
            if top != package and top in PACKAGES and imp.target not in allowed \
                    and top not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{imp.line}: imports {imp.target}")
    return bad


def test_common_imports_neither_agent_nor_collector() -> None:
    assert _layer_violations("common", frozenset()) == []


def test_agent_never_imports_the_collector() -> None:
    assert _layer_violations("agent", frozenset({"common"})) == []


def test_collector_imports_common_and_the_agents_public_modules_only() -> None:
    assert _layer_violations("collector", frozenset({"common"}) | AGENT_PUBLIC) == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(path: Path) -> Iterator[str]:
    """Private names that ``path`` takes from another module: ``from m import _x``, ``m._x``."""
    here = module_name(path, ROOT)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    modules: dict[str, str] = {}  # local name -> repository module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(here, path.name == "__init__.py", node)
            for alias in node.names:
                if _private(alias.name) and target != here and \
                        (is_module(target) or target.split(".")[0] in PACKAGES):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}: {target}.{alias.name}"
                if is_module(f"{target}.{alias.name}"):
                    modules[alias.asname or alias.name] = f"{target}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if is_module(alias.name) and alias.asname:
                    modules[alias.asname] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) \
                and isinstance(node.value, ast.Name) and node.value.id in modules:
            yield f"{path.relative_to(ROOT)}:{node.lineno}: {modules[node.value.id]}.{node.attr}"


def test_no_file_imports_a_private_name_of_another() -> None:
    files = [*source_files(), *sorted((ROOT / "tests").rglob("*.py")),
             *sorted((ROOT / "scripts").rglob("*.py"))]
    assert [use for path in files for use in private_uses(path)] == []
