"""The trap listener, fed by net-snmp's own snmptrap and snmpinform on loopback; and what the
module logs about devices."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from pathlib import Path

import pytest

from agent.config import load_config
from agent.modules.snmp.config import SnmpConfig
from agent.modules.snmp.module import SnmpModule
from agent.modules.snmp.traps import DROP_REASONS
from tests.support.peers import free_udp_port, require_binary
from tests.support.snmp_collect import collect, snmp_config
from tests.support.snmp_peers import silent_udp

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"


def send(tool: str, *args: str) -> None:
    env = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}
    out = subprocess.run([require_binary(tool), *args], capture_output=True, text=True,
                         env=env, timeout=30)
    assert out.returncode == 0, f"{tool} failed: {out.stderr}"


@pytest.mark.peer
def test_traps_and_informs_are_counted(tmp_path: Path) -> None:
    port = free_udp_port()
    target = f"127.0.0.1:{port}"
    (tmp_path / "community").write_text("trap-secret\n")
    with silent_udp() as device_address:
        (tmp_path / "agent.yml").write_text(f"""
commune: "1"
modules:
  snmp:
    devices:
      - {{name: vc-poly, address: "{device_address}", timeout: 200ms, retries: 0,
         modules: [vc/poly]}}
    traps: {{listen: "{target}", community_files: [community]}}
""")
        config = load_config(tmp_path / "agent.yml").modules.entries[0].config
        assert isinstance(config, SnmpConfig)

        async def run() -> dict[str, float]:
            module = SnmpModule(config)
            try:
                await module.collect()  # opens the listener
                args = ("-c", "trap-secret", target)
                await asyncio.to_thread(send, "snmptrap", "-v2c", *args, "", LINK_DOWN,
                                        "1.3.6.1.2.1.2.2.1.1.2", "i", "2")
                await asyncio.to_thread(send, "snmptrap", "-v2c", *args, "", LINK_DOWN)
                # v1, Polycom enterprise-specific trap 2: loginFail.
                await asyncio.to_thread(send, "snmptrap", "-v1", *args,
                                        "1.3.6.1.4.1.2684.1.1", "127.0.0.1", "6", "2", "")
                # snmpinform exits 0 only once its inform is acknowledged.
                await asyncio.to_thread(send, "snmpinform", "-v2c", "-r", "0", "-t", "5",
                                        *args, "", "1.3.6.1.6.3.1.1.5.5")
                await asyncio.to_thread(send, "snmptrap", "-v2c", "-c", "wrong", target, "",
                                        LINK_DOWN)
                await asyncio.sleep(0.2)
                families = list(await module.collect())
            finally:
                module.close()
            return {f"{s.name}{sorted(s.labels.items())}": s.value
                    for f in families for s in f.samples if "trap" in s.name}

        got = asyncio.run(run())
    source = "vc-poly"  # traps from the device's address are named after it
    assert got == {
        f"commune_snmp_traps_total{[('source', source), ('trap', 'linkDown')]}": 2.0,
        f"commune_snmp_traps_total{[('source', source), ('trap', 'polycomLoginFail')]}": 1.0,
        f"commune_snmp_traps_total{[('source', source), ('trap', 'authenticationFailure')]}":
            1.0,
        **{f"commune_snmp_traps_dropped_total{[('reason', reason)]}": 0.0
           for reason in DROP_REASONS},
        f"commune_snmp_traps_dropped_total{[('reason', 'bad_community')]}": 1.0,
        "commune_snmp_trap_listener_up[]": 1.0,
    }


def test_listener_off_by_default(tmp_path: Path) -> None:
    with silent_udp() as address:
        config = snmp_config(tmp_path, f"""
            - {{name: sw, address: "{address}", timeout: 100ms, retries: 0, modules: [system]}}
        """)
        module = SnmpModule(config)
        families = asyncio.run(module.collect())
        module.close()
    assert module.traps is None
    assert not [f for f in families if "trap" in f.name]


def test_a_down_device_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with silent_udp() as address, caplog.at_level(logging.INFO):
        config = snmp_config(tmp_path, f"""
            - {{name: dead, address: "{address}", timeout: 100ms, retries: 0,
               modules: [system]}}
        """)
        registry = collect(config, times=3)
    assert registry.get_sample_value("commune_snmp_errors_total",
                                     {"device": "dead", "reason": "timeout"}) == 3.0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "device dead" in warnings[0].getMessage()
