"""install-collector.sh sets up the province side in a temporary root: Debian's Prometheus and
Alertmanager through drop-ins on the rendered files, Grafana's provisioning, re-runs that keep
hand edits (and refuse bad ones untouched), and an uninstall that leaves the root as it was."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from collector.gateway.config import load_gateway_config
from common.units import Duration
from tests.support.installer import (
    COLLECTOR_PREFIX,
    INSTALL_COLLECTOR,
    exec_starts,
    install_collector,
    tree,
    uninstall_collector,
)
from tests.support.peers import LOOPBACK, Process, free_port, http_get, require_binary, wait_for
from tests.support.province import INVENTORY

RECEIVER = "http://127.0.0.1:9/api/v1/write"
OUT = "var/lib/commune-collector/prometheus"
GATEWAY = "etc/commune-collector/gateway.yml"
INVENTORY_FILE = "etc/commune-collector/inventory/thanh-hoa.yml"


def _inventory(tmp_path: Path) -> Path:
    path = tmp_path / "thanh-hoa.yml"
    path.write_text(INVENTORY, encoding="utf-8")
    return path


def _urls() -> tuple[str, str]:
    return f"http://{LOOPBACK}:{free_port()}", f"http://{LOOPBACK}:{free_port()}"


def _first_install(root: Path, wheels: Path, inventory: Path, prometheus: str,
                   alertmanager: str) -> subprocess.CompletedProcess[str]:
    done = install_collector(root, wheels, "--inventory", str(inventory), "--receiver", RECEIVER,
                             "--listen", f"{LOOPBACK}:{free_port()}", "--prometheus", prometheus,
                             "--alertmanager", alertmanager)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` with its mode, size and modification time (ns)."""
    found = {}
    for path in root.rglob("*"):
        st = path.lstat()
        found[path.relative_to(root).as_posix()] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(arg.partition("=")[::2] for arg in argv[1:])


def _post(url: str) -> int:
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _rule_files(url: str) -> set[str]:
    """The rule files of the groups a Prometheus at ``url`` loaded."""
    status, body, _ = http_get(f"{url}/api/v1/rules")
    assert status == 200, body
    return {group["file"] for group in yaml.safe_load(body)["data"]["groups"]}


def _wait_ready(url: str, proc: Process) -> None:
    """Until ``url``/-/ready answers 200; fail with the log if ``proc`` exits first."""
    def ready() -> bool:
        return http_get(f"{url}/-/ready")[0] == 200 or not proc.alive()
    wait_for(ready, 30, what=f"{url} ready")
    assert proc.alive(), proc.log()


def _check_peers_on_the_rendered_config(root: Path, wheels: Path, prometheus_url: str,
                                        alertmanager_url: str, logs: Path) -> None:
    """Start Prometheus and Alertmanager from the drop-ins' ExecStart= lines and check they run
    the rendered config; a re-run of the installer reloads both."""
    out = root / OUT
    for check in (["promtool", "check", "config", str(out / "prometheus.yml")],
                  ["amtool", "check-config", str(out / "alertmanager.yml")]):
        checked = subprocess.run([require_binary(check[0]), *check[1:]], capture_output=True,
                                 text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    [prom_argv] = exec_starts(root, "prometheus.service")
    [am_argv] = exec_starts(root, "prometheus-alertmanager.service")
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    prometheus = Process(prom_argv, logs / "prometheus.log", cwd=logs)
    alertmanager = Process(am_argv, logs / "alertmanager.log", cwd=logs)
    try:
        for url, proc in ((prometheus_url, prometheus), (alertmanager_url, alertmanager)):
            _wait_ready(url, proc)
        # Every rendered rule file is loaded, and remote write is on (400 for an empty body,
        # 404 without the receiver flag).
        # (Prometheus lists no file without groups: the installed, empty conference schedule
        # renders commune-conferences.yml with none.)
        files = _rule_files(prometheus_url)
        assert files == {str(p) for p in (out / "rules").glob("*.yml")
                         if yaml.safe_load(p.read_text())["groups"]} and len(files) > 1, files
        assert yaml.safe_load((out / "rules/commune-conferences.yml").read_text()) == {
            "groups": []}
        assert _post(f"{prometheus_url}/api/v1/write") == 400
        status, body, _ = http_get(f"{alertmanager_url}/api/v2/status")
        assert status == 200
        loaded = yaml.safe_load(yaml.safe_load(body)["config"]["original"])
        rendered = yaml.safe_load((out / "alertmanager.yml").read_text())
        assert [r["name"] for r in loaded["receivers"]] == [
            r["name"] for r in rendered["receivers"]] and len(rendered["receivers"]) > 1

        # A re-run (options remembered) reloads both, as the render unit does after a render.
        again = install_collector(root, wheels)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"reloaded {prometheus_url}\nreloaded {alertmanager_url}\n" in again.stdout
    finally:
        prometheus.stop()
        alertmanager.stop()


@pytest.mark.peer
def test_empty_root_install_runs_the_province_then_uninstall_leaves_it_as_before(
        tmp_path: Path, wheels: Path):
    root = tmp_path / "root"
    # What Grafana's package leaves: its provisioning folders, here with a file of the operator's.
    theirs = root / "etc/grafana/provisioning/datasources/loki.yaml"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("apiVersion: 1\n")
    (root / "etc/grafana/provisioning/dashboards").mkdir()
    before = tree(root)
    prometheus, alertmanager = _urls()

    started = time.monotonic()
    done = _first_install(root, wheels, _inventory(tmp_path), prometheus, alertmanager)
    print(f"\ninstall-collector.sh into an empty root (no apt): {time.monotonic() - started:.1f} s")
    assert "apt: not run in a --root install" in done.stdout
    out = root / OUT

    # The drop-ins start Debian's binaries on the rendered files with the flags they need.
    [prom] = exec_starts(root, "prometheus.service")
    assert prom[0] == "/usr/bin/prometheus"
    assert _flags(prom) == {
        "--config.file": f"{out}/prometheus.yml",
        "--web.listen-address": prometheus.removeprefix("http://"),
        "--storage.tsdb.path": f"{root}/var/lib/prometheus/metrics2",
        "--storage.tsdb.retention.time": "15d",
        "--web.enable-remote-write-receiver": "", "--web.enable-lifecycle": ""}
    [am] = exec_starts(root, "prometheus-alertmanager.service")
    assert am[0] == "/usr/bin/prometheus-alertmanager"
    assert _flags(am) == {"--config.file": f"{out}/alertmanager.yml",
                          "--storage.path": f"{root}/var/lib/prometheus/alertmanager",
                          "--web.listen-address": alertmanager.removeprefix("http://"),
                          "--cluster.listen-address": ""}

    # The out-of-order window Prometheus gets is the gateway's max_sample_age.
    gateway = load_gateway_config(str(root / GATEWAY))
    assert gateway.max_sample_age == Duration(24 * 3600)
    rendered = yaml.safe_load((out / "prometheus.yml").read_text())
    window = rendered["storage"]["tsdb"]["out_of_order_time_window"]
    assert Duration.parse(window) == gateway.max_sample_age
    assert rendered["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        alertmanager.removeprefix("http://")]
    render, reload = exec_starts(root, "commune-collector-render.service")
    given = render[render.index("--out-of-order-window") + 1]
    assert Duration.parse(given) == gateway.max_sample_age
    assert reload[1:] == ["reload", prometheus, alertmanager]

    # Grafana's provisioning, where Grafana reads it; its own file untouched.
    for kind in ("dashboards", "datasources"):
        written = root / "etc/grafana/provisioning" / kind / "commune-monitor.yaml"
        assert written.read_bytes() == (
            out / "grafana/provisioning" / kind / "commune-monitor.yaml").read_bytes()
    provider = yaml.safe_load((root / "etc/grafana/provisioning/dashboards/"
                               "commune-monitor.yaml").read_text())
    folder = Path(provider["providers"][0]["options"]["path"])
    assert folder == out / "grafana/dashboards" and list(folder.glob("*.json"))
    datasource = yaml.safe_load((root / "etc/grafana/provisioning/datasources/"
                                 "commune-monitor.yaml").read_text())
    assert [d["url"] for d in datasource["datasources"]] == [prometheus]
    assert theirs.read_text() == "apiVersion: 1\n"

    assert "check that it works:" in done.stdout
    assert f"promtool check config {out}/prometheus.yml" in done.stdout
    assert f"amtool check-config {out}/alertmanager.yml" in done.stdout

    _check_peers_on_the_rendered_config(root, wheels, prometheus, alertmanager, tmp_path)

    removed = uninstall_collector(root)
    assert removed.returncode == 0, removed.stderr
    assert "packages" not in removed.stdout  # it apt-installed nothing
    # Everything the install added is gone; Prometheus' and Alertmanager's data stay.
    data = {p for p in tree(root) if p.startswith("var/lib/prometheus/")}
    assert {"var/lib/prometheus/metrics2", "var/lib/prometheus/alertmanager"} <= data
    assert tree(root) - data == before | {"var", "var/lib", "var/lib/prometheus"}


@pytest.mark.slow
def test_rerun_keeps_hand_edits_and_refuses_bad_ones_untouched(tmp_path: Path, wheels: Path):
    root = tmp_path / "root"
    prometheus, alertmanager = _urls()
    done = _first_install(root, wheels, _inventory(tmp_path), prometheus, alertmanager)
    # No Grafana here: the provisioning stays in the render folder, and the output says where.
    assert f"its provisioning stays in {root / OUT}/grafana/provisioning" in done.stdout
    assert not (root / "etc/grafana").exists()

    gateway, inventory = root / GATEWAY, root / INVENTORY_FILE
    edited_gateway = gateway.read_text().replace("max_sample_age: 24h", "max_sample_age: 2h") \
        + "# kept: a note of the operator's\n"
    assert "max_sample_age: 2h" in edited_gateway
    gateway.write_text(edited_gateway)
    edited_inventory = inventory.read_text() + "# another note\n"
    inventory.write_text(edited_inventory)

    again = install_collector(root, wheels)  # options remembered from the first install
    assert again.returncode == 0, again.stdout + again.stderr
    assert (gateway.read_text(), inventory.read_text()) == (edited_gateway, edited_inventory)
    assert f"keeping {inventory}" in again.stdout and f"keeping {gateway}" in again.stdout
    rendered = yaml.safe_load((root / OUT / "prometheus.yml").read_text())
    assert rendered["storage"]["tsdb"]["out_of_order_time_window"] == "2h"
    [prom] = exec_starts(root, "prometheus.service")
    assert f"--web.listen-address={prometheus.removeprefix('http://')}" in prom

    bad_edits = [
        (gateway, edited_gateway.replace("max_sample_age: 2h", "max_sample_age: soon"),
         ["gateway.yml", "max_sample_age"]),
        (gateway, edited_gateway.replace("max_sample_age: 2h\n", ""),
         [f"{gateway} has no max_sample_age; add 'max_sample_age: 24h'"]),
        (inventory, edited_inventory.replace("communes:", "communes: [", 1),
         [str(inventory)]),
    ]
    for path, text, expected in bad_edits:
        path.write_text(text)
        before = _snapshot(root)
        refused = install_collector(root, wheels)
        assert refused.returncode == 2, (text, refused.stdout, refused.stderr)
        for part in expected:
            assert part in refused.stderr, (part, refused.stderr)
        assert "Traceback" not in refused.stderr
        assert _snapshot(root) == before  # nothing written, not even the venv
        path.write_text(edited_gateway if path == gateway else edited_inventory)

    kept_age = install_collector(root, wheels, "--max-sample-age", "1h")
    assert kept_age.returncode == 2 and "change max_sample_age in it" in kept_age.stderr


def test_bad_options_stop_before_anything_is_written(tmp_path: Path):
    root = tmp_path / "root"
    inventory = _inventory(tmp_path)
    for args, expected in (
            (["--prometheus", "https://127.0.0.1:9090"], "--prometheus https://127.0.0.1:9090: "
                                                         "give http://HOST:PORT"),
            (["--alertmanager", "127.0.0.1:9093"], "--alertmanager 127.0.0.1:9093: give"),
            (["--max-sample-age", "a day"], "--max-sample-age a day: give a duration"),
            (["--retention", "forever"], "--retention forever: give a duration")):
        done = subprocess.run(["bash", str(INSTALL_COLLECTOR), "--root", str(root),
                               "--inventory", str(inventory), "--receiver", RECEIVER, *args],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and expected in done.stderr, (args, done.stderr)
        assert tree(root) == set()


@pytest.mark.parametrize(("args", "expected"), [
    ((), "kept the packages the install added: prometheus prometheus-alertmanager "
         "(--purge-packages removes them)"),
    (("--purge-packages",), "--root: apt-get is not run; not removed: prometheus "
                            "prometheus-alertmanager")])
def test_uninstall_removes_apt_installed_packages_only_when_asked(tmp_path: Path,
                                                                   args: tuple[str, ...],
                                                                   expected: str):
    """A manifest as an install that ran apt-get writes (by hand: --root installs never do)."""
    root = tmp_path / "root"
    venv = root / COLLECTOR_PREFIX.lstrip("/")
    venv.mkdir(parents=True)
    dropin = root / "etc/systemd/system/prometheus.service.d/commune-monitor.conf"
    dropin.parent.mkdir(parents=True)
    dropin.write_text("[Service]\nExecStart=\n")
    data = root / "var/lib/prometheus/metrics2"
    data.mkdir(parents=True)
    (venv / "install-manifest").write_text(
        f"package prometheus\npackage prometheus-alertmanager\ntree {venv}\n"
        f"dir {dropin.parent}\nfile {dropin}\nrestart prometheus.service\n")
    removed = uninstall_collector(root, *args)
    assert removed.returncode == 0, removed.stderr
    assert expected in removed.stdout
    assert tree(root) == {"opt", "etc", "etc/systemd", "etc/systemd/system", "var", "var/lib",
                          "var/lib/prometheus", "var/lib/prometheus/metrics2"}
