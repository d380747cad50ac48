"""commune-collector: the province-side command.

    $ commune-collector render --inventory configs/inventory/thanh-hoa.yml --out build/prometheus

Each subcommand lives in its own module, which adds its parser and sets ``run``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from collector.enrolment import enrol, expire
from collector.gateway import cli as gateway_cli
from collector.render import cli as render_cli
from collector.render import reload
from common import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commune-collector`` console script."""
    parser = argparse.ArgumentParser(
        prog="commune-collector",
        description="Province side of commune-monitor: inventory, Prometheus config, gateway.")
    parser.add_argument("--version", action="version", version=f"commune-collector {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    render_cli.add_parser(sub)
    gateway_cli.add_parser(sub)
    enrol.add_parser(sub)
    expire.add_parser(sub)
    reload.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return gateway_cli.run(args)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
