"""Enrol -> render -> reload: a real Prometheus and Alertmanager pick up the new node."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from collector.cli import main
from tests.support.alertmanager_peer import Alertmanager
from tests.support.peers import LOOPBACK, Prometheus, free_port, wait_for
from tests.support.province import Province

pytestmark = pytest.mark.peer

QUERY = 'commune_inventory_node_info{commune="16318",node="vc-1"}'


def _render(province: Province, out: Path, am_port: int) -> None:
    assert main(["render", "--inventory", str(province.inventory), "--out", str(out),
                 "--evaluation-interval", "1s", "--alertmanager", f"{LOOPBACK}:{am_port}"]) == 0


def test_enrol_render_reload(tmp_path: Path, province: Province, capsys):
    out = tmp_path / "prom"
    am_port = free_port()
    _render(province, out, am_port)
    prometheus = Prometheus((out / "prometheus.yml").read_text(), out)
    (tmp_path / "am").mkdir()
    alertmanager = Alertmanager(out / "alertmanager.yml", tmp_path / "am", port=am_port)
    try:
        wait_for(lambda: prometheus.query('commune_inventory_node_info{commune="16318"}'), 30,
                 what="the inventory rule evaluated")
        assert prometheus.query(QUERY) == []
        assert main(["enroll", "--commune", "16318", "--node", "vc-1", "--role", "vc",
                     *province.args(), "--gateway-url", "http://127.0.0.1:9/api/v1/write"]) == 0
        _render(province, out, am_port)
        capsys.readouterr()
        assert main(["reload", prometheus.url, alertmanager.url]) == 0
        assert capsys.readouterr().out.splitlines() == [
            f"reloaded {prometheus.url}", f"reloaded {alertmanager.url}"]
        series = wait_for(lambda: prometheus.query(QUERY), 30, what="the new node's info series")
        assert series[0]["metric"]["role"] == "vc"

        # A config Prometheus refuses: reload fails with its reason, the old config keeps running.
        (out / "prometheus.yml").write_text("scrape_configs: [{job_name: }]\n")
        assert main(["reload", prometheus.url]) == 1
        err = capsys.readouterr().err
        assert f"{prometheus.url}/-/reload: HTTP 500" in err and "job_name" in err
        time.sleep(1.5)
        assert prometheus.query(QUERY)
    finally:
        alertmanager.stop()
        prometheus.stop()
    closed = f"http://{LOOPBACK}:{free_port()}"
    assert main(["reload", closed]) == 1
    assert "cannot connect" in capsys.readouterr().err
