"""``python -m tests.agent.push.fault_agent ...``: the agent as the fault suite runs it.

commune-agent with the test-only ``tick`` module and no heartbeat, so every spooled sample is a
tick and the suite can account for each one. With ``FAULT_KILL_AT_APPEND=N`` the process sends
itself SIGKILL in the middle of its Nth spool append, after writing the record's header and half
its payload: a real ``kill -9`` at the worst moment, every run.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from agent.cli import main
from agent.modules import MODULES
from agent.push import client
from agent.push.record import HEADER_SIZE, MAGIC
from tests.support.tick import INFO


def _no_heartbeat(self: client.PushClient) -> None:
    """The heartbeat's own-metrics samples would blur the tick count."""


def killing_write(n: int, real: Callable[[int, Any], int]) -> Callable[[int, Any], int]:
    """``os.write`` that dies with SIGKILL half-way through the ``n``th spool record."""
    records = [0]

    def write(fd: int, data: Any) -> int:
        view = memoryview(data)
        if bytes(view[:len(MAGIC)]) == MAGIC:
            records[0] += 1
            if records[0] == n:
                real(fd, view[:HEADER_SIZE + (len(view) - HEADER_SIZE) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
        return real(fd, data)

    return write


if __name__ == "__main__":
    MODULES[INFO.name] = INFO
    setattr(client.PushClient, "beat", _no_heartbeat)  # noqa: B010 - a method, patched
    kill_at = int(os.environ.get("FAULT_KILL_AT_APPEND", "0"))
    if kill_at:
        os.write = killing_write(kill_at, os.write)
    sys.exit(main())
