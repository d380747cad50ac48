"""Benchmark: flow records the flows module decodes and counts per CPU second, by protocol,
beside nfdump's nfcapd decoding the same NetFlow v9 export in the same run; and the memory the
module holds with 100k distinct LAN hosts in one interval.

Run with ``make bench``. Targets: at least 50k records/s on one core; at most 20 MB at 100k
hosts. Records are per CPU second (the process's own time), so other work on the machine does
not count against either side.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
import time
import tracemalloc
from pathlib import Path

import pytest

from agent.modules.flows.config import FlowsConfig, Network
from agent.modules.flows.module import FlowsModule
from tests.support.flow_packets import Flow, ipfix, netflow_v5, netflow_v9, sflow_v5
from tests.support.peers import free_udp_port, require_binary, wait_for

pytestmark = [pytest.mark.bench, pytest.mark.peer]

HOSTS = 5000
ROUNDS = 4000  # datagrams per protocol
# nfcapd is given more: /proc counts CPU time in ticks of 10 ms, and it needs few of them.
NFCAPD_ROUNDS = 10 * ROUNDS


def _flows(start: int, count: int) -> list[Flow]:
    """``count`` records of LAN hosts talking to a few remote services."""
    services = ((443, 6), (53, 17), (123, 17), (7680, 6), (5060, 17), (20000, 17), (9999, 6))
    out = []
    for i in range(start, start + count):
        host = str(ipaddress.ip_address(0x0A000000 + i % HOSTS))
        port, proto = services[i % len(services)]
        remote = f"203.0.113.{i % 200 + 1}"
        if i % 2:
            out.append(Flow(host, remote, 1500 + i % 4000, 3, 40000 + i % 20000, port, proto))
        else:
            out.append(Flow(remote, host, 9000 + i % 40000, 8, port, 40000 + i % 20000, proto))
    return out


def _datagrams(encode: str) -> tuple[list[bytes], int]:
    per = 30 if encode == "v5" else 24
    out = []
    for n in range(64):
        flows = _flows(n * per, per)
        if encode == "v5":
            out.append(netflow_v5(flows))
        elif encode == "v9":
            out.append(netflow_v9(flows, template=n == 0))
        elif encode == "ipfix":
            out.append(ipfix(flows, template=n == 0))
        else:
            out.append(sflow_v5(flows, sampling_rate=256))
    return out, per


def _module() -> FlowsModule:
    return FlowsModule(FlowsConfig(lan=(Network("10.0.0.0/8"),),
                                   portal=(Network("203.0.113.10"),)))


def _pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def _ours(kind: str) -> float:
    """Records decoded and counted per CPU second, best of 3."""
    module = _module()
    datagrams, per = _datagrams(kind)
    receive = module.listener.receive
    for data in datagrams:  # templates learnt
        receive(data, "192.0.2.1")
    best = 0.0
    for _ in range(3):
        start = time.process_time()
        for i in range(ROUNDS):
            receive(datagrams[i % len(datagrams)], "192.0.2.1")
        module.accounting.close_interval()
        best = max(best, ROUNDS * per / (time.process_time() - start))
    counted = sum(v[0] for v in module.accounting.series.values())
    assert counted > 0 and module.accounting.ignored == 0  # every record was counted
    return best


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _nfcapd(tmp_path: Path) -> tuple[float, int]:
    """nfcapd's records per CPU second over the same v9 export, and the records it took."""
    datagrams, _ = _datagrams("v9")
    port = free_udp_port()
    process = subprocess.Popen(
        [require_binary("nfcapd"), "-w", str(tmp_path), "-b", "127.0.0.1", "-p", str(port),
         "-B", str(8 << 20), "-t", "3600"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            wait_for(lambda: _cpu_seconds(process.pid) >= 0, what="nfcapd")
            time.sleep(0.5)
            sender.sendto(datagrams[0], ("127.0.0.1", port))  # the template first
            time.sleep(0.1)
            before = _cpu_seconds(process.pid)
            for i in range(NFCAPD_ROUNDS):
                sender.sendto(datagrams[1 + i % (len(datagrams) - 1)], ("127.0.0.1", port))
                if i % 200 == 199:
                    time.sleep(0.01)  # let it keep up: drops would flatter its rate
            time.sleep(1.0)
            spent = _cpu_seconds(process.pid) - before
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    flows = re.search(r"Flows: (\d+)", out)
    assert flows, out
    taken = int(flows[1])
    return taken / max(spent, 1e-3), taken


def test_records_per_second_beside_nfcapd(tmp_path: Path) -> None:
    _pin_one_core()
    rates = {kind: _ours(kind) for kind in ("v5", "v9", "ipfix", "sflow")}
    theirs, taken = _nfcapd(tmp_path)
    print(f"\n[flows bench] records decoded and counted per CPU second ({ROUNDS} datagrams, "
          f"{HOSTS} hosts):")
    for kind, rate in rates.items():
        print(f"  flows module, {kind:6} {rate:>12,.0f}")
    print(f"  nfcapd, v9          {theirs:>12,.0f}  ({taken} records taken; CPU time from "
          f"/proc, so its sleeps between datagrams do not count)")
    assert min(rates.values()) >= 50_000


def test_memory_at_100k_distinct_hosts() -> None:
    module = _module()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for start in range(0, 100_000, 24):
            flows = [Flow(str(ipaddress.ip_address(0x0A000000 + i)), "203.0.113.5", 1500, 1,
                          40000, 443) for i in range(start, min(start + 24, 100_000))]
            module.listener.receive(netflow_v5(flows), "192.0.2.1")
        held, peak = tracemalloc.get_traced_memory()
        module.accounting.close_interval()
        module.families()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    mb = 1 << 20
    print(f"\n[flows bench] 100k distinct hosts in one interval: {(held - base) / mb:.1f} MB "
          f"held, {(peak - base) / mb:.1f} MB peak, {(after - base) / mb:.1f} MB after the "
          f"interval closed; {module.accounting.hosts_seen} hosts in the table, "
          f"{module.accounting.evicted} evicted")
    assert peak - base <= 20 * mb
