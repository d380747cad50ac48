"""softflowd exports, as NetFlow v5, v9 and IPFIX, the traffic of a LAN in a namespace; nfcapd
receives the export and repeats it to the module. Both must count the same bytes, and the top
talker and its app must be the ones the traffic made."""

from __future__ import annotations

import asyncio
import csv
import ipaddress
import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import netflow
import pytest

from agent.modules.flows.config import FlowsConfig, Network
from agent.modules.flows.module import FlowsModule
from common.schema import HostPort
from tests.support.lan_capture import HOSTS, LAN, REMOTE, Capture, lan_namespace, make_traffic
from tests.support.peers import free_udp_port, require_binary, wait_for
from tests.support.samples import registry_of

pytestmark = pytest.mark.peer
PROTOCOL = {"5": "netflow5", "9": "netflow9", "10": "ipfix"}


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    folder = tmp_path_factory.mktemp("lan")
    with lan_namespace(str(os.getpid() % 100_000)) as (ns, outer):
        return make_traffic(ns, outer, folder / "lan.pcap")


def _processed(control: Path) -> int:
    done = subprocess.run([require_binary("softflowctl"), "-c", str(control), "statistics"],
                          capture_output=True, text=True, timeout=5)
    found = re.search(r"Packets processed: (\d+)", done.stdout)
    return int(found[1]) if found else -1


def _softflowd(version: str, capture: Capture, target: int, folder: Path) -> dict[str, int]:
    """Run softflowd over the capture; its own totals (records, octets by IP protocol)."""
    control = folder / "softflowd.ctl"
    process = subprocess.Popen(
        [require_binary("softflowd"), "-r", str(capture.pcap), "-n", f"127.0.0.1:{target}",
         "-v", version, "-d", "-c", str(control), "-p", str(folder / "softflowd.pid")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(control.exists, what="softflowd's control socket")
        # It reads the file in one go once started, then may stop by itself at its end.
        seen: list[int] = []

        def done_reading() -> bool:
            if process.poll() is not None:
                return True
            seen.append(_processed(control))
            return len(seen) > 2 and seen[-1] == seen[-3] > 0

        wait_for(done_reading, interval=0.1, what="softflowd reading the capture")
        if process.poll() is None:  # "shutdown" expires and exports every flow
            subprocess.run([require_binary("softflowctl"), "-c", str(control), "shutdown"],
                           capture_output=True, timeout=5)
        out, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    exported = re.search(r"Flows exported: (\d+) \((\d+) records\)", out)
    assert exported, out
    own = {"records": int(exported[2])}
    for proto, octets in re.findall(r"^\s+[\w-]+ \((\d+)\):\s+(\d+)", out, re.MULTILINE):
        own[proto] = int(octets)
    return own


def _nfdump(folder: Path) -> list[dict[str, str]]:
    done = subprocess.run([require_binary("nfdump"), "-R", str(folder), "-o", "csv", "-q"],
                          capture_output=True, text=True, timeout=30, check=True)
    # nfdump's CSV columns, as its header names them (the first 13 of them).
    fields = ["ts", "te", "td", "sa", "da", "sp", "dp", "pr", "flg", "fwd", "stos", "ipkt",
              "ibyt"]
    return [dict(zip(fields, row, strict=False)) for row in csv.reader(done.stdout.splitlines())
            if len(row) > len(fields)]


async def _run(version: str, capture: Capture, folder: Path,
               datagrams: list[bytes]) -> tuple[FlowsModule, dict[str, int]]:
    ours, theirs = free_udp_port(), free_udp_port()
    config = FlowsConfig(listen=(HostPort(f"127.0.0.1:{ours}"),), lan=(Network(LAN),),
                         top_n=2, names={HOSTS[0]: "ketoan-pc"})
    module = FlowsModule(config)
    receive = module.listener.receive

    def keep(data: bytes, sender: str) -> None:
        datagrams.append(data)
        receive(data, sender)

    module.listener.receive = keep  # type: ignore[method-assign]
    await module.start()
    flows_dir = folder / "nfcapd"
    flows_dir.mkdir()
    nfcapd = await asyncio.create_subprocess_exec(
        require_binary("nfcapd"), "-w", str(flows_dir), "-b", "127.0.0.1", "-p", str(theirs),
        "-R", f"127.0.0.1/{ours}", "-t", "3600",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.sleep(0.5)  # nfcapd binds its port
        own = await asyncio.to_thread(_softflowd, version, capture, theirs, folder)
        for _ in range(100):
            if sum(module.listener.records.values()) >= own["records"]:
                break
            await asyncio.sleep(0.05)
    finally:
        nfcapd.terminate()  # writes its file on the way out
        await nfcapd.wait()
    return module, own


def _address(data: dict[str, object], v9: str, ipfix: str) -> str | None:
    """An address of a record as the netflow package decodes it (text, or an int in IPFIX)."""
    for key, version in ((f"IPV4_{v9}_ADDR", 4), (f"IPV6_{v9}_ADDR", 6),
                         (f"{ipfix}IPv4Address", 4), (f"{ipfix}IPv6Address", 6)):
        value = data.get(key)
        if value is not None:
            address = ipaddress.IPv4Address(value) if version == 4 else \
                ipaddress.IPv6Address(value)
            return str(address)
    return None


@pytest.mark.parametrize("version", ["5", "9", "10"])
def test_softflowd_export_counted_as_softflowd_and_nfdump_count_it(
        version: str, capture: Capture, tmp_path: Path) -> None:
    datagrams: list[bytes] = []
    module, own = asyncio.run(_run(version, capture, tmp_path, datagrams))
    try:
        module.accounting.close_interval()
        families = module.families()
    finally:
        module.close()
    value = registry_of(families).get_sample_value

    rows = _nfdump(tmp_path / "nfcapd")
    assert value("commune_flow_records_total", {"protocol": PROTOCOL[version]}) == \
        own["records"] == len(rows)
    assert value("commune_flow_template_errors_total",
                 {"protocol": "ipfix", "reason": "missing"}) == 0
    # Bytes: softflowd's own per-protocol octets, nfdump's records and the capture agree.
    nfdump_bytes = Counter[tuple[str, str]]()
    for row in rows:
        nfdump_bytes[(row["sa"], row["da"])] += int(row["ibyt"])
    total = sum(v for k, v in own.items() if k != "records")
    assert sum(nfdump_bytes.values()) == total
    for (src, dst), octets in capture.ip_bytes.items():
        if src == HOSTS[0] and dst == REMOTE:
            assert nfdump_bytes[(src, dst)] == octets  # the whole upload is in the export
    # The module: every exported byte, by the LAN's side, the top talker named and its app.
    series = {(s.labels["direction"], s.labels["host"], s.labels["app"]): s.value
              for s in families[0].samples}
    lan = ipaddress.ip_network(LAN)
    outside = [r for r in rows if not ({r["sa"], r["da"]} & {str(a) for a in lan})]
    assert sum(series.values()) == total - sum(int(r["ibyt"]) for r in outside)
    assert value("commune_flow_records_ignored_total") == len(outside)  # IPv6 multicast
    upload = {k: v for k, v in series.items() if k[0] == "upload"}
    top = max(upload, key=lambda k: upload[k])
    assert top == ("upload", "ketoan-pc", "https")
    assert upload[top] == nfdump_bytes[(HOSTS[0], REMOTE)]
    assert series[("download", HOSTS[2], "windows-update")] == nfdump_bytes[(REMOTE, HOSTS[2])]
    # top_n is 2: the third host's DNS is counted, as host "other".
    dns = sum(int(row["ibyt"]) for row in rows if row["sa"] == HOSTS[1] and row["dp"] == "53")
    assert dns > 0
    assert series[("upload", "other", "dns")] == dns
    assert not any(host == HOSTS[1] for _, host, _ in series)
    # The netflow package, as a reference decoder, reads the same bytes from the datagrams. It
    # reads the padding at the end of a v9 data set as one more record (0.12.2, when the set's
    # length is a multiple of 4): records whose addresses nfdump never saw are those. It also
    # lists IPFIX options records among the flows.
    templates: dict[str, dict[int, object]] = {"netflow": {}, "ipfix": {}}
    seen = {(row["sa"], row["da"]) for row in rows}
    reference = 0
    for data in datagrams:
        for flow in netflow.parse_packet(data, templates).flows:
            d = flow.data
            pair = (_address(d, "SRC", "source"), _address(d, "DST", "destination"))
            if None in pair:
                continue  # an IPFIX options record (softflowd's sampling), not a flow
            if pair in seen:
                reference += d.get("IN_OCTETS") or d.get("IN_BYTES") or \
                    d.get("octetDeltaCount", 0)
    assert reference == total
