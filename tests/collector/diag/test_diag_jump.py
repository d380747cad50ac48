"""ProxyJump through real sshd bastions: --jump, a chain of two, and ~/.ssh/config's ProxyJump."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.diag import RUNBOOKS
from tests.support.sshd import Sshd

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def bastions(tmp_path_factory: pytest.TempPathFactory, user_key: Path) -> Iterator[list[Sshd]]:
    """Two bastion sshds on 127.0.0.1 that log the forwardings they make."""
    servers = [Sshd(tmp_path_factory.mktemp(f"bastion{i}"), [user_key], log_level="DEBUG1")
               for i in range(2)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def jump_known_hosts(known_hosts: Path, bastions: list[Sshd]) -> Path:
    with known_hosts.open("a") as out:
        for bastion in bastions:
            out.write(bastion.known_hosts())
    return known_hosts


def forwarded(bastion: Sshd, address: str, port: int) -> int:
    """How many direct-tcpip channels ``bastion`` opened to address:port."""
    return bastion.log().count(f"target {address} port {port}")


def test_jump_host(diag, sshd, bastions, user_key, jump_known_hosts) -> None:
    bastion = bastions[0]
    before = forwarded(bastion, "127.0.0.2", sshd.port)
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", f"127.0.0.2:{sshd.port}",
               "--host", f"127.0.0.3:{sshd.port}", "--jump", f"127.0.0.1:{bastion.port}",
               "--identity", str(user_key), "--known-hosts", str(jump_known_hosts), "-F",
               "/dev/null", "--no-agent", "--json")
    assert run.code == 0, run.out + run.err
    assert forwarded(bastion, "127.0.0.2", sshd.port) == before + 1
    assert forwarded(bastion, "127.0.0.3", sshd.port) >= 1


def test_jump_chain_through_two_bastions(diag, sshd, bastions, user_key,
                                         jump_known_hosts) -> None:
    first, second = bastions
    before = (forwarded(first, "127.0.0.1", second.port),
              forwarded(second, "127.0.0.2", sshd.port))
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", f"127.0.0.2:{sshd.port}",
               "--jump", f"{first.user}@127.0.0.1:{first.port},127.0.0.1:{second.port}",
               "--identity", str(user_key), "--known-hosts", str(jump_known_hosts),
               "-F", "/dev/null", "--no-agent")
    assert run.code == 0, run.out + run.err
    assert forwarded(first, "127.0.0.1", second.port) == before[0] + 1
    assert forwarded(second, "127.0.0.2", sshd.port) == before[1] + 1


def test_ssh_config_proxyjump_and_alias(diag, sshd, bastions, user_key, jump_known_hosts,
                                        tmp_path) -> None:
    bastion = bastions[0]
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host bastion\n  HostName 127.0.0.1\n  Port {bastion.port}\n"
        f"Host commune-node\n  HostName 127.0.0.3\n  Port {sshd.port}\n  ProxyJump bastion\n"
        f"Host *\n  IdentityFile {user_key}\n  UserKnownHostsFile {jump_known_hosts}\n")
    before = forwarded(bastion, "127.0.0.3", sshd.port)
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", "commune-node", "-F", str(config),
               "--no-agent", "--json")
    assert run.code == 0, run.out + run.err
    (h,) = json.loads(run.out)["hosts"]
    assert h["endpoint"] == f"{sshd.user}@[127.0.0.3]:{sshd.port}"
    assert forwarded(bastion, "127.0.0.3", sshd.port) == before + 1
    # --jump none ignores the config's ProxyJump: a direct connection, no new forwarding.
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", "commune-node", "-F", str(config),
               "--no-agent", "--jump", "none")
    assert run.code == 0, run.out + run.err
    assert forwarded(bastion, "127.0.0.3", sshd.port) == before + 1


def test_unknown_jump_host_key_is_refused(diag, sshd, bastions, ssh_args) -> None:
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", f"127.0.0.2:{sshd.port}",
               "--jump", f"127.0.0.1:{bastions[1].port}", "--json", *ssh_args)
    assert run.code == 3
    (h,) = json.loads(run.out)["hosts"]
    assert h["error"]["kind"] == "unreachable"
    assert h["error"]["message"].startswith(f"jump host {sshd.user}@[127.0.0.1]:")
    assert "is not in known_hosts" in h["error"]["message"]


def test_jump_host_cannot_reach_the_node(diag, bastions, user_key, jump_known_hosts) -> None:
    from tests.support.peers import free_port
    closed = free_port()
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", f"127.0.0.2:{closed}",
               "--jump", f"127.0.0.1:{bastions[0].port}", "--identity", str(user_key),
               "--known-hosts", str(jump_known_hosts), "-F", "/dev/null", "--no-agent",
               "--json")
    assert run.code == 3
    (h,) = json.loads(run.out)["hosts"]
    assert f"could not reach 127.0.0.2:{closed}" in h["error"]["message"]


def test_a_dead_jump_host_is_tried_once(diag, sshd, ssh_args) -> None:
    import socket
    import threading
    # A bastion that accepts TCP but never speaks SSH: every attempt costs a whole timeout.
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):   # the listener is closed at the end
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    hosts = [a for i in range(6) for a in ("--host", f"127.0.0.{1 + i % 3}:{sshd.port}")]
    args = [a if a != "5" else "1" for a in ssh_args]         # --connect-timeout 1
    try:
        run = diag("run", str(RUNBOOKS / "echo.yml"), *hosts, "--jump", f"127.0.0.1:{port}",
                   "--concurrency", "3", "--json", *args)
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert run.code == 3
    report = json.loads(run.out)
    assert report["summary"]["unreachable"] == 6
    assert len(accepted) == 1                    # one attempt, its error shared by every host
    for h in report["hosts"]:
        assert h["error"]["message"].startswith(f"jump host {sshd.user}@[127.0.0.1]:{port}")
