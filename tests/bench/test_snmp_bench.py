"""Benchmark: our IF-MIB walk against Debian's prometheus-snmp-exporter (0.21) on the same snmpd
and snmpsim, in the same run; and 20 switches of 48 ports polled at once. Prints ratios.

The exporter gets our ``if_mib`` module converted to its 0.21 format (Debian ships no MIBs, so
no generated snmp.yml; tests/support/snmp_exporter.py): same walks, metrics, lookups and
max-repetitions.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.modules.snmp.definitions import load_definitions
from agent.modules.snmp.module import SnmpModule
from tests.support.snmp_collect import snmp_config
from tests.support.snmp_exporter import SnmpExporter, exporter_module
from tests.support.snmp_peers import COMMUNITY, SNMPREC, Snmpd, Snmpsim, snmp_tool

pytestmark = [pytest.mark.bench, pytest.mark.peer]

ROUNDS = 30
MAX_REPETITIONS = 25


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Snmpd, Snmpsim, Path]]:
    snmpd = Snmpd(tmp_path_factory.mktemp("snmpd"))
    sim = Snmpsim(tmp_path_factory.mktemp("snmpsim"), {"switch48": SNMPREC / "switch48.snmprec"})
    try:
        yield snmpd, sim, tmp_path_factory.mktemp("bench")
    finally:
        sim.stop()
        snmpd.stop()


def varbinds_under(address: str, roots: list[str], community: str) -> int:
    return sum(len(snmp_tool("snmpbulkwalk", address, root, community=community).splitlines())
               for root in roots)


def series_count(exposition: str, names: set[str]) -> int:
    return sum(1 for line in exposition.splitlines()
               if line and not line.startswith("#") and line.split("{")[0].split(" ")[0] in names)


async def our_walks(module: SnmpModule, rounds: int) -> tuple[list[float], int]:
    times = []
    families: list[Any] = []
    for _ in range(rounds):
        start = time.perf_counter()
        families = list(await module.collect())
        times.append(time.perf_counter() - start)
    return times, sum(len(f.samples) for f in families if not f.name.startswith("commune_"))


def run_ours(tmp_path: Path, address: str, community: str, rounds: int, backend: str
             ) -> tuple[list[float], int]:
    (tmp_path / f"{community}.txt").write_text(community)
    config = snmp_config(tmp_path, f"""
        - {{name: dev, address: "{address}", community_file: {community}.txt, timeout: 5s,
           max_repetitions: {MAX_REPETITIONS}, modules: [if_mib], backend: {backend}}}
    """)
    module = SnmpModule(config)

    async def go() -> tuple[list[float], int]:
        try:
            await our_walks(module, 2)  # warm-up: engine, sockets
            return await our_walks(module, rounds)
        finally:
            module.close()
    return asyncio.run(go())


def run_exporter(exporter: SnmpExporter, address: str, module: str, rounds: int
                 ) -> tuple[list[float], int]:
    names = {f"{m.name}_info" if m.type == "EnumAsInfo" else m.name
             for m in load_definitions(["if_mib"])["if_mib"].metrics}
    exporter.scrape(address, module)
    times, text = [], ""
    for _ in range(rounds):
        start = time.perf_counter()
        text = exporter.scrape(address, module)
        times.append(time.perf_counter() - start)
    return times, series_count(text, names)


@pytest.mark.parametrize("peer", ["snmpd", "snmpsim-switch48"])
def test_if_mib_walk_vs_snmp_exporter(peers: tuple[Snmpd, Snmpsim, Path], peer: str) -> None:
    snmpd, sim, workdir = peers
    address, community = (snmpd.address, COMMUNITY) if peer == "snmpd" else \
        (sim.address, "switch48")
    if_mib = load_definitions(["if_mib"])["if_mib"]
    exporter = SnmpExporter(workdir, {"if_mib": exporter_module(if_mib, community)})
    try:
        roots = [str(o) for o in if_mib.walk_roots()]
        oids = varbinds_under(address, roots, community)
        native, native_series = run_ours(workdir, address, community, ROUNDS, "native")
        pysnmp, pysnmp_series = run_ours(workdir, address, community, ROUNDS, "pysnmp")
        theirs, their_series = run_exporter(exporter, address, "if_mib", ROUNDS)
    finally:
        exporter.stop()
    # Same module, same device: the same series on all sides (counted, not timed).
    assert native_series == pysnmp_series == their_series > 0
    theirs_p50 = statistics.median(theirs)
    print(f"\n[snmp bench] IF-MIB walk of {peer} ({oids} OIDs, {their_series} series), "
          f"median of {ROUNDS}:")
    for label, times in (("ours, native v2c backend", native),
                         ("ours, pysnmp (lookupMib off)", pysnmp),
                         ("prometheus-snmp-exporter 0.21", theirs)):
        p50 = statistics.median(times)
        print(f"  {label:30s} {p50 * 1000:8.1f} ms {oids / p50:9.0f} OIDs/s "
              f"{their_series / p50:9.0f} samples/s   ratio vs exporter {theirs_p50 / p50:.2f}x")


def test_twenty_switches_of_48_ports(peers: tuple[Snmpd, Snmpsim, Path]) -> None:
    _, sim, workdir = peers
    (workdir / "sw.txt").write_text("switch48")
    devices = "\n".join(
        f'- {{name: sw{i:02d}, address: "{sim.address}", community_file: sw.txt, timeout: 10s,'
        f" max_repetitions: {MAX_REPETITIONS}, modules: [if_mib, system]}}" for i in range(20))
    # backend: auto, i.e. the native v2c client
    config = snmp_config(workdir, devices)
    module = SnmpModule(config)

    async def go() -> tuple[float, float, int]:
        try:
            await module.collect()
            cpu, wall = time.process_time(), time.perf_counter()
            families = list(await module.collect())
            return (time.process_time() - cpu, time.perf_counter() - wall,
                    sum(1 for f in families if f.name == "ifHCInOctets" for _ in f.samples))
        finally:
            module.close()
    cpu, wall, ports = asyncio.run(go())
    assert ports == 20 * 49
    print(f"\n[snmp bench] 20 switches x 49 ports (if_mib + system) from snmpsim, one collection: "
          f"wall {wall:.2f} s, our CPU {cpu:.2f} s = {cpu / 15:.1%} of one core per 15 s "
          f"interval (snmpsim, the simulated devices, runs in its own process)")
