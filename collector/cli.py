"""commune-collector: the province-side command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commune-collector`` console script."""
    parser = argparse.ArgumentParser(
        prog="commune-collector",
        description="Province side of commune-monitor: inventory, Prometheus config, gateway.")
    parser.add_argument("--version", action="version", version=f"commune-collector {__version__}")
    parser.parse_args(argv)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
