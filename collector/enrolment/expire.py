"""``commune-collector expire``: withdraw the tokens of enrolment codes that were never used.

``enrol`` records each issued code in ``pending-enrolments.yml`` next to the gateway config
(commune, node, the token's SHA-256, the code's expiry). ``expire`` asks Prometheus whether each
pending node has pushed its heartbeat (``commune_agent_heartbeat_timestamp_seconds``): a node that
did is enrolled for good and leaves the list; a code past its expiry whose node never pushed has
its token removed from the gateway config, so a code found later in a chat or ticket is useless
on the province side too. ``deploy/systemd/commune-collector-expire.timer`` runs it hourly.

    $ commune-collector expire --gateway-config gateway.yml --prometheus http://127.0.0.1:9090
    16318/lan-2: enrolled (heartbeat seen); 14797/vc-1: code expired unused, token removed
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from collector.enrolment.files import (
    check_gateway,
    file_mode,
    gateway_tokens,
    locked,
    read_gateway_text,
)
from collector.enrolment.ledger import read_ledger, write_ledger
from collector.enrolment.yamledit import EditError, remove_items, scalar_items
from collector.province_files import require_gateway
from common.cli import Exit, Failure, UsageError, add_command
from common.prometheus_api import PrometheusQuery, SourceError
from common.statefile import Staging

HEARTBEAT = "commune_agent_heartbeat_timestamp_seconds"
QUERY_TIMEOUT = 30.0  # seconds, for each node's query


class PrometheusError(Failure):
    """Prometheus could not answer; nothing was changed."""


def has_pushed(prometheus: str, commune: str, node: str, lookback: str = "30d") -> bool:
    """True if Prometheus holds a heartbeat of this node within ``lookback``."""
    selector = f'{HEARTBEAT}{{commune={json.dumps(commune)},instance={json.dumps(node)}}}'
    try:
        found = PrometheusQuery(prometheus, QUERY_TIMEOUT).query(
            f"max_over_time({selector}[{lookback}])")
    except SourceError as exc:
        raise PrometheusError(f"{exc}; check --prometheus; nothing changed") from None
    return bool(found)


def expire(gateway_config: Path, prometheus: str, now: float | None = None) -> list[str]:
    """Settle every pending enrolment; one line per settled node."""
    now = time.time() if now is None else now
    report = []
    require_gateway(gateway_config)
    with locked(gateway_config):
        pending = read_ledger(gateway_config)
        text = read_gateway_text(gateway_config)
        _, tokens = gateway_tokens(text, gateway_config)  # a bad file is found before any query
        seen = {(p.commune, p.node): has_pushed(prometheus, p.commune, p.node) for p in pending}
        keep = []
        doomed: set[str] = set()
        for p in pending:
            if seen[(p.commune, p.node)]:
                report.append(f"{p.commune}/{p.node}: enrolled (heartbeat seen)")
            elif p.expires < now:
                doomed.add(p.sha256)
                report.append(f"{p.commune}/{p.node}: code expired unused, token removed")
            else:
                keep.append(p)
        if doomed:
            if tokens is not None:
                text, _ = remove_items(text, tokens,
                                       lambda item: scalar_items(item).get("sha256") in doomed)
            with Staging() as stage:
                staged = stage.add(gateway_config, text, file_mode(gateway_config))
                check_gateway(staged, gateway_config)
        write_ledger(gateway_config, keep)
    return report


def add_parser(sub: Any) -> None:
    """Add ``expire`` to the ``commune-collector`` subparsers."""
    p = add_command(sub, "expire", run,
                    help="remove the tokens of enrolment codes never used in time",
                    description="Settle pending enrolments: nodes seen in Prometheus are "
                                "enrolled; expired codes whose node never pushed lose their "
                                "token.")
    p.add_argument("--gateway-config", required=True, type=Path, metavar="FILE")
    p.add_argument("--prometheus", required=True, metavar="URL",
                   help="where pushed heartbeats are stored, e.g. http://127.0.0.1:9090")


def run(args: argparse.Namespace) -> Exit:
    """0 when settled, 1 when Prometheus cannot answer, 2 on a bad file."""
    try:
        lines = expire(args.gateway_config, args.prometheus)
    except (EditError, OSError) as exc:
        raise UsageError(str(exc)) from None
    print("\n".join(lines) if lines else "no enrolment to settle")
    return Exit.OK

