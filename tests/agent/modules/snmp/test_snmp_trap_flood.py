"""A flood of hostile traps against the agent's scheduler while the snmp module polls Debian's
snmpd: the collections keep their interval and every datagram sent is counted, as a trap or as a
drop under its reason (the kernel's own drops, when the socket's queue is full, included)."""

from __future__ import annotations

import itertools
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.config import load_config
from agent.modules.snmp.traps import MAX_TRAP_BYTES
from agent.scheduler import build_scheduler
from tests.support.peers import LOOPBACK, free_udp_port, wait_for
from tests.support.snmp_peers import COMMUNITY, Snmpd
from tests.support.snmp_traps import huge_arc_trap, padded, trap_v2, v3_message

pytestmark = pytest.mark.peer

INTERVAL = 1.0
FLOOD_SECONDS = 4.0
SECRET = b"trap-secret"

# Sends the length-prefixed datagrams of a file to a port for some seconds, one every ``gap``:
# a process of its own, so the flood does not compete with the agent's loop for this
# interpreter's lock. Returns how many it sent.
_FLOODER = """
import socket, struct, sys, time
port, path, seconds, gap = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
data, batch = open(path, "rb").read(), []
while data:
    (n,), data = struct.unpack(">I", data[:4]), data[4:]
    batch.append(data[:n]); data = data[n:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for d in batch:
        s.sendto(d, ("127.0.0.1", port))
        sent += 1
        time.sleep(gap)
print(sent)
"""


def hostile_round() -> list[bytes]:
    """One round of the flood: what each reason of the listener must catch, and one real trap."""
    big = [padded(b"wrong", 64000)] * 10  # too_big
    # bad_community, at the size cap; a 33,000-digit arc too: refused before it is decoded.
    at_cap = [padded(b"wrong", MAX_TRAP_BYTES)] * 5 + [huge_arc_trap(b"wrong", 33000)] * 5
    malformed = [os.urandom(1400) for _ in range(10)] + [trap_v2(SECRET)[:-5]] * 5
    versions = [v3_message()] * 5
    return [*big, *at_cap, *malformed, *versions, huge_arc_trap(SECRET, 6000), trap_v2(SECRET)]


def test_a_flood_of_bad_traps_does_not_delay_collections(tmp_path: Path) -> None:
    trap_port = free_udp_port()
    (tmp_path / "community").write_text(COMMUNITY + "\n")
    (tmp_path / "trap-community").write_text(SECRET.decode() + "\n")
    snmpd = Snmpd(tmp_path)
    try:
        (tmp_path / "agent.yml").write_text(f"""
commune: "1"
interval: {INTERVAL:g}s
timeout: 900ms
modules:
  snmp:
    devices:
      - {{name: switch, address: "{snmpd.address}", community_file: community,
         timeout: 400ms, retries: 1, modules: [system, if_mib]}}
    traps: {{listen: "{LOOPBACK}:{trap_port}", community_files: [trap-community]}}
""")
        scheduler = build_scheduler(load_config(tmp_path / "agent.yml"))
        collected: list[float] = []
        scheduler.subscribers.append(lambda name, families: collected.append(time.monotonic()))
        scheduler.start()
        try:
            wait_for(lambda: collected, 30, what="the first snmp collection")
            batch = hostile_round()
            (tmp_path / "flood").write_bytes(
                b"".join(struct.pack(">I", len(d)) + d for d in batch))
            start = time.monotonic()
            flood = subprocess.run([sys.executable, "-c", _FLOODER, str(trap_port),
                                    str(tmp_path / "flood"), str(FLOOD_SECONDS), "0.0005"],
                                   check=True, timeout=60, capture_output=True, text=True)
            end = time.monotonic()
            sent = int(flood.stdout)

            def counted() -> dict[str, float]:
                found: dict[str, float] = {}
                for line in scheduler.snapshot.plain.decode().splitlines():
                    if line.startswith(("commune_snmp_traps_total", "commune_snmp_traps_dropped")):
                        name, _, number = line.rpartition(" ")
                        reason = name.partition('reason="')[2].partition('"')[0] or "counted"
                        found[reason] = found.get(reason, 0.0) + float(number)
                return found

            wait_for(lambda: sum(counted().values()) >= sent, 10,
                     what=f"{sent} datagrams counted (got {counted()})")
        finally:
            scheduler.stop()
            run = scheduler.runs[0]
    finally:
        snmpd.stop()

    got = counted()
    assert sum(got.values()) == sent, got  # nothing lost uncounted, nothing counted twice
    for reason in ("too_big", "bad_community", "malformed", "bad_version"):
        assert got.get(reason, 0) > 0, got
    assert got["counted"] > 0 and got.get("internal", 0) == 0, got
    during = [t for t in collected if start <= t <= end + INTERVAL]
    gaps = [b - a for a, b in itertools.pairwise(collected)]
    # Decoding whole datagrams before the community check (with a quadratic OID decoder) let
    # 100 of them take the loop 6 s: 2 collections ran of 5.
    assert len(during) >= int((end - start) / INTERVAL), (end - start, collected)
    assert max(gaps) < INTERVAL * 1.6, gaps
    assert run.errors == 0 and run.up, run.last_error
