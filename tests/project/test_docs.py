"""The docs agree with the code: metric tables from the MetricSpecs, links, the README's top."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent import metric_docs
from agent.modules import MODULES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(DOCS.rglob("*.md"))
REGENERATE = f"run `.venv/bin/{metric_docs.COMMAND}` and commit the pages it rewrites"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
# A metric name as a table's first cell shows it: `name`, maybe followed by words.
FIRST_CELL_NAME = re.compile(r"^\|\s*`((?:commune|node|probe)_[a-zA-Z0-9_]+)`")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def table_names(text: str) -> set[str]:
    """Metric names in the first column of the Markdown tables of ``text``."""
    return {m.group(1) for line in text.splitlines() if (m := FIRST_CELL_NAME.match(line))}


def every_declared_name() -> set[str]:
    """Every MetricSpec name of the agent, whether or not a section covers it."""
    return {spec.name for spec in metric_docs.declared_specs(metric_docs.modules_of("agent"))}


def test_metric_tables_match_the_metric_specs() -> None:
    stale = metric_docs.stale_pages(DOCS)
    assert not stale, (f"metric tables differ from the MetricSpecs in "
                       f"{', '.join(rel(p) for p in stale)}: {REGENERATE}")


def test_every_metric_spec_of_the_agent_is_in_a_section() -> None:
    covered = {spec.name for section in metric_docs.SECTIONS
               for spec in metric_docs.section_specs(section)}
    missing = sorted(every_declared_name() - covered)
    assert not missing, (f"no docs section lists {', '.join(missing)}: add their package to "
                         "SECTIONS in agent/metric_docs.py and a marker to its page")


def test_every_section_is_on_one_page() -> None:
    where: dict[str, list[str]] = {}
    for page in PAGES:
        for section in metric_docs.sections_in(page.read_text(encoding="utf-8")):
            where.setdefault(section, []).append(rel(page))
    assert {s: len(where.get(s, [])) for s in metric_docs.SECTIONS} == \
        dict.fromkeys(metric_docs.SECTIONS, 1), where


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_has_a_page_with_its_metric_table(module: str) -> None:
    page = DOCS / "agent" / f"{module}.md"
    assert page.is_file(), f"module {module!r} has no page: write {rel(page)}"
    assert module in metric_docs.SECTIONS, f"add {module!r} to SECTIONS in agent/metric_docs.py"
    text = page.read_text(encoding="utf-8")
    assert module in metric_docs.sections_in(text), \
        f"{rel(page)} has no '<!-- metrics: {module} -->' table: add it, then {REGENERATE}"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_each_table_lists_exactly_the_specs_of_its_section(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for match in metric_docs.MARKER.finditer(text):
        section = match.group("section")
        listed = table_names(match.group("body"))
        declared = {spec.name for spec in metric_docs.section_specs(section)}
        assert not declared - listed, \
            f"{rel(page)} does not list {sorted(declared - listed)} ({section}): {REGENERATE}"
        assert not listed - declared, (f"{rel(page)} lists {sorted(listed - declared)}, which no "
                                       f"MetricSpec of {section} declares: {REGENERATE}")


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_hand_written_tables_name_only_declared_metrics(page: Path) -> None:
    outside = metric_docs.MARKER.sub("", page.read_text(encoding="utf-8"))
    unknown = sorted(table_names(outside) - every_declared_name())
    assert not unknown, (f"{rel(page)} has a table naming {unknown}, which no MetricSpec "
                         "declares: fix the name or the table")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            for line in text.splitlines() if line.startswith("#")}


@pytest.mark.parametrize("page", [README, *PAGES], ids=rel)
def test_relative_links_resolve(page: Path) -> None:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z+.-]*:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        missing_anchor = (resolved.exists() and bool(anchor) and resolved.suffix == ".md"
                          and anchor not in anchors(resolved))
        if not resolved.exists() or missing_anchor:
            broken.append(target)
    assert not broken, f"{rel(page)}: links to nothing: {broken}"


def test_readme_opens_with_the_two_set_up_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# commune-monitor"
    assert lines[1] == "" and lines[2] == "```sh" and lines[5] == "```"
    assert lines[3].startswith("make demo   # ")
    assert lines[4].startswith("make test   # ")


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move details into docs/"
