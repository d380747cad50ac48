"""The synthetic fleet (tests/support/synthetic_fleet.py) of the whole province, with a few
communes broken on purpose: what the board must show for each, checked in a real browser."""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from collector.inventory import Inventory
from tests.support.peers import EXPOSITION, QuietHandler
from tests.support.synthetic_fleet import Commune, FleetExporter, exposition

PROVINCE_TARGETS = ("tthc-portal", "tthc-db", "vc-sip")
# What a broken commune does, and what its tile must say.
UPLINK, UNREACHABLE, PORTAL_SLOW, VC_DOWN = "uplink", "unreachable", "portal-slow", "vc-down"
# No throughput target, no flows module, no RTT histogram: its "why is it slow" says so.
BARE = "bare"
BARE_METRICS = ("commune_probe_rtt_histogram", "commune_throughput", "commune_latency_under_load",
                "commune_bufferbloat", "commune_flow")


def fleet_of(inventory: Inventory) -> tuple[Commune, ...]:
    """The inventory's communes as the synthetic fleet's."""
    return tuple(Commune(c.code, c.name, c.group, c.terrain) for c in inventory.communes)


def _set(text: str, name: str, value: str, **labels: str) -> str:
    """Set every series ``name`` whose labels include ``labels`` to ``value``."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]

    def repl(match: re.Match[str]) -> str:
        if all(w in match.group(1) for w in wanted):
            return f"{name}{{{match.group(1)}}} {value}"
        return match.group(0)

    return re.sub(rf"^{re.escape(name)}\{{([^}}]*)\}} \S+$", repl, text, flags=re.MULTILINE)


def broken(text: str, how: str) -> str:
    """``text`` (a commune's exposition) with the fault ``how``."""
    if how == UPLINK:
        for target in PROVINCE_TARGETS:
            text = _set(text, "probe_success", "0", target=target)
    elif how == PORTAL_SLOW:
        text = _set(text, "probe_duration_seconds", "4.5", target="tthc-portal")
    elif how == VC_DOWN:
        text = _set(text, "commune_vc_up", "0")
    elif how == BARE:
        text = "".join(line for line in text.splitlines(keepends=True)
                       if not line.startswith(BARE_METRICS))
    return text


class BrokenFleet(FleetExporter):
    """Answers /metrics?commune=CODE; ``faults`` maps a code to its fault, ``down_target`` fails
    from every commune (a province outage)."""

    def __init__(self, fleet: Sequence[Commune], faults: Mapping[str, str], failing: str = "",
                 down_target: str = "") -> None:
        super().__init__(fleet, failing, _Handler)
        # index % 10: the synthetic fleet's latency grows with the index, made for 3 communes.
        self.index = {c.code: i % 10 for i, c in enumerate(fleet)}
        self.faults = dict(faults)
        self.down_target = down_target

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A scrape that timed out closes its connection first: nothing to report."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(QuietHandler):
    server: BrokenFleet

    def do_GET(self) -> None:
        code = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get(
            "commune", [""])[0]
        fault = self.server.faults.get(code, "")
        if code not in self.server.index or fault == UNREACHABLE:
            self.send_error(503, "down on purpose")
            return
        text = exposition(code, self.server.index[code], time.time(), self.server.failing)
        if self.server.down_target:
            text = _set(text, "probe_success", "0", target=self.server.down_target)
        self.send_body(broken(text, fault).encode(), EXPOSITION)
