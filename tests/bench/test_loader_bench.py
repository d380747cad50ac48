"""How fast the config loaders refuse hostile files, and load the largest file they accept.

Run with ``make bench``; prints seconds and the peak RSS so far per case (in this order).
Targets: a 50 MB file and 100k levels of nesting are refused in well under a second; a config
at its 1 MiB cap loads in seconds.
"""

from __future__ import annotations

import functools
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config import load_config
from common.filetext import CONFIG_MAX_BYTES
from common.schema import ConfigError

pytestmark = pytest.mark.bench


def measure(load: Callable[[], object]) -> tuple[float, float, str]:
    """(seconds, the process's peak RSS in MiB after it, outcome) of one call."""
    started = time.perf_counter()
    try:
        load()
        outcome = "loaded"
    except ConfigError as exc:
        outcome = str(exc).split(": ", 1)[1][:60]
    elapsed = time.perf_counter() - started
    return elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, outcome


def test_loader_refusals_and_the_largest_accepted_config(tmp_path: Path) -> None:
    cases: dict[str, Path] = {}
    big = cases["50 MB file"] = tmp_path / "big.yml"
    with big.open("wb") as out:
        out.write(b"commune: '1'\nmodules: {host: {}}\n# ")
        for _ in range(50):
            out.write(b"x" * 2**20)
    deep = cases["100k levels deep"] = tmp_path / "deep.yml"
    deep.write_text("commune: '1'\nmodules: " + "[" * 100_000 + "]" * 100_000 + "\n")
    laughs = cases["alias bomb"] = tmp_path / "laughs.yml"
    laughs.write_text("a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 10)}]\n"
        for i in range(8)))
    at_cap = cases["1 MiB config"] = tmp_path / "at-cap.yml"
    line = "    - {{name: 'portal-{:07}', kind: tcp, host: 127.0.0.1, port: 80}}\n"
    head = "commune: '1'\nmodules:\n  probe:\n    targets:\n"
    count = (CONFIG_MAX_BYTES - len(head)) // len(line.format(0))
    at_cap.write_text(head + "".join(line.format(i) for i in range(count)))
    print()
    results = {}
    for name, path in cases.items():
        elapsed, peak, outcome = measure(functools.partial(load_config, path))
        results[name] = elapsed
        print(f"{name:18} {os.path.getsize(path) / 2**20:7.1f} MiB  {elapsed:6.2f} s  "
              f"peak RSS {peak:6.1f} MiB  {outcome}")
    assert results["50 MB file"] < 1 and results["100k levels deep"] < 1
    assert results["alias bomb"] < 5
