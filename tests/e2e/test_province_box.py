"""The proof: a province in a box, installed as a province and its communes install it.

scripts/build-wheelhouse.sh builds the release; ``install-collector.sh`` installs the province
side into one root and ``install-agent.sh`` three commune nodes into roots of their own, each
enrolled with the installed ``commune-collector enrol`` (three communes of Thanh Hóa, labels as
in the province inventory). Every installed program runs from a folder outside the checkout
with ``PYTHONPATH`` unset: the gateway, Prometheus and Alertmanager from the ExecStart= lines of
the installed units and drop-ins, render and reload from the render unit's, each agent in a
network namespace of its own (tests/support/netns.py), where an uplink to the province's
services (the stand-in TTHC portal and database) and a link to the collector leave it. One
commune's collector link drops 15% of its packets the whole time: pushes are retried, nothing
alerts. Then, with every rule's waits capped by render's ``--max-for`` (Alertmanager's by
``--max-group-wait``) and the alerts sent to a webhook in the test:

- every commune appears with its inventory labels;
- the stand-in portal down gives exactly TTHCPortalDown and nothing per commune; healthy again,
  it is resolved;
- one commune's uplink cut (``ip link set down``) gives exactly CommuneUplinkDown for that
  commune, to the critical receiver and its region's technicians; restored, it is resolved.

The portal goes down first: for the next 10 minutes the SLO burn alerts stay quiet
(``target:probe_down:max10m``), so a third of the box's communes losing the portal with their
uplink does not read as a portal incident, as it could not with the province's 166 communes. The
time from each fault to the webhook is printed. Namespaces, nft tables and processes are
removed even when the test fails.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support import netns
from tests.support.alert_peers import Webhook
from tests.support.box import Fault, TcpService, demo_portal, inventory
from tests.support.guide import Mapping, Ports
from tests.support.installer import exec_starts
from tests.support.machine import Machine, Ran
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, free_port, http_get, require_binary, serving, wait_for

pytestmark = [pytest.mark.peer, pytest.mark.slow]

CODES = ("14797", "16531", "15853")  # Hạc Thành, Sầm Sơn, Đông Tiến: lowland
CUT, LOSSY = "16531", "15853"
REHEARSAL = ("--max-for", "10s", "--max-group-wait", "1s", "--evaluation-interval", "1s")
INVENTORY = "/etc/commune-collector/inventory/box.yml"
ENROL = ("/opt/commune-collector/bin/commune-collector enrol --commune {code} --node lan-1 "
         f"--reissue --inventory {INVENTORY} --gateway-config /etc/commune-collector/gateway.yml "
         "--gateway-url http://COLLECTOR:9820/api/v1/write")
RELEASE = ("tar xzf commune-monitor-wheelhouse.tar.gz", "cd commune-monitor-wheelhouse")
SETTLE = 6.0  # seconds after an alert in which another one (waits capped at 10 s) would show


def _ok(ran: Ran) -> Ran:
    assert ran.returncode == 0, f"{ran.command}\n{ran.output}"
    return ran


def _install_node(node: Machine) -> list[Ran]:
    """The node's part of the guide: unpack the release, run the line enrol printed."""
    return [node.run(command) for command in (
        *RELEASE, "bash deploy/install-agent.sh --enrol cme1.eyJ...")]


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    status, body, _ = http_get(f"{prometheus}/api/v1/query?"
                               + urllib.parse.urlencode({"query": expr}))
    assert status == 200, body[:300]
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def _alerts(prometheus: str) -> list[tuple[str, str, str]]:
    """(alertname, state, commune) of every alert Prometheus holds (pending or firing)."""
    _, body, _ = http_get(f"{prometheus}/api/v1/alerts")
    return sorted((a["labels"]["alertname"], a["state"], a["labels"].get("commune", ""))
                  for a in json.loads(body)["data"]["alerts"])


def _imports_from(machine: Machine, venv: Path) -> str:
    """Where the installed venv's python finds ``collector`` and ``agent``, run as installed."""
    done = subprocess.run(machine.argv([str(venv / "bin" / "python"), "-c",
                                        "import agent, collector, sys; print(agent.__file__); "
                                        "print(collector.__file__); print(sys.path)"]),
                          cwd=machine.home, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_province_in_a_box(tmp_path: Path, release_tarball: Path) -> None:
    for binary in ("prometheus", "prometheus-alertmanager"):
        require_binary(binary)
    assert not tmp_path.is_relative_to(ROOT)
    began = time.monotonic()
    took: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        net = netns.Province()
        stack.callback(net.close)
        communes = {code: net.commune(code) for code in CODES}
        webhook = Webhook()
        portal = demo_portal().Portal((net.services, 0), 3.5)
        database = TcpService(net.services)
        for server in (webhook, portal, database):
            stack.enter_context(serving(server))
        (tmp_path / "box.yml").write_text(inventory(list(CODES), [
            {"name": "tthc-portal", "kind": "http",
             "url": f"http://{net.services}:{portal.server_address[1]}/"},
            {"name": "tthc-db", "kind": "tcp", "host": net.services,
             "port": database.server_address[1]}]), encoding="utf-8")

        # The province: install, enrol the three nodes (their lan-1 is in the inventory).
        ports = Ports(free_port(), free_port(), free_port(), 9810)
        prometheus = f"http://{LOOPBACK}:{ports.prometheus}"
        home = tmp_path / "province"
        home.mkdir()
        shutil.copy2(release_tarball, home)
        province = Machine("province", home, Mapping(home / "root", ports,
                                                     gateway_host=net.collector), tmp_path,
                           ready={"prometheus.service": prometheus,
                                  "prometheus-alertmanager.service":
                                      f"http://{LOOPBACK}:{ports.alertmanager}",
                                  "commune-collector-gateway.service":
                                      f"http://{net.collector}:{ports.gateway}"})
        stack.callback(province.close)
        for command in (*RELEASE, f"bash deploy/install-collector.sh --inventory "
                                  f"{tmp_path / 'box.yml'} --receiver "
                                  "http://127.0.0.1:9090/api/v1/write"):
            _ok(province.run(command))
        # Each node is installed, in its namespace, as soon as it is enrolled; the agents start
        # together (probes in step) once every installer is ready for its agent.
        together = threading.Barrier(len(CODES))
        pool = stack.enter_context(ThreadPoolExecutor(len(CODES)))
        stack.callback(together.abort)  # on a failure, no installer waits for the others
        nodes, installs = {}, []
        for code, commune in communes.items():
            printed = _ok(province.run(ENROL.format(code=code))).output
            node_home = tmp_path / f"node-{code}"
            node_home.mkdir()
            shutil.copy2(release_tarball, node_home)
            nodes[code] = node = Machine(
                f"node-{code}", node_home,
                Mapping(node_home / "root", ports, host=commune.collector_link.node_ip,
                        gateway_host=net.collector,
                        code=re.findall(r"--enrol (cme1\.\S+)", printed)[0]), tmp_path,
                wrap=commune.argv, before_start=lambda: together.wait(180))
            stack.callback(node.close)
            installs.append(pool.submit(_install_node, node))
        took["province installed and nodes enrolled"] = time.monotonic() - began
        for future in installs:
            for ran in future.result():
                _ok(ran)
        took["nodes installed"] = time.monotonic() - began
        communes[LOSSY].collector_link.set_loss(15)

        # Nothing comes from the checkout.
        for machine, prefix in ((province, "opt/commune-collector"),
                                (nodes[CUT], "opt/commune-agent")):
            where = _imports_from(machine, machine.root / prefix)
            assert str(ROOT) not in where and where.count(str(machine.root / prefix)) >= 2, where

        # Every commune, with its inventory labels, and its probes of the province's services.
        for code in CODES:
            heartbeat = f'commune_agent_heartbeat_timestamp_seconds{{commune="{code}"}}'
            [series] = wait_for(functools.partial(_query, prometheus, heartbeat), 30,
                                what=f"{code}'s heartbeat in Prometheus")
            labels = series["metric"]
            assert (labels["instance"], labels["role"], labels["terrain"]) == (
                "lan-1", "lan-node", "lowland"), labels
            assert labels["commune_name"] and labels["region"], labels
            reaching = f'count(probe_success{{commune="{code}"}} == 1) == 2'
            wait_for(functools.partial(_query, prometheus, reaching), 40,
                     what=f"{code} reaching the portal and the database")
        # An agent's first heartbeat can predate its modules' first collection (up 0 then):
        # the waits capped below the agents' 15 s interval would alert on it.
        wait_for(lambda: len(_query(prometheus, "min by (commune) (commune_module_up) == 1"))
                 == len(CODES), 40, what="every module of every agent collected")
        names = {s["metric"]["commune"]: s["metric"]["commune_name"] for s in _query(
            prometheus, "commune_agent_heartbeat_timestamp_seconds")}
        assert names == {"14797": "Phường Hạc Thành", "16531": "Phường Sầm Sơn",
                         "15853": "Phường Đông Tiến"}

        # The rehearsal: render as the unit does, with the waits capped, then reload.
        render, reload = exec_starts(province.root, "commune-collector-render.service")
        for argv in ([*render, *REHEARSAL, "--webhook-url", webhook.url], reload):
            done = subprocess.run(province.argv(argv), cwd=province.home, capture_output=True,
                                  text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
        wait_for(lambda: '"duration":10,' in http_get(f"{prometheus}/api/v1/rules")[1].decode(),
                 30, what="the capped rules loaded")
        time.sleep(3)
        assert _alerts(prometheus) == [] and webhook.notifications == []
        took["baseline"] = time.monotonic() - began

        # 1. The portal down for everyone: one province alert, nothing per commune.
        fault = Fault(webhook, "portal down")
        portal.set_mode("down")
        took["portal down -> webhook"] = fault.wait("firing", "TTHCPortalDown", 90)
        time.sleep(SETTLE)
        assert fault.alerts("firing") == [("critical", "TTHCPortalDown", "")]
        down = fault.first("TTHCPortalDown")["labels"]
        assert (down["scope"], down["target"], down["kind"]) == ("province", "tthc-portal", "http")

        fault = Fault(webhook, "portal healthy")
        portal.set_mode("normal")
        took["portal healthy -> resolved"] = fault.wait("resolved", "TTHCPortalDown", 90)
        assert fault.alerts("firing") == []

        # 2. One commune's uplink cut: one alert for that commune, to its region too.
        fault = Fault(webhook, "uplink cut")
        communes[CUT].uplink.cut()
        took["uplink cut -> webhook"] = fault.wait("firing", "CommuneUplinkDown", 120)
        time.sleep(SETTLE)
        assert fault.alerts("firing") == [("critical", "CommuneUplinkDown", CUT),
                                          ("technicians-thanh-pho-sam-son", "CommuneUplinkDown",
                                           CUT)]
        cut = fault.first("CommuneUplinkDown")["labels"]
        assert (cut["commune_name"], cut["scope"]) == ("Phường Sầm Sơn", "commune")

        fault = Fault(webhook, "uplink restored")
        communes[CUT].uplink.restore()
        took["uplink restored -> resolved"] = fault.wait("resolved", "CommuneUplinkDown", 120)
        assert fault.alerts("firing") == []
        wait_for(lambda: _alerts(prometheus) == [], 30, what="no alert left in Prometheus")
        # The lossy link lost nothing that alerted; its node kept pushing.
        assert communes[LOSSY].collector_link.loss == 15
        assert _query(prometheus, f'time() - commune_agent_heartbeat_timestamp_seconds'
                                  f'{{commune="{LOSSY}"}} < 60')
        tables = communes[LOSSY].nft_tables()
        assert tables == [netns.LOSS_TABLE], tables
        processes = [p for m in (province, *nodes.values()) for p in m.services.values()]
        assert len(processes) == 3 + len(nodes) and all(p.alive() for p in processes)
    # Everything the box made is gone, its processes too.
    assert net.leftovers() == []
    assert not any(p.alive() for p in processes)
    took["total"] = time.monotonic() - began
    print("\n" + "; ".join(f"{what}: {seconds:.1f}s" for what, seconds in took.items()))
