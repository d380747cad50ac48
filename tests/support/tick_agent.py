"""``python -m tests.support.tick_agent ...``: commune-agent with the test-only ``tick`` module."""

from __future__ import annotations

import sys

from agent.cli import main
from agent.modules import MODULES
from tests.support.tick import INFO

if __name__ == "__main__":
    MODULES[INFO.name] = INFO
    sys.exit(main())
