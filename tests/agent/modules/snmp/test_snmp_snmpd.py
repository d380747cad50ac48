"""The snmp module against Debian's real snmpd on loopback: v1, v2c, v3, bulk and GETNEXT walks,
if_mib/system/host_resources/ucd compared with net-snmp's own tools, and a dead device."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import load_config
from agent.modules.snmp.definitions import load_definitions
from agent.scheduler import build_scheduler
from tests.support.samples import value
from tests.support.snmp_collect import collect, samples, snmp_config
from tests.support.snmp_peers import (
    COMMUNITY,
    V3_AUTH,
    V3_PRIV,
    V3_USER,
    Snmpd,
    parse_tool_output,
    silent_udp,
    snmp_tool,
)

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    agent = Snmpd(tmp_path_factory.mktemp("snmpd"))
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture(params=["native", "pysnmp"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both v1/v2c backends must read the same values."""
    return str(request.param)


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    (tmp_path / "community").write_text(COMMUNITY + "\n")
    (tmp_path / "auth").write_text(V3_AUTH + "\n")
    (tmp_path / "priv").write_text(V3_PRIV + "\n")
    (tmp_path / "wrong").write_text("not-the-passphrase\n")
    return tmp_path


def walk(snmpd: Snmpd, oid: str) -> dict[str, str]:
    return parse_tool_output(snmp_tool("snmpbulkwalk", snmpd.address, oid))


def by_index(registry, name: str, device: str = "local"
             ) -> dict[str, tuple[dict[str, str], float]]:
    return {labels["ifIndex"]: (labels, value) for labels, value in samples(registry, name)
            if labels["device"] == device}


IF_TABLE = "1.3.6.1.2.1.2.2.1"
IF_X_TABLE = "1.3.6.1.2.1.31.1.1.1"
STABLE_COLUMNS = {"ifMtu": f"{IF_TABLE}.4",
                  "ifAdminStatus": f"{IF_TABLE}.7", "ifOperStatus": f"{IF_TABLE}.8",
                  "ifHighSpeed": f"{IF_X_TABLE}.15"}
COUNTERS = {"ifHCInOctets": f"{IF_X_TABLE}.6", "ifHCOutOctets": f"{IF_X_TABLE}.10",
            "ifInErrors": f"{IF_TABLE}.14", "ifOutErrors": f"{IF_TABLE}.20",
            "ifInDiscards": f"{IF_TABLE}.13", "ifOutDiscards": f"{IF_TABLE}.19"}


def check_if_mib_against_bulkwalk(registry, before: dict[str, str], after: dict[str, str],
                                  device: str = "local") -> None:
    names = {k.rsplit(".", 1)[1]: v for k, v in after.items() if k.startswith(f"{IF_X_TABLE}.1.")}
    descrs = {k.rsplit(".", 1)[1]: v for k, v in after.items() if k.startswith(f"{IF_TABLE}.2.")}
    assert names, "snmpd shows no interface"
    for metric, column in STABLE_COLUMNS.items():
        got = by_index(registry, metric, device)
        assert set(got) == set(names), metric
        for index, (labels, got_value) in got.items():
            assert got_value == float(after[f"{column}.{index}"]), (metric, index)
            assert labels["ifName"] == names[index] and labels["ifDescr"] == descrs[index]
            assert labels["ifAlias"] == ""
    # ifType is an EnumAsInfo, as in snmp_exporter's if_mib: ifType_info{ifType="name"} 1.
    types = load_definitions(["if_mib"])["if_mib"]
    enum = next(m.enum_values for m in types.metrics if m.name == "ifType")
    info = {labels["ifIndex"]: labels["ifType"] for labels, value in
            samples(registry, "ifType_info") if labels["device"] == device and value == 1.0}
    assert info == {i: enum[after[f"{IF_TABLE}.3.{i}"]] for i in names}
    # Counters move (our own queries cross lo): ours lies between the walks before and after.
    for metric, column in COUNTERS.items():
        got = by_index(registry, metric, device)
        assert set(got) == set(names), metric
        for index, (_, got_value) in got.items():
            low, high = float(before[f"{column}.{index}"]), float(after[f"{column}.{index}"])
            assert low <= got_value <= high, (metric, index, low, got_value, high)


def test_v2c_if_mib_matches_snmpbulkwalk(snmpd: Snmpd, secrets: Path, tmp_path: Path,
                                         backend: str) -> None:
    config = snmp_config(tmp_path, f"""
        - {{name: local, address: "{snmpd.address}", community_file: {secrets}/community,
           timeout: 5s, modules: [if_mib], backend: {backend}}}
    """)
    before = {**walk(snmpd, IF_TABLE), **walk(snmpd, IF_X_TABLE)}
    registry = collect(config)
    after = {**walk(snmpd, IF_TABLE), **walk(snmpd, IF_X_TABLE)}
    assert registry.get_sample_value("commune_snmp_up", {"device": "local"}) == 1.0
    check_if_mib_against_bulkwalk(registry, before, after)
    ifnumber = registry.get_sample_value("ifNumber", {"device": "local"})
    assert ifnumber == float(len(by_index(registry, "ifOperStatus")))
    assert value(registry, "commune_snmp_pdus_total", device="local") >= 2


def test_getnext_walk_gives_the_same_table(snmpd: Snmpd, secrets: Path, tmp_path: Path,
                                           backend: str) -> None:
    config = snmp_config(tmp_path, f"""
        - {{name: local, address: "{snmpd.address}", community_file: {secrets}/community,
           timeout: 5s, modules: [if_mib], bulk: false, backend: {backend}}}
        - {{name: bulk, address: "{snmpd.address}", community_file: {secrets}/community,
           timeout: 5s, modules: [if_mib], max_repetitions: 10, backend: {backend}}}
    """)
    before = {**walk(snmpd, IF_TABLE), **walk(snmpd, IF_X_TABLE)}
    registry = collect(config)
    after = {**walk(snmpd, IF_TABLE), **walk(snmpd, IF_X_TABLE)}
    check_if_mib_against_bulkwalk(registry, before, after, "local")
    check_if_mib_against_bulkwalk(registry, before, after, "bulk")
    next_pdus = value(registry, "commune_snmp_pdus_total", device="local")
    bulk_pdus = value(registry, "commune_snmp_pdus_total", device="bulk")
    # One GETNEXT per value (plus the end of each subtree) versus ten values per GETBULK.
    values = sum(1 for k in after if k.startswith(("1.3.6.1.2.1.2.", "1.3.6.1.2.1.31.1.1.")))
    assert next_pdus >= values
    assert bulk_pdus <= values / 10 + 3


def test_v1_getnext(snmpd: Snmpd, secrets: Path, tmp_path: Path,
                    backend: str) -> None:
    config = snmp_config(tmp_path, f"""
        - {{name: local, address: "{snmpd.address}", version: 1,
           community_file: {secrets}/community, modules: [system, if_mib],
           backend: {backend}}}
    """)
    registry = collect(config)
    expected = parse_tool_output(snmp_tool("snmpget", snmpd.address, "1.3.6.1.2.1.1.5.0",
                                           version="1"))
    sysname = samples(registry, "sysName")
    assert [labels["sysName"] for labels, _ in sysname] == [expected["1.3.6.1.2.1.1.5.0"]]
    assert samples(registry, "ifOperStatus")
    # Counter64 does not exist in SNMPv1: the HC columns are absent, the 32-bit ones are there.
    assert samples(registry, "ifHCInOctets") == []
    assert samples(registry, "ifInOctets")


def test_system_host_resources_ucd(snmpd: Snmpd, secrets: Path, tmp_path: Path,
                                   backend: str) -> None:
    config = snmp_config(tmp_path, f"""
        - {{name: local, address: "{snmpd.address}", community_file: {secrets}/community,
           timeout: 5s, modules: [system, host_resources, ucd], backend: {backend}}}
    """)
    before = parse_tool_output(snmp_tool("snmpget", snmpd.address, "1.3.6.1.2.1.1.3.0"))
    registry = collect(config)
    got = parse_tool_output(snmp_tool(
        "snmpget", snmpd.address, "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.1.0",
        "1.3.6.1.4.1.2021.4.5.0", "1.3.6.1.2.1.25.2.2.0"))
    assert registry.get_sample_value("commune_snmp_up", {"device": "local"}) == 1.0
    uptime = value(registry, "sysUpTime", device="local")
    assert float(before["1.3.6.1.2.1.1.3.0"]) <= uptime <= float(got["1.3.6.1.2.1.1.3.0"])
    assert registry.get_sample_value(
        "sysName", {"device": "local", "sysName": got["1.3.6.1.2.1.1.5.0"]}) == 1.0
    assert registry.get_sample_value(
        "sysDescr", {"device": "local", "sysDescr": got["1.3.6.1.2.1.1.1.0"]}) == 1.0
    assert registry.get_sample_value("hrMemorySize", {"device": "local"}) == \
        float(got["1.3.6.1.2.1.25.2.2.0"].split()[0])
    assert registry.get_sample_value("memTotalReal", {"device": "local"}) == \
        float(got["1.3.6.1.4.1.2021.4.5.0"].split()[0])

    storage = walk(snmpd, "1.3.6.1.2.1.25.2.3.1")
    sizes = {labels["hrStorageDescr"]: value
             for labels, value in samples(registry, "hrStorageSize")}
    descr = {k.rsplit(".", 1)[1]: v for k, v in storage.items()
             if k.startswith("1.3.6.1.2.1.25.2.3.1.3.")}
    assert set(sizes) == set(descr.values())
    root_index = next(i for i, d in descr.items() if d == "/")
    assert sizes["/"] == float(storage[f"1.3.6.1.2.1.25.2.3.1.5.{root_index}"])
    # snmpd fills hrProcessorTable after its first CPU sample: compare with what it shows now.
    cpus = [k for k in walk(snmpd, "1.3.6.1.2.1.25.3.3.1.2")
            if k.startswith("1.3.6.1.2.1.25.3.3.1.2.")]
    assert len(samples(registry, "hrProcessorLoad")) == len(cpus)

    loads = {labels["laNames"]: value for labels, value in samples(registry, "laLoad")}
    assert set(loads) == {"Load-1", "Load-5", "Load-15"}
    assert all(value >= 0 for value in loads.values())
    disks = {labels["dskPath"]: value for labels, value in samples(registry, "dskTotal")}
    expected_disk = walk(snmpd, "1.3.6.1.4.1.2021.9.1.6")
    assert list(disks) == ["/"] and disks["/"] == float(next(iter(expected_disk.values())))
    assert registry.get_sample_value("ssCpuRawIdle", {"device": "local"}) is not None
    ncpu = parse_tool_output(snmp_tool("snmpget", snmpd.address, "1.3.6.1.4.1.2021.11.67.0"))
    assert registry.get_sample_value("ssCpuNumCpus", {"device": "local"}) == \
        float(ncpu["1.3.6.1.4.1.2021.11.67.0"].split()[0])


def test_v3_auth_priv(snmpd: Snmpd, secrets: Path, tmp_path: Path,
                      caplog: pytest.LogCaptureFixture) -> None:
    def device(name: str, auth: str, priv: str) -> str:
        return f"""
        - name: {name}
          address: "{snmpd.address}"
          version: 3
          v3: {{username: {V3_USER}, security_level: authPriv, auth_protocol: SHA,
                auth_passphrase_file: {secrets}/{auth}, priv_protocol: AES,
                priv_passphrase_file: {secrets}/{priv}}}
          timeout: 5s
          retries: 0
          modules: [system]
        """
    config = snmp_config(tmp_path, device("good", "auth", "priv") +
                         device("bad-auth", "wrong", "priv"))
    with caplog.at_level(logging.WARNING):
        registry = collect(config)
    expected = parse_tool_output(snmp_tool("snmpget", snmpd.address, "1.3.6.1.2.1.1.5.0",
                                           v3=True))["1.3.6.1.2.1.1.5.0"]
    assert registry.get_sample_value("commune_snmp_up", {"device": "good"}) == 1.0
    assert registry.get_sample_value("sysName", {"device": "good", "sysName": expected}) == 1.0
    assert registry.get_sample_value("commune_snmp_up", {"device": "bad-auth"}) == 0.0
    assert registry.get_sample_value("commune_snmp_failure_reason",
                                     {"device": "bad-auth", "reason": "auth"}) == 1.0
    assert registry.get_sample_value("commune_snmp_errors_total",
                                     {"device": "bad-auth", "reason": "auth"}) == 1.0
    assert samples(registry, "sysName") == [({"device": "good", "sysName": expected}, 1.0)]
    assert "bad-auth" in caplog.text and "check the v3 username, protocols and passphrases" \
        in caplog.text
    for secret in (V3_AUTH, V3_PRIV, "not-the-passphrase"):
        assert secret not in caplog.text


def test_v3_security_levels_and_sha2(snmpd: Snmpd, secrets: Path, tmp_path: Path) -> None:
    config = snmp_config(tmp_path, f"""
        - name: sha512
          address: "{snmpd.address}"
          version: 3
          v3: {{username: {V3_USER}-sha512, auth_protocol: SHA512,
                auth_passphrase_file: {secrets}/auth, priv_passphrase_file: {secrets}/priv}}
          timeout: 5s
          modules: [system]
        - name: authonly
          address: "{snmpd.address}"
          version: 3
          v3: {{username: {V3_USER}-authonly, security_level: authNoPriv, auth_protocol: SHA256,
                auth_passphrase_file: {secrets}/auth}}
          timeout: 5s
          modules: [system]
        - name: noauth
          address: "{snmpd.address}"
          version: 3
          v3: {{username: {V3_USER}-noauth, security_level: noAuthNoPriv}}
          timeout: 5s
          modules: [system]
    """)
    registry = collect(config)
    for device in ("sha512", "authonly", "noauth"):
        assert value(registry, "commune_snmp_up", device=device) == 1.0, device
        assert value(registry, "sysUpTime", device=device) > 0


def test_wrong_community_is_a_timeout(snmpd: Snmpd, tmp_path: Path, backend: str) -> None:
    (tmp_path / "community").write_text("nope\n")
    config = snmp_config(tmp_path, f"""
        - {{name: local, address: "{snmpd.address}", community_file: community,
           timeout: 300ms, retries: 0, modules: [system, if_mib], backend: {backend}}}
    """)
    registry = collect(config)
    assert registry.get_sample_value("commune_snmp_up", {"device": "local"}) == 0.0
    assert registry.get_sample_value("commune_snmp_failure_reason",
                                     {"device": "local", "reason": "timeout"}) == 1.0
    # The device did not answer the first module: the second is not tried (one PDU only).
    assert registry.get_sample_value("commune_snmp_pdus_total", {"device": "local"}) == 1.0
    assert samples(registry, "sysUpTime") == []


def test_dead_device_delays_nothing_else(snmpd: Snmpd, secrets: Path, tmp_path: Path) -> None:
    with silent_udp() as dead:
        path = tmp_path / "agent.yml"
        path.write_text(f"""
commune: "16318"
interval: 10s
modules:
  snmp:
    devices:
      - {{name: dead, address: "{dead}", timeout: 2s, retries: 1, modules: [if_mib, system]}}
      - {{name: healthy, address: "{snmpd.address}", community_file: {secrets}/community,
           timeout: 5s,         modules: [if_mib, system]}}
""")
        scheduler = build_scheduler(load_config(path))
        try:
            asyncio.run(scheduler.collect_all())
        finally:
            scheduler.stop()
    text = scheduler.snapshot.plain.decode()
    lines = text.splitlines()
    assert 'commune_module_up{commune="16318",module="snmp"} 1.0' in lines
    assert 'commune_snmp_up{commune="16318",device="healthy"} 1.0' in lines
    assert 'commune_snmp_up{commune="16318",device="dead"} 0.0' in lines
    assert 'commune_snmp_failure_reason{commune="16318",device="dead",reason="timeout"} 1.0' \
        in lines
    assert any(line.startswith('ifHCInOctets{commune="16318",device="healthy"') for line in lines)
    assert not any('device="dead"' in line and line.startswith("if") for line in lines)
    durations = {line.split('device="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
                 for line in lines if line.startswith("commune_snmp_scrape_duration_seconds{")}
    # Polled side by side: the healthy device did not wait for the dead one's 4 s of retries.
    assert durations["dead"] >= 4.0 > durations["healthy"]


def test_commune_agent_once_prints_the_switch(snmpd: Snmpd, secrets: Path, tmp_path: Path
                                              ) -> None:
    path = tmp_path / "agent.yml"
    path.write_text(f"""
commune: "16318"
modules:
  snmp:
    devices:
      - {{name: core-switch, address: "{snmpd.address}", community_file: {secrets}/community,
         timeout: 5s, modules: [if_mib, system]}}
""")
    agent = Path(sys.executable).parent / "commune-agent"
    out = subprocess.run([str(agent), "once", "--config.file", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert 'commune_snmp_up{commune="16318",device="core-switch"} 1.0' in lines
    assert "# TYPE ifHCInOctets counter" in lines  # snmp_exporter's name, no _total
    assert any(line.startswith('ifHCInOctets{commune="16318",device="core-switch",ifAlias=""')
               for line in lines)
    assert COMMUNITY not in out.stdout + out.stderr
