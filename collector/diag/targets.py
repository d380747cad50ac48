"""Which nodes to diagnose: one ``--host``, a ``--commune`` or ``--all``, from the inventory."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from collector.diag.runner import Target
from collector.inventory import Commune, Inventory, Node

# VC boxes are appliances, not Linux hosts: runbooks run on the nodes that carry the agent.
DEFAULT_ROLES = ("lan-node", "server")


class NoSshAddress(ValueError):
    """A selected node has neither ``ssh`` nor ``address`` in the inventory."""


def province_facts(inventory: Inventory) -> dict[str, str]:
    """Province-wide values for runbook params: ``portal_url``/``_host``, ``sip_host``/``_port``."""
    facts: dict[str, str] = {}
    for target in inventory.province_targets:
        if target.kind == "http" and target.url and "portal_url" not in facts:
            facts["portal_url"] = target.url
            facts["portal_host"] = urlsplit(target.url).hostname or ""
        if target.kind == "sip" and target.host and "sip_host" not in facts:
            facts["sip_host"] = target.host
            facts["sip_port"] = str(target.port or 5060)
    return facts


def commune_facts(commune: Commune) -> dict[str, str]:
    """Per-commune values for runbook params: ``vc_host`` (its first VC box), ``commune_name``."""
    facts = {"commune_name": commune.name}
    for node in commune.nodes:
        where = node.address or node.ssh
        if node.role == "vc" and where is not None:
            facts["vc_host"] = where.host
            break
    return facts


def node_target(inventory: Inventory, commune: Commune, node: Node) -> Target:
    """The SSH target of one inventory node."""
    if node.ssh is None:
        raise NoSshAddress(f"{inventory.file}: commune {commune.code} node {node.name!r} has no "
                           f"'ssh:' or 'address:'; add 'ssh: host:port' to diagnose it")
    return Target(host=node.ssh.host, port=node.ssh.port, user=node.ssh_user,
                  commune=commune.code, commune_name=commune.name, node=node.name,
                  facts={**province_facts(inventory), **commune_facts(commune)})


def select(inventory: Inventory, communes: Sequence[str] = (), nodes: Sequence[str] = (),
           roles: Sequence[str] = DEFAULT_ROLES) -> list[Target]:
    """Targets of the given communes (all when empty), optionally only the named nodes."""
    chosen = [inventory.commune(code) for code in communes] if communes else inventory.communes
    targets = []
    for commune in chosen:
        for node in commune.nodes:
            if node.role not in roles or (nodes and node.name not in nodes):
                continue
            try:
                targets.append(node_target(inventory, commune, node))
            except NoSshAddress as exc:
                # Reported for this node only: the rest of the fleet still runs.
                targets.append(Target(host="", commune=commune.code, commune_name=commune.name,
                                      node=node.name, facts={"error": str(exc)}))
    if not targets:
        raise ValueError(f"no node with role {' or '.join(roles)}"
                         f"{' named ' + ', '.join(nodes) if nodes else ''} in the selected "
                         f"communes of {inventory.file}; see 'commune-diag hosts'")
    return targets
