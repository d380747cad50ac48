"""The province-side files an enrolment edits: a small inventory and a gateway config."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.support.inventory import HAC_THANH, Commune, Node, inventory_yaml

THU_NGHIEM = Commune("16318", "Xã Thử Nghiệm", "xã", "mountain", "Huyện Thử",
                     comment="A mountain commune with one node already.")
# Comments and both node styles: enroll and revoke must keep what a person wrote.
INVENTORY = inventory_yaml(
    [THU_NGHIEM.with_nodes(Node("lan-1", comment="the office PC")),
     HAC_THANH.with_nodes(Node("lan-1", block=True))],
    defaults={"agent_port": 9810, "ssh_port": 22, "ssh_user": "commune-diag"},
    comment="Test inventory: two communes on loopback.", end_comment="end of communes")


@dataclass(frozen=True)
class Province:
    """The province-side files an enrolment edits."""

    inventory: Path
    gateway: Path

    def args(self) -> list[str]:
        """The --inventory/--gateway-config arguments of enroll."""
        return ["--inventory", str(self.inventory), "--gateway-config", str(self.gateway)]


def gateway_yaml(receiver: str, inventory: Path) -> str:
    """A gateway config forwarding to ``receiver`` with no tokens yet."""
    return textwrap.dedent(f"""\
        # Gateway of the test province.
        receivers:
          - {{url: "{receiver}", timeout: 5s}}
        inventory: {inventory}
        # One token per pushing node, written by commune-collector enroll.
        tokens: []
        """)
