"""File integrity: sha256 of the files of each path set against a baseline written on first run.

The baseline is ``<state_dir>/integrity-<name>.json``; delete it to accept the current files as
the new baseline. A file is hashed again only when its size, inode, mtime or ctime changed (ctime
cannot be set back by a user, so a content change always shows).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.security.config import IntegrityConfig, PathSet
from common.statefile import StateFileError, read_state_json, write_atomically

log = logging.getLogger(__name__)
_AFRESH = "a new baseline is then written from the current files"

_L = ("path_set",)
CHANGED = MetricSpec("commune_integrity_changed_files", "gauge",
                     "Files whose sha256 differs from the baseline.", _L)
ADDED = MetricSpec("commune_integrity_added_files", "gauge", "Files not in the baseline.", _L)
REMOVED = MetricSpec("commune_integrity_removed_files", "gauge",
                     "Baseline files that are gone (or unreadable).", _L)
FILES = MetricSpec("commune_integrity_files", "gauge", "Files hashed in the path set.", _L)
TRUNCATED = MetricSpec("commune_integrity_truncated", "gauge",
                       "1 if the path set has more files than max_files (the rest is not seen).",
                       _L)
BASELINE = MetricSpec("commune_integrity_baseline_timestamp_seconds", "gauge",
                      "When the baseline of the path set was written.", _L)
METRICS = (CHANGED, ADDED, REMOVED, FILES, TRUNCATED, BASELINE)

StatKey = tuple[int, int, int, int]


def sha256_file(path: str) -> str:
    """The hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def walk(paths: tuple[str, ...]) -> Iterator[str]:
    """Every regular file under ``paths`` (files or directories, recursive, sorted, no symlinked
    directories followed)."""
    for root in paths:
        if os.path.isfile(root):
            yield os.path.abspath(root)
            continue
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(folder, name)
                if os.path.isfile(full):
                    yield os.path.abspath(full)


class PathSetState:
    """The baseline and the hash cache of one path set."""

    def __init__(self, path_set: PathSet, state_dir: Path) -> None:
        self.path_set = path_set
        self.baseline_file = state_dir / f"integrity-{path_set.name}.json"
        self.baseline: dict[str, str] | None = None
        self.baseline_time = 0.0
        self._cache: dict[str, tuple[StatKey, str]] = {}

    def load_baseline(self) -> None:
        """Read the baseline if there is one; raise StateFileError if damaged, or OSError."""
        data = read_state_json(self.baseline_file, afresh=_AFRESH)
        if data is None:
            self.baseline = None
            return
        try:
            self.baseline = {str(k): str(v) for k, v in data["files"].items()}
            self.baseline_time = float(data["created"])
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise StateFileError(self.baseline_file, f"not a baseline ({type(exc).__name__}: "
                                 f"{exc})", afresh=_AFRESH) from None

    def _write_baseline(self, hashes: dict[str, str], now: float) -> None:
        write_atomically(self.baseline_file,
                         json.dumps({"created": now, "files": hashes}, indent=0, sort_keys=True),
                         make_parents=True)
        self.baseline, self.baseline_time = hashes, now

    def hashes(self) -> tuple[dict[str, str], bool]:
        """The current {path: sha256} and whether max_files cut the walk short."""
        result: dict[str, str] = {}
        truncated = False
        for path in walk(self.path_set.paths):
            if len(result) >= self.path_set.max_files:
                truncated = True
                break
            try:
                st = os.stat(path)
                key = (st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
                cached = self._cache.get(path)
                digest = cached[1] if cached is not None and cached[0] == key else \
                    sha256_file(path)
            except OSError:
                continue  # unreadable now: counts as removed if it was in the baseline
            self._cache[path] = (key, digest)
            result[path] = digest
        for gone in self._cache.keys() - result.keys():
            del self._cache[gone]
        return result, truncated

    def compare(self, now: float) -> tuple[int, int, int, int, bool]:
        """(changed, added, removed, files, truncated) against the baseline (written if absent)."""
        if self.baseline is None:
            try:
                self.load_baseline()
            except StateFileError as exc:  # damaged since the start: this check fails
                raise RuntimeError(str(exc)) from None
            except OSError as exc:
                raise RuntimeError(f"baseline {self.baseline_file} is unreadable ({exc}); "
                                   "make it readable, or delete it to write a new one from "
                                   "the current files") from None
        current, truncated = self.hashes()
        if self.baseline is None:
            self._write_baseline(current, now)
        base = self.baseline or {}
        changed = sum(1 for path, digest in current.items()
                      if path in base and base[path] != digest)
        added = len(current.keys() - base.keys())
        removed = len(base.keys() - current.keys())
        return changed, added, removed, len(current), truncated


class IntegrityCheck:
    """Compares every path set with its baseline, at most once per ``every``."""

    name = "integrity"

    def __init__(self, config: IntegrityConfig, state_dir: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.sets = [PathSetState(p, Path(state_dir)) for p in config.path_sets]
        for path_set in self.sets:
            # A damaged baseline stops the agent at start (exit 2); an unreadable one fails
            # this check at each collection, as if it were damaged while running.
            with contextlib.suppress(OSError):
                path_set.load_baseline()
        self.clock = clock
        self._last: list[tuple[str, tuple[int, int, int, int, bool], float]] = []
        self._compared = 0.0

    def collect(self) -> list[Metric]:
        """The families for every path set."""
        now = self.clock()
        if not self._last or now - self._compared >= self.config.every:
            self._last = [(s.path_set.name, s.compare(now), s.baseline_time) for s in self.sets]
            self._compared = now
        families = {spec.name: spec.family() for spec in METRICS}
        for name, (changed, added, removed, files, truncated), baseline_time in self._last:
            for spec, value in ((CHANGED, changed), (ADDED, added), (REMOVED, removed),
                                (FILES, files), (TRUNCATED, int(truncated)),
                                (BASELINE, baseline_time)):
                families[spec.name].add_metric([name], float(value))
        return list(families.values())
