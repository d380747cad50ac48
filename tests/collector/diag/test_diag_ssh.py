"""commune-diag against Debian's real sshd on loopback: runs, host keys, auth, timeouts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.diag import RUNBOOKS, WRONG_KEY_ADDRESS, fingerprint
from tests.support.paths import ROOT
from tests.support.peers import require_binary
from tests.support.sshd import Sshd, keygen


def host(sshd: Sshd, address: str = "127.0.0.1") -> str:
    return f"{address}:{sshd.port}"


@pytest.mark.peer
def test_runbook_passes(diag, sshd, ssh_args) -> None:
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", host(sshd), *ssh_args)
    assert run.code == 0, run.out + run.err
    header, _rule, row = run.out.splitlines()[:3]
    assert header.split() == ["HOST", "STATUS", "say", "exit-zero", "number", "stderr", "TIME"]
    assert row.split()[:6] == [host(sshd), "ok", "ok", "ok", "ok", "ok"]
    assert "1 hosts, 1 ok, 0 failed, 0 unreachable" in run.out


@pytest.mark.peer
def test_runbook_fails_as_designed(diag, sshd, ssh_args) -> None:
    run = diag("run", str(RUNBOOKS / "fail.yml"), "--host", host(sshd), *ssh_args)
    assert run.code == 1, run.out + run.err
    row = run.out.splitlines()[2].split()
    assert row[1:6] == ["FAILED", "ok", "FAIL", "FAIL", "FAIL"]
    assert "bad-exit: fail: exit code 4, expected 0" in run.out
    assert "too-high: fail: 37 is above the maximum 20" in run.out
    assert "forbidden: fail: output matches /Link is Down/" in run.out


@pytest.mark.peer
def test_json_report_schema(diag, sshd, ssh_args) -> None:
    run = diag("run", str(RUNBOOKS / "fail.yml"), "--host", host(sshd), "--json", *ssh_args)
    assert run.code == 1
    report = json.loads(run.out)
    assert set(report) == {"schema", "runbook", "params", "started", "duration_seconds",
                           "interrupted", "exit_code", "summary", "hosts"}
    assert report["schema"] == 1 and report["runbook"] == "fail" and report["exit_code"] == 1
    assert report["summary"] == {"hosts": 1, "ok": 0, "failed": 1, "unreachable": 0,
                                 "skipped": 0}
    (h,) = report["hosts"]
    assert set(h) == {"host", "commune", "commune_name", "node", "endpoint", "status", "error",
                      "duration_seconds", "checks"}
    assert h["status"] == "failed" and h["error"] is None
    assert h["endpoint"] == f"{sshd.user}@[127.0.0.1]:{sshd.port}"
    checks = {c["name"]: c for c in h["checks"]}
    assert list(checks) == ["good", "bad-exit", "too-high", "forbidden"]
    for check in checks.values():
        assert set(check) == {"name", "status", "exit_code", "duration_seconds", "reasons",
                              "values", "stdout", "stderr", "truncated"}
        assert isinstance(check["duration_seconds"], float)
    assert checks["good"] | {"duration_seconds": 0} == {
        "name": "good", "status": "pass", "exit_code": 0, "duration_seconds": 0, "reasons": [],
        "values": [], "stdout": "ok\n", "stderr": "", "truncated": False}
    assert checks["bad-exit"]["exit_code"] == 4 and checks["bad-exit"]["status"] == "fail"
    assert checks["too-high"]["values"] == [37.0]


@pytest.mark.peer
def test_unknown_host_key_is_refused(diag, sshd, user_key, tmp_path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", host(sshd), "--json",
               "--identity", str(user_key), "--known-hosts", str(empty), "-F", "/dev/null",
               "--no-agent")
    assert run.code == 3
    (h,) = json.loads(run.out)["hosts"]
    assert h["status"] == "unreachable" and h["checks"] == []
    assert h["error"]["kind"] == "unknown-host-key"
    message = h["error"]["message"]
    assert fingerprint(Path(f"{sshd.host_key}.pub")) in message
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {empty}" in message
    assert "verify this fingerprint" in message
    assert empty.read_text() == ""          # never added automatically


@pytest.mark.peer
def test_changed_host_key_is_refused(diag, sshd, user_key, tmp_path) -> None:
    impostor = keygen(tmp_path / "impostor")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {Path(f'{impostor}.pub').read_text()}")
    before = known.read_text()
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", host(sshd), "--identity",
               str(user_key), "--known-hosts", str(known), "-F", "/dev/null", "--no-agent")
    assert run.code == 3
    assert "host-key-changed: host key of [127.0.0.1]:" in run.out
    assert "has CHANGED" in run.out and "man in the middle" in run.out
    assert fingerprint(Path(f"{impostor}.pub")) in run.out      # what we expected
    assert fingerprint(Path(f"{sshd.host_key}.pub")) in run.out  # what the node presented
    assert f"ssh-keygen -R '[127.0.0.1]:{sshd.port}' -f {known}" in run.out
    assert known.read_text() == before


@pytest.mark.peer
def test_wrong_key_fails_that_host_only(diag, sshd, ssh_args) -> None:
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--json", "--host", host(sshd),
               "--host", host(sshd, WRONG_KEY_ADDRESS), "--host", host(sshd, "127.0.0.2"),
               *ssh_args)
    assert run.code == 3
    hosts = {h["host"]: h for h in json.loads(run.out)["hosts"]}
    assert hosts[host(sshd)]["status"] == "ok"
    assert hosts[host(sshd, "127.0.0.2")]["status"] == "ok"
    bad = hosts[host(sshd, WRONG_KEY_ADDRESS)]
    assert bad["status"] == "unreachable" and bad["error"]["kind"] == "auth"
    assert "authentication failed" in bad["error"]["message"]
    assert "--identity" in bad["error"]["message"]


@pytest.mark.peer
def test_closed_port_is_unreachable(diag, sshd, ssh_args) -> None:
    from tests.support.peers import free_port
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", f"127.0.0.1:{free_port()}",
               "--host", host(sshd), "--json", *ssh_args)
    assert run.code == 3
    first, second = json.loads(run.out)["hosts"]
    assert first["error"]["kind"] == "unreachable" and second["status"] == "ok"
    assert "cannot connect: Connection refused (is sshd listening on port" in \
        first["error"]["message"]


@pytest.mark.peer
def test_hanging_command_hits_its_timeout(diag, sshd, ssh_args) -> None:
    run = diag("run", str(RUNBOOKS / "hang.yml"), "--host", host(sshd), "--json", *ssh_args)
    assert run.code == 1
    (h,) = json.loads(run.out)["hosts"]
    hang, after = h["checks"]
    assert hang["status"] == "timeout" and hang["exit_code"] is None
    assert "step timeout of 0.5s" in hang["reasons"][0]
    assert hang["duration_seconds"] < 4.0        # it did not wait for the sleep to end
    assert after["status"] == "pass" and after["stdout"] == "still-here\n"


@pytest.mark.peer
def test_host_timeout_skips_the_remaining_steps(diag, sshd, ssh_args) -> None:
    run = diag("run", str(RUNBOOKS / "hang.yml"), "--host", host(sshd), "--json",
               "--timeout", "0.3", *ssh_args)
    (h,) = json.loads(run.out)["hosts"]
    assert run.code in (1, 3)
    statuses = [c["status"] for c in h["checks"]]
    if h["status"] == "unreachable":   # the whole budget went on the handshake
        assert "timed out" in h["error"]["message"]
    else:
        assert statuses[0] == "timeout" and statuses[1] == "skipped"


@pytest.mark.peer
def test_parameters_are_never_run_by_the_shell(diag, sshd, ssh_args, tmp_path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"$(touch {marker}); `touch {marker}` ' \" ; touch {marker}"
    run = diag("run", str(RUNBOOKS / "echo-param.yml"), "--host", host(sshd), "--json",
               "--param", f"text={hostile}", *ssh_args)
    assert run.code == 0, run.out
    assert json.loads(run.out)["hosts"][0]["checks"][0]["stdout"] == hostile
    assert not marker.exists()


@pytest.mark.peer
def test_bad_output_is_bounded_and_decoded(diag, sshd, ssh_args, tmp_path) -> None:
    book = tmp_path / "noisy.yml"
    book.write_text("steps:\n  - name: noisy\n    command: >-\n"
                    "      printf '\\377\\376 bad bytes\\n';\n"
                    "      head -c 3000000 /dev/zero | tr '\\0' x\n"
                    "    expect: {match: bad bytes}\n")
    run = diag("run", str(book), "--host", host(sshd), "--json", *ssh_args)
    assert run.code == 0, run.out[:500]
    check = json.loads(run.out)["hosts"][0]["checks"][0]
    assert check["truncated"] is True
    assert check["stdout"].startswith("\ufffd\ufffd bad bytes")
    assert len(check["stdout"]) <= 64 * 1024


@pytest.mark.peer
def test_usage_errors_exit_2(diag, sshd, ssh_args, tmp_path) -> None:
    run = diag("run", "no-such-runbook", "--host", host(sshd), *ssh_args)
    assert run.code == 2 and "no runbook named 'no-such-runbook'" in run.err
    assert "disk-mem" in run.err
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", host(sshd), "--param", "wrod=x",
               *ssh_args)
    assert run.code == 2 and "has no parameter 'wrod'" in run.err
    run = diag("run", "vc-endpoint", "--host", host(sshd), *ssh_args)
    assert run.code == 2 and "--param sip_host=VALUE" in run.err
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--all", *ssh_args)
    assert run.code == 2 and "need --inventory" in run.err
    bad = tmp_path / "bad.yml"
    bad.write_text("steps:\n  - name: x\n    command: echo\n    timeout: soon\n")
    run = diag("run", str(bad), "--host", host(sshd), *ssh_args)
    assert run.code == 2 and f"{bad}:4:14: steps[0].timeout" in run.err


@pytest.mark.peer
def test_disk_mem_runbook_on_a_real_node(diag, sshd, ssh_args) -> None:
    run = diag("run", "disk-mem", "--host", host(sshd), "--json", *ssh_args)
    (h,) = json.loads(run.out)["hosts"]
    assert [c["name"] for c in h["checks"]] == ["root-fs", "fullest-fs", "inodes", "memory",
                                                "swap", "load"]
    for check in h["checks"]:
        # Every check ran its command and captured its number (pass or fail depends on here).
        assert check["exit_code"] == 0, check
        assert len(check["values"]) == 1, check
    assert run.code in (0, 1)


@pytest.mark.peer
def test_hashed_known_hosts_are_understood(diag, sshd, ssh_args, known_hosts) -> None:
    import subprocess
    subprocess.run([require_binary("ssh-keygen"), "-H", "-f", str(known_hosts)], check=True,
                   capture_output=True)
    assert "127.0.0.1" not in known_hosts.read_text()
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", host(sshd), *ssh_args)
    assert run.code == 0, run.out


@pytest.mark.peer
def test_password_file_must_be_readable(diag, sshd, ssh_args, tmp_path) -> None:
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", host(sshd), "--password-file",
               str(tmp_path / "absent"), *ssh_args)
    assert run.code == 2 and "--password-file" in run.err


@pytest.mark.peer
def test_proxycommand_is_refused_for_that_host(diag, sshd, ssh_args, tmp_path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host viaproxy\n  HostName 127.0.0.1\n  Port {sshd.port}\n"
                      "  ProxyCommand nc %h %p\n")
    args = [a if a != "/dev/null" else str(config) for a in ssh_args]
    run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", "viaproxy", "--host", host(sshd),
               "--json", *args)
    assert run.code == 3
    bad, good = json.loads(run.out)["hosts"]
    assert "ProxyCommand in the ssh config is not supported" in bad["error"]["message"]
    assert good["status"] == "ok"


def test_the_agent_never_imports_paramiko() -> None:
    import subprocess
    import sys
    code = ("import importlib, pkgutil, sys, agent; "
            "[importlib.import_module(m.name) for m in "
            "pkgutil.walk_packages(agent.__path__, 'agent.')]; "
            "sys.exit('paramiko' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr


@pytest.mark.peer
def test_ssh_agent_auth(diag, sshd, user_key, known_hosts, tmp_path, monkeypatch) -> None:
    import subprocess

    from tests.support.peers import Process, require_binary, wait_for
    socket_path = tmp_path / "agent.sock"
    with Process([require_binary("ssh-agent"), "-D", "-a", str(socket_path)],
                 tmp_path / "agent.log"):
        wait_for(socket_path.exists, 10, what="ssh-agent socket")
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}
        subprocess.run([require_binary("ssh-add"), str(user_key)], env=env, check=True,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        monkeypatch.setenv("HOME", str(tmp_path))        # no ~/.ssh/id_* to fall back on
        run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", host(sshd), "--known-hosts",
                   str(known_hosts), "-F", "/dev/null")
        assert run.code == 0, run.out
        # The same run without the agent has no key to offer.
        run = diag("run", str(RUNBOOKS / "echo.yml"), "--host", host(sshd), "--known-hosts",
                   str(known_hosts), "-F", "/dev/null", "--no-agent", "--json")
        assert run.code == 3
        error = json.loads(run.out)["hosts"][0]["error"]
        assert error["kind"] == "auth" and "no key or password to offer" in error["message"]
