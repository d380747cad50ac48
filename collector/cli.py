"""commune-collector: the province-side command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent import __version__
from collector import gateway_cli


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commune-collector`` console script."""
    parser = argparse.ArgumentParser(
        prog="commune-collector",
        description="Province side of commune-monitor: inventory, Prometheus config, gateway.")
    parser.add_argument("--version", action="version", version=f"commune-collector {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gateway_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return gateway_cli.run(args)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
