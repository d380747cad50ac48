"""``commune-collector enrol``: add a node to the inventory and issue its push token.

    $ commune-collector enrol --commune 16318 --node lan-1 \\
          --inventory inventory.yml --gateway-config gateway.yml \\
          --gateway-url https://collector.example:9820/api/v1/write
    added node lan-1 (lan-node, push) to commune 16318 (Xã Ví Dụ) in inventory.yml
    issued its token (sha256 stored in gateway.yml); restart the gateway to accept it
    on the node, from the unpacked commune-monitor release, run (code valid until ...):
      sudo bash deploy/install-agent.sh --enrol cme1.eyJ1IjoiaHR0cHM6Ly9...

Both files are edited line by line (enrolment/yamledit.py): comments, order and layout stay. The
edited files are loaded with their real loaders before they replace the originals, so a failed
enrolment leaves both untouched (enrolment/files.py). The gateway reads its tokens at start:
restart it (the ``commune-collector-gateway.path`` unit does so when gateway.yml changes).
"""

from __future__ import annotations

import argparse
import difflib
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.enrolment.files import (
    EnrolError,
    check_gateway,
    check_inventory,
    commune_item,
    composed,
    file_mode,
    gateway_tokens,
    locked,
    read_gateway_text,
    read_inventory_text,
    token_matches,
)
from collector.enrolment.ledger import Pending, add_pending, read_ledger
from collector.enrolment.yamledit import EditError, append_item, flow_mapping, remove_items
from collector.gateway.config import token_digest
from collector.inventory import (
    ROLES,
    ConfigError,
    Inventory,
    UnknownCommune,
    agent_probe_targets,
    load_inventory,
)
from collector.province_files import require_gateway, require_inventory
from common.cli import Exit, add_command, flag_type
from common.enrolment import Enrolment, agent_yaml
from common.statefile import Staging, write_atomically
from common.units import Duration

DEFAULT_VALID = Duration(24 * 3600)
INSTALLER = "deploy/install-agent.sh"
NODE_TOKEN_FILE = "/etc/commune-agent/token"
NODE_SPOOL_DIR = "/var/lib/commune-agent/spool"


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


def _suggest(inventory: Inventory, code: str) -> str:
    codes = [c.code for c in inventory.communes]
    close = difflib.get_close_matches(code, codes, n=3, cutoff=0.6)
    by_name = [f"{c.code} ({c.name})" for c in inventory.communes
               if code.lower() in c.name.lower()][:3]
    hints = [f"{c}" for c in close] + by_name
    return f" (did you mean {', '.join(hints)}?)" if hints else ""


def enrol(request: NodeRequest, inventory_path: Path, gateway_path: Path, url: str,
          valid: float, reissue: bool = False, now: float | None = None,
          pending: bool = True) -> Issued:
    """Add the node to the inventory (unless ``reissue``) and store a new token's digest.

    With ``pending``, the code is recorded for ``commune-collector expire``, which removes the
    token if the node has not pushed by the code's expiry.
    """
    now = time.time() if now is None else now
    if request.role not in ROLES:
        raise EnrolError(f"--role {request.role!r}: expected one of {', '.join(ROLES)}")
    if not url.startswith(("http://", "https://")):
        raise EnrolError(f"--gateway-url {url!r}: expected the gateway's remote-write URL, "
                         "like https://collector.example:9820/api/v1/write")
    require_inventory(inventory_path)
    require_gateway(gateway_path)
    with locked(gateway_path), locked(inventory_path):
        inventory = load_inventory(inventory_path)
        try:
            commune = inventory.commune(request.commune)
        except UnknownCommune:
            raise EnrolError(
                f"commune {request.commune!r} is not in the inventory {inventory_path}, and "
                f"enrol only adds nodes to its communes: check the code"
                f"{_suggest(inventory, request.commune)} (commune-diag hosts --inventory "
                f"{inventory_path} lists them), or add the commune to that file first") from None
        has_node = any(n.name == request.node for n in commune.nodes)
        if has_node and not reissue:
            taken = {n.name for n in commune.nodes}
            free = next(f"lan-{i}" for i in range(1, len(taken) + 2) if f"lan-{i}" not in taken)
            raise EnrolError(
                f"commune {commune.code} ({commune.name}) already has a node {request.node!r} in "
                f"{inventory_path}; choose another --node (e.g. {free}), or "
                f"add --reissue to give that node a new token")
        if reissue and not has_node:
            raise EnrolError(f"--reissue: commune {commune.code} has no node {request.node!r} "
                             f"(nodes: {', '.join(n.name for n in commune.nodes)})")
        gateway_text = read_gateway_text(gateway_path)
        _, tokens = gateway_tokens(gateway_text, gateway_path)
        match = token_matches(commune.code, request.node)
        existing = [t for t in getattr(tokens, "value", []) if match(t)]
        if existing and not reissue:
            raise EnrolError(f"{gateway_path} already holds a token for commune {commune.code} "
                             f"node {request.node!r}; revoke it first (commune-collector "
                             f"revoke) or add --reissue")
        token = secrets.token_hex(32)
        if existing:
            gateway_text, _ = remove_items(gateway_text, tokens, match)  # type: ignore[arg-type]
        root, _ = gateway_tokens(gateway_text, gateway_path)
        gateway_text = append_item(gateway_text, root, "tokens", flow_mapping(
            {"commune": commune.code, "node": request.node, "sha256": token_digest(token)}))
        if pending:  # a ledger we cannot read refuses the enrolment before any file changes
            read_ledger(gateway_path)
        with Staging() as stage:  # the inventory is replaced first, then the gateway config
            if not has_node:
                inv_text = read_inventory_text(inventory_path)
                node = {"name": request.node, "role": request.role, "mode": "push"}
                if request.address:
                    node["address"] = request.address
                item = commune_item(composed(inv_text, inventory_path), commune.code)
                inv_text = append_item(inv_text, item, "nodes", flow_mapping(node))
                staged = stage.add(inventory_path, inv_text, file_mode(inventory_path))
                check_inventory(staged, inventory_path,
                                "the edited inventory would not load, nothing changed")
            staged = stage.add(gateway_path, gateway_text, file_mode(gateway_path))
            check_gateway(staged, gateway_path)
        if pending:
            add_pending(gateway_path, Pending(commune.code, request.node, token_digest(token),
                                              now + valid))
    targets = tuple(agent_probe_targets(inventory, commune.code))
    return Issued(Enrolment(url, commune.code, request.node, token, now + valid, targets),
                  commune.name, not has_node)


def add_parser(sub: Any) -> None:
    """Add ``enrol`` (alias ``enroll``) to the ``commune-collector`` subparsers."""
    p = add_command(sub, "enrol", run, aliases=["enroll"],
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
    p.add_argument("--valid", type=flag_type(Duration.parse), default=DEFAULT_VALID,
                   metavar="DURATION",
                   help=f"how long the printed enrolment code may be used (default "
                        f"{DEFAULT_VALID})")
    p.add_argument("--offline", type=Path, metavar="DIR",
                   help="write DIR/agent.yml and DIR/token (0600) for a USB hand-over instead")
    p.add_argument("--reissue", action="store_true",
                   help="the node is already in the inventory: give it a new token")


def run(args: argparse.Namespace) -> Exit:
    """Enrol; 0 ok, 2 on a request or file the operator must fix, 1 on an I/O error."""
    request = NodeRequest(args.commune, args.node, args.role, args.address)
    try:
        issued = enrol(request, args.inventory, args.gateway_config, args.gateway_url,
                       float(args.valid), args.reissue, pending=args.offline is None)
    except (EditError, ConfigError) as exc:
        raise EnrolError(str(exc)) from None
    e = issued.enrolment
    if issued.added_node:
        print(f"added node {e.node} ({request.role}, push) to commune {e.commune} "
              f"({issued.commune_name}) in {args.inventory}")
    print(f"issued its token (sha256 stored in {args.gateway_config}); restart the gateway "
          f"to accept it")
    if e.targets:
        print(f"its agent.yml probes the {len(e.targets)} province targets of {args.inventory}")
    else:
        print(f"warning: {args.inventory} lists no province_targets, so the node probes nothing "
              f"and takes no part in uplink and portal alerts; add them and enrol again with "
              f"--reissue", file=sys.stderr)
    if args.offline is not None:
        write_atomically(args.offline / "token", e.token + "\n", 0o600, make_parents=True)
        write_atomically(args.offline / "agent.yml",
                         agent_yaml(e.commune, e.url, NODE_TOKEN_FILE, NODE_SPOOL_DIR, e.targets),
                         0o600, make_parents=True)
        print(f"wrote {args.offline}/agent.yml and {args.offline}/token (keep them secret); "
              f"on the node run:\n  sudo bash {INSTALLER} --config agent.yml --token-file token")
        return Exit.OK
    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(e.expires))
    print(f"on the node, from the unpacked commune-monitor release, run "
          f"(code valid until {until}):\n  sudo bash {INSTALLER} --enrol {e.encode()}")
    return Exit.OK
