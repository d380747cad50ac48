"""The province's two files a person names on the command line, and what to say when one is
missing: which file, and the command that makes it (``deploy/install-collector.sh``)."""

from __future__ import annotations

from pathlib import Path

from common.cli import UsageError

INSTALLER = "deploy/install-collector.sh"


def require_gateway(path: Path, flag: str = "--gateway-config") -> None:
    """UsageError naming ``path`` and what writes it, unless the gateway config exists."""
    if not path.is_file():
        raise UsageError(f"{flag} {path}: no such file; give the gateway config that {INSTALLER} "
                         f"wrote (/etc/commune-collector/gateway.yml), or run {INSTALLER} first")


def require_inventory(path: Path, flag: str = "--inventory") -> None:
    """UsageError naming ``path`` and what installs it, unless the inventory exists."""
    if not path.is_file():
        raise UsageError(f"{flag} {path}: no such file; give the inventory that {INSTALLER} "
                         f"installed (/etc/commune-collector/inventory/NAME.yml), or run "
                         f"{INSTALLER} --inventory FILE first")
