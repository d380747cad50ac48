"""The logs module on real access logs: requests, routes, attacks, bursts, latency, privacy."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.core import Metric

from agent.exposition import render
from agent.modules.logs.config import LogFile, LogsConfig, Route
from agent.modules.logs.detect import KINDS
from agent.modules.logs.module import METRICS, LogsModule
from tests.support.log_lines import BASE_TIME, combined, common
from tests.support.samples import value

ROUTES = (Route("dossier", "^/dossier/"), Route("search", "^/api/search$"))


class Clock:
    """The module's wall clock, set by the test (log lines carry their own times)."""

    def __init__(self, now: float = BASE_TIME) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def module(path: Path, clock: Clock | None = None, **options: object) -> LogsModule:
    file = LogFile(name="portal", path=str(path), from_start=True, routes=ROUTES,
                   **options)  # type: ignore[arg-type]
    return LogsModule(LogsConfig((file,)), clock=clock or Clock())


def samples(families: list[Metric], name: str) -> list[dict[str, str]]:
    return [s.labels for f in families for s in f.samples if s.name == name]


def test_requests_by_method_status_class_and_route(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        combined("/dossier/38001234?tab=2", 200, 1000)
        + combined("/dossier/38001299", 304, "-")
        + combined("/api/search", 200, 200, method="POST")
        + combined("/api/search/extra", 500, 20)    # not the search route: anchored with $
        + combined("/", 404, 10, method="PROPFIND")  # a method outside the fixed set
        + common("/dossier/1", 201, 5, method="PUT")  # common format: no user agent, still parses
        + '10.0.0.9 - - [25/Nov/2026:13:00:00 +0000] "\\x16\\x03\\x01" 400 157 "-" "-"\n'
        + "garbage that is no log line\n")
    families = list(module(log).collect())
    requests = "commune_http_requests_total"
    assert value(families, requests, method="GET", status_class="2xx", route="dossier") == 1
    assert value(families, requests, method="GET", status_class="3xx", route="dossier") == 1
    assert value(families, requests, method="POST", status_class="2xx", route="search") == 1
    assert value(families, requests, method="GET", status_class="5xx", route="other") == 1
    # PROPFIND, and TLS bytes sent to the HTTP port (no method at all).
    assert value(families, requests, method="OTHER", status_class="4xx", route="other") == 2
    assert value(families, requests, method="PUT", status_class="2xx", route="dossier") == 1
    assert sum(s.value for f in families for s in f.samples if s.name == requests) == 7
    assert value(families, "commune_logs_lines_total", file="portal") == 7
    assert value(families, "commune_logs_lines_failed_total", file="portal") == 1
    assert value(families, "commune_http_response_bytes_total", file="portal") == \
        1000 + 200 + 20 + 10 + 5 + 157
    assert value(families, "commune_logs_read_bytes_total") == log.stat().st_size
    assert value(families, "commune_logs_file_up") == 1


# (target, user agent, the kinds it must count as); plain requests first.
ATTACKS: list[tuple[str, str | None, set[str]]] = [
    ("/dossier/123?page=2", None, set()),
    ("/static/app.min.js?v=20261125", None, set()),
    ("/api/search?q=ho+so+dat+dai", None, set()),  # '+' passes the prefilter, nothing found
    ("/api/search?q=nguy%E1%BB%85n%20v%C4%83n%20an", None, set()),
    ("/favicon.ico", None, set()),
    ("/../../etc/passwd", None, {"path_traversal"}),
    ("/download?file=..%2f..%2f..%2fetc%2fshadow", None, {"path_traversal"}),
    ("/download?file=%252e%252e%252fwin.ini", None, {"path_traversal"}),  # double-encoded
    ("/static/..%5c..%5cboot.ini", None, {"path_traversal"}),
    ("/dossier?id=1%27%20OR%20%271%27=%271", None, {"sql_injection"}),
    ("/dossier?id=1+union+all+select+null,version()--", None, {"sql_injection"}),
    ("/dossier?id=1;waitfor+delay+'0:0:5'", None, {"sql_injection"}),
    ("/dossier?id=sleep(5)", None, {"sql_injection"}),
    ("/search?q=1+or+1=1", None, {"sql_injection"}),
    ("/search?q=%3Cscript%3Ealert(1)%3C/script%3E", None, {"xss"}),
    ("/search?q=%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E", None, {"xss"}),
    ("/r?url=javascript:alert(document.domain)", None, {"xss"}),
    ("/.env", None, {"sensitive_file"}),
    ("/.git/config", None, {"sensitive_file"}),
    ("/wp-admin/install.php", None, {"sensitive_file"}),
    ("/blog/wp-login.php", None, {"sensitive_file"}),
    ("/backup/db.sql", None, {"sensitive_file"}),
    ("/phpmyadmin/index.php", None, {"sensitive_file"}),
    ("/", "sqlmap/1.7.2#stable (https://sqlmap.org)", {"scanner_user_agent"}),
    ("/", "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)", {"scanner_user_agent"}),
    ("/.env", "Mozilla/5.0 zgrab/0.x", {"sensitive_file", "scanner_user_agent"}),
    ("/dossier?id=1'+union+select+1,2,3+from+users--", "sqlmap/1.7", {"sql_injection",
                                                                       "scanner_user_agent"}),
]


def test_attack_patterns_are_counted_exactly(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    repeats = 3
    lines = [combined(target, 404, 0, agent=agent or "Mozilla/5.0 (X11; Linux x86_64)")
             for target, agent, _ in ATTACKS]
    log.write_text("".join(lines) * repeats)
    families = list(module(log, burst_threshold=10_000).collect())
    for kind in KINDS:
        expected = repeats * sum(1 for *_, kinds in ATTACKS if kind in kinds)
        assert expected > 0
        got = value(families, "commune_http_suspicious_requests_total", file="portal", kind=kind)
        assert got == expected, kind


def test_each_listed_request_gives_exactly_its_kinds() -> None:
    from agent.modules.logs.detect import Detector
    detector = Detector()
    for target, agent, kinds in ATTACKS:
        path = target.partition("?")[0]
        assert set(detector.kinds(target, path, agent)) == kinds, target


def test_latency_histogram_from_nginx_request_time(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    regex = (r'(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>[^ "]*)'
             r'[^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-) "[^"]*" "(?P<user_agent>[^"]*)" '
             r'(?P<request_time>[\d.]+|-)')
    times = ["0.004", "0.050", "0.051", "0.300", "1.000", "12.5", "-"]
    log.write_text("".join(combined("/dossier/7", extra=f" {t}") for t in times)
                   + combined("/other", extra=" 0.2"))
    families = list(module(log, format="regex", regex=regex,
                           buckets=(0.01, 0.05, 0.1, 1.0)).collect())
    bucket = "commune_http_request_duration_seconds_bucket"
    expected = {"0.01": 1, "0.05": 2, "0.1": 3, "1.0": 5, "+Inf": 6}
    for le, n in expected.items():
        assert value(families, bucket, file="portal", route="dossier", le=le) == n, le
    assert value(families, "commune_http_request_duration_seconds_count", route="dossier") == 6
    assert abs(value(families, "commune_http_request_duration_seconds_sum", route="dossier")
               - (0.004 + 0.05 + 0.051 + 0.3 + 1.0 + 12.5)) < 1e-9
    assert value(families, bucket, route="other", le="1.0") == 1
    assert value(families, "commune_logs_lines_total") == 8


def test_latency_histogram_from_apache_microseconds(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    # LogFormat "%h %l %u %t \"%r\" %>s %b %D"
    regex = (r'(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S*)'
             r'[^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-) (?P<duration_us>\d+)')
    log.write_text("".join(common("/dossier/1").rstrip("\n") + f" {us}\n"
                           for us in (900, 20_000, 2_000_000)))
    families = list(module(log, format="regex", regex=regex).collect())
    bucket = "commune_http_request_duration_seconds_bucket"
    assert value(families, bucket, route="dossier", le="0.005") == 1
    assert value(families, bucket, route="dossier", le="0.025") == 2
    assert value(families, bucket, route="dossier", le="2.5") == 3
    assert abs(value(families, "commune_http_request_duration_seconds_sum") - 2.0209) < 1e-9


def test_no_histogram_without_request_time(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(combined("/dossier/1"))
    families = list(module(log).collect())
    assert samples(families, "commune_http_request_duration_seconds_count") == []


def test_crlf_line_ends(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    regex = (r'(?P<client>\S+) \S+ \S+ \[[^\]]+\] "(?P<method>\S+) (?P<path>\S+) [^"]*" '
             r'(?P<status>\d+) \d+$')
    log.write_bytes(common("/dossier/1").replace("\n", "\r\n").encode() * 2)
    families = list(module(log, format="regex", regex=regex).collect())
    assert value(families, "commune_logs_lines_total") == 2
    assert value(families, "commune_http_requests_total", route="dossier") == 2


def test_invalid_utf8_is_replaced_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    bad = combined("/dossier/1", agent="Mozilla/5.0 \udcff").encode("utf-8", "surrogateescape")
    log.write_bytes(combined("/dossier/2").encode() + bad + b"\xc3\x28 not a log line\n"
                    + combined("/tr\u1ea7n").encode())
    families = list(module(log).collect())
    assert value(families, "commune_logs_invalid_utf8_lines_total") == 2
    assert value(families, "commune_logs_lines_total") == 3
    assert value(families, "commune_logs_lines_failed_total") == 1


def test_error_bursts_per_source(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = []
    # 10.0.0.66 sends 30 logins that fail within 30 s: one burst (threshold 20 per 60 s).
    lines += [combined("/login", 401, client="10.0.0.66", when=BASE_TIME + i) for i in range(30)]
    # 10.0.0.7 sends 15 not-found within the window: below the threshold.
    lines += [combined("/x", 404, client="10.0.0.7", when=BASE_TIME + i) for i in range(15)]
    # 10.0.0.8 sends 40 errors, but one every 10 s: never 20 in a window.
    lines += [combined("/x", 403, client="10.0.0.8", when=BASE_TIME + 10 * i) for i in range(40)]
    # 500s are not counted for bursts.
    lines += [combined("/x", 500, client="10.0.0.9", when=BASE_TIME + i) for i in range(50)]
    # Hostnames (HostnameLookups on) are not sources: they may name a person.
    lines += [combined("/x", 401, client="nguyen-van-a.lan", when=BASE_TIME + i)
              for i in range(30)]
    log.write_text("".join(sorted(lines, key=lambda line: line.split("[")[1])))
    clock = Clock()
    logs = module(log, clock, burst_window=60.0, burst_threshold=20)
    families = list(logs.collect())
    assert value(families, "commune_http_error_bursts_total") == 1
    assert value(families, "commune_http_error_sources_tracked") == 3
    # The latest line is at +390 s: the burst of 10.0.0.66 is over.
    assert samples(families, "commune_http_error_burst_source_responses") == []

    # An hour later it comes back: a second burst, shown in the top-N gauge while it lasts.
    later = BASE_TIME + 3600
    with log.open("a") as f:
        f.write("".join(combined("/login", 401, client="10.0.0.66", when=later + i)
                        for i in range(25)))
    families = list(logs.collect())
    assert value(families, "commune_http_error_bursts_total") == 2
    top = samples(families, "commune_http_error_burst_source_responses")
    assert [labels["source"] for labels in top] == ["10.0.0.66"]
    assert value(families, "commune_http_error_burst_source_responses",
                 source="10.0.0.66") >= 20

    # Two windows later by the wall clock, with nothing logged since: the burst is over.
    clock.now = later + 25 + 120
    families = list(logs.collect())
    assert samples(families, "commune_http_error_burst_source_responses") == []
    assert value(families, "commune_http_error_bursts_total") == 2


def test_label_cardinality_stays_bounded_under_100k_sources(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    noise = "".join(combined(f"/dossier/{i}?citizen={i:012d}", 404,
                             client=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                             when=BASE_TIME + i // 1000)
                    for i in range(100_000))
    # Twelve sources bursting at the end, all inside one window.
    burst = "".join(combined("/login", 401, client=f"192.168.1.{n}", when=BASE_TIME + 100 + s)
                    for s in range(40) for n in range(12))
    log.write_text(noise + burst)
    logs = module(log, max_sources=5000, top_sources=10)
    families = list(logs.collect())
    assert value(families, "commune_logs_lines_total") == 100_000 + 480
    assert value(families, "commune_http_error_sources_tracked") == 5000
    top = samples(families, "commune_http_error_burst_source_responses")
    assert len(top) == 10
    assert {labels["source"] for labels in top} <= {f"192.168.1.{n}" for n in range(12)}
    assert value(families, "commune_http_error_bursts_total") == 12
    series = sum(len(f.samples) for f in families)
    assert series < 100, series
    assert len(logs.files[0][0].bursts) == 5000


def test_privacy_no_query_strings_ids_or_raw_paths_in_labels(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    citizen_id = "038095001234"
    log.write_text(
        combined(f"/dossier/{citizen_id}?cccd={citizen_id}&name=Nguyen+Van+A", 200)
        + combined(f"/profile/{citizen_id}", 404)
        + combined(f"/api/search?q={citizen_id}", 200)
        + f'10.0.0.1 - {citizen_id} [25/Nov/2026:13:00:00 +0000] "GET /x HTTP/1.1" 200 1 '
          f'"https://portal.example/?ref={citizen_id}" "agent-{citizen_id}"\n')
    families = list(module(log).collect())
    text = render(families).decode()
    assert citizen_id not in text
    assert "Nguyen" not in text and "profile" not in text
    allowed = {"file": {"portal"}, "route": {"dossier", "search", "other"},
               "method": {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT",
                          "TRACE", "OTHER"},
               "status_class": {"1xx", "2xx", "3xx", "4xx", "5xx", "other"},
               "kind": set(KINDS)}
    for family in families:
        for sample in family.samples:
            for label, label_value in sample.labels.items():
                if label == "le":
                    continue
                assert label_value in allowed[label], (sample.name, label, label_value)


def test_rotation_through_the_module(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(combined("/dossier/0"))
    logs = LogsModule(LogsConfig((LogFile("portal", str(log), routes=ROUTES),)))
    families = list(logs.collect())  # starts at the end: the existing line is not counted
    assert value(families, "commune_logs_lines_total") == 0
    with log.open("a") as f:
        f.write(combined("/dossier/1") + combined("/dossier/2"))
    log.rename(tmp_path / "access.log.1")
    log.write_text(combined("/dossier/3"))
    families = list(logs.collect())
    assert value(families, "commune_logs_lines_total") == 3
    assert value(families, "commune_logs_rotations_total") == 1
    with log.open("r+") as f:  # copytruncate; the refill is shorter than what was read
        f.truncate(0)
    with log.open("a") as f:
        f.write(combined("/d"))
    families = list(logs.collect())
    assert value(families, "commune_logs_lines_total") == 4
    assert value(families, "commune_logs_truncations_total") == 1
    logs.close()


def test_missing_file_is_reported_down(tmp_path: Path) -> None:
    logs = module(tmp_path / "absent.log")
    families = list(logs.collect())
    assert value(families, "commune_logs_file_up", file="portal") == 0
    (tmp_path / "absent.log").write_text(combined("/"))
    families = list(logs.collect())
    assert value(families, "commune_logs_file_up", file="portal") == 1
    assert value(families, "commune_logs_lines_total") == 1


def test_a_100_mb_log_read_in_bounded_steps(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    block = "".join(combined(f"/dossier/{i}?p=1", 200 if i % 10 else 404, 1234,
                             client=f"10.0.{i % 200}.{i % 250}", when=BASE_TIME + i)
                    for i in range(5000)).encode()
    copies = 100 * 2**20 // len(block) + 1
    with log.open("wb") as f:
        for _ in range(copies):
            f.write(block)
    size = log.stat().st_size
    assert size >= 100 * 2**20
    logs = module(log, max_read_bytes=40 * 2**20)
    steps = 0
    while True:
        families = list(logs.collect())
        steps += 1
        if value(families, "commune_logs_pending_bytes") == 0:
            break
        assert steps < 10
    assert steps == 3  # 40 + 40 + 20 MiB
    assert value(families, "commune_logs_read_bytes_total") == size
    assert value(families, "commune_logs_lines_total") == 5000 * copies
    assert value(families, "commune_logs_lines_failed_total") == 0
    assert value(families, "commune_http_response_bytes_total") == 1234 * 5000 * copies
    assert value(families, "commune_http_requests_total", status_class="4xx") == 500 * copies


def test_collected_families_are_declared(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(combined("/"))
    declared = {spec.name for spec in METRICS}
    families = list(module(log).collect())
    for family in families:
        name = family.name + ("_total" if family.type == "counter" else "")
        assert name in declared, name
    for spec in METRICS:
        assert re.fullmatch(r"commune_(http|logs)_[a-z0-9_]+", spec.name), spec.name


def test_open_problems_are_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "access.log"
    path.mkdir()  # cannot be opened as a file
    logs = module(path)
    with caplog.at_level(logging.INFO, logger="agent.modules.logs.module"):
        for _ in range(3):
            logs.collect()
        path.rmdir()
        path.write_text(combined("/"))
        logs.collect()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"logs: {path}: cannot open: Is a directory", f"logs: following {path}"]


LOOSE = (r"(?P<status>\S*) (?P<path>\S*) (?P<bytes>\S*) (?P<client>\S*) (?P<time>\S*) "
         r"(?P<method>\S*) (?P<request_time>\S*)")
WORDS = st.sampled_from(["", "-", "200", "401", "4", "nan", "inf", "-3", "1e308", "0.5", "/.env",
                         "/dossier/1?x=1", "10.0.0.1", "::1", "GET", "get", "\x00", "é", "%zz",
                         "01/Jan/1970:00:00:00 +0000", "99/Foo/2026:99:99:99 +9999",
                         "2026-11-25T13:00:00+07:00", "1_000", "٣"])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(WORDS, min_size=7, max_size=7), max_size=30))
def test_odd_field_values_never_break_the_counters(rows: list[list[str]]) -> None:
    """Whatever a loose regex format captures, counting goes on and counters never go down."""
    logs = module(Path("/nonexistent/access.log"), format="regex", regex=LOOSE,
                  burst_threshold=2)
    counts = logs.files[0][0]
    lines = [" ".join(row) for row in rows]
    counts.feed(lines)
    assert counts.lines + counts.failed == sum(1 for line in lines if line)
    assert counts.response_bytes >= 0
    for per_bucket, total in counts.durations.values():
        assert all(n >= 0 for n in per_bucket) and 0 <= total[0] < float("inf")
    text = render(logs.families()).decode()
    assert "nan" not in text.lower().replace("commune_", "")
