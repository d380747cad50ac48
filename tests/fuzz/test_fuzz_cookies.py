"""Fuzz: hostile Set-Cookie headers never break a scenario's cookie jar."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.modules.probe.cookies import CookieJar
from tests.support.fuzzing import fuzz

ATTRIBUTE = st.sampled_from(["Path", "Domain", "Max-Age", "Expires", "Secure", "HttpOnly",
                             "SameSite", "path", "DOMAIN"])
VALUE = st.one_of(st.text(max_size=40), st.sampled_from(
    ["/", "/a/", "example.org", ".example.org", "127.0.0.1", "-1", "--5", "0", "²", "9" * 40,
     "Wed, 21 Oct 2015 07:28:00 GMT", "Mon, 01 Jan 99999 00:00:00 GMT", "garbage"]))
LINE = st.one_of(st.text(max_size=120), st.builds(
    lambda name, value, attrs: "; ".join([f"{name}={value}"] + [f"{a}={v}" for a, v in attrs]),
    st.text(max_size=10), st.text(max_size=10), st.lists(st.tuples(ATTRIBUTE, VALUE),
                                                         max_size=5)))
URL = st.sampled_from(["http://portal.example.org/a/b", "https://sso.example.org/",
                       "http://127.0.0.1:8080/", "https://example.org", "http://[::1]/x"])


@fuzz
@given(st.lists(st.tuples(URL, st.lists(LINE, max_size=4)), max_size=4), URL)
def test_store_and_header_never_raise(responses: list[tuple[str, list[str]]], url: str) -> None:
    jar = CookieJar()
    for where, lines in responses:
        jar.store(where, lines, now=1_800_000_000.0)
    header = jar.header(url, now=1_800_000_000.0)
    # What goes back on the wire is one header line of printable characters.
    assert header is None or not any(ord(c) < 0x20 or ord(c) == 0x7f for c in header)
