"""Section ``textfile``: node_exporter's textfile collector over a folder of ``*.prom`` files.

Cron jobs and ``commune-diag --textfile`` write Prometheus text files there; each collection
reads them all (sorted by name) and merges their families into the exposition. As node_exporter
1.5 does:

- a file that cannot be parsed, or that carries client-side timestamps, is skipped whole and
  sets ``node_textfile_scrape_error 1``; the other files are still served. So is a file over
  :data:`MAX_BYTES` (read no further: one runaway job must not fill the agent's memory);
- a family without ``# HELP`` gets ``Metric read from <the files that have it>``;
- the first file (by name) that has a family fixes its help and type; samples of a later file
  whose help or type differs, and series already seen, are dropped (node_exporter drops them at
  gathering). The agent counts them in ``commune_host_textfile_dropped_samples``;
- ``node_textfile_mtime_seconds{file}`` is the modification time of each file read.

One deviation: a counter whose name lacks the ``_total`` suffix is served untyped, under its
own name (the parser and renderer the agent uses would add the suffix).

Families named like the host module's own series (``node_cpu_seconds_total``...) are dropped and
counted too: one exposition cannot hold a family twice. A ``commune`` label in a file (a
``commune-diag`` fleet run names the communes it checked) becomes ``exported_commune``, as
Prometheus renames a scraped label that clashes with a target label: the agent sets ``commune``
on every series it serves, and would otherwise overwrite it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from agent.modules.base import MetricSpec
from common.filetext import MIB, FileProblem, read_bytes

log = logging.getLogger(__name__)
# Labels the agent sets on every series; a file's own value is kept under exported_<name>.
AGENT_LABELS = ("commune",)
#: node_exporter reads a textfile whole; a file larger than this is skipped as unreadable.
MAX_BYTES = 16 * MIB
_BARE_COUNTER = re.compile(r"^#[ \t]+TYPE[ \t]+(\S+)[ \t]+counter[ \t]*$", re.MULTILINE)

MTIME = MetricSpec("node_textfile_mtime_seconds", "gauge",
                   "Unixtime mtime of textfiles successfully read.", ("file",))
SCRAPE_ERROR = MetricSpec("node_textfile_scrape_error", "gauge",
                          "1 if there was an error opening or reading a file, 0 otherwise")
DROPPED = MetricSpec("commune_host_textfile_dropped_samples", "gauge",
                     "Samples of the textfile folder left out at the last collection: a series "
                     "seen before, or a family whose help or type differs from the first file's "
                     "or that the host module exposes itself.")


class TextfileError(ValueError):
    """A textfile that is skipped whole; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ParsedFile:
    """The families of one textfile and its modification time."""

    path: Path
    mtime: float
    families: list[Metric]


def parse_file(path: Path) -> ParsedFile:
    """Read and parse one textfile; TextfileError if node_exporter would skip it."""
    try:
        mtime = path.stat().st_mtime
        text = read_bytes(path, MAX_BYTES, "a textfile").decode("utf-8")
    except FileProblem as exc:
        raise TextfileError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TextfileError(f"{path}: cannot read: {exc}") from None
    try:
        families = list(text_string_to_metric_families(_untype_bare_counters(text)))
    except (ValueError, IndexError, TypeError) as exc:
        raise TextfileError(f"{path}: not in the Prometheus text format: {exc}") from None
    if any(sample.timestamp is not None for f in families for sample in f.samples):
        raise TextfileError(f"{path}: contains unsupported client-side timestamps, "
                            "skipping entire file")
    return ParsedFile(path, mtime, families)


def _untype_bare_counters(text: str) -> str:
    """``# TYPE runs counter`` -> ``untyped``: prometheus_client's parser would rename the
    samples ``runs`` to ``runs_total``; untyped keeps the series name node_exporter serves."""
    return _BARE_COUNTER.sub(
        lambda m: m[0] if m[1].endswith("_total") else f"# TYPE {m[1]} untyped", text)


def _export_agent_labels(sample: Sample) -> Sample:
    if not any(name in sample.labels for name in AGENT_LABELS):
        return sample
    return sample._replace(labels={(f"exported_{k}" if k in AGENT_LABELS else k): v
                                   for k, v in sample.labels.items()})


def _exposed_name(family: Metric) -> str:
    return family.name + "_total" if family.type == "counter" else family.name


class TextfileCollector:
    """The textfile collector of one folder; ``reserved`` tells which names are the host's."""

    def __init__(self, directory: str | os.PathLike[str],
                 reserved: Callable[[str], bool] = lambda name: False) -> None:
        self.directory = Path(directory)
        self.reserved = reserved
        self._failing: set[Path] = set()

    def collect(self) -> Iterable[Metric]:
        """The merged families of every ``*.prom`` file, their mtimes and the error flag."""
        parsed: list[ParsedFile] = []
        errored = False
        failing: set[Path] = set()
        try:
            paths = sorted(p for p in self.directory.iterdir() if p.name.endswith(".prom"))
        except OSError as exc:
            if self.directory not in self._failing:
                log.warning("textfile folder %s cannot be read: %s", self.directory, exc)
            failing.add(self.directory)
            paths, errored = [], True
        for path in paths:
            try:
                parsed.append(parse_file(path))
            except TextfileError as exc:
                errored = True
                failing.add(path)
                if path not in self._failing:
                    log.warning("textfile skipped: %s", exc)
        self._failing = failing
        families, dropped = merge(parsed, self.reserved)
        mtime, error, lost = MTIME.family(), SCRAPE_ERROR.family(), DROPPED.family()
        for item in parsed:
            mtime.add_metric([str(item.path)], item.mtime)
        error.add_metric([], 1.0 if errored else 0.0)
        lost.add_metric([], float(dropped))
        return [*families, mtime, error, lost]


def merge(files: list[ParsedFile], reserved: Callable[[str], bool]) -> tuple[list[Metric], int]:
    """Families merged across files as node_exporter merges them, and the samples dropped."""
    sources: dict[str, list[str]] = {}
    for item in files:
        for family in item.families:
            sources.setdefault(family.name, []).append(str(item.path))
    merged: dict[str, Metric] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    dropped = 0
    for item in files:
        for family in item.families:
            help_ = family.documentation or "Metric read from " + ", ".join(sources[family.name])
            if reserved(_exposed_name(family)):
                dropped += len(family.samples)
                continue
            target = merged.get(family.name)
            if target is None:
                target = merged[family.name] = Metric(family.name, help_, family.type)
            elif (target.documentation, target.type) != (help_, family.type):
                dropped += len(family.samples)
                continue
            for sample in map(_export_agent_labels, family.samples):
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key in seen:
                    dropped += 1
                    continue
                seen.add(key)
                target.samples.append(sample)
    return list(merged.values()), dropped
