"""``commune-collector enroll`` and ``revoke``: add a node, issue or withdraw its push token.

    $ commune-collector enroll --commune 16318 --node lan-1 \\
          --inventory inventory.yml --gateway-config gateway.yml \\
          --gateway-url https://collector.example:9820/api/v1/write
    added node lan-1 (lan-node, push) to commune 16318 (Xã Ví Dụ) in inventory.yml
    issued its token (sha256 stored in gateway.yml); restart the gateway to accept it
    on the node, from the unpacked commune-monitor release, run (code valid until ...):
      sudo bash deploy/install-agent.sh --enrol cme1.eyJ1IjoiaHR0cHM6Ly9...

Both files are edited line by line (enrolment/yamledit.py): comments, order and layout stay. The
edited files are loaded with their real loaders before they replace the originals, so a failed
enrolment leaves both untouched. The gateway reads its tokens at start: restart it (the
``commune-collector-gateway.path`` unit does so when gateway.yml changes).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import fcntl
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from collector.enrolment.expire import Pending, add_pending, read_ledger, write_ledger
from collector.enrolment.yamledit import (
    EditError,
    append_item,
    compose,
    flow_mapping,
    mapping_value,
    remove_items,
    scalar_items,
)
from collector.gateway.config import load_gateway_config, token_digest
from collector.inventory import ROLES, ConfigError, Inventory, UnknownCommune, load_inventory
from common.cli import Exit, UsageError, add_command
from common.enrolment import Enrolment, agent_yaml
from common.statefile import write_atomically
from common.units import Duration

DEFAULT_VALID = Duration(24 * 3600)
INSTALLER = "deploy/install-agent.sh"
NODE_TOKEN_FILE = "/etc/commune-agent/token"
NODE_SPOOL_DIR = "/var/lib/commune-agent/spool"


class EnrollError(UsageError):
    """A request the operator must change; the message says how."""


@dataclass(frozen=True)
class NodeRequest:
    """The node to enrol."""

    commune: str
    node: str
    role: str = "lan-node"
    address: str | None = None


@dataclass(frozen=True)
class Issued:
    """What enrolment produced: the inventory/gateway edits are written; this is for the node."""

    enrolment: Enrolment
    commune_name: str
    added_node: bool


# -- file plumbing ---------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock next to ``path`` so two enrolments never interleave their edits."""
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _staged(path: Path, text: str) -> Path:
    """Write ``text`` beside ``path`` (same folder: relative paths inside still resolve)."""
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text, encoding="utf-8")
    with contextlib.suppress(OSError):
        os.chmod(tmp, path.stat().st_mode & 0o7777)
    return tmp


def _commune_node(root: yaml.Node, code: str) -> yaml.MappingNode:
    communes = mapping_value(root, "communes")
    for item in getattr(communes, "value", []):
        if scalar_items(item).get("code") == code:
            assert isinstance(item, yaml.MappingNode)
            return item
    raise EditError(f"commune {code!r} not found in the inventory text")


def _token_matches(commune: str, node: str) -> Any:
    def match(item: yaml.Node) -> bool:
        values = scalar_items(item)
        return values.get("commune") == commune and values.get("node") == node
    return match


def _gateway_tokens(text: str, path: Path) -> tuple[yaml.MappingNode, yaml.Node | None]:
    try:
        root = compose(text)
    except yaml.YAMLError as exc:
        raise EnrollError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(root, yaml.MappingNode):
        raise EnrollError(f"{path}: expected the gateway config (receivers:, tokens:)")
    return root, mapping_value(root, "tokens")


def _check_gateway(tmp: Path, real: Path, allow_empty: bool = False) -> None:
    try:
        load_gateway_config(str(tmp), allow_no_tokens=allow_empty)
    except ConfigError as exc:
        text = str(exc).replace(str(tmp), str(real))
        raise EnrollError(
            f"the edited gateway config would not load, nothing changed:\n{text}") from None


def _suggest(inventory: Inventory, code: str) -> str:
    codes = [c.code for c in inventory.communes]
    close = difflib.get_close_matches(code, codes, n=3, cutoff=0.6)
    by_name = [f"{c.code} ({c.name})" for c in inventory.communes
               if code.lower() in c.name.lower()][:3]
    hints = [f"{c}" for c in close] + by_name
    return f"; did you mean {', '.join(hints)}?" if hints else ""


# -- enrol -----------------------------------------------------------------------------------
def enroll(request: NodeRequest, inventory_path: Path, gateway_path: Path, url: str,
           valid: float, reissue: bool = False, now: float | None = None,
           pending: bool = True) -> Issued:
    """Add the node to the inventory (unless ``reissue``) and store a new token's digest.

    With ``pending``, the code is recorded for ``commune-collector expire``, which removes the
    token if the node has not pushed by the code's expiry.
    """
    now = time.time() if now is None else now
    if request.role not in ROLES:
        raise EnrollError(f"--role {request.role!r}: expected one of {', '.join(ROLES)}")
    if not url.startswith(("http://", "https://")):
        raise EnrollError(f"--gateway-url {url!r}: expected the gateway's remote-write URL, "
                          "like https://collector.example:9820/api/v1/write")
    with _locked(gateway_path), _locked(inventory_path):
        inventory = load_inventory(inventory_path)
        try:
            commune = inventory.commune(request.commune)
        except UnknownCommune as exc:
            raise EnrollError(f"{exc}{_suggest(inventory, request.commune)}") from None
        has_node = any(n.name == request.node for n in commune.nodes)
        if has_node and not reissue:
            taken = {n.name for n in commune.nodes}
            free = next(f"lan-{i}" for i in range(1, len(taken) + 2) if f"lan-{i}" not in taken)
            raise EnrollError(
                f"commune {commune.code} ({commune.name}) already has a node {request.node!r} in "
                f"{inventory_path}; choose another --node (e.g. {free}), or "
                f"add --reissue to give that node a new token")
        if reissue and not has_node:
            raise EnrollError(f"--reissue: commune {commune.code} has no node {request.node!r} "
                              f"(nodes: {', '.join(n.name for n in commune.nodes)})")
        gateway_text = gateway_path.read_text(encoding="utf-8")
        _, tokens = _gateway_tokens(gateway_text, gateway_path)
        match = _token_matches(commune.code, request.node)
        existing = [t for t in getattr(tokens, "value", []) if match(t)]
        if existing and not reissue:
            raise EnrollError(f"{gateway_path} already holds a token for commune {commune.code} "
                              f"node {request.node!r}; revoke it first (commune-collector "
                              f"revoke) or add --reissue")
        token = secrets.token_hex(32)
        if existing:
            gateway_text, _ = remove_items(gateway_text, tokens, match)  # type: ignore[arg-type]
        root, _ = _gateway_tokens(gateway_text, gateway_path)
        gateway_text = append_item(gateway_text, root, "tokens", flow_mapping(
            {"commune": commune.code, "node": request.node, "sha256": token_digest(token)}))
        staged: list[tuple[Path, Path]] = []
        try:
            if not has_node:
                inv_text = inventory_path.read_text(encoding="utf-8")
                node = {"name": request.node, "role": request.role, "mode": "push"}
                if request.address:
                    node["address"] = request.address
                inv_text = append_item(inv_text, _commune_node(compose(inv_text), commune.code),
                                       "nodes", flow_mapping(node))
                tmp = _staged(inventory_path, inv_text)
                staged.append((tmp, inventory_path))
                try:
                    load_inventory(tmp)
                except ConfigError as exc:
                    raise EnrollError("the edited inventory would not load, nothing changed:\n"
                                      + str(exc).replace(str(tmp), str(inventory_path))) from None
            tmp = _staged(gateway_path, gateway_text)
            staged.append((tmp, gateway_path))
            _check_gateway(tmp, gateway_path)
            for tmp, real in staged:
                os.replace(tmp, real)
            staged.clear()
        finally:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
        if pending:
            add_pending(gateway_path, Pending(commune.code, request.node, token_digest(token),
                                              now + valid))
    return Issued(Enrolment(url, commune.code, request.node, token, now + valid), commune.name,
                  not has_node)


def revoke(commune: str, node: str, gateway_path: Path, inventory_path: Path | None = None,
           remove_node: bool = False) -> int:
    """Remove the node's token(s) from the gateway config (and the node, if asked); the count."""
    with _locked(gateway_path):
        text = gateway_path.read_text(encoding="utf-8")
        _, tokens = _gateway_tokens(text, gateway_path)
        text, count = remove_items(text, tokens, _token_matches(commune, node)) if tokens \
            else (text, 0)
        if count == 0:
            raise EnrollError(f"{gateway_path} holds no token for commune {commune!r} node "
                              f"{node!r}: already revoked, or check --commune/--node")
        staged = [(_staged(gateway_path, text), gateway_path)]
        try:
            _check_gateway(staged[0][0], gateway_path, allow_empty=True)
            if remove_node and inventory_path is not None:
                inv_text = inventory_path.read_text(encoding="utf-8")
                nodes = mapping_value(_commune_node(compose(inv_text), commune), "nodes")
                inv_text, removed = remove_items(
                    inv_text, nodes,  # type: ignore[arg-type]
                    lambda item: scalar_items(item).get("name") == node)
                if removed:
                    tmp = _staged(inventory_path, inv_text)
                    staged.append((tmp, inventory_path))
                    try:
                        load_inventory(tmp)
                    except ConfigError as exc:
                        raise EnrollError(
                            "removing the node would leave an invalid inventory (a commune "
                            "needs at least one node); nothing changed:\n"
                            + str(exc).replace(str(tmp), str(inventory_path))) from None
            for tmp, real in staged:
                os.replace(tmp, real)
            staged.clear()
        finally:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
        left = [p for p in read_ledger(gateway_path) if (p.commune, p.node) != (commune, node)]
        if len(left) != len(read_ledger(gateway_path)):
            write_ledger(gateway_path, left)
    return count


# -- command line ----------------------------------------------------------------------------
def _duration(text: str) -> Duration:
    try:
        return Duration.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: Any) -> None:
    """Add ``enroll`` and ``revoke`` to the ``commune-collector`` subparsers."""
    p = add_command(sub, "enroll", run_enroll,
                    help="add a node to the inventory and issue its push token",
                    description="Add a node to a commune in the inventory, store a new token's "
                                "SHA-256 in the gateway config, and print the node's install "
                                "line (or write agent.yml + token with --offline).")
    p.add_argument("--commune", required=True, metavar="CODE", help="the commune's unit code")
    p.add_argument("--node", required=True, metavar="NAME", help="node name, e.g. lan-1 or vc-1")
    p.add_argument("--role", default="lan-node", choices=ROLES)
    p.add_argument("--address", metavar="HOST:PORT",
                   help="the node's address, for commune-diag (optional for push nodes)")
    p.add_argument("--inventory", required=True, type=Path, metavar="FILE")
    p.add_argument("--gateway-config", required=True, type=Path, metavar="FILE",
                   help="the gateway YAML of commune-collector serve (tokens: is edited)")
    p.add_argument("--gateway-url", required=True, metavar="URL",
                   help="where the agent pushes, e.g. https://collector.example:9820/api/v1/write")
    p.add_argument("--valid", type=_duration, default=DEFAULT_VALID, metavar="DURATION",
                   help=f"how long the printed enrolment code may be used (default "
                        f"{DEFAULT_VALID})")
    p.add_argument("--offline", type=Path, metavar="DIR",
                   help="write DIR/agent.yml and DIR/token (0600) for a USB hand-over instead")
    p.add_argument("--reissue", action="store_true",
                   help="the node is already in the inventory: give it a new token")
    r = add_command(sub, "revoke", run_revoke, help="withdraw a node's push token",
                    description="Remove a node's token from the gateway config; the gateway "
                                "answers its pushes with 401 once restarted.")
    r.add_argument("--commune", required=True, metavar="CODE")
    r.add_argument("--node", required=True, metavar="NAME")
    r.add_argument("--gateway-config", required=True, type=Path, metavar="FILE")
    r.add_argument("--inventory", type=Path, metavar="FILE")
    r.add_argument("--remove-node", action="store_true",
                   help="also remove the node from --inventory")


def run_enroll(args: argparse.Namespace) -> Exit:
    """Enrol; 0 ok, 2 on a request or file the operator must fix, 1 on an I/O error."""
    request = NodeRequest(args.commune, args.node, args.role, args.address)
    try:
        issued = enroll(request, args.inventory, args.gateway_config, args.gateway_url,
                        float(args.valid), args.reissue, pending=args.offline is None)
    except (EditError, ConfigError) as exc:
        raise EnrollError(str(exc)) from None
    e = issued.enrolment
    if issued.added_node:
        print(f"added node {e.node} ({request.role}, push) to commune {e.commune} "
              f"({issued.commune_name}) in {args.inventory}")
    print(f"issued its token (sha256 stored in {args.gateway_config}); restart the gateway "
          f"to accept it")
    if args.offline is not None:
        write_atomically(args.offline / "token", e.token + "\n", 0o600, make_parents=True)
        write_atomically(args.offline / "agent.yml",
                         agent_yaml(e.commune, e.url, NODE_TOKEN_FILE, NODE_SPOOL_DIR), 0o600,
                         make_parents=True)
        print(f"wrote {args.offline}/agent.yml and {args.offline}/token (keep them secret); "
              f"on the node run:\n  sudo bash {INSTALLER} --config agent.yml --token-file token")
        return Exit.OK
    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(e.expires))
    print(f"on the node, from the unpacked commune-monitor release, run "
          f"(code valid until {until}):\n  sudo bash {INSTALLER} --enrol {e.encode()}")
    return Exit.OK


def run_revoke(args: argparse.Namespace) -> Exit:
    """Revoke; 0 ok, 2 when there is nothing to revoke or the files are wrong."""
    if args.remove_node and args.inventory is None:
        raise UsageError("--remove-node needs --inventory FILE")
    try:
        count = revoke(args.commune, args.node, args.gateway_config, args.inventory,
                       args.remove_node)
    except (EditError, ConfigError) as exc:
        raise EnrollError(str(exc)) from None
    print(f"revoked {count} token(s) of commune {args.commune} node {args.node} in "
          f"{args.gateway_config}; restart the gateway to refuse it"
          + (f"; removed the node from {args.inventory}" if args.remove_node else ""))
    return Exit.OK
