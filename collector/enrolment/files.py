"""The files enrolment edits: a lock per file, edits checked by the real loaders, the token list.

``enrol``, ``revoke`` and ``expire`` read the inventory and the gateway config with the checks
and size caps of their loaders (``common.filetext``), compose them with bounded depth
(``common.yamlnodes``), edit them line by line (yamledit.py), stage the edited text beside the
original (``common.statefile.Staging``), load the staged copy with its real loader here, and let
it replace the original only if it loads, so a failed edit leaves every file untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from collector.enrolment.yamledit import EditError, compose, mapping_value, scalar_items
from collector.gateway.config import load_gateway_config
from collector.inventory import ConfigError, load_inventory
from common.cli import UsageError
from common.filetext import GATEWAY_MAX_BYTES, INVENTORY_MAX_BYTES
from common.schema import ConfigIssue, read_config_text, yaml_config_error
from common.yamlnodes import YamlProblem

__all__ = ["EnrolError", "check_gateway", "check_inventory", "commune_item", "composed",
           "file_mode", "gateway_tokens", "locked", "read_gateway_text", "read_inventory_text",
           "token_matches"]


class EnrolError(UsageError):
    """A request the operator must change; the message says how."""


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock next to ``path`` so two enrolments never interleave their edits."""
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def file_mode(path: Path) -> int | None:
    """The permission bits of ``path``, which its edited copy keeps (None if it is missing)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def read_gateway_text(path: Path) -> str:
    """The text of gateway config ``path``, checked as its loader checks it; ConfigError."""
    return read_config_text(path, GATEWAY_MAX_BYTES, "a gateway config")


def read_inventory_text(path: Path) -> str:
    """The text of inventory ``path``, checked as its loader checks it; ConfigError."""
    return read_config_text(path, INVENTORY_MAX_BYTES, "an inventory")


def composed(text: str, path: Path) -> yaml.Node:
    """yamledit's composed tree of ``text``, read from ``path``; ConfigError naming the file."""
    try:
        return compose(text)
    except YamlProblem as exc:
        raise yaml_config_error(str(path), exc) from None


def commune_item(root: yaml.Node, code: str) -> yaml.MappingNode:
    """The composed ``communes:`` item of commune ``code`` in the inventory's text."""
    communes = mapping_value(root, "communes")
    for item in getattr(communes, "value", []):
        if scalar_items(item).get("code") == code:
            assert isinstance(item, yaml.MappingNode)
            return item
    raise EditError(f"commune {code!r} not found in the inventory text")


def token_matches(commune: str, node: str) -> Callable[[yaml.Node], bool]:
    """A test for the ``tokens:`` items of one node."""
    def match(item: yaml.Node) -> bool:
        values = scalar_items(item)
        return values.get("commune") == commune and values.get("node") == node
    return match


def gateway_tokens(text: str, path: Path) -> tuple[yaml.MappingNode, yaml.Node | None]:
    """The composed gateway config ``text`` of ``path`` and its ``tokens:`` node (if any)."""
    root = composed(text, path)
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(str(path), [ConfigIssue(
            str(path), root.start_mark.line + 1, root.start_mark.column + 1, "",
            "expected the gateway config, a mapping with receivers: and tokens: (give the "
            "file of --config.file of commune-collector serve)")])
    return root, mapping_value(root, "tokens")


def check_gateway(staged: Path, real: Path) -> None:
    """Load the staged copy of gateway config ``real``; EnrolError naming ``real`` if it fails."""
    try:
        load_gateway_config(str(staged))
    except ConfigError as exc:
        text = str(exc).replace(str(staged), str(real))
        raise EnrolError(
            f"the edited gateway config would not load, nothing changed:\n{text}") from None


def check_inventory(staged: Path, real: Path, problem: str) -> None:
    """Load the staged copy of inventory ``real``; EnrolError ``problem`` + the errors if not."""
    try:
        load_inventory(staged)
    except ConfigError as exc:
        raise EnrolError(f"{problem}:\n" + str(exc).replace(str(staged), str(real))) from None
