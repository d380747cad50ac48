"""make bench: a 6-step runbook (disk-mem) over the province's 166 communes, on a loopback sshd.

commune-diag (paramiko, one connection per host, concurrency 32) against OpenSSH's own client
doing the same commands (one ``ssh`` process per host running the six commands in one script, as
a shell loop would, 32 at a time), measured in the same run.
Targets: < 30 s and < 200 MB peak RSS for commune-diag.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from collector.diag.runbook import find_runbook, load_runbook
from collector.inventory import load_inventory
from tests.support.inventory import Commune, Node, inventory_yaml
from tests.support.peers import require_binary
from tests.support.sshd import Sshd, keygen

pytestmark = [pytest.mark.bench, pytest.mark.peer]

REPO = Path(__file__).resolve().parents[2]
ADDRESSES = tuple(f"127.0.0.{i}" for i in range(1, 9))
CONCURRENCY = 32


def loopback_inventory(path: Path, port: int, user: str) -> int:
    """The province inventory's 166 communes, every lan-1 node on the loopback sshd."""
    province = load_inventory(REPO / "configs/inventory/thanh-hoa.yml")
    communes = [Commune(c.code, c.name, c.type, c.terrain, c.group, (
        Node("lan-1", ssh=f"{ADDRESSES[i % len(ADDRESSES)]}:{port}"),))
        for i, c in enumerate(province.communes)]
    path.write_text(inventory_yaml(communes, defaults={"ssh_user": user}), encoding="utf-8")
    return len(province.communes)


def run_measured(argv: list[str]) -> tuple[float, float, str]:
    """Run ``argv``; return (seconds, peak RSS in MB, stdout)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    out, err = proc.communicate(timeout=600)
    elapsed = time.monotonic() - start
    # ru_maxrss of the children we waited for: only this one has been reaped since the last call.
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert proc.returncode in (0, 1), err.decode()[-2000:]
    return elapsed, peak_kb / 1024, out.decode()


def openssh_baseline(commands: list[str], port: int, key: Path, known_hosts: Path,
                     hosts: list[str]) -> float:
    """The same commands with OpenSSH's client: one ssh per host, CONCURRENCY at a time."""
    ssh = require_binary("ssh")

    script = "; ".join(f"{{ {command}; }}; echo ---" for command in commands)

    def one_host(address: str) -> int:
        out = subprocess.run([ssh, "-F", "/dev/null", "-p", str(port), "-i", str(key),
                              "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known_hosts}",
                              "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10",
                              address, script], capture_output=True, timeout=60, check=True)
        return out.stdout.count(b"---\n")

    start = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        assert sum(pool.map(one_host, hosts)) == len(hosts) * len(commands)
    return time.monotonic() - start


def test_diag_166_hosts(tmp_path: Path) -> None:
    key = keygen(tmp_path / "id_ed25519")
    with Sshd(tmp_path / "sshd", [key], ADDRESSES) as sshd:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(sshd.known_hosts())
        inventory = tmp_path / "inventory.yml"
        count = loopback_inventory(inventory, sshd.port, sshd.user)
        assert count == 166
        elapsed, peak_mb, out = run_measured([
            sys.executable, "-m", "collector.diag.cli", "run", "disk-mem", "--all",
            "--inventory", str(inventory), "--concurrency", str(CONCURRENCY), "--json",
            "--identity", str(key), "--known-hosts", str(known_hosts), "--ssh-config",
            "/dev/null", "--no-agent"])
        report = json.loads(out)
        assert report["summary"]["hosts"] == 166
        assert report["summary"]["unreachable"] == 0 and report["summary"]["skipped"] == 0
        steps = [c for h in report["hosts"] for c in h["checks"]]
        assert len(steps) == 166 * 6 and all(c["exit_code"] == 0 for c in steps)

        book = load_runbook(find_runbook("disk-mem", [REPO / "configs" / "runbooks"]))
        commands = [book.render(step, {}) for step in book.steps]
        hosts = [f"{sshd.user}@{ADDRESSES[i % len(ADDRESSES)]}" for i in range(166)]
        baseline = openssh_baseline(commands, sshd.port, key, known_hosts, hosts)

    print(f"\ncommune-diag disk-mem (6 steps) on 166 hosts, concurrency {CONCURRENCY}: "
          f"{elapsed:.1f}s, peak RSS {peak_mb:.0f} MB (targets: < 30 s, < 200 MB)")
    print(f"OpenSSH ssh client, one process per host, same hosts and concurrency: "
          f"{baseline:.1f}s; commune-diag/ssh time ratio {elapsed / baseline:.2f}")
    assert elapsed < 30
    assert peak_mb < 200
