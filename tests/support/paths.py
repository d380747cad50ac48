"""Where the tests find the repository and their recorded inputs, from any test folder."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def script(name: str) -> str:
    """The installed console script ``name`` of this venv."""
    path = Path(sys.executable).with_name(name)
    assert path.is_file(), f"{path} is missing: run make venv"
    return str(path)
