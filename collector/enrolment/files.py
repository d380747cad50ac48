"""The files enrolment edits: a lock per file, edits checked by the real loaders, the token list.

``enrol``, ``revoke`` and ``expire`` edit the inventory and the gateway config line by line
(yamledit.py), stage the edited text beside the original (``common.statefile.Staging``), load
the staged copy with its real loader here, and let it replace the original only if it loads, so
a failed edit leaves every file untouched.
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

__all__ = ["EnrolError", "check_gateway", "check_inventory", "commune_item", "file_mode",
           "gateway_tokens", "locked", "token_matches"]


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
    try:
        root = compose(text)
    except yaml.YAMLError as exc:
        raise EnrolError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(root, yaml.MappingNode):
        raise EnrolError(f"{path}: expected the gateway config (receivers:, tokens:)")
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
