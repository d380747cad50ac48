"""Line formats and log timestamps."""

from __future__ import annotations

import pytest

from agent.modules.logs.config import LogFile
from agent.modules.logs.counts import FileCounts
from agent.modules.logs.formats import line_format, parse_time
from tests.support.log_lines import combined, common


@pytest.mark.parametrize(("text", "expected"), [
    ("10/Oct/2000:13:55:36 -0700", 971211336.0),
    ("10/Oct/2000:20:55:36 +0000", 971211336.0),
    ("2000-10-10T22:55:36+02:00", 971211336.0),   # nginx $time_iso8601
    ("2000-10-10T20:55:36Z", 971211336.0),
    ("10/Foo/2000:13:55:36 -0700", None),
    ("2000-10-10T20:55:36", None),                 # no zone: ambiguous, not guessed
    ("yesterday", None),
])
def test_parse_time(text: str, expected: float | None) -> None:
    assert parse_time(text) == expected


def test_common_and_combined_fields() -> None:
    fmt = line_format(LogFile("p", "/x"))
    m = fmt.regex.match(combined("/a?b=1", 404, "-", client="2001:db8::7", method="DELETE",
                                 agent='curl "quoted" \\\\ agent'.replace('"', '\\"')))
    assert m is not None
    assert m.group(*fmt.fields) == ("2001:db8::7", "18/Nov/2026:11:06:40 +0000", "DELETE",
                                    "/a?b=1", "404", "-", 'curl \\"quoted\\" \\\\ agent', None)
    assert not fmt.has_duration
    m = line_format(LogFile("p", "/x", format="common")).regex.match(common("/c", 200, 7))
    assert m is not None and m.group("path", "status", "bytes") == ("/c", "200", "7")


def test_regex_format_gets_absent_groups_as_none() -> None:
    fmt = line_format(LogFile("p", "/x", format="regex",
                              regex=r"(?P<status>\d{3}) (?P<path>\S+) (?P<duration_ms>\d+)"))
    m = fmt.regex.match("200 /x 15")
    assert m is not None
    assert m.group(*fmt.fields) == (None, None, None, "/x", "200", None, None, "15")
    assert fmt.has_duration and fmt.duration_scale == 1e-3


def test_a_regex_format_may_leave_the_status_unset() -> None:
    counts = FileCounts(LogFile("p", "/x", format="regex",
                                regex=r"(?:(?P<status>\d{3}) )?(?P<path>\S+)"))
    counts.feed(["404 /a", "/b"])
    assert counts.requests == {("OTHER", "4xx", "other"): 1, ("OTHER", "other", "other"): 1}
    assert (counts.lines, counts.failed) == (2, 0)
