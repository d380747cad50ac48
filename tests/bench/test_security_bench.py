"""Security module: collection CPU time on a host with 1,000 open sockets (target < 100 ms),
compared in the same run with iproute2's ``ss -tulnp`` (listening sockets and their processes,
what the listen check finds; the process start is part of its cost).

Run with ``make bench``.
"""

from __future__ import annotations

import resource
import socket
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from agent.modules.security.config import (
    AuthConfig,
    CertsConfig,
    IntegrityConfig,
    ListenConfig,
    NeighboursConfig,
    PathSet,
)
from agent.modules.security.config import SecurityConfig as Config
from agent.modules.security.module import SecurityModule
from common.units import Duration
from tests.support.peers import LOOPBACK, require_binary
from tests.support.tlsfiles import make_tls_files

pytestmark = [pytest.mark.bench, pytest.mark.peer]

LISTENERS = 100
PAIRS = 450  # client + accepted server socket each: 100 + 900 = 1,000 sockets
ROUNDS = 20


def open_sockets() -> list[socket.socket]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    socks: list[socket.socket] = []
    listeners = []
    for _ in range(LISTENERS):
        s = socket.socket()
        s.bind((LOOPBACK, 0))
        s.listen(64)
        listeners.append(s)
        socks.append(s)
    for i in range(PAIRS):
        server = listeners[i % LISTENERS]
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        socks += [client, accepted]
    return socks


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_security_collection_cpu_with_1000_sockets(tmp_path: Path) -> None:
    auth_log = tmp_path / "auth.log"
    auth_log.write_text("".join(
        f"sshd[1]: Failed password for root from 10.0.{i // 250}.{i % 250} port {i} ssh2\n"
        for i in range(1000)))
    (tmp_path / "etc").mkdir()
    for i in range(50):
        (tmp_path / "etc" / f"conf{i}").write_text("x" * 2048)
    tls = make_tls_files(tmp_path / "tls")
    config = Config(
        state_dir=str(tmp_path / "state"),
        auth=AuthConfig(files=(str(auth_log),)),
        listen=ListenConfig(include_loopback=True),
        neighbours=NeighboursConfig(source="proc"),
        # every round re-walks (the worst interval; the default is every 5m)
        integrity=IntegrityConfig((PathSet("etc", (str(tmp_path / "etc"),)),),
                                  every=Duration(0.001)),
        certs=CertsConfig(paths=(str(tls.cert),)),
    )
    socks = open_sockets()
    try:
        module = SecurityModule(config)
        module.collect()  # first run: baseline written, hashes computed
        ours = []
        for _ in range(ROUNDS):
            with auth_log.open("a") as handle:  # each interval brings new log lines
                handle.write("sshd[1]: Failed password for root from 10.9.9.9 port 1 ssh2\n" * 50)
            start = time.process_time()
            families = module.collect()
            ours.append(time.process_time() - start)
        unexpected = next(f for f in families if f.name == "commune_unexpected_listen_sockets")
        assert unexpected.samples[0].value >= LISTENERS
        ss = require_binary("ss")
        theirs = []
        for _ in range(ROUNDS):
            before = children_cpu()
            out = subprocess.run([ss, "-H", "-tulnp"], check=True, capture_output=True).stdout
            theirs.append(children_cpu() - before)
        assert out.count(b"\n") >= LISTENERS
        listen_only = SecurityModule(Config(state_dir=None, listen=ListenConfig()))
        listen_cpu = []
        for _ in range(ROUNDS):
            start = time.process_time()
            listen_only.collect()
            listen_cpu.append(time.process_time() - start)
    finally:
        for s in socks:
            s.close()
    median, listen_median = statistics.median(ours), statistics.median(listen_cpu)
    ss_median = statistics.median(theirs)
    print(f"\nsecurity module, {len(socks)} sockets: collection CPU median "
          f"{median * 1000:.1f} ms (max {max(ours) * 1000:.1f} ms; target < 100 ms); "
          f"listen check alone {listen_median * 1000:.1f} ms; "
          f"`ss -tulnp` {ss_median * 1000:.1f} ms; ratio listen/ss "
          f"{listen_median / max(ss_median, 1e-6):.2f}")
    assert median < 0.100
