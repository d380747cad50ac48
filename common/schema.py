"""Typed YAML: load a YAML document into frozen dataclasses, reporting every error with its line.

A config class is a frozen dataclass whose field types say what is expected::

    @dataclass(frozen=True)
    class Target:
        name: str
        timeout: Duration = Duration(10)
        kind: Literal["http", "tcp"] = "http"

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``Literal[...]``, ``X | None``,
``tuple[X, ...]``, ``Mapping[str, X]``, nested dataclasses, and scalar types with a
``parse(text)`` classmethod (``Duration``, ``ByteSize``, ``HostPort``). ``ExistingFile`` fields
must name a readable file, relative paths being taken from the config file's folder. A class may
take over its own loading with a ``__config_load__(loader, node, key)`` classmethod.

Unknown keys are errors. A ``ValueError`` raised by ``__post_init__`` becomes an error at the
mapping (or at the key named by ``Invalid.key``).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from common.filetext import CONFIG_MAX_BYTES, FileProblem, read_text
from common.terminal import visible
from common.yamlnodes import YamlProblem, compose

T = TypeVar("T")

MISSING = object()


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file, at a line and column (both 1-based)."""

    file: str
    line: int
    column: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return visible(text)  # a key quoted from the file may hold "\e[2J"


class ConfigError(Exception):
    """All the problems found in one config file."""

    def __init__(self, file: str, issues: list[ConfigIssue]) -> None:
        self.file = file
        self.issues = issues
        super().__init__(str(self))

    def __str__(self) -> str:
        if len(self.issues) == 1:
            return str(self.issues[0])
        lines = [visible(f"{self.file}: {len(self.issues)} errors")]
        lines += [f"  {issue}" for issue in self.issues]
        return "\n".join(lines)


class Invalid(ValueError):
    """Raised by a config class's ``__post_init__``; ``key`` names the offending sub-key."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ExistingFile(str):
    """A path to a file that must exist and be readable when the config is loaded."""


class HostPort(str):
    """``host:port`` or ``[v6addr]:port``, as in Prometheus' ``--web.listen-address``."""

    @classmethod
    def parse(cls, text: str) -> HostPort:
        """Check ``text`` is ``host:port`` with a port in 0..65535."""
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"expected 'host:port' like '127.0.0.1:9810', got {text!r}")
        if ":" in host and not (host.startswith("[") and host.endswith("]")):
            raise ValueError(f"an IPv6 address needs brackets, like '[::1]:9810', got {text!r}")
        return cls(text)

    @property
    def host(self) -> str:
        """The host part, without IPv6 brackets."""
        return self.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The port number."""
        return int(self.rpartition(":")[2])


@dataclass(frozen=True)
class Unconstructed:
    """A scalar PyYAML could not turn into a value: its tag, its text and why."""

    tag: str
    text: str
    problem: str

    def __str__(self) -> str:
        shown = self.text if len(self.text) <= 40 else self.text[:40] + "…"
        return f"cannot read {shown!r} ({self.problem})"


def type_name(tp: Any) -> str:
    """A human name for what a field type expects, used in error messages."""
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"a list of {type_name(get_args(tp)[0])}"
    if origin in (dict, Mapping, typing.Mapping):
        return f"a mapping of {type_name(get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             ExistingFile: "a path to a readable file"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


class Loader:
    """Walks composed YAML nodes into typed values, collecting every error on the way."""

    def __init__(self, file: str, base_dir: Path, yaml_loader: Any) -> None:
        self.file = file
        self.base_dir = base_dir
        self.issues: list[ConfigIssue] = []
        self._yaml = yaml_loader

    def error(self, node: yaml.Node | None, key: str, message: str) -> None:
        """Record a problem at ``node``."""
        line = node.start_mark.line + 1 if node is not None else 0
        column = node.start_mark.column + 1 if node is not None else 0
        self.issues.append(ConfigIssue(self.file, line, column, key, message))

    def scalar(self, node: yaml.Node) -> Any:
        """The Python value of a scalar node (int, float, bool, None or str).

        A value PyYAML cannot construct (``!!python/object``, a date like ``2024-13-45``)
        comes back as an ``Unconstructed``, which no field type accepts. Only scalars are
        constructed: a list or mapping comes back as its description.
        """
        if not isinstance(node, yaml.ScalarNode):
            return describe(node)
        try:
            return self._yaml.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            return Unconstructed(node.tag, node.value, problem)

    def mapping(self, node: yaml.Node, key: str) -> list[tuple[str, yaml.Node, yaml.Node]] | None:
        """The (key, key node, value node) items of a mapping; None (and an error) if not one."""
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, yaml.MappingNode):
            self.error(node, key, f"expected a mapping, got {describe(node)}")
            return None
        items: list[tuple[str, yaml.Node, yaml.Node]] = []
        seen: set[str] = set()
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                self.error(knode, key, f"expected a key name, got {describe(knode)}")
                continue
            name = str(self.scalar(knode))
            if name in seen:
                self.error(knode, join(key, name), "duplicate key")
                continue
            seen.add(name)
            items.append((name, knode, vnode))
        return items

    def load(self, tp: Any, node: yaml.Node, key: str) -> Any:
        """Load ``node`` as a value of type ``tp``; returns MISSING after recording an error."""
        custom = getattr(tp, "__config_load__", None)
        if custom is not None:
            return custom(self, node, key)
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if isinstance(node, yaml.ScalarNode) and self.scalar(node) is None:
                return None
            return self.load(args[0], node, key) if len(args) == 1 else self._union(args, node, key)
        if origin is tuple:
            return self._sequence(get_args(tp)[0], node, key)
        if origin in (dict, Mapping, typing.Mapping):
            return self._dict(get_args(tp)[1], node, key)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self.load_dataclass(tp, node, key)
        return self._scalar_of(tp, node, key)

    def _union(self, args: list[Any], node: yaml.Node, key: str) -> Any:
        mark = len(self.issues)
        for arg in args:
            value = self.load(arg, node, key)
            if value is not MISSING:
                del self.issues[mark:]
                return value
        del self.issues[mark:]
        expected = " or ".join(type_name(arg) for arg in args)
        self.error(node, key, f"expected {expected}, got {describe(node)}")
        return MISSING

    def _sequence(self, item_tp: Any, node: yaml.Node, key: str) -> Any:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, key, f"expected a list, got {describe(node)}")
            return MISSING
        values = [self.load(item_tp, item, f"{key}[{i}]") for i, item in enumerate(node.value)]
        return MISSING if any(v is MISSING for v in values) else tuple(values)

    def _dict(self, value_tp: Any, node: yaml.Node, key: str) -> Any:
        items = self.mapping(node, key)
        if items is None:
            return MISSING
        result = {name: self.load(value_tp, vnode, join(key, name)) for name, _, vnode in items}
        return MISSING if MISSING in result.values() else result

    def _scalar_of(self, tp: Any, node: yaml.Node, key: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, key, f"expected {type_name(tp)}, got {describe(node)}")
            return MISSING
        value = self.scalar(node)
        if isinstance(value, Unconstructed):
            self.error(node, key, str(value))
            return MISSING
        if get_origin(tp) is Literal:
            if value in get_args(tp):
                return value
            self.error(node, key, f"expected {type_name(tp)}, got {value!r}")
            return MISSING
        if tp is ExistingFile:
            return self._existing_file(value, node, key)
        parse = getattr(tp, "parse", None)
        if parse is not None:
            if isinstance(value, bool) or value is None:
                self.error(node, key, f"expected {type_name(tp)}, got {value!r}")
                return MISSING
            try:
                return parse(str(value))
            except ValueError as exc:
                self.error(node, key, str(exc))
                return MISSING
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            # An unquoted code such as 16318 is meant as text.
            return node.value
        if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
            return value
        self.error(node, key, f"expected {type_name(tp)}, got {value!r}")
        return MISSING

    def _existing_file(self, value: Any, node: yaml.Node, key: str) -> Any:
        if not isinstance(value, str) or not value:
            self.error(node, key, f"expected a path to a readable file, got {value!r}")
            return MISSING
        path = Path(value) if os.path.isabs(value) else self.base_dir / value
        if not os.path.isfile(path):  # unlike Path.is_file, False for a name too long or a NUL
            self.error(node, key, f"file {str(path)!r} does not exist; create it or fix the path")
            return MISSING
        if not os.access(path, os.R_OK):
            self.error(node, key, f"file {str(path)!r} is not readable by this user")
            return MISSING
        return ExistingFile(str(path))

    def load_dataclass(self, cls: type[T], node: yaml.Node, key: str) -> Any:
        """Load a mapping node into the frozen dataclass ``cls``."""
        items = self.mapping(node, key)
        if items is None:
            return MISSING
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
        hints = _type_hints(cls)
        values: dict[str, Any] = {}
        nodes: dict[str, yaml.Node] = {}
        ok = True
        for name, knode, vnode in items:
            if name not in fields:
                known = ", ".join(fields)
                self.error(knode, join(key, name), f"unknown key (known: {known})")
                ok = False
                continue
            nodes[name] = vnode
            value = self.load(hints[name], vnode, join(key, name))
            ok = ok and value is not MISSING
            values[name] = value
        for name, field in fields.items():
            required = (field.default is dataclasses.MISSING
                        and field.default_factory is dataclasses.MISSING)
            if required and name not in values:
                self.error(node, key, f"missing required key {name!r} ({type_name(hints[name])})")
                ok = False
        if not ok:
            return MISSING
        try:
            return cls(**values)
        except Invalid as exc:
            at = nodes.get(exc.key or "", node)
            self.error(at, join(key, exc.key) if exc.key else key, str(exc))
        except ValueError as exc:
            self.error(node, key, str(exc))
        return MISSING


_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(cls: type) -> dict[str, Any]:
    """The resolved field types of ``cls``, once: resolving them was most of a mapping's cost."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def join(key: str, name: str) -> str:
    """``modules`` + ``host`` -> ``modules.host``."""
    return f"{key}.{name}" if key else name


def describe(node: yaml.Node) -> str:
    """Say what a node holds, for 'expected X, got Y' messages."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return repr(node.value)


def load_yaml(cls: type[T], text: str, file: str, base_dir: Path | None = None) -> T:
    """Load YAML ``text`` (named ``file`` in messages) into ``cls``; raise ConfigError.

    ``text`` should have passed ``common.filetext.decode_text``; the document is composed with
    bounded depth and alias expansion (``common.yamlnodes``).
    """
    root, yaml_loader = compose_config(text, file)
    try:
        if root is None:
            start = yaml.Mark(file, 0, 0, 0, "", 0)
            root = yaml.ScalarNode("tag:yaml.org,2002:null", "", start, start)
        loader = Loader(file, base_dir or Path.cwd(), yaml_loader)
        value = loader.load_dataclass(cls, root, "")
    finally:
        yaml_loader.dispose()
    if loader.issues or value is MISSING:
        raise ConfigError(file, loader.issues)
    return typing.cast(T, value)


def compose_config(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    """``common.yamlnodes.compose(text)``, its YamlProblem raised as a ConfigError at ``file``."""
    try:
        return compose(text)
    except YamlProblem as exc:
        raise yaml_config_error(file, exc) from None


def yaml_config_error(file: str, problem: YamlProblem) -> ConfigError:
    """The ConfigError of a YamlProblem found in ``file``."""
    return ConfigError(file, [ConfigIssue(file, problem.line, problem.column, "",
                                          problem.problem)])


def read_config_text(path: Path, max_bytes: int = CONFIG_MAX_BYTES,
                     what: str = "a config file") -> str:
    """The text of ``path``, checked by ``common.filetext``; raise ConfigError naming the file."""
    try:
        return read_text(path, max_bytes, what)
    except FileNotFoundError:
        raise ConfigError(str(path), [ConfigIssue(
            str(path), 0, 0, "", "file not found; check the path given on the command line")]
        ) from None
    except FileProblem as exc:
        raise ConfigError(str(path), [ConfigIssue(str(path), exc.line, exc.column, "",
                                                  exc.message)]) from None
    except OSError as exc:
        raise ConfigError(str(path), [ConfigIssue(
            str(path), 0, 0, "", f"cannot read: {exc.strerror or exc}")]) from None


def load_file(cls: type[T], path: str | os.PathLike[str], max_bytes: int = CONFIG_MAX_BYTES,
              what: str = "a config file") -> T:
    """Read and load a YAML file of at most ``max_bytes`` into ``cls``; raise ConfigError."""
    path = Path(path)
    return load_yaml(cls, read_config_text(path, max_bytes, what), str(path), path.parent)
