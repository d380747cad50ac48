"""Listening ports drift: sockets opened by the test show up as unexpected; the allow-list hides
them; cleartext services are flagged."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator

import psutil

from agent.modules.security.config import AllowedListen, ListenConfig
from agent.modules.security.listen import ListenCheck, ephemeral_range
from tests.support.peers import LOOPBACK
from tests.support.samples import samples, value

UNEXPECTED = "commune_unexpected_listen"
PROCESS = psutil.Process().name()


@contextlib.contextmanager
def listening(kind: int, port: int = 0) -> Iterator[tuple[socket.socket | None, int]]:
    """A socket bound on loopback (listening if TCP); None if ``port`` is already taken."""
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        assert exc.errno == errno.EADDRINUSE
        yield None, port
        return
    if kind == socket.SOCK_STREAM:
        sock.listen()
    try:
        yield sock, sock.getsockname()[1]
    finally:
        sock.close()


def test_test_socket_is_unexpected_then_allowed() -> None:
    with listening(socket.SOCK_STREAM) as (_, port):
        check = ListenCheck(ListenConfig(include_loopback=True))
        families = check.collect()
        assert value(families, UNEXPECTED, proto="tcp", port=str(port), process=PROCESS) == 1
        allowed = ListenCheck(ListenConfig(
            include_loopback=True, allow=(AllowedListen("tcp", port, PROCESS),)))
        assert (("port", str(port)), ("process", PROCESS), ("proto", "tcp")) not in \
            samples(allowed.collect(), UNEXPECTED)
        other_process = ListenCheck(ListenConfig(
            include_loopback=True, allow=(AllowedListen("tcp", port, "nginx"),)))
        assert value(other_process.collect(), UNEXPECTED, proto="tcp", port=str(port),
                     process=PROCESS) == 1
    assert (("port", str(port)), ("process", PROCESS), ("proto", "tcp")) not in \
        samples(check.collect(), UNEXPECTED)


def test_loopback_only_sockets_skipped_by_default() -> None:
    with listening(socket.SOCK_STREAM) as (_, port):
        families = ListenCheck(ListenConfig()).collect()
    assert all(dict(k)["port"] != str(port) for k in samples(families, UNEXPECTED))


def test_bound_udp_socket_outside_ephemeral_range() -> None:
    low, _ = ephemeral_range()
    port = next(p for p in range(low - 1, 1024, -1) if _udp_free(p))
    with listening(socket.SOCK_DGRAM, port) as (sock, _):
        assert sock is not None
        families = ListenCheck(ListenConfig(include_loopback=True)).collect()
    assert value(families, UNEXPECTED, proto="udp", port=str(port), process=PROCESS) == 1


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def test_cleartext_services_are_flagged_even_on_loopback() -> None:
    before = ListenCheck(ListenConfig()).collect()
    with listening(socket.SOCK_STREAM, 21), listening(socket.SOCK_DGRAM, 161):
        families = ListenCheck(ListenConfig()).collect()
    assert value(families, "commune_insecure_service", service="ftp") == 1
    assert value(families, "commune_insecure_service", service="snmp") == 1
    assert value(before, "commune_insecure_service", service="telnet") == \
        value(families, "commune_insecure_service", service="telnet")


def test_series_bounded_by_max_series() -> None:
    with contextlib.ExitStack() as stack:
        ports = [stack.enter_context(listening(socket.SOCK_STREAM))[1] for _ in range(30)]
        families = ListenCheck(ListenConfig(include_loopback=True, max_series=5)).collect()
    assert len(samples(families, UNEXPECTED)) == 5
    assert value(families, "commune_unexpected_listen_sockets") >= len(ports)
