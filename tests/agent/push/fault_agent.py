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

from agent.cli import main
from agent.modules import MODULES
from agent.push import client, spool
from agent.push.record import HEADER_SIZE
from tests.support.tick import INFO


def _no_heartbeat(self: client.PushClient) -> None:
    """The heartbeat's own-metrics samples would blur the tick count."""


def killing_writer(n: int, real: Callable[[int, bytes], None]) -> Callable[[int, bytes], None]:
    """``spool._write_all`` that dies with SIGKILL half-way through the ``n``th record."""
    calls = [0]

    def write_all(fd: int, data: bytes) -> None:
        calls[0] += 1
        if calls[0] == n:
            os.write(fd, data[:HEADER_SIZE + (len(data) - HEADER_SIZE) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        real(fd, data)

    return write_all


if __name__ == "__main__":
    MODULES[INFO.name] = INFO
    setattr(client.PushClient, "beat", _no_heartbeat)  # noqa: B010 - a method, patched
    kill_at = int(os.environ.get("FAULT_KILL_AT_APPEND", "0"))
    if kill_at:
        setattr(spool, "_write_all", killing_writer(kill_at, spool._write_all))  # noqa: B010
    sys.exit(main())
