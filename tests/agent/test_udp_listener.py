"""The listeners' UDP sockets: answers sent back, a failing receiver counted, the kernel's drops
kept after the sockets close, a port that cannot be had binding none."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Callable

import pytest

from agent.udp_listener import UdpSockets
from common.schema import HostPort
from tests.support.peers import LOOPBACK

log = logging.getLogger(__name__)


class Echo:
    """Answers each datagram with its own bytes reversed; ``fail`` makes it raise."""

    def __init__(self) -> None:
        self.dropped: Counter[str] = Counter()
        self.seen: list[bytes] = []
        self.fail = False

    def receive(self, data: bytes, sender: str) -> bytes | None:
        if self.fail:
            raise RuntimeError("bug")
        self.seen.append(data)
        return data[::-1]


async def _until(check: Callable[[], bool], tries: int = 200) -> None:
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.01)


def test_answers_go_back_and_a_failing_receiver_is_counted() -> None:
    echo = Echo()
    sockets = UdpSockets("echo", echo, 1 << 16, log)

    async def run() -> bytes:
        await sockets.bind([HostPort(f"{LOOPBACK}:0")])
        address = sockets.bound()[0]
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.setblocking(False)
            client.sendto(b"abc", address)
            answer = await asyncio.wait_for(loop.sock_recv(client, 100), 5)
            echo.fail = True
            client.sendto(b"x", address)
            client.sendto(b"y", address)
            await _until(lambda: echo.dropped["internal"] >= 2)
        sockets.close()
        return answer

    assert asyncio.run(run()) == b"cba"
    assert echo.seen == [b"abc"] and echo.dropped == {"internal": 2}
    assert not sockets.running


def test_kernel_drops_stay_counted_after_close() -> None:
    echo = Echo()
    sockets = UdpSockets("echo", echo, 4096, log)

    async def run() -> tuple[int, int]:
        await sockets.bind([HostPort(f"{LOOPBACK}:0")])
        address = sockets.bound()[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            for _ in range(50):  # the loop does not read meanwhile: the queue fills
                client.sendto(b"x" * 8000, address)
        before = sockets.kernel_drops()
        sockets.close()
        return before, sockets.kernel_drops()

    before, after = asyncio.run(run())
    assert before >= 40 and after == before
    echo.dropped["internal"] += 1
    assert sockets.drops(("internal", "overflow", "other")) == {
        "internal": 1, "overflow": before, "other": 0}


def test_a_port_taken_binds_none() -> None:
    sockets = UdpSockets("echo", Echo(), 4096, log)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((LOOPBACK, 0))
        port = taken.getsockname()[1]

        async def run() -> None:
            await sockets.bind([HostPort(f"{LOOPBACK}:0"), HostPort(f"{LOOPBACK}:{port}")])

        with pytest.raises(OSError):
            asyncio.run(run())
    assert not sockets.running and sockets.bound() == []
