"""Runbooks: YAML files of fixed commands, each with a timeout and a way to judge its output.

Example (``configs/runbooks/disk-mem.yml``)::

    description: Free disk space and memory of the node
    params:
      max_used_percent: {default: "90", pattern: '\\d+'}
    steps:
      - name: root-fs
        command: df -P / | tail -1
        timeout: 5s
        expect:
          thresholds:
            - {regex: '(\\d+)% /$', max: 90}

Parameters are written ``{{ name }}`` in a command and are always substituted shell-quoted
(``shlex.quote``). Nothing a host prints is ever run.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from common.filetext import CONFIG_MAX_BYTES, FileProblem, read_text
from common.schema import ConfigError, ConfigIssue, Invalid, load_yaml
from common.shipped import shipped_dirs
from common.units import Duration
from common.yamlnodes import compose

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
# Filled in for each host (commune code, node name); a runbook may use them but not declare them.
BUILTIN_PARAMS = ("commune", "node")
DEFAULT_STEP_TIMEOUT = Duration(10)
# The largest runbook read; the shipped ones are under 4 KiB.
RUNBOOK_MAX_BYTES = CONFIG_MAX_BYTES
# What Linux allows: a file name of 255 bytes, a path of 4,096 (the NUL included).
NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 4095


def _compile(pattern: str, key: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise Invalid(f"invalid regular expression {pattern!r}: {exc}", key=key) from None


@dataclass(frozen=True)
class Threshold:
    """A number captured by ``regex`` (group ``value`` or group 1) must lie in [min, max]."""

    regex: str
    max: float | None = None
    min: float | None = None

    def __post_init__(self) -> None:
        compiled = _compile(self.regex, "regex")
        if compiled.groups < 1:
            raise Invalid("needs a capture group around the number, like 'loss (\\d+)%'",
                          key="regex")
        if self.max is None and self.min is None:
            raise Invalid("set 'max', 'min' or both")

    def pattern(self) -> re.Pattern[str]:
        """The compiled regex."""
        return re.compile(self.regex, re.MULTILINE)


@dataclass(frozen=True)
class Expect:
    """How to judge a step: its exit code, regexes that must or must not match, thresholds."""

    # One code, a list of codes, or null for any exit code.
    exit_code: int | tuple[int, ...] | None = 0
    match: str | None = None
    not_match: str | None = None
    thresholds: tuple[Threshold, ...] = ()
    stream: Literal["stdout", "stderr", "both"] = "stdout"

    def __post_init__(self) -> None:
        if self.match is not None:
            _compile(self.match, "match")
        if self.not_match is not None:
            _compile(self.not_match, "not_match")

    def exit_codes(self) -> tuple[int, ...] | None:
        """The accepted exit codes, or None when any code is accepted."""
        if self.exit_code is None or isinstance(self.exit_code, tuple):
            return self.exit_code
        return (self.exit_code,)


@dataclass(frozen=True)
class Step:
    """One command of a runbook."""

    name: str
    command: str
    description: str = ""
    timeout: Duration = DEFAULT_STEP_TIMEOUT
    expect: Expect = field(default_factory=Expect)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise Invalid(f"expected a name of lowercase letters, digits, '-' or '_', "
                          f"got {self.name!r}", key="name")
        if not self.command.strip():
            raise Invalid("the command is empty", key="command")
        if self.timeout <= 0:
            raise Invalid("must be greater than 0s", key="timeout")

    def placeholders(self) -> list[str]:
        """The parameter names used in the command, in order."""
        return PLACEHOLDER.findall(self.command)


@dataclass(frozen=True)
class Param:
    """A runbook parameter: an optional default and a pattern its value must match."""

    default: str | None = None
    description: str = ""
    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.pattern is not None:
            _compile(self.pattern, "pattern")
            if self.default is not None and not re.fullmatch(self.pattern, self.default):
                raise Invalid(f"default {self.default!r} does not match the pattern "
                              f"{self.pattern!r}", key="default")


@dataclass(frozen=True)
class Runbook:
    """A validated runbook."""

    steps: tuple[Step, ...]
    description: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        if not self.steps:
            raise Invalid("a runbook needs at least one step", key="steps")
        for pname in self.params:
            if pname in BUILTIN_PARAMS:
                raise Invalid(f"{pname!r} is filled in from the inventory; do not declare it",
                              key="params")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", pname):
                raise Invalid(f"parameter name {pname!r} must be an identifier", key="params")

    def render(self, step: Step, values: Mapping[str, str]) -> str:
        """The step's command with every ``{{ param }}`` replaced by its shell-quoted value."""
        return PLACEHOLDER.sub(lambda m: shlex.quote(values[m.group(1)]), step.command)

    def check_overrides(self, overrides: Mapping[str, str]) -> None:
        """Raise ValueError if ``--param`` names a parameter the runbook does not declare."""
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            raise ValueError(f"runbook {self.name!r} has no parameter "
                             f"{', '.join(map(repr, unknown))} (its parameters: {known})")

    def resolve_params(self, overrides: Mapping[str, str],
                       facts: Mapping[str, str] | None = None) -> dict[str, str]:
        """``--param`` values, else inventory facts, else defaults; ValueError says what to pass.

        ``facts`` are values the inventory knows for a host (``vc_host``, ``sip_host``...);
        only the parameters the runbook declares are taken from them.
        """
        self.check_overrides(overrides)
        facts = facts or {}
        values: dict[str, str] = {}
        for pname, param in self.params.items():
            value = overrides.get(pname, facts.get(pname) or param.default)
            if value is None:
                raise ValueError(f"runbook {self.name!r} needs a value for {pname!r}: "
                                 f"pass --param {pname}=VALUE ({param.description or 'required'})")
            if param.pattern is not None and not re.fullmatch(param.pattern, value):
                raise ValueError(f"--param {pname}={value!r} does not match the pattern "
                                 f"{param.pattern!r} of runbook {self.name!r}")
            values[pname] = value
        return values


def quoted_placeholders(command: str) -> list[str]:
    """Placeholders written inside '...' or "..." in ``command``.

    A value is substituted already shell-quoted; inside quotes that quoting would be undone
    (``"$(...)"`` still runs), so placeholders must stand outside quotes.
    """
    found: list[str] = []
    quote = ""
    i = 0
    while i < len(command):
        char = command[i]
        match = PLACEHOLDER.match(command, i)
        if match:
            if quote:
                found.append(match.group(1))
            i = match.end()
            continue
        if char == "\\" and quote != "'":
            i += 2
            continue
        if quote == "" and char in "'\"":
            quote = char
        elif char == quote:
            quote = ""
        i += 1
    return found


def _node_at(root: yaml.Node | None, path: list[str | int]) -> yaml.Node | None:
    node = root
    for part in path:
        if isinstance(part, int) and isinstance(node, yaml.SequenceNode):
            node = node.value[part] if part < len(node.value) else None
        elif isinstance(part, str) and isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        else:
            return None
    return node


def _semantic_issues(book: Runbook, text: str, file: str) -> list[ConfigIssue]:
    """Checks across keys (unique step names, declared placeholders), located by line."""
    root, loader = compose(text)  # the text was loaded by load_yaml: no YamlProblem here
    loader.dispose()
    issues: list[ConfigIssue] = []

    def issue(path: list[str | int], key: str, message: str) -> None:
        node = _node_at(root, path)
        line = node.start_mark.line + 1 if node is not None else 0
        column = node.start_mark.column + 1 if node is not None else 0
        issues.append(ConfigIssue(file, line, column, key, message))

    seen: set[str] = set()
    known = set(book.params) | set(BUILTIN_PARAMS)
    for i, step in enumerate(book.steps):
        if step.name in seen:
            issue(["steps", i, "name"], f"steps[{i}].name", f"duplicate step name {step.name!r}")
        seen.add(step.name)
        for used in quoted_placeholders(step.command):
            issue(["steps", i, "command"], f"steps[{i}].command",
                  f"{{{{ {used} }}}} is inside quotes, where its shell quoting would be undone; "
                  f"write it outside quotes, or set a variable first: v={{{{ {used} }}}}; "
                  f"echo \"... $v\"")
        for used in step.placeholders():
            if used not in known:
                declared = ", ".join(sorted(known))
                issue(["steps", i, "command"], f"steps[{i}].command",
                      f"unknown parameter {used!r} (declare it under 'params:'; known: "
                      f"{declared})")
    return issues


def load_runbook(path: str | os.PathLike[str]) -> Runbook:
    """Load and validate a runbook file; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        text = read_text(path, RUNBOOK_MAX_BYTES, "a runbook")
    except FileProblem as exc:
        raise ConfigError(str(path), [ConfigIssue(str(path), exc.line, exc.column, "",
                                                  exc.message)]) from None
    except OSError as exc:
        raise ConfigError(str(path), [ConfigIssue(
            str(path), 0, 0, "", f"cannot read the runbook: {exc.strerror or exc}")]) from None
    book = load_yaml(Runbook, text, str(path), path.parent)
    issues = _semantic_issues(book, text, str(path))
    if issues:
        raise ConfigError(str(path), issues)
    if not book.name:
        book = Runbook(steps=book.steps, description=book.description, params=book.params,
                       name=path.stem)
    return book


def default_runbook_dirs() -> list[Path]:
    """Where runbooks are looked up by name: $COMMUNE_DIAG_RUNBOOKS, then the shipped runbooks
    (common.shipped: /etc/commune-collector/runbooks and /etc/commune-diag/runbooks, the
    checkout, the installed share/commune-monitor/runbooks)."""
    dirs = [Path(d) for d in os.environ.get("COMMUNE_DIAG_RUNBOOKS", "").split(os.pathsep) if d]
    return dirs + shipped_dirs("runbooks")


def find_runbook(name_or_path: str, dirs: list[Path]) -> Path:
    """A runbook file from a path or a name; raise FileNotFoundError naming what exists.

    A name no file can have (a NUL byte, longer than a file name may be) is refused with a
    sentence too, rather than the OSError of looking it up.
    """
    candidate = Path(name_or_path)
    is_path = candidate.suffix in (".yml", ".yaml") or os.sep in name_or_path
    _check_name(name_or_path, is_path)
    if is_path:
        if os.path.isfile(candidate):
            return candidate
        raise FileNotFoundError(f"runbook file {_shown(name_or_path)} does not exist")
    for directory in dirs:
        for suffix in (".yml", ".yaml"):
            path = directory / f"{name_or_path}{suffix}"
            if os.path.isfile(path):  # unlike Path.is_file, no OSError for a name too long
                return path
    names = ", ".join(sorted(p.stem for p in list_runbook_files(dirs))) or "none"
    raise FileNotFoundError(f"no runbook named {_shown(name_or_path)} (available: {names}); "
                            f"see 'commune-diag list'")


def _check_name(name_or_path: str, is_path: bool) -> None:
    """FileNotFoundError if ``name_or_path`` cannot name a file at all."""
    what = "runbook file" if is_path else "runbook name"
    see = "give a runbook name from 'commune-diag list', or the path of a runbook file"
    if "\0" in name_or_path:
        raise FileNotFoundError(f"{what} {_shown(name_or_path)} holds a NUL byte, which no "
                                f"file name can; {see}")
    size = len(name_or_path.encode("utf-8", "surrogatepass"))
    longest = PATH_MAX_BYTES if is_path else NAME_MAX_BYTES - len(".yaml")
    if size > longest:
        raise FileNotFoundError(f"{what} {_shown(name_or_path)} is {size:,} bytes long, over "
                                f"the {longest:,} bytes a {what} may have; {see}")


def _shown(text: str, most: int = 60) -> str:
    """``text`` quoted for a message, cut to ``most`` characters."""
    return repr(text) if len(text) <= most else repr(text[:most]) + "..."


def list_runbook_files(dirs: list[Path]) -> list[Path]:
    """Runbook files in ``dirs``; a name found first shadows later ones."""
    found: dict[str, Path] = {}
    for directory in dirs:
        if directory.is_dir():
            for path in sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]):
                found.setdefault(path.stem, path)
    return sorted(found.values(), key=lambda p: p.stem)
