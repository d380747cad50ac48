"""Scenario benchmark: the agent's CPU for the five-step portal scenario, beyond the network.

The stand-in portal and its SSO host run in their own process (``tests/support/portal.py``,
no slow step), so this process's CPU time (``time.process_time``) is the agent's alone: waiting
on the network costs none. Printed: CPU milliseconds per scenario run (target < 20 ms for the
5 steps and their 3 redirect hops, 8 requests), the wall time, and the CPU of the same 8
requests made as plain ``http`` probes in one collection, as the floor the client itself costs.
Also the OCSP probe's CPU per request against ``openssl ocsp``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.modules.probe.module import ProbeModule
from tests.support.paths import ROOT
from tests.support.peers import Process, free_port, http_get, wait_for
from tests.support.portal import PASSWORD, PORTAL_HOST, SSO_HOST, PortalState, scenario_yaml
from tests.support.probe_peers import load_probe_config
from tests.support.samples import registry_of, value
from tests.support.signature_peers import make_ca, ocsp_responder

pytestmark = [pytest.mark.bench, pytest.mark.peer]

RUNS = 100
WARMUP = 10
TARGET_MS = 20.0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalState]:
    workdir = tmp_path_factory.mktemp("portal")
    state = PortalState(free_port(PORTAL_HOST), free_port(SSO_HOST), search_delay=0.0)
    argv = [sys.executable, "-m", "tests.support.portal", str(state.portal_port),
            str(state.sso_port)]
    with Process(argv, workdir / "portal.log", cwd=ROOT):
        wait_for(lambda: http_get(f"{state.portal}/")[0] == 200, 15, what="stand-in portal")
        yield state


def cpu_per_run(module: ProbeModule, runs: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per collection of ``module``, medians over ``runs``."""
    cpu, wall = [], []

    async def loop() -> None:
        for _ in range(runs):
            c0, w0 = time.process_time(), time.perf_counter()
            await module.collect()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)

    asyncio.run(loop())
    return statistics.median(cpu), statistics.median(wall)


def test_five_step_scenario_cpu(site: PortalState, tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    module = ProbeModule(load_probe_config(scenario_yaml(site, str(password))))
    reg = registry_of(asyncio.run(module.collect()))
    assert value(reg, "commune_scenario_success", scenario="tthc-dossier") == 1
    cpu_per_run(module, WARMUP)
    cpu, wall = cpu_per_run(module, RUNS)
    assert value(registry_of(asyncio.run(module.collect())), "commune_scenario_success",
                 scenario="tthc-dossier") == 1
    # The floor: the same 8 requests as plain http probes (no redirects, cookies, forms).
    plain = "targets:\n" + "".join(
        f'  - {{name: r{i}, kind: http, url: "{site.portal}/", timeout: 5s}}\n'
        for i in range(8))
    floor_module = ProbeModule(load_probe_config(plain))
    cpu_per_run(floor_module, WARMUP)
    floor, _ = cpu_per_run(floor_module, RUNS)
    print(f"\nscenario bench: 5 steps, 8 requests: {cpu * 1000:.1f} ms CPU per run "
          f"(target < {TARGET_MS:g} ms), {wall * 1000:.1f} ms wall; the same 8 requests as "
          f"http probes: {floor * 1000:.1f} ms CPU (ratio {cpu / floor:.2f})")
    assert cpu * 1000 < TARGET_MS


def test_ocsp_probe_cpu(tmp_path: Path) -> None:
    port = free_port()
    ca = make_ca(tmp_path / "ca", f"http://127.0.0.1:{port}/")
    with ocsp_responder(ca, port, ca.responder_cert, ca.responder_key, tmp_path / "ocsp.log"):
        module = ProbeModule(load_probe_config(f"""
            targets:
              - {{name: token, kind: ocsp, cert_file: "{ca.good_cert}",
                 issuer_file: "{ca.ca_cert}"}}
        """))
        cpu_per_run(module, WARMUP)
        cpu, wall = cpu_per_run(module, RUNS)
        reg = registry_of(asyncio.run(module.collect()))
    assert value(reg, "probe_success", target="token", kind="ocsp") == 1
    print(f"\nscenario bench: OCSP probe (request, response, signature check): "
          f"{cpu * 1000:.2f} ms CPU, {wall * 1000:.2f} ms wall per probe")
