"""commune-diag: diagnostics over SSH on commune nodes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commune-diag`` console script."""
    parser = argparse.ArgumentParser(
        prog="commune-diag", description="Run diagnostic runbooks on commune nodes over SSH.")
    parser.add_argument("--version", action="version", version=f"commune-diag {__version__}")
    parser.parse_args(argv)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
