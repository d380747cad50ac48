"""Access-log lines for the logs tests, written as nginx and Apache write them."""

from __future__ import annotations

import time

BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0 Safari/537.36")
BASE_TIME = 1_795_000_000  # a fixed instant, so burst windows are deterministic


def clf_time(when: float) -> str:
    """``25/Nov/2026:13:55:36 +0000``."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(when))


def combined(target: str = "/", status: int = 200, size: int | str = 512, *,
             client: str = "10.0.0.1", method: str = "GET", agent: str = BROWSER,
             when: float = BASE_TIME, extra: str = "") -> str:
    """One combined-format line, newline included; ``extra`` is appended (e.g. request time)."""
    return (f'{client} - - [{clf_time(when)}] "{method} {target} HTTP/1.1" {status} {size} '
            f'"https://portal.example/" "{agent}"{extra}\n')


def common(target: str = "/", status: int = 200, size: int | str = 512, *,
           client: str = "10.0.0.1", method: str = "GET", when: float = BASE_TIME) -> str:
    """One common-format line, newline included."""
    return f'{client} - - [{clf_time(when)}] "{method} {target} HTTP/1.1" {status} {size}\n'
