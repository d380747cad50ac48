"""Logs module throughput on one core, against a plain Python line count of the same file.

Run with ``make bench``. Target: >= 100k lines/s for the whole path (read, decode, parse, count,
detect) on realistic combined-format traffic.
"""

from __future__ import annotations

import random
import re
import time
import tracemalloc
from pathlib import Path

import pytest

from agent.modules.logs.config import LogFile, LogsConfig, Route
from agent.modules.logs.detect import Bursts
from agent.modules.logs.formats import COMBINED
from agent.modules.logs.module import LogsModule
from tests.support.log_lines import BASE_TIME, BROWSER, combined

pytestmark = pytest.mark.bench

LINES = 400_000
ROUTES = (Route("dossier", "^/dossier/"), Route("search", "^/api/search"),
          Route("static", r"^/static/"), Route("login", "^/login$"))
TIMED = (r'(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>[^ "]*)'
         r'[^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-) "[^"]*" "(?P<user_agent>[^"]*)" '
         r'(?P<request_time>[\d.]+)')
ATTACKS = ("/../../etc/passwd", "/dossier?id=1+union+select+1,2--", "/.env", "/wp-login.php",
           "/search?q=%3Cscript%3Ealert(1)%3C/script%3E")


def write_log(path: Path, attack_share: float, timed: bool) -> int:
    rng = random.Random(38)
    targets = [f"/dossier/{rng.randrange(10**6)}?tab={rng.randrange(5)}" for _ in range(2000)]
    targets += ["/static/app.min.js?v=20261125", "/", "/api/search?q=dat+dai", "/login"]
    agents = [BROWSER, "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"]
    lines = []
    for i in range(LINES):
        attack = rng.random() < attack_share
        target = rng.choice(ATTACKS) if attack else rng.choice(targets)
        status = 404 if attack else rng.choice((200, 200, 200, 200, 304, 302, 404, 500))
        extra = f" {rng.random() * 2:.3f}" if timed else ""
        lines.append(combined(target, status, rng.randrange(100, 60_000),
                              client=f"10.{i % 7}.{i % 13}.{i % 251}",
                              agent="sqlmap/1.7" if attack and i % 2 else rng.choice(agents),
                              when=BASE_TIME + i // 50, extra=extra))
    path.write_text("".join(lines))
    return path.stat().st_size


def baseline_lines_per_second(path: Path) -> float:
    """A plain Python line count over the same file: the floor of any Python log reader."""
    start = time.process_time()
    count = 0
    with path.open("rb") as f:
        for _ in f:
            count += 1
    assert count == LINES
    return LINES / (time.process_time() - start)


def regex_only_lines_per_second(path: Path) -> float:
    """Read, decode and match the combined regex, nothing else: the cost of parsing alone."""
    match = re.compile(COMBINED).match
    start = time.process_time()
    matched = sum(1 for line in path.read_text().split("\n") if line and match(line))
    assert matched == LINES
    return LINES / (time.process_time() - start)


def module_lines_per_second(path: Path, file: LogFile) -> float:
    logs = LogsModule(LogsConfig((file,)))
    start = time.process_time()
    list(logs.collect())
    elapsed = time.process_time() - start
    counts = logs.files[0][0]
    assert counts.lines == LINES and counts.failed == 0
    logs.close()
    return LINES / elapsed


def test_logs_throughput(tmp_path: Path) -> None:
    cases = [("combined, plain traffic", 0.0, False, {}),
             ("combined, 5% attack probes", 0.05, False, {}),
             ("regex with $request_time (histogram)", 0.01, True,
              {"format": "regex", "regex": TIMED})]
    rows: list[tuple[str, int, float, float]] = []
    for label, share, timed, options in cases:
        path = tmp_path / f"access-{len(rows)}.log"
        size = write_log(path, share, timed)
        file = LogFile("portal", str(path), routes=ROUTES, from_start=True,
                       max_read_bytes=size + 1, **options)  # type: ignore[arg-type]
        baseline = baseline_lines_per_second(path)
        ours = module_lines_per_second(path, file)
        rows.append((label, size, ours, baseline))
    regex_only = regex_only_lines_per_second(tmp_path / "access-0.log")
    print("\nlogs module vs a plain Python line count (same file, same run, CPU time)")
    for label, size, ours, baseline in rows:
        print(f"  {label:38s} {size / 1e6:5.0f} MB  module {ours / 1e3:6.0f}k lines/s   "
              f"line count {baseline / 1e3:7.0f}k lines/s   ratio {ours / baseline:.3f}   "
              f"(target >= 100k lines/s)")
    print(f"  combined regex alone (read, decode, match) {regex_only / 1e3:6.0f}k lines/s; "
          f"module / regex alone {rows[0][2] / regex_only:.2f}")


def retained_bytes(max_sources: int, sources: int) -> int:
    bursts = Bursts(60.0, 20, max_sources)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(sources):
        bursts.add(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", BASE_TIME + i / 1000)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(bursts) == min(max_sources, sources)
    return after - before


def test_burst_memory_is_bounded() -> None:
    sources = 200_000
    bounded = retained_bytes(10_000, sources)
    unbounded = retained_bytes(sources, sources)
    print(f"\nburst tracking of {sources} distinct sources: {bounded / 1e6:.1f} MB with the "
          f"default LRU of 10000 ({bounded / 10_000:.0f} B/source), {unbounded / 1e6:.1f} MB "
          f"unbounded; ratio {bounded / unbounded:.3f}")
    assert bounded < unbounded / 5
