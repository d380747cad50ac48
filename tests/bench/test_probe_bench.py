"""Probe benchmark: our HTTP probe against Debian's prometheus-blackbox-exporter, same run.

Both probe the same local HTTP target (its own process). Printed:
- p50 of ``probe_duration_seconds`` as each prober reports it, and the ratio ours/theirs
  (target <= 1.2);
- 200 concurrent HTTP targets in one collection: wall time against the 15 s interval and the
  agent's CPU seconds (target < 1 core-second), next to blackbox's CPU for the same 200 probes;
- 50 targets that never answer, each with a 2 s timeout: one collection takes about 2 s.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import socket
import statistics
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.modules.probe.module import ProbeModule
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, Process, free_port, http_get, require_binary, wait_for
from tests.support.probe_peers import load_probe_config
from tests.support.samples import maybe_value, registry_of

pytestmark = [pytest.mark.bench, pytest.mark.peer]

ROUNDS = 300
WARMUP = 20
CONCURRENT = 200
INTERVAL = 15.0
TIMEOUT = 2.0
_DURATION = re.compile(rb"^probe_duration_seconds ([0-9.e+-]+)$", re.M)
_SUCCESS = re.compile(rb"^probe_success ([0-9.]+)$", re.M)
_TICKS = os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("target")
    port = free_port()
    script = ROOT / "tests" / "support" / "http_target.py"
    with Process([sys.executable, str(script), str(port)], workdir / "target.log"):
        url = f"http://{LOOPBACK}:{port}/"
        wait_for(lambda: http_get(url)[0] == 200, 15, what="benchmark HTTP target")
        yield url


@pytest.fixture(scope="module")
def blackbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    workdir = tmp_path_factory.mktemp("blackbox")
    config = workdir / "blackbox.yml"
    config.write_text("modules:\n  http_2xx:\n    prober: http\n    timeout: 10s\n"
                      "    http:\n      preferred_ip_protocol: ip4\n")
    port = free_port()
    with Process([require_binary("prometheus-blackbox-exporter"), f"--config.file={config}",
                  f"--web.listen-address={LOOPBACK}:{port}"], workdir / "blackbox.log") as proc:
        url = f"http://{LOOPBACK}:{port}"
        wait_for(lambda: http_get(f"{url}/-/healthy")[0] == 200, 15,
                 what=f"blackbox exporter ({proc.log_path})")
        yield url, proc.proc.pid


def blackbox_probe(exporter: str, target: str) -> float:
    """One probe through blackbox's /probe; its own probe_duration_seconds."""
    query = urllib.parse.urlencode({"module": "http_2xx", "target": target})
    status, body, _ = http_get(f"{exporter}/probe?{query}", timeout=15)
    success = _SUCCESS.search(body)
    duration = _DURATION.search(body)
    assert status == 200 and success and duration, body[:500]
    assert float(success.group(1)) == 1, body[:2000]
    return float(duration.group(1))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def test_http_probe_p50_against_blackbox(target: str, blackbox: tuple[str, int]) -> None:
    exporter, _ = blackbox
    module = ProbeModule(load_probe_config(f"""
        targets:
          - {{name: portal, kind: http, url: "{target}"}}
    """))
    ours: list[float] = []
    theirs: list[float] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for i in range(WARMUP + ROUNDS):  # interleaved, so both see the same machine
            duration = await loop.run_in_executor(None, blackbox_probe, exporter, target)
            reg = registry_of(await module.collect())
            assert maybe_value(reg, "probe_success", target="portal", kind="http") == 1
            if i >= WARMUP:
                theirs.append(duration)
                ours.append(maybe_value(reg, "probe_duration_seconds", target="portal",
                                        kind="http") or 0.0)

    asyncio.run(run())
    ours_p50, theirs_p50 = statistics.median(ours), statistics.median(theirs)
    ratio = ours_p50 / theirs_p50
    print(f"\nprobe bench: HTTP probe p50 over {ROUNDS} probes: commune-agent "
          f"{ours_p50 * 1000:.3f} ms, blackbox_exporter {theirs_p50 * 1000:.3f} ms, "
          f"ratio {ratio:.2f}x (target <= 1.2x) "
          f"[p90 {statistics.quantiles(ours, n=10)[-1] * 1000:.3f} ms vs "
          f"{statistics.quantiles(theirs, n=10)[-1] * 1000:.3f} ms]")
    assert ours and theirs


def test_200_concurrent_targets_within_one_interval(target: str,
                                                    blackbox: tuple[str, int]) -> None:
    exporter, pid = blackbox
    targets = "\n".join(f'  - {{name: t{i:03d}, kind: http, url: "{target}"}}'
                        for i in range(CONCURRENT))
    module = ProbeModule(load_probe_config(f"targets:\n{targets}\n"))
    asyncio.run(module.collect())  # warm up imports and the TLS-free code paths

    cpu0, wall0 = time.process_time(), time.perf_counter()
    reg = registry_of(asyncio.run(module.collect()))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    ok = sum(maybe_value(reg, "probe_success", target=f"t{i:03d}",
                         kind="http") == 1 for i in range(CONCURRENT))

    bb_cpu0, bb_wall0 = cpu_seconds(pid), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CONCURRENT) as pool:
        list(pool.map(lambda _: blackbox_probe(exporter, target), range(CONCURRENT)))
    bb_cpu, bb_wall = cpu_seconds(pid) - bb_cpu0, time.perf_counter() - bb_wall0

    print(f"\nprobe bench: {CONCURRENT} concurrent HTTP targets: commune-agent {wall:.2f} s wall "
          f"(interval {INTERVAL:g} s), {cpu:.2f} CPU s (target < 1), {ok}/{CONCURRENT} ok; "
          f"blackbox_exporter {bb_wall:.2f} s wall, {bb_cpu:.2f} CPU s; "
          f"CPU ratio {cpu / bb_cpu if bb_cpu else float('inf'):.2f}x")
    assert ok == CONCURRENT
    assert wall < INTERVAL


def test_50_silent_targets_take_one_timeout() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((LOOPBACK, 0))
    listener = socket.socket()  # a TCP port that accepts nothing: SYNs queue, no answer
    listener.bind((LOOPBACK, 0))
    listener.listen(0)
    try:
        sip = "\n".join(f"  - {{name: sip{i:02d}, kind: sip, host: 127.0.0.1, "
                        f"port: {silent.getsockname()[1]}, timeout: {TIMEOUT:g}s}}"
                        for i in range(25))
        http = "\n".join(f'  - {{name: http{i:02d}, kind: http, '
                         f'url: "http://127.0.0.1:{listener.getsockname()[1]}/", '
                         f'timeout: {TIMEOUT:g}s}}' for i in range(25))
        module = ProbeModule(load_probe_config(f"targets:\n{sip}\n{http}\n"))
        start = time.perf_counter()
        reg = registry_of(asyncio.run(module.collect()))
        wall = time.perf_counter() - start
    finally:
        silent.close()
        listener.close()
    failed = sum(maybe_value(reg, "probe_success", target=f"{kind}{i:02d}", kind=kind) == 0
                 for kind in ("sip", "http") for i in range(25))
    print(f"\nprobe bench: 50 silent targets with {TIMEOUT:g} s timeouts took {wall:.2f} s "
          f"({wall / TIMEOUT:.2f}x one timeout; one by one would be {50 * TIMEOUT:g} s)")
    assert failed == 50
    assert wall < 2 * TIMEOUT
