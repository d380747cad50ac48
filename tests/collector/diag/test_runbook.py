"""Runbook files: validation with file:line errors, parameters, quoting, and the judges."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from collector.diag.judge import judge
from collector.diag.runbook import Expect, Threshold, find_runbook, list_runbook_files, load_runbook
from common.schema import ConfigError
from tests.support.paths import ROOT

SHIPPED = ("network-basic", "portal-slow", "interfaces", "disk-mem", "services", "vc-endpoint",
           "security")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "book.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_runbooks_load(name: str) -> None:
    path = find_runbook(name, [ROOT / "configs" / "runbooks"])
    book = load_runbook(path)
    assert book.name == name
    assert book.description
    assert all(step.timeout > 0 for step in book.steps)


def test_list_finds_every_shipped_runbook() -> None:
    names = [p.stem for p in list_runbook_files([ROOT / "configs" / "runbooks"])]
    assert set(SHIPPED) <= set(names)


def test_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, """\
description: broken
steps:
  - name: one
    command: echo hi
    timeout: 10x
  - name: two
    command: echo hi
    expect:
      match: '(unclosed'
  - name: three
    command: echo hi
    colour: red
""")
    with pytest.raises(ConfigError) as info:
        load_runbook(path)
    text = str(info.value)
    assert f"{path}:5:14: steps[0].timeout: expected a duration" in text
    assert f"{path}:9:14: steps[1].expect.match: invalid regular expression" in text
    assert f"{path}:12:5: steps[2].colour: unknown key" in text
    assert "2 errors" not in text and "3 errors" in text


def test_unknown_placeholder_and_duplicate_step_are_located(tmp_path: Path) -> None:
    path = write(tmp_path, """\
params:
  gateway: {default: 10.0.0.1}
steps:
  - name: ping
    command: ping -c 1 {{ gatway }}
  - name: ping
    command: ping -c 1 {{ gateway }}
""")
    with pytest.raises(ConfigError) as info:
        load_runbook(path)
    issues = {(i.line, i.key): i.message for i in info.value.issues}
    assert "unknown parameter 'gatway'" in issues[(5, "steps[0].command")]
    assert "duplicate step name 'ping'" in issues[(6, "steps[1].name")]


def test_threshold_needs_a_group_and_a_bound(tmp_path: Path) -> None:
    path = write(tmp_path, """\
steps:
  - name: a
    command: echo 1
    expect:
      thresholds:
        - {regex: 'loss \\d+'}
""")
    with pytest.raises(ConfigError) as info:
        load_runbook(path)
    assert "capture group" in str(info.value)
    assert info.value.issues[0].line == 6


def test_empty_and_missing_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_runbook(write(tmp_path, "description: nothing\n"))
    assert "missing required key 'steps'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_runbook(tmp_path / "absent.yml")
    assert "cannot read the runbook" in str(info.value)


def test_params_defaults_overrides_facts_and_patterns(tmp_path: Path) -> None:
    book = load_runbook(write(tmp_path, """\
params:
  host: {default: example.invalid, pattern: '[a-z.]+'}
  port: {pattern: '\\d+'}
steps:
  - name: a
    command: nc -z {{host}} {{ port }} # {{ commune }}
"""))
    assert book.resolve_params({"port": "80"}) == {"host": "example.invalid", "port": "80"}
    assert book.resolve_params({"port": "80"}, {"host": "from.inventory", "other": "x"}) == {
        "host": "from.inventory", "port": "80"}
    assert book.resolve_params({"port": "80", "host": "cli"}, {"host": "inv"})["host"] == "cli"
    with pytest.raises(ValueError, match="pass --param port=VALUE"):
        book.resolve_params({})
    with pytest.raises(ValueError, match="does not match the pattern"):
        book.resolve_params({"port": "80; reboot"})
    with pytest.raises(ValueError, match="has no parameter 'prot'"):
        book.resolve_params({"prot": "80"})


def test_values_are_shell_quoted(tmp_path: Path) -> None:
    book = load_runbook(write(tmp_path, """\
params:
  text: {default: ""}
steps:
  - name: a
    command: echo {{ text }} > /dev/null
"""))
    hostile = "$(touch /tmp/pwned); `id` 'quote' \"dq\" ; rm -rf /"
    command = book.render(book.steps[0], {"text": hostile})
    assert command == f"echo {shlex.quote(hostile)} > /dev/null"
    assert shlex.split(command)[:2] == ["echo", hostile]
    assert book.render(book.steps[0], {"text": ""}) == "echo '' > /dev/null"


def test_judge_exit_codes_and_regexes() -> None:
    assert judge(Expect(), 0, "", "").passed
    verdict = judge(Expect(), 2, "", "")
    assert not verdict.passed and verdict.reasons == ("exit code 2, expected 0",)
    assert judge(Expect(exit_code=(0, 1)), 1, "", "").passed
    assert judge(Expect(exit_code=None), 42, "", "").passed
    assert not judge(Expect(exit_code=0), None, "", "").passed   # killed, no exit status
    assert judge(Expect(match="^up$"), 0, "x\nup\ny", "").passed
    assert not judge(Expect(match="^up$"), 0, "down", "up").passed
    assert judge(Expect(match="^up$", stream="stderr"), 0, "down", "up").passed
    assert judge(Expect(match="up", stream="both"), 0, "", "up").passed
    verdict = judge(Expect(not_match="(?i)error"), 0, "an ERROR here", "")
    assert not verdict.passed and "'ERROR'" in verdict.reasons[0]


def test_judge_thresholds() -> None:
    expect = Expect(thresholds=(Threshold(r"loss (\d+)%", max=20),
                                Threshold(r"rtt=(?P<value>[\d.]+)", min=1, max=50)))
    ok = judge(expect, 0, "loss 5%\nrtt=12.5\n", "")
    assert ok.passed and ok.values == (5.0, 12.5)
    high = judge(expect, 0, "loss 37%\nrtt=0.5\n", "")
    assert high.reasons == ("37 is above the maximum 20", "0.5 is below the minimum 1")
    missing = judge(expect, 0, "loss 1%\n", "")
    assert missing.reasons == ("no value found by /rtt=(?P<value>[\\d.]+)/",)
    odd = judge(Expect(thresholds=(Threshold(r"v=(\S+)", max=1),)), 0, "v=abc", "")
    assert "not a number" in odd.reasons[0]
    nan = judge(Expect(thresholds=(Threshold(r"v=(\S+)", max=1),)), 0, "v=nan", "")
    assert not nan.passed


def test_placeholders_inside_quotes_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, """\
params:
  host: {default: x}
steps:
  - name: double
    command: echo "resolving {{ host }}"
  - name: single
    command: echo 'x {{host}} y'
  - name: fine
    command: h={{ host }}; echo "resolving $h" {{ host }} 'quoted' \\"{{ host }}
""")
    with pytest.raises(ConfigError) as info:
        load_runbook(path)
    assert [(i.line, i.key) for i in info.value.issues] == [(5, "steps[0].command"),
                                                          (7, "steps[1].command")]
    assert "inside quotes" in info.value.issues[0].message
    assert "v={{ host }}" in info.value.issues[0].message


@pytest.mark.parametrize(("command", "quoted"), [
    ("echo {{ a }}", []),
    ("echo \"{{ a }}\"", ["a"]),
    ("echo '{{ a }}' {{ b }}", ["a"]),
    ("echo \"it's\" {{ a }}", []),
    ("echo 'say \"hi' {{ a }}", []),
    ("echo \\' {{ a }}", []),
    ("echo \"\\\"{{ a }}\"", ["a"]),
])
def test_quote_tracking(command: str, quoted: list[str]) -> None:
    from collector.diag.runbook import quoted_placeholders
    assert quoted_placeholders(command) == quoted
