"""A host printing escape sequences cannot act on the technician's terminal: the table, the
problem lines and the progress line show them escaped; --json keeps the raw text."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from collector.diag.report import Progress, write_table
from collector.diag.runbook import Runbook, Step
from collector.diag.runner import CheckResult, FleetResult, HostResult, Target
from common.terminal import json_safe, visible
from tests.support.sshd import Sshd

# A screen clear, a window title (OSC ... BEL), bold, a bare CR that would overwrite "FAIL",
# backspaces, a bidi override, a C1 CSI (U+009B), DEL, a zero-width space.
HOSTILE = ("\x1b[2J\x1b[H\x1b]0;owned\x07\x1b[1mbold\x1b[0m FAIL\rok   \x08\x08done "
           "\u202eesrever\u202c \x9b31m \x7f zero\u200bwidth Xã Thử\n")
# Every character a terminal acts on, but the newline.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def _printf_octal(text: str) -> str:
    return "".join(f"\\{b:03o}" for b in text.encode())


def hostile_runbook(path: Path) -> Path:
    # The host prints it with printf, so the runbook itself holds only printable text.
    path.write_text(
        "description: a host whose output holds escape sequences\nsteps:\n"
        "  - name: hostile\n"
        f"    command: printf '{_printf_octal(HOSTILE)}'\n"
        "    timeout: 5s\n"
        "    expect: {match: '^all good$', not_match: 'owned'}\n")
    return path


def _diag() -> str:
    path = Path(sys.executable).with_name("commune-diag")
    assert path.is_file(), f"{path} is missing: run make venv"
    return str(path)


@pytest.mark.peer
def test_host_escape_sequences_reach_the_terminal_escaped(sshd: Sshd, ssh_args: list[str],
                                                          tmp_path: Path) -> None:
    book = hostile_runbook(tmp_path / "hostile.yml")
    argv = [_diag(), "run", str(book), "--host", f"127.0.0.1:{sshd.port}", *ssh_args]
    table = subprocess.run([*argv, "--progress"], capture_output=True, timeout=60)
    assert table.returncode == 1, table.stderr  # the check failed, the host was reached
    out, err = table.stdout.decode(), table.stderr.decode()
    assert CONTROL.search(out) is None, repr(out)
    # The progress line's own redraw is the only CR on stderr.
    assert CONTROL.search(err.replace("\r[", "[")) is None, repr(err)
    assert "1/1 ok 0 failed 1" in err
    assert "| \\x1b[2J\\x1b[H\\x1b]0;owned\\x07\\x1b[1mbold\\x1b[0m FAIL\\rok   \\x08\\x08done " \
           "\\u202eesrever\\u202c \\x9b31m \\x7f zero\\u200bwidth Xã Thử" in out
    assert "output matches /owned/: 'owned'" in out

    as_json = subprocess.run([*argv, "--json"], capture_output=True, timeout=60)
    assert as_json.returncode == 1
    assert CONTROL.search(as_json.stdout.decode().replace("\n", " ")) is None
    (check,) = json.loads(as_json.stdout)["hosts"][0]["checks"]
    assert check["stdout"] == HOSTILE  # the raw text, escaped by JSON only


def test_the_table_and_the_progress_line_escape_whatever_a_host_result_holds() -> None:
    book = Runbook(steps=(Step(name="say", command="echo"),), name="book")
    target = Target("10.0.0.1\x1b]0;t\x07", commune="1", node="lan\u202e-1")
    host = HostResult(target, "failed", endpoint="u@10.0.0.1\r", error_kind="ssh",
                      error="banner \x1b[2Jgarbage", checks=[CheckResult(
                          "say", "fail", 0, 0.1, ("output matches /x/: '\x1b[31m'",),
                          (), "a\rb\x08\n\x1b[Kline 2\n", "", False)])
    out = io.StringIO()
    write_table(FleetResult(book, {}, [host], 0.0, 0.2, False), out)
    assert CONTROL.search(out.getvalue()) is None, out.getvalue()
    assert "banner \\x1b[2Jgarbage" in out.getvalue()
    assert "      | a\\rb\\x08\n      | \\x1b[Kline 2\n" in out.getvalue()
    bar = io.StringIO()
    progress = Progress(1, bar, width=4)
    progress.update(host)
    progress.close()
    assert bar.getvalue() == "\r[####] 1/1 ok 0 failed 1 unreachable 0\n"


def test_visible_keeps_text_and_json_safe_keeps_the_value() -> None:
    assert visible("Xã Thử\ttab") == "Xã Thử\\ttab"
    assert visible("a\tb\nc\rd", multiline=True) == "a\tb\nc\\rd"
    assert visible("\U000e0041") == "\\U000e0041"
    text = json.dumps({"s": HOSTILE + "\U000e0041"}, ensure_ascii=False)
    assert json.loads(json_safe(text)) == {"s": HOSTILE + "\U000e0041"}
    assert CONTROL.search(json_safe(text)) is None
