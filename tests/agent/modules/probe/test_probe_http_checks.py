"""What the http probe and the scenario steps share: the status check, the body regexes and
the next request after a redirect, with the messages each names its URL in."""

from __future__ import annotations

import re

import pytest

from agent.modules.probe.http import body_mismatch, check_status, redirected
from agent.modules.probe.result import ProbeFailed
from agent.modules.probe.scenario import shown


def test_status_2xx_or_the_listed_codes_401_as_auth() -> None:
    check_status(204, ())
    check_status(404, (404,))
    with pytest.raises(ProbeFailed) as caught:
        check_status(302, ())
    assert (caught.value.reason, str(caught.value)) == ("status", "status 302, expected 2xx")
    with pytest.raises(ProbeFailed) as caught:
        check_status(401, (200, 204), "https://portal/login")
    assert (caught.value.reason, str(caught.value)) == (
        "auth", "status 401 from https://portal/login, expected 200, 204")


def test_the_first_regex_failed_is_named() -> None:
    must, must_not = [re.compile("Đăng nhập"), re.compile("portal")], [re.compile("lỗi")]
    assert body_mismatch("Đăng nhập portal", must, must_not) is None
    assert body_mismatch("portal", must, must_not) == "does not match 'Đăng nhập'"
    assert body_mismatch("Đăng nhập portal lỗi", must, must_not) == "matches 'lỗi'"


def test_a_redirect_joins_the_location_and_a_303_or_a_posts_302_becomes_get() -> None:
    assert redirected("https://a/x/y", "POST", b"k=v", 307, "z", 1, 5) == (
        "https://a/x/z", "POST", b"k=v")
    assert redirected("https://a/x", "POST", b"k=v", 302, "/b", 1, 5) == ("https://a/b", "GET", b"")
    assert redirected("https://a/x", "PUT", b"k=v", 302, "/b", 1, 5) == (
        "https://a/b", "PUT", b"k=v")
    assert redirected("https://a/x", "PUT", b"k=v", 303, "/b", 1, 5)[1:] == ("GET", b"")


def test_too_many_or_odd_redirects_fail_naming_the_url_as_shown() -> None:
    with pytest.raises(ProbeFailed, match=r"^more than 2 redirects \(raise max_redirects"):
        redirected("https://a/x?code=1", "GET", b"", 302, "/b", 3, 2)
    with pytest.raises(ProbeFailed, match=r"^more than 2 redirects from https://a/x \("):
        redirected("https://a/x?code=1", "GET", b"", 302, "/b", 3, 2, shown)
    with pytest.raises(ProbeFailed) as caught:
        redirected("https://a/x", "GET", b"", 302, "ftp://b/f?token=s", 1, 5, shown)
    assert str(caught.value) == "redirect to unsupported URL 'ftp://b/f'"
    with pytest.raises(ProbeFailed) as caught:
        redirected("https://a/x", "GET", b"", 302, "ftp://b/f?token=s", 1, 5)
    assert str(caught.value) == "redirect to unsupported URL 'ftp://b/f?token=s'"
