"""Fleet runs from an inventory: selection, bounded concurrency, metrics, stops, progress."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.diag.report import Progress
from collector.diag.runner import HostResult, Target
from tests.support.diag import RUNBOOKS, WRONG_KEY_ADDRESS
from tests.support.inventory import Commune, Node, inventory_yaml
from tests.support.paths import ROOT
from tests.support.peers import wait_for
from tests.support.sshd import Sshd


def write_inventory(path: Path, sshd: Sshd, count: int, wrong_key_at: int | None = None,
                    without_ssh_at: int | None = None) -> Path:
    """An inventory of ``count`` communes whose lan-1 nodes are all the same loopback sshd."""
    communes = []
    for i in range(count):
        address = WRONG_KEY_ADDRESS if i == wrong_key_at else f"127.0.0.{1 + i % 3}"
        ssh = None if i == without_ssh_at else f"{address}:{sshd.port}"
        communes.append(Commune(f"{10000 + i}", f"Xã Thử {i}", "xã", "mountain", "Huyện Thử", (
            Node("lan-1", ssh=ssh), Node("vc-1", role="vc", ssh="127.0.0.9:22"))))
    path.write_text(inventory_yaml(
        communes, defaults={"ssh_user": sshd.user},
        targets=[{"name": "vc-sip", "kind": "sip", "host": "127.0.0.1", "port": 5060}]))
    return path


@pytest.mark.peer
def test_commune_selection_from_the_inventory(diag, sshd, ssh_args, tmp_path) -> None:
    inventory = write_inventory(tmp_path / "inventory.yml", sshd, 3)
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--commune", "10001", "--inventory",
               str(inventory), "--json", *ssh_args)
    assert run.code == 0, run.out + run.err
    (h,) = json.loads(run.out)["hosts"]       # the vc node is not a diag target by default
    assert (h["commune"], h["commune_name"], h["node"]) == ("10001", "Xã Thử 1", "lan-1")
    assert h["endpoint"] == f"{sshd.user}@[127.0.0.2]:{sshd.port}"
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--commune", "99999", "--inventory",
               str(inventory), *ssh_args)
    assert run.code == 2 and "commune '99999' is not in the inventory" in run.err


@pytest.mark.peer
def test_inventory_facts_fill_runbook_params(diag, sshd, ssh_args, tmp_path) -> None:
    inventory = write_inventory(tmp_path / "inventory.yml", sshd, 1)
    book = tmp_path / "facts.yml"
    book.write_text("params:\n  sip_host: {}\n  commune_name: {}\nsteps:\n"
                    "  - name: show\n    command: echo {{ sip_host }} {{ commune }} "
                    "{{ node }} {{ commune_name }}\n")
    run = diag("run", str(book), "--all", "--inventory", str(inventory), "--json", *ssh_args)
    assert run.code == 0, run.out + run.err
    assert json.loads(run.out)["hosts"][0]["checks"][0]["stdout"] == \
        "127.0.0.1 10000 lan-1 Xã Thử 0\n"


@pytest.mark.peer
def test_many_hosts_in_parallel_with_bounded_concurrency(diag, sshd, ssh_args,
                                                         tmp_path) -> None:
    inventory = write_inventory(tmp_path / "inventory.yml", sshd, 24, wrong_key_at=5,
                                without_ssh_at=7)
    textfile = tmp_path / "diag.prom"
    run = diag("run", str(RUNBOOKS / "slow.yml"), "--all", "--inventory", str(inventory),
               "--concurrency", "4", "--json", "--textfile", str(textfile), *ssh_args)
    assert run.code == 3, run.out + run.err
    report = json.loads(run.out)
    assert report["summary"] == {"hosts": 24, "ok": 22, "failed": 0, "unreachable": 2,
                                 "skipped": 0}
    by_code = {h["commune"]: h for h in report["hosts"]}
    assert by_code["10005"]["error"]["kind"] == "auth"
    assert "add 'ssh: host:port'" in by_code["10007"]["error"]["message"]
    # When each node ran its step, read from the node's own clock (the same machine here).
    windows = []
    for h in report["hosts"]:
        if h["status"] == "ok":
            out = h["checks"][0]["stdout"]
            fields = dict(line.split("=") for line in out.split())
            windows.append((float(fields["start"]), float(fields["end"])))
    edges = sorted([(s, 1) for s, _ in windows] + [(e, -1) for _, e in windows])
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    assert 2 <= peak <= 4, f"peak concurrency {peak}"
    # The metrics of the run, as node_exporter's textfile collector would read them.
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    families = {f.name: f for f in text_string_to_metric_families(textfile.read_text())}
    success = {s.labels["commune"]: s for s in families["commune_diag_check_success"].samples}
    assert len(success) == 22
    assert success["10000"].labels == {"runbook": "slow", "check": "window", "commune": "10000",
                                       "node": "lan-1"}
    assert success["10000"].value == 1
    reachable = {s.labels["commune"]: s.value
                 for s in families["commune_diag_host_reachable"].samples}
    assert reachable["10005"] == 0 and reachable["10000"] == 1


@pytest.mark.peer
def test_failed_checks_are_zero_in_the_textfile(diag, sshd, ssh_args, tmp_path) -> None:
    textfile = tmp_path / "diag.prom"
    run = diag("run", str(RUNBOOKS / "fail.yml"), "--host", f"127.0.0.1:{sshd.port}",
               "--textfile", str(textfile), *ssh_args)
    assert run.code == 1
    families = {f.name: f for f in text_string_to_metric_families(textfile.read_text())}
    success = {s.labels["check"]: s.value for s in families["commune_diag_check_success"].samples}
    assert success == {"good": 1, "bad-exit": 0, "too-high": 0, "forbidden": 0}
    values = {s.labels["check"]: s.value for s in families["commune_diag_check_value"].samples}
    assert values == {"too-high": 37.0}
    durations = families["commune_diag_check_duration_seconds"].samples
    assert len(durations) == 4 and all(s.value >= 0 for s in durations)


@pytest.mark.peer
def test_total_timeout_reports_hosts_not_run(diag, sshd, ssh_args, tmp_path) -> None:
    book = tmp_path / "sleepy.yml"
    book.write_text("steps:\n  - name: nap\n    command: sleep 3\n    timeout: 10s\n")
    hosts = [arg for i in range(4) for arg in ("--host", f"127.0.0.{1 + i % 3}:{sshd.port}")]
    run = diag("run", str(book), *hosts, "--concurrency", "2", "--total-timeout", "1",
               "--json", *ssh_args)
    assert run.code == 3, run.out
    report = json.loads(run.out)
    assert report["summary"]["skipped"] == 4
    for h in report["hosts"]:
        assert h["error"]["kind"] == "stopped"
        assert "total timeout (1s, --total-timeout)" in h["error"]["message"]
    assert report["duration_seconds"] < 3      # stopped, not waited for


@pytest.mark.peer
def test_ctrl_c_stops_cleanly(sshd, ssh_args, tmp_path) -> None:
    book = tmp_path / "sleepy.yml"
    book.write_text("steps:\n  - name: nap\n    command: echo started; sleep 8\n"
                    "    timeout: 30s\n")
    hosts = [arg for i in range(6) for arg in ("--host", f"127.0.0.{1 + i % 3}:{sshd.port}")]
    sessions = sshd.log().count("Starting session: command")
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector.diag.cli", "run", str(book), *hosts,
         "--concurrency", "3", *ssh_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT,
        # As from a terminal: a shell running the suite in the background ignores SIGINT, and
        # Python only installs its Ctrl-C handler when SIGINT is not ignored at start.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(lambda: sshd.log().count("Starting session: command") >= sessions + 3, 20,
                 what="three sessions started")
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        stopped_in = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert "Interrupted (Ctrl-C)" in out
    assert "6 hosts, 0 ok, 0 failed, 0 unreachable, 6 not run" in out
    assert "Traceback" not in err
    assert stopped_in < 10


@pytest.mark.peer
def test_hosts_and_list_commands(diag, sshd, tmp_path) -> None:
    inventory = write_inventory(tmp_path / "inventory.yml", sshd, 2)
    run = diag("hosts", "--inventory", str(inventory), "--json")
    assert run.code == 0
    rows = json.loads(run.out)
    assert rows[0] == {"commune": "10000", "commune_name": "Xã Thử 0", "node": "lan-1",
                       "role": "lan-node", "ssh": f"127.0.0.1:{sshd.port}", "user": sshd.user}
    assert len(rows) == 4
    run = diag("hosts", "--inventory", str(inventory), "--commune", "10001")
    assert run.code == 0 and len(run.out.splitlines()) == 2 and "Xã Thử 1" in run.out
    run = diag("list", "--json")
    assert run.code == 0
    names = {r["name"]: r for r in json.loads(run.out)}
    assert names["network-basic"]["steps"][0] == "default-route"
    assert names["vc-endpoint"]["params"]["sip_port"] == "5060"


def test_the_province_inventory_lists_166_communes(diag) -> None:
    repo = ROOT
    run = diag("hosts", "--inventory", str(repo / "configs/inventory/thanh-hoa.yml"), "--json")
    assert run.code == 0
    assert len({r["commune"] for r in json.loads(run.out)}) == 166


@pytest.mark.parametrize("command", [[], ["run"], ["list"], ["hosts"], ["check"]])
def test_help_exits_0(command: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "collector.diag.cli", *command, "--help"],
                            capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "usage: commune-diag" in result.stdout


def test_progress_bar_counts_hosts() -> None:
    out = io.StringIO()
    bar = Progress(3, out, width=6)
    bar.update(HostResult(Target("a"), "ok"))
    bar.update(HostResult(Target("b"), "unreachable"))
    bar.close()
    assert out.getvalue() == ("\r[##....] 1/3 ok 1 failed 0 unreachable 0"
                              "\r[####..] 2/3 ok 1 failed 0 unreachable 1\n")


@pytest.mark.peer
def test_progress_flag_draws_on_stderr(diag, sshd, ssh_args) -> None:
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", f"127.0.0.1:{sshd.port}",
               "--progress", *ssh_args)
    assert run.code == 0
    assert "\r[##############################] 1/1 ok 1" in run.err


@pytest.mark.peer
def test_progress_bar_appears_on_a_terminal(sshd, ssh_args) -> None:
    import pty
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "collector.diag.cli", "run", str(RUNBOOKS / "echo.yml"),
             "--host", f"127.0.0.1:{sshd.port}", "--host", f"127.0.0.2:{sshd.port}",
             *ssh_args], stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=60,
            cwd=ROOT)
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(controller)
    assert result.returncode == 0, result.stdout
    assert b"] 2/2 ok 2 failed 0 unreachable 0" in drawn
    assert "2/2" not in result.stdout        # the report itself stays clean


@pytest.mark.peer
def test_node_and_role_filters(diag, sshd, ssh_args, tmp_path) -> None:
    inventory = write_inventory(tmp_path / "inventory.yml", sshd, 2)
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--all", "--inventory", str(inventory),
               "--node", "vc-1", *ssh_args)
    assert run.code == 2 and "no node with role lan-node or server named vc-1" in run.err
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--commune", "10000", "--inventory",
               str(inventory), "--role", "vc", "--connect-timeout", "1", "--json",
               *[a for a in ssh_args if a not in ("--connect-timeout", "5")])
    (h,) = json.loads(run.out)["hosts"]
    assert h["node"] == "vc-1" and h["endpoint"] == f"{sshd.user}@127.0.0.9"
    assert run.code == 3          # nothing listens on 127.0.0.9:22 here


def test_check_command(diag, tmp_path) -> None:
    good = RUNBOOKS / "echo.yml"
    bad = tmp_path / "bad.yml"
    bad.write_text("steps:\n  - name: Bad Name\n    command: echo\n")
    run = diag("check", str(good), str(bad))
    assert run.code == 2
    assert f"{good}: ok (4 steps)" in run.out
    assert f"{bad}:2:11: steps[0].name: expected a name of lowercase letters" in run.err
    assert diag("check", str(good)).code == 0
