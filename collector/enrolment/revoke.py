"""``commune-collector revoke``: withdraw a node's push token (and the node, if asked).

    $ commune-collector revoke --commune 16318 --node lan-2 --gateway-config gateway.yml
    revoked 1 token(s) of commune 16318 node lan-2 in gateway.yml; restart the gateway to refuse it

The gateway config is edited like ``enrol`` edits it (enrolment/files.py). Revoking the last
token leaves ``tokens: []``, a valid gateway that refuses every push (401) and keeps running.
"""

from __future__ import annotations

import argparse
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
from collector.enrolment.ledger import forget
from collector.enrolment.yamledit import EditError, mapping_value, remove_items, scalar_items
from collector.inventory import ConfigError
from collector.province_files import require_gateway, require_inventory
from common.cli import Exit, UsageError, add_command
from common.statefile import Staging


def revoke(commune: str, node: str, gateway_path: Path, inventory_path: Path | None = None,
           remove_node: bool = False) -> int:
    """Remove the node's token(s) from the gateway config (and the node, if asked); the count."""
    require_gateway(gateway_path)
    if remove_node and inventory_path is not None:
        require_inventory(inventory_path)
    with locked(gateway_path):
        text = read_gateway_text(gateway_path)
        _, tokens = gateway_tokens(text, gateway_path)
        text, count = remove_items(text, tokens, token_matches(commune, node)) \
            if tokens is not None else (text, 0)
        if count == 0:
            raise EnrolError(f"{gateway_path} holds no token for commune {commune!r} node "
                             f"{node!r}: already revoked, or check --commune/--node")
        with Staging() as stage:  # the gateway config is replaced first, then the inventory
            staged = stage.add(gateway_path, text, file_mode(gateway_path))
            check_gateway(staged, gateway_path)
            if remove_node and inventory_path is not None:
                inv_text = read_inventory_text(inventory_path)
                item = commune_item(composed(inv_text, inventory_path), commune)
                nodes = mapping_value(item, "nodes")
                inv_text, removed = remove_items(
                    inv_text, nodes,  # type: ignore[arg-type]
                    lambda item: scalar_items(item).get("name") == node)
                if removed:
                    staged = stage.add(inventory_path, inv_text, file_mode(inventory_path))
                    check_inventory(staged, inventory_path,
                                    "removing the node would leave an invalid inventory (a "
                                    "commune needs at least one node); nothing changed")
        forget(gateway_path, commune, node)
    return count


def add_parser(sub: Any) -> None:
    """Add ``revoke`` to the ``commune-collector`` subparsers."""
    p = add_command(sub, "revoke", run, help="withdraw a node's push token",
                    description="Remove a node's token from the gateway config; the gateway "
                                "answers its pushes with 401 once restarted.")
    p.add_argument("--commune", required=True, metavar="CODE")
    p.add_argument("--node", required=True, metavar="NAME")
    p.add_argument("--gateway-config", required=True, type=Path, metavar="FILE")
    p.add_argument("--inventory", type=Path, metavar="FILE")
    p.add_argument("--remove-node", action="store_true",
                   help="also remove the node from --inventory")


def run(args: argparse.Namespace) -> Exit:
    """Revoke; 0 ok, 2 when there is nothing to revoke or the files are wrong."""
    if args.remove_node and args.inventory is None:
        raise UsageError("--remove-node needs --inventory FILE")
    try:
        count = revoke(args.commune, args.node, args.gateway_config, args.inventory,
                       args.remove_node)
    except (EditError, ConfigError) as exc:
        raise EnrolError(str(exc)) from None
    print(f"revoked {count} token(s) of commune {args.commune} node {args.node} in "
          f"{args.gateway_config}; restart the gateway to refuse it"
          + (f"; removed the node from {args.inventory}" if args.remove_node else ""))
    return Exit.OK
