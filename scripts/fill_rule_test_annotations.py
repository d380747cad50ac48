#!/usr/bin/env python3
"""Fill the expected annotations of promtool rule tests from what promtool renders.

The bilingual annotation texts are golden output: after changing a text in
configs/prometheus/rules/, run

    .venv/bin/python scripts/fill_rule_test_annotations.py tests/rules/*_test.yml

then READ the diff: every expected alert in tests/rules/ that has labels but no
``exp_annotations`` gets the annotations promtool rendered for the alert with exactly those
labels. Alerts whose labels do not match anything promtool got are left alone (the test keeps
failing and says why). Existing ``exp_annotations`` are never touched; delete them to refresh.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

BLOCK = re.compile(r"^\s*alertname: (?P<alert>\S+), time: (?P<time>\S+), ?$")
PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _parse_labels(text: str) -> dict[str, str]:
    return {k: json.loads(f'"{v}"') for k, v in PAIR.findall(text)}


Key = tuple[str, str, str, frozenset[tuple[str, str]]]


def rendered(test_file: Path) -> dict[Key, dict[str, str]]:
    """(test name, alertname, eval time, labels) -> annotations, from promtool's failure report."""
    out = subprocess.run(["promtool", "test", "rules", test_file.name], cwd=test_file.parent,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    found: dict[Key, dict[str, str]] = {}
    name = alert = time = ""
    in_got = False
    labels: dict[str, str] | None = None
    pending_name = ""
    for line in out.splitlines():
        stripped = line.strip()
        if stripped.startswith("name: ") and stripped.endswith(","):
            pending_name = stripped[len("name: "):-1]
            continue
        match = BLOCK.match(line)
        if match:
            name, alert, time = pending_name, match["alert"], match["time"]
            pending_name = ""
            in_got = False
            continue
        if stripped.startswith("got:["):
            in_got = True
        elif stripped.startswith("exp:["):
            in_got = False
        elif in_got and stripped.startswith("Labels:{"):
            labels = _parse_labels(stripped[len("Labels:"):])
        elif in_got and stripped.startswith("Annotations:{") and labels is not None:
            found[(name, alert, time, frozenset(labels.items()))] = _parse_labels(
                stripped[len("Annotations:"):])
            labels = None
    return found


def fill(test_file: Path) -> int:
    """Insert the rendered annotations into ``test_file``; return how many alerts were filled."""
    got = rendered(test_file)
    text = test_file.read_text()
    lines = text.splitlines(keepends=True)
    root = yaml.compose(text)
    assert root is not None, f"{test_file}: empty"
    inserts: list[tuple[int, list[str]]] = []
    tests = next(v for k, v in root.value if k.value == "tests")
    for test in tests.value:
        fields = {k.value: v for k, v in test.value}
        name = fields["name"].value if "name" in fields else ""
        for case in fields.get("alert_rule_test", yaml.SequenceNode("", [])).value:
            cfields = {k.value: v for k, v in case.value}
            alert = cfields["alertname"].value
            eval_time = cfields["eval_time"].value
            for exp in cfields.get("exp_alerts", yaml.SequenceNode("", [])).value:
                efields = {k.value: v for k, v in exp.value}
                if "exp_annotations" in efields:
                    continue
                labels = {k.value: v.value for k, v in efields["exp_labels"].value}
                labels["alertname"] = alert
                annotations = got.get((name, alert, eval_time, frozenset(labels.items())))
                if annotations is None:
                    continue
                indent = " " * (exp.start_mark.column)
                block = [f"{indent}exp_annotations:\n"]
                block += [f"{indent}  {k}: {json.dumps(v, ensure_ascii=False)}\n"
                          for k, v in sorted(annotations.items())]
                inserts.append((efields["exp_labels"].end_mark.line, block))
    for line_no, block in sorted(inserts, reverse=True):
        # end_mark of a one-line flow mapping is on its own line: insert after it
        lines[line_no + 1:line_no + 1] = block
    test_file.write_text("".join(lines))
    return len(inserts)


def main(argv: list[str]) -> int:
    """Fill every test file named on the command line."""
    for arg in argv:
        count = fill(Path(arg))
        print(f"{arg}: filled {count} alert(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
