"""The shipped ``if_mib`` against Debian's snmp_exporter on the same agents: snmpsim recordings
of a Linux host, a Windows-style agent without ifXTable, a router with 64-bit counters above
2**32 and a 48-port switch, and a live snmpd. Series for series the same names, labels, values,
types and help; the only deviations are those listed in docs/agent/snmp.md (DEVIATIONS)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import snmpsim

from agent.exposition import render
from agent.modules.snmp.definitions import load_definitions
from tests.support.peers import LOOPBACK, Prometheus, http_get, serving, wait_for
from tests.support.snmp_collect import collect, snmp_config
from tests.support.snmp_exporter import Exposition, SnmpExporter, exporter_module, parse_exposition
from tests.support.snmp_peers import COMMUNITY, SNMPREC, Snmpd, Snmpsim

pytestmark = pytest.mark.peer

RECORDED = Path(snmpsim.__file__).parent / "data" / "recorded"
RECORDINGS = {
    "linux": RECORDED / "linux-full-walk.snmprec",
    "winxp": RECORDED / "winxp-full-walk.snmprec",
    "router": SNMPREC / "router.snmprec",
    "switch48": SNMPREC / "switch48.snmprec",
    "router-latin1": SNMPREC / "router-latin1.snmprec",
}
# Labels one side adds and the other does not: the agent names the device (Prometheus adds
# instance to the exporter's series), and the exporter's own scrape statistics are snmp_*.
AGENT_ONLY_LABELS = frozenset({"device"})
OWN_METRIC_PREFIXES = ("snmp_", "commune_snmp_")
# Series that differ on purpose (docs/agent/snmp.md, "Deviations from snmp_exporter").
DEVIATIONS: frozenset[str] = frozenset()


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Snmpsim, Snmpd,
                                                                      SnmpExporter]]:
    sim = Snmpsim(tmp_path_factory.mktemp("snmpsim"), RECORDINGS)
    snmpd = Snmpd(tmp_path_factory.mktemp("snmpd"))
    if_mib = load_definitions(["if_mib"])["if_mib"]
    modules = {community: exporter_module(if_mib, community)
               for community in (*RECORDINGS, COMMUNITY)}
    exporter = SnmpExporter(tmp_path_factory.mktemp("snmp_exporter"), modules)
    try:
        yield sim, snmpd, exporter
    finally:
        exporter.stop()
        snmpd.stop()
        sim.stop()


def agent_text(tmp_path: Path, address: str, community: str) -> bytes:
    (tmp_path / "community").write_text(community)
    config = snmp_config(tmp_path, f"""
        - {{name: dev, address: "{address}", community_file: community, timeout: 5s,
           modules: [if_mib]}}
    """)
    return render(collect(config).collect())


def agent_exposition(tmp_path: Path, address: str, community: str) -> Exposition:
    return own_removed(parse_exposition(agent_text(tmp_path, address, community).decode(),
                                        AGENT_ONLY_LABELS))


def own_removed(exposition: Exposition) -> Exposition:
    def keep(name: str) -> bool:
        return not name.startswith(OWN_METRIC_PREFIXES) and name not in DEVIATIONS

    return Exposition({n: t for n, t in exposition.types.items() if keep(n)},
                      {n: h for n, h in exposition.helps.items() if keep(n)},
                      {k: v for k, v in exposition.series.items() if keep(k[0])})


def assert_same_families(ours: Exposition, theirs: Exposition) -> None:
    assert ours.types == theirs.types
    assert ours.helps == theirs.helps
    assert set(ours.series) == set(theirs.series), (
        f"only ours: {sorted(set(ours.series) - set(theirs.series), key=str)[:5]}, "
        f"only snmp_exporter's: {sorted(set(theirs.series) - set(ours.series), key=str)[:5]}")


@pytest.mark.parametrize("community", [c for c in RECORDINGS if c != "router-latin1"])
def test_recording_series_identical_to_snmp_exporter(peers: tuple[Snmpsim, Snmpd, SnmpExporter],
                                                     tmp_path: Path, community: str) -> None:
    sim, _, exporter = peers
    theirs = own_removed(parse_exposition(exporter.scrape(sim.address, community)))
    ours = agent_exposition(tmp_path, sim.address, community)
    assert len(theirs.series) > 20, "snmp_exporter read almost nothing from the recording"
    assert_same_families(ours, theirs)
    differing = {k: (v, theirs.series[k]) for k, v in ours.series.items()
                 if v != theirs.series[k]}
    assert not differing, sorted(differing.items(), key=str)[:5]


def test_snmpd_series_identical_to_snmp_exporter(peers: tuple[Snmpsim, Snmpd, SnmpExporter],
                                                 tmp_path: Path) -> None:
    """A live agent's counters move between two scrapes: each of ours must lie between the
    exporter's before and after, the stable columns are then equal."""
    _, snmpd, exporter = peers
    before = own_removed(parse_exposition(exporter.scrape(snmpd.address, COMMUNITY)))
    ours = agent_exposition(tmp_path, snmpd.address, COMMUNITY)
    after = own_removed(parse_exposition(exporter.scrape(snmpd.address, COMMUNITY)))
    assert_same_families(ours, before)
    assert set(before.series) == set(after.series)
    outside = {k: (before.series[k], v, after.series[k]) for k, v in ours.series.items()
               if not min(before.series[k], after.series[k]) <= v
               <= max(before.series[k], after.series[k])}
    assert not outside, sorted(outside.items(), key=str)[:5]
    assert ours.types["ifHCInOctets"] == "counter" and ours.types["ifType_info"] == "gauge"


def test_invalid_utf8_fails_snmp_exporter_and_reads_as_replacement(
        peers: tuple[Snmpsim, Snmpd, SnmpExporter], tmp_path: Path) -> None:
    """Deviation: snmp_exporter 0.21 fails the whole scrape (HTTP 500) on a DisplayString that
    is not UTF-8; the agent keeps the device and writes U+FFFD for the bad bytes."""
    sim, _, exporter = peers
    status, body = exporter.scrape_status(sim.address, "router-latin1")
    assert status == 500 and b"not valid UTF-8" in body
    ours = agent_exposition(tmp_path, sim.address, "router-latin1")
    port2 = {("ifIndex", "2"), ("ifName", "xe-0/0/1"), ("ifDescr", "xe-0/0/1"),
             ("ifAlias", "transit-\ufffd-b")}
    assert ours.series[("ifHCInOctets", frozenset(port2))] == 2**32 + 7


def test_prometheus_reads_the_bare_counters_as_counters(
        peers: tuple[Snmpsim, Snmpd, SnmpExporter], tmp_path: Path) -> None:
    """Prometheus scrapes the agent's if_mib: ifHCInOctets is a counter in its metadata (no
    _total needed), ifType_info a gauge, and a 64-bit value above 2**32 arrives exactly."""
    sim, _, _ = peers
    body = agent_text(tmp_path, sim.address, "router")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    with serving(server):
        config = textwrap.dedent(f"""\
            global: {{scrape_interval: 1s}}
            scrape_configs:
              - job_name: agent
                static_configs: [{{targets: ["{LOOPBACK}:{server.server_address[1]}"]}}]
            """)
        with Prometheus(config, tmp_path) as prom:
            def metadata() -> dict[str, str]:
                status, raw, _ = http_get(f"{prom.url}/api/v1/metadata")
                data = json.loads(raw)["data"] if status == 200 else {}
                return {name: entries[0]["type"] for name, entries in data.items()}

            types = wait_for(lambda: (m := metadata()).get("ifHCInOctets") and m, 30,
                             what="Prometheus metadata of the agent's if_mib")
            result = prom.query('ifHCInOctets{ifIndex="2"}')
    assert types["ifHCInOctets"] == "counter" and types["ifInOctets"] == "counter"
    assert types["ifType_info"] == "gauge" and types["ifPhysAddress"] == "gauge"
    assert [float(r["value"][1]) for r in result] == [2**32 + 7]
