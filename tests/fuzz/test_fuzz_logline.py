"""Fuzz the logs module's line parser: random and damaged access-log lines (combined, common, a
configured regex with a duration) never raise; every non-empty line is either parsed or counted
as failed; labels stay within their fixed sets; timestamps parse to a number or None."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from agent.modules.logs.config import LogFile, Route
from agent.modules.logs.counts import METHODS, STATUS_CLASSES, FileCounts
from agent.modules.logs.formats import parse_time
from tests.support.fuzzing import fuzz
from tests.support.log_lines import BASE_TIME, clf_time, combined, common
from tests.support.mutations import mutated_bytes, mutated_text

ROUTES = (Route("dossier", "^/dossier/"), Route("api", r"^/api/v\d+/"))
FILES = (
    LogFile("combined", "/x", routes=ROUTES),
    LogFile("common", "/x", format="common"),
    LogFile("regex", "/x", format="regex", routes=ROUTES,
            regex=r'(?P<client>\S+) (?P<status>\d+) "(?P<path>[^"]*)" (?P<duration_ms>\S+)'
                  r'(?: (?P<time>\S+))?'),
    # Every group optional: a line may match and leave any of them unset.
    LogFile("loose", "/x", format="regex",
            regex=r'(?:(?P<client>\S+) )?(?:(?P<status>\d+) )?(?P<path>\S*)'
                  r'(?: (?P<bytes>\S+))?(?: (?P<request_time>\S+))?'),
)

targets = st.one_of(st.sampled_from(("/", "/dossier/12?x=1", "/api/v2/a", "/../../etc/passwd",
                                     "/?q=%2527%20or%201=1--", "/<script>", "-", "")),
                    st.text(max_size=40))
statuses = st.one_of(st.sampled_from((200, 301, 401, 403, 404, 500, 999)), st.integers(0, 999))
sizes = st.one_of(st.integers(0, 2 ** 40), st.sampled_from(("-", "0", "9" * 40)))
clients = st.sampled_from(("10.0.0.1", "2001:db8::7", "host.example", "-", "::"))
whens = st.one_of(st.integers(0, 2 ** 33), st.just(BASE_TIME))
durations = st.sampled_from(("15", "-", "1e308", "inf", "nan", "-3", "0.5", "9" * 400))

valid_lines = st.one_of(
    st.builds(combined, targets, statuses, sizes, client=clients, when=whens,
              method=st.sampled_from(("GET", "POST", "BREW", "get", ""))),
    st.builds(common, targets, statuses, sizes, client=clients, when=whens),
    st.builds(lambda c, s, t, d, w: f'{c} {s} "{t}" {d} {w}', clients, statuses,
              targets.map(lambda t: t.replace('"', "")), durations,
              whens.map(lambda w: clf_time(w).replace(" ", ""))),
).map(lambda line: line.rstrip("\n"))
lines = st.lists(st.one_of(valid_lines, mutated_text(valid_lines), st.text(max_size=120)),
                 max_size=5)


def check(counts: FileCounts, non_empty: int) -> None:
    """The invariants of one file's counters after feeding ``non_empty`` lines."""
    assert counts.lines + counts.failed == non_empty
    assert counts.response_bytes >= 0
    for method, status_class, route in counts.requests:
        assert method in METHODS or method == "OTHER"
        assert status_class in STATUS_CLASSES.values() or status_class == "other"
        assert route in {r.name for r in counts.file.routes} | {"other"}
    assert sum(counts.requests.values()) == counts.lines
    for buckets, total in counts.durations.values():
        assert all(n >= 0 for n in buckets) and math.isfinite(total[0]) and total[0] >= 0
    assert all(n >= 0 for n in counts.suspicious.values())
    assert len(counts.bursts) <= counts.file.max_sources


@fuzz
@given(st.sampled_from(FILES), lines)
def test_any_line_is_parsed_or_counted_as_failed(file: LogFile, batch: list[str]) -> None:
    counts = FileCounts(file, clock=lambda: float(BASE_TIME))
    # feed() takes lines as split by feed_bytes: no newline inside one.
    batch = [line.replace("\n", " ") for line in batch]
    counts.feed(batch)
    check(counts, sum(1 for line in batch if line))


@fuzz
@given(st.sampled_from(FILES), st.one_of(
    st.binary(max_size=2000),
    mutated_bytes(lines.map(lambda b: "\n".join(b).encode("utf-8", "surrogatepass")))))
def test_any_bytes_are_decoded_and_counted(file: LogFile, data: bytes) -> None:
    counts = FileCounts(file, clock=lambda: float(BASE_TIME))
    counts.feed_bytes(data)
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    check(counts, sum(1 for line in text.split("\n") if line))
    assert counts.invalid_utf8 <= data.count(b"\n") + 1


@fuzz
@given(st.one_of(st.text(max_size=60), whens.map(clf_time),
                 mutated_text(whens.map(clf_time)),
                 st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())))
def test_any_timestamp_parses_or_is_none(text: str) -> None:
    stamp = parse_time(text)
    assert stamp is None or math.isfinite(stamp)
