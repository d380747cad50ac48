"""The cookie jar of one scenario run: RFC 6265 storage and matching, kept small.

Cookies are matched by host (host-only, or a ``Domain`` and its subdomains), path prefix and
``Secure``; ports are ignored, as browsers do. ``Max-Age`` wins over ``Expires``; a cookie
already expired is deleted. Values are never logged.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import re
import time
import urllib.parse
from dataclasses import dataclass

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_INTEGER = re.compile(r"-?[0-9]{1,12}")


@dataclass(frozen=True)
class Cookie:
    """One stored cookie."""

    name: str
    value: str
    domain: str
    host_only: bool
    path: str
    secure: bool
    expires: float | None  # unixtime; None: for the run


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def domain_matches(host: str, domain: str) -> bool:
    """RFC 6265 5.1.3: ``host`` is ``domain`` or a subdomain of it (never for an IP address)."""
    return host == domain or (host.endswith("." + domain) and not _is_ip(host))


def path_matches(path: str, cookie_path: str) -> bool:
    """RFC 6265 5.1.4: ``cookie_path`` is ``path`` or a folder prefix of it."""
    if path == cookie_path:
        return True
    return path.startswith(cookie_path) and (cookie_path.endswith("/")
                                             or path[len(cookie_path)] == "/")


def default_path(path: str) -> str:
    """The folder of the request path, the default of a cookie without ``Path``."""
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[:path.rindex("/")]


class CookieJar:
    """The cookies one scenario run has been given."""

    def __init__(self) -> None:
        self._cookies: dict[tuple[str, str, str], Cookie] = {}

    def __len__(self) -> int:
        return len(self._cookies)

    def store(self, url: str, set_cookie: list[str], now: float | None = None) -> None:
        """Keep the cookies of a response's ``Set-Cookie`` headers to a request to ``url``."""
        now = time.time() if now is None else now
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        for line in set_cookie:
            cookie = _parse(line, host, parts.path or "/", now)
            if cookie is None:
                continue
            key = (cookie.domain, cookie.path, cookie.name)
            if cookie.expires is not None and cookie.expires <= now:
                self._cookies.pop(key, None)
            else:
                self._cookies[key] = cookie

    def header(self, url: str, now: float | None = None) -> str | None:
        """The ``Cookie`` header for a request to ``url``, or None when no cookie applies."""
        now = time.time() if now is None else now
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        path = parts.path or "/"
        secure = parts.scheme == "https"
        chosen = [c for c in self._cookies.values()
                  if (c.domain == host if c.host_only else domain_matches(host, c.domain))
                  and path_matches(path, c.path) and (secure or not c.secure)
                  and (c.expires is None or c.expires > now)]
        if not chosen:
            return None
        chosen.sort(key=lambda c: -len(c.path))  # longer paths first (RFC 6265 5.4)
        return "; ".join(f"{c.name}={c.value}" for c in chosen)


def _parse(line: str, host: str, request_path: str, now: float) -> Cookie | None:
    pair, *attributes = line.split(";")
    name, eq, value = pair.partition("=")
    name, value = name.strip(), value.strip()
    if not eq or not name or _CONTROL.search(name + value):
        return None  # a control character would break the Cookie header we send back
    domain, path, secure = "", "", False
    expires: float | None = None
    max_age: float | None = None
    for attribute in attributes:
        key, _, arg = attribute.partition("=")
        key, arg = key.strip().lower(), arg.strip()
        if key == "domain" and arg:
            domain = arg.lstrip(".").lower()
        elif key == "path" and arg.startswith("/"):
            path = arg
        elif key == "secure":
            secure = True
        elif key == "max-age" and _INTEGER.fullmatch(arg):
            max_age = now + int(arg) if int(arg) > 0 else 0.0
        elif key == "expires":
            # An unreadable or out-of-range date is ignored.
            with contextlib.suppress(TypeError, ValueError, OverflowError, IndexError):
                expires = email.utils.parsedate_to_datetime(arg).timestamp()
    if domain and not domain_matches(host, domain):
        return None  # a cookie for another site: refused, as browsers do
    return Cookie(name, value, domain or host, not domain, path or default_path(request_path),
                  secure, max_age if max_age is not None else expires)
