"""Judging a step's result against its runbook ``expect:`` block."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from collector.diag.runbook import Expect


@dataclass(frozen=True)
class Verdict:
    """Whether a step passed, why not, and the numbers its thresholds captured."""

    passed: bool
    reasons: tuple[str, ...]
    values: tuple[float, ...]


def _text(expect: Expect, stdout: str, stderr: str) -> str:
    if expect.stream == "stderr":
        return stderr
    if expect.stream == "both":
        return f"{stdout}\n{stderr}" if stdout and stderr else stdout or stderr
    return stdout


def judge(expect: Expect, exit_code: int | None, stdout: str, stderr: str) -> Verdict:
    """Judge output: every failed condition is listed in ``reasons``."""
    reasons: list[str] = []
    values: list[float] = []
    codes = expect.exit_codes()
    if codes is not None and exit_code not in codes:
        wanted = " or ".join(map(str, codes))
        reasons.append(f"exit code {exit_code}, expected {wanted}")
    text = _text(expect, stdout, stderr)
    if expect.match is not None and not re.search(expect.match, text, re.MULTILINE):
        reasons.append(f"output does not match /{expect.match}/")
    if expect.not_match is not None:
        found = re.search(expect.not_match, text, re.MULTILINE)
        if found:
            reasons.append(f"output matches /{expect.not_match}/: {found.group(0)[:80]!r}")
    for threshold in expect.thresholds:
        found = threshold.pattern().search(text)
        if found is None:
            reasons.append(f"no value found by /{threshold.regex}/")
            continue
        raw = found.group("value") if "value" in found.re.groupindex else found.group(1)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            reasons.append(f"/{threshold.regex}/ captured {raw!r}, which is not a number")
            continue
        if math.isnan(value):
            reasons.append(f"/{threshold.regex}/ captured NaN")
            continue
        values.append(value)
        if threshold.max is not None and value > threshold.max:
            reasons.append(f"{value:g} is above the maximum {threshold.max:g}")
        if threshold.min is not None and value < threshold.min:
            reasons.append(f"{value:g} is below the minimum {threshold.min:g}")
    return Verdict(not reasons, tuple(reasons), tuple(values))
