"""commune-collector: the province-side command.

    $ commune-collector render --inventory configs/inventory/thanh-hoa.yml --out build/prometheus

Each subcommand lives in its own module, whose ``add_parser(sub)`` adds its parser with
``common.cli.add_command`` and whose ``run(args)`` does the work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from collector.board import cli as board_cli
from collector.enrolment import enrol, expire, revoke
from collector.gateway import cli as gateway_cli
from collector.render import cli as render_cli
from collector.render import reload
from common import __version__
from common.cli import dispatch

COMMANDS = (render_cli, gateway_cli, board_cli, enrol, revoke, expire, reload)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commune-collector`` console script."""
    parser = argparse.ArgumentParser(
        prog="commune-collector",
        description="Province side of commune-monitor: inventory, Prometheus config, gateway, "
                    "status board.")
    parser.add_argument("--version", action="version", version=f"commune-collector {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return dispatch(parser, parser.parse_args(argv), name_command=True)


if __name__ == "__main__":
    sys.exit(main())
