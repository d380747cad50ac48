"""The province-side files an enrolment edits: a small inventory and a gateway config."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

INVENTORY = """\
# Test inventory: two communes on loopback.
province: {code: "38", name: "Thanh Hóa"}
defaults: {agent_port: 9810, ssh_port: 22, ssh_user: commune-diag}

communes:
  # A mountain commune with one node already.
  - code: "16318"
    name: "Xã Thử Nghiệm"
    type: xã
    terrain: mountain
    group: "Huyện Thử"
    nodes:
      - {name: lan-1, role: lan-node, mode: push}   # the office PC
  - code: "14797"
    name: "Phường Hạc Thành"
    type: phường
    terrain: lowland
    group: "Thành phố Thanh Hóa"
    nodes:
      - name: lan-1
        role: lan-node
        mode: push
# end of communes
"""


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
