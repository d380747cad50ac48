"""Compose one YAML document into nodes, bounded in depth and in alias expansion.

libyaml (PyYAML's ``CSafeLoader``) composes when it is installed: ten times faster than the
pure-Python loader, with the same line and column marks, and it stops at 1,000 levels of
nesting itself. Either way the composed tree is then walked without recursion: a document
nested more than :data:`MAX_DEPTH` levels, or whose aliases expand to more nodes than the text
could hold without them (a "billion laughs"), is refused. What comes back is safe for the
recursive walks that follow (the typed loader, PyYAML's constructor).
"""

from __future__ import annotations

from typing import Any

import yaml

#: The deepest nesting accepted; a config or inventory needs fewer than ten levels.
MAX_DEPTH = 100
#: Nodes (counting each alias use in full) allowed beyond one per character of the text.
SPARE_NODES = 100_000

SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlProblem(Exception):
    """The text is not one well-formed, reasonably sized YAML document."""

    def __init__(self, problem: str, line: int = 0, column: int = 0) -> None:
        self.problem, self.line, self.column = problem, line, column
        super().__init__(problem)


class _PurePythonLoader(yaml.SafeLoader):
    """PyYAML's recursive composer, stopped at MAX_DEPTH before Python's recursion limit."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlProblem(_too_deep(), mark.line + 1, mark.column + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def compose(text: str) -> tuple[yaml.Node | None, Any]:
    """The root node of ``text`` (None if empty) and the loader that built it; YamlProblem.

    The caller constructs scalars with the loader (``construct_object``), then calls its
    ``dispose()``.
    """
    loader = SafeLoader(text) if SafeLoader is not yaml.SafeLoader else _PurePythonLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        loader.dispose()
        problem = _problem(exc)
        if loader.__class__ is not _PurePythonLoader and problem.problem != _too_deep():
            problem = _pure_python_problem(text, problem) or problem
        raise problem from None
    except YamlProblem:
        loader.dispose()
        raise
    except (ValueError, OverflowError) as exc:
        # The pure-Python scanner's: chr() of an escape like "\U00130000" beyond Unicode.
        loader.dispose()
        raise YamlProblem(f"invalid YAML: {exc}") from None
    if root is not None:
        try:
            check_tree(root, len(text) + SPARE_NODES)
        except YamlProblem:
            loader.dispose()
            raise
    return root, loader


def load(text: str) -> Any:
    """``yaml.safe_load(text)`` of one document, composed by :func:`compose`; YamlProblem.

    A value PyYAML cannot construct (an unhashable key, a date like ``2024-13-45``, an integer
    of more digits than Python converts) is a YamlProblem at its line too.
    """
    root, loader = compose(text)
    try:
        return None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        raise _problem(exc) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise YamlProblem(f"invalid YAML value: {exc}") from None
    finally:
        loader.dispose()


def _problem(exc: yaml.YAMLError) -> YamlProblem:
    if not isinstance(exc, yaml.MarkedYAMLError):  # a ReaderError: text not checked first
        return YamlProblem(f"invalid YAML: {exc}")
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "not YAML"
    deep = "maximum nesting depth" in problem  # libyaml's own limit, at 1,000 levels
    return YamlProblem(_too_deep() if deep else f"invalid YAML: {problem}",
                       mark.line + 1 if mark else 0, mark.column + 1 if mark else 0)


def _pure_python_problem(text: str, found: YamlProblem) -> YamlProblem | None:
    """PyYAML's message for the error libyaml ``found``, if it finds it at the same place.

    PyYAML says more ("expected ',' or '}', but got '<stream end>'" rather than "did not find
    expected ',' or '}'"). It parses only up to the line after the error, so a large file costs
    little more on this error path.
    """
    end = -1
    for _ in range(found.line + 1):
        end = text.find("\n", end + 1)
        if end < 0:
            end = len(text)
            break
    loader = _PurePythonLoader(text[:end])
    try:
        loader.get_single_node()
    except yaml.YAMLError as exc:
        problem = _problem(exc)
    except YamlProblem as exc:
        problem = exc
    except (ValueError, OverflowError):  # PyYAML's own bugs (chr() of "\U00130000")
        return None
    else:
        return None
    finally:
        loader.dispose()
    return problem if found.line - 1 <= problem.line <= found.line else None


def check_tree(root: yaml.Node, max_nodes: int) -> None:
    """Walk ``root`` iteratively; YamlProblem if deeper than MAX_DEPTH or over ``max_nodes``."""
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    visited = 0
    while stack:
        node, depth = stack.pop()
        visited += 1
        if depth > MAX_DEPTH:
            raise YamlProblem(_too_deep(), node.start_mark.line + 1, node.start_mark.column + 1)
        if visited > max_nodes:
            raise YamlProblem(
                f"aliases (*name) expand to more than {max_nodes:,} values (write the values "
                "out, or refer to fewer aliases)", node.start_mark.line + 1,
                node.start_mark.column + 1)
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))


def _too_deep() -> str:
    return (f"nested more than {MAX_DEPTH} levels deep (a config needs only a few; "
            "check the brackets and the indentation)")
