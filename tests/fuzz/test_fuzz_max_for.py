"""render --max-for on generated rule files: only the waits change, each to min(wait, cap), and
anything that is not a rule file is a UsageError, never a traceback."""

from __future__ import annotations

import yaml
from hypothesis import given
from hypothesis import strategies as st

from collector.render.rules import cap_waits
from common.cli import UsageError
from common.units import Duration, format_duration
from tests.support.fuzzing import fuzz

seconds = st.integers(min_value=1, max_value=7 * 86400)
wait = st.one_of(st.none(), seconds)
rule = st.fixed_dictionaries({
    "alert": st.from_regex(r"[A-Z][a-zA-Z]{0,12}", fullmatch=True),
    "for": wait, "keep_firing_for": wait,
    "style": st.sampled_from(["block", "flow"]),
    "comment": st.sampled_from(["", "  # for: 1h stays a comment"]),
})


def _text(rules: list[dict[str, object]]) -> str:
    lines = ["groups:", "  - name: g", "    rules:"]
    for r in rules:
        fields = {"alert": r["alert"], "expr": "vector(1)"}
        for key in ("for", "keep_firing_for"):
            if r[key] is not None:
                fields[key] = format_duration(float(r[key]))  # type: ignore[arg-type]
        if r["style"] == "flow":
            lines.append("      - {" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"
                         + str(r["comment"]))
        else:
            first, *rest = fields.items()
            lines.append(f"      - {first[0]}: {first[1]}{r['comment']}")
            lines += [f"        {k}: {v}" for k, v in rest]
    return "\n".join(lines) + "\n"


@fuzz
@given(rules=st.lists(rule, min_size=1, max_size=6), cap=seconds)
def test_only_the_waits_change(rules: list[dict[str, object]], cap: int) -> None:
    text = _text(rules)
    capped = cap_waits(text.encode(), Duration(cap), "fuzz.yml").decode()
    before = yaml.safe_load(text)["groups"][0]["rules"]
    after = yaml.safe_load(capped)["groups"][0]["rules"]
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        for key in ("for", "keep_firing_for"):
            if key in old:
                expected = min(Duration.parse(old[key]), cap)
                assert Duration.parse(new.pop(key)) == expected
                old.pop(key)
        assert old == new
    assert capped.count("# for: 1h stays a comment") == text.count("# for: 1h stays a comment")


@fuzz
@given(text=st.text(max_size=200))
def test_any_text_is_capped_or_refused(text: str) -> None:
    try:
        cap_waits(text.encode(), Duration(10), "fuzz.yml")
    except UsageError as exc:
        assert str(exc).startswith("fuzz.yml")
