"""The ``commune-diag`` console script, which says what to install when paramiko is missing.

paramiko comes with the ``diag`` extra (the collector's install selects it); a commune node's
install goes without it, and there the command explains instead of failing on an import.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from common.cli import Exit

MISSING_SSH = ("commune-diag: paramiko is not installed here (commune nodes go without it); "
               "install commune-monitor[diag], as deploy/install-collector.sh does")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``commune-diag``: collector.diag.cli.main once paramiko imports."""
    try:
        from collector.diag.cli import main as diag_main
    except ModuleNotFoundError as exc:
        if exc.name != "paramiko":
            raise
        print(MISSING_SSH, file=sys.stderr)
        return Exit.FAILURE
    return diag_main(argv)


if __name__ == "__main__":
    sys.exit(main())
