"""The ``board`` subcommand of ``commune-collector``: its arguments and how it starts.

    $ commune-collector board --prometheus http://127.0.0.1:9090 \\
          --alertmanager http://127.0.0.1:9093 --inventory configs/inventory/thanh-hoa.yml
"""

from __future__ import annotations

import argparse
from typing import Any

from common.cli import (
    Exit,
    Failure,
    add_command,
    add_log_level,
    duration_flag,
    flag_value,
    start_logging,
    url_flag,
)
from common.schema import HostPort

DEFAULT_LISTEN = ":9830"


def add_parser(sub: Any) -> None:
    """Add ``board`` to the subcommands of commune-collector."""
    board = add_command(sub, "board", run,
                        help="serve the province's status board (HTML and JSON) for viewers")
    board.set_defaults(prog="commune-collector")
    board.add_argument("--prometheus", required=True, metavar="URL",
                       help="the province's Prometheus, e.g. http://127.0.0.1:9090")
    board.add_argument("--alertmanager", metavar="URL",
                       help="Alertmanager, for the open alerts with their text (else ALERTS)")
    board.add_argument("--inventory", required=True, metavar="FILE",
                       help="the province inventory YAML: the communes the board shows")
    board.add_argument("--web.listen-address", dest="listen_address", default=DEFAULT_LISTEN,
                       metavar="HOST:PORT", help=f"where to listen (default {DEFAULT_LISTEN})")
    board.add_argument("--web.config.file", dest="web_config_file", metavar="FILE",
                       help="exporter-toolkit web config: TLS, basic auth, headers")
    board.add_argument("--query.timeout", dest="timeout", default="5s", metavar="DURATION",
                       help="timeout of each Prometheus or Alertmanager request (default 5s)")
    board.add_argument("--refresh", default="30s", metavar="DURATION",
                       help="how often the pages reload themselves (default 30s); the "
                            "sources are read at most every 10s whatever the viewers")
    add_log_level(board)


def run(args: argparse.Namespace) -> Exit:
    """Load the inventory and serve; 2 on a usage or config error, 1 if the port is taken."""
    start_logging(args.log_level)
    from collector.board.server import BoardOptions, serve
    from collector.inventory import load_inventory

    options = BoardOptions(
        prometheus=url_flag("--prometheus", args.prometheus),
        alertmanager=url_flag("--alertmanager", args.alertmanager) if args.alertmanager else None,
        timeout=float(duration_flag("--query.timeout", args.timeout, above_zero=True)),
        refresh=max(1, round(duration_flag("--refresh", args.refresh, above_zero=True))))
    listen = flag_value(HostPort.parse, "--web.listen-address", args.listen_address)
    inventory = load_inventory(args.inventory)
    web_config = None
    if args.web_config_file:
        from common.webconfig import load_web_config

        web_config = load_web_config(args.web_config_file)
    try:
        return Exit(serve(inventory, listen, options, web_config))
    except OSError as exc:
        raise Failure(f"cannot listen on {args.listen_address!r}: {exc.strerror}; "
                      "choose another --web.listen-address") from None
