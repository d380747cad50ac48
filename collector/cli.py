"""commune-collector: the province-side command.

    $ commune-collector render --inventory configs/inventory/thanh-hoa.yml --out build/prometheus

Each subcommand lives in its own module, which adds its parser and sets ``run``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent import __version__
from collector import render_cli


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commune-collector`` console script."""
    parser = argparse.ArgumentParser(
        prog="commune-collector",
        description="Province side of commune-monitor: inventory, Prometheus config, gateway.")
    parser.add_argument("--version", action="version", version=f"commune-collector {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    render_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
