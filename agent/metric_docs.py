"""The metric tables of the docs, generated from the agent's MetricSpecs.

    $ python -m agent.metric_docs docs/        # after adding or changing a MetricSpec
    rewrote docs/agent/probe.md

A page marks each generated table with the name of a section of ``SECTIONS``::

    <!-- metrics: probe -->
    (replaced by a table: name, type, labels, help)
    <!-- /metrics -->

A section's specs are every ``MetricSpec`` bound at module level (alone, or inside a tuple, list
or dict) in the section's modules and, for a package, all its submodules. Specs built at
collection time from the machine or from YAML (``node_memory_*``, the SNMP modules' OIDs) are
not declared, so they are described in the pages' text instead.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

from agent.modules.base import MetricSpec

# Section name (as written in the marker) -> the modules or packages that declare its specs.
SECTIONS: dict[str, tuple[str, ...]] = {
    "agent": ("agent.scheduler",),
    "push": ("agent.push",),
    "host": ("agent.modules.host",),
    "probe": ("agent.modules.probe",),
    "snmp": ("agent.modules.snmp",),
    "security": ("agent.modules.security",),
    "logs": ("agent.modules.logs",),
    "flows": ("agent.modules.flows",),
}
COMMAND = "python -m agent.metric_docs docs/"

# Markers stand on lines of their own; the text between them is the generated table.
MARKER = re.compile(
    r"^(<!-- metrics: (?P<section>[\w.-]+) -->\n)(?P<body>.*?)^(<!-- /metrics -->)$",
    re.DOTALL | re.MULTILINE)
_OPENING = re.compile(r"^<!-- metrics:", re.MULTILINE)
_CONTAINERS = (tuple, list, frozenset, set)


class MetricDocsError(Exception):
    """A page or a section the generator cannot handle; the message says what to fix."""


def modules_of(name: str) -> Iterator[ModuleType]:
    """The module ``name`` and, when it is a package, every one of its submodules."""
    module = importlib.import_module(name)
    yield module
    path = getattr(module, "__path__", None)
    if path is not None:
        for info in sorted(pkgutil.walk_packages(path, f"{name}."), key=lambda i: i.name):
            yield importlib.import_module(info.name)


def _specs_in(value: object, depth: int = 0) -> Iterator[MetricSpec]:
    if isinstance(value, MetricSpec):
        yield value
    elif depth < 3 and isinstance(value, dict):
        for item in value.values():
            yield from _specs_in(item, depth + 1)
    elif depth < 3 and isinstance(value, _CONTAINERS):
        for item in value:
            yield from _specs_in(item, depth + 1)


def declared_specs(modules: Iterable[ModuleType]) -> list[MetricSpec]:
    """Every MetricSpec bound at module level in ``modules``, one per name, sorted by name."""
    found: dict[str, MetricSpec] = {}
    for module in modules:
        for value in vars(module).values():
            for spec in _specs_in(value):
                other = found.setdefault(spec.name, spec)
                if other != spec:
                    raise MetricDocsError(
                        f"{spec.name} is declared twice with different kind, help or labels "
                        f"(in {module.__name__} and elsewhere); keep one MetricSpec")
    return sorted(found.values(), key=lambda s: s.name)


def section_specs(section: str) -> list[MetricSpec]:
    """The specs of one section of ``SECTIONS``."""
    if section not in SECTIONS:
        raise MetricDocsError(f"unknown metrics section {section!r} "
                              f"(known: {', '.join(SECTIONS)}); fix the marker or SECTIONS")
    return declared_specs(m for name in SECTIONS[section] for m in modules_of(name))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table(specs: Sequence[MetricSpec]) -> str:
    """A Markdown table of ``specs``: name, type, labels, help."""
    lines = ["| metric | type | labels | help |", "| --- | --- | --- | --- |"]
    for spec in specs:
        labels = ", ".join(f"`{label}`" for label in spec.labels)
        lines.append(f"| `{spec.name}` | {spec.kind} | {labels} | {_cell(spec.help)} |")
    return "\n".join(lines) + "\n"


def sections_in(text: str) -> list[str]:
    """The sections a page marks, in page order."""
    return [m.group("section") for m in MARKER.finditer(text)]


def render_page(text: str) -> str:
    """``text`` with the body of every metrics marker replaced by its section's table."""
    if len(_OPENING.findall(text)) != len(sections_in(text)):
        raise MetricDocsError("a '<!-- metrics: NAME -->' marker has no '<!-- /metrics -->' "
                              "after it, on a line of its own")
    return MARKER.sub(lambda m: m.group(1) + table(section_specs(m.group("section"))) + m.group(4),
                      text)


def pages(docs: Path) -> Iterator[Path]:
    """The Markdown pages under ``docs``, sorted."""
    yield from sorted(docs.rglob("*.md"))


def stale_pages(docs: Path) -> dict[Path, str]:
    """Pages whose tables differ from the specs, with the text they should have."""
    out = {}
    for path in pages(docs):
        text = path.read_text(encoding="utf-8")
        try:
            expected = render_page(text)
        except MetricDocsError as exc:
            raise MetricDocsError(f"{path}: {exc}") from None
        if expected != text:
            out[path] = expected
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the metric tables of the pages under the given folder."""
    parser = argparse.ArgumentParser(prog="python -m agent.metric_docs",
                                     description="Regenerate the metric tables of the docs.")
    parser.add_argument("docs", type=Path, help="folder of Markdown pages, e.g. docs/")
    args = parser.parse_args(argv)
    if not args.docs.is_dir():
        print(f"metric_docs: {args.docs}: not a folder; give the docs folder, e.g. docs/",
              file=sys.stderr)
        return 2
    try:
        stale = stale_pages(args.docs)
    except MetricDocsError as exc:
        print(f"metric_docs: {exc}", file=sys.stderr)
        return 2
    for path, text in stale.items():
        path.write_text(text, encoding="utf-8")
        print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
