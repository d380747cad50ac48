"""The ``http`` probe: a small HTTP/1.1 client on asyncio streams, timing each phase exactly.

Phases are blackbox_exporter's: ``resolve`` (getaddrinfo), ``connect`` (TCP handshake), ``tls``
(TLS handshake), ``processing`` (request sent to the first response byte) and ``transfer`` (first
byte to the end of the body), each summed over the redirects followed. One connection per request
(``Connection: close``), as the standard exporter does, so every probe measures a fresh connect.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agent.modules.probe.result import (
    DNS_LOOKUP,
    FAILED_DUE_TO_REGEX,
    HTTP_BODY_LENGTH,
    HTTP_CONTENT_LENGTH,
    HTTP_PHASE,
    HTTP_REDIRECTS,
    HTTP_SSL,
    HTTP_STATUS,
    HTTP_VERSION,
    ProbeFailed,
    ProbeResult,
    Reason,
)
from agent.modules.probe.targets import HttpTarget
from agent.modules.probe.tcp import connect_socket, open_tls
from agent.modules.probe.tls import (
    PeerExpiry,
    client_context,
    peer_expiry,
    record_expiry,
)
from common import __version__

PHASES = ("resolve", "connect", "tls", "processing", "transfer")
REDIRECT_CODES = (301, 302, 303, 307, 308)
USER_AGENT = f"commune-agent/{__version__}"
_CHARSET = re.compile(r"charset=\"?([\w.:-]+)", re.I)
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: .*)?\r?\n?")


@dataclass
class Response:
    """One HTTP response as the probe saw it."""

    status: int
    version: float
    headers: dict[str, str]
    body: bytes
    tls: bool
    content_length: int = -1
    expiry: PeerExpiry | None = None
    set_cookies: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The body decoded with the charset of Content-Type (UTF-8 when none or unknown)."""
        match = _CHARSET.search(self.headers.get("content-type", ""))
        try:
            return self.body.decode(match.group(1) if match else "utf-8", errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


@dataclass
class Phases:
    """Phase durations in seconds, summed over the requests of one probe."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    first_resolve: float | None = None  # the target's own name, before any redirect
    connects: list[float] = field(default_factory=list)  # each request's TCP connect time

    def timed(self, phase: str, start: float) -> float:
        """Add the time since ``start`` to ``phase``; return now."""
        now = time.perf_counter()
        self.seconds[phase] += now - start
        return now


def check_status(status: int, valid: Sequence[int], origin: str | None = None) -> None:
    """Raise ProbeFailed unless ``status`` is one of ``valid`` (any 2xx when empty); 401 and 407
    fail as ``auth``, the rest as ``status``; ``origin`` (a URL) is named in the message."""
    if (status in valid) if valid else (200 <= status < 300):
        return
    reason: Reason = "auth" if status in (401, 407) else "status"
    expected = ", ".join(map(str, valid)) if valid else "2xx"
    where = f" from {origin}" if origin else ""
    raise ProbeFailed(reason, f"status {status}{where}, expected {expected}")


def becomes_get(status: int, method: str) -> bool:
    """True if a redirect with ``status`` turns the request into a GET without a body: a 303,
    or a 301 or 302 of a POST (as browsers and Go's client do)."""
    return status == 303 or (status in (301, 302) and method == "POST")


def redirected(url: str, method: str, body: bytes, status: int, location: str, hops: int,
               max_redirects: int, show: Callable[[str], str] | None = None
               ) -> tuple[str, str, bytes]:
    """The URL, method and body of the request after redirect number ``hops`` of ``url`` to
    ``location``; ProbeFailed past ``max_redirects`` or to a scheme other than http(s).

    ``show`` is how messages write URLs; given, they name the URL redirected from too.
    """
    if hops > max_redirects:
        where = f" from {show(url)}" if show is not None else ""
        raise ProbeFailed("status", f"more than {max_redirects} redirects{where} "
                                    f"(raise max_redirects or fix the loop)")
    url = urllib.parse.urljoin(url, location)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        shown = show(url) if show is not None else url
        raise ProbeFailed("status", f"redirect to unsupported URL {shown!r}")
    if becomes_get(status, method):
        return url, "GET", b""
    return url, method, body


def body_mismatch(text: str, must: Iterable[re.Pattern[str]],
                  must_not: Iterable[re.Pattern[str]]) -> str | None:
    """How ``text`` fails the first regex it fails (``does not match 'p'``, ``matches 'p'``);
    None when it passes them all."""
    for pattern in must:
        if not pattern.search(text):
            return f"does not match {pattern.pattern!r}"
    for pattern in must_not:
        if pattern.search(text):
            return f"matches {pattern.pattern!r}"
    return None


class HttpsSettings(Protocol):
    """What a target says of its HTTP(S) client (``http``, ``scenario``, ``crl``)."""

    @property
    def ca_file(self) -> str | None: ...
    @property
    def insecure_skip_verify(self) -> bool: ...
    @property
    def body_size_limit(self) -> int: ...


class HttpProbe:
    """Probes one ``http`` target; the TLS context and regexes are built once."""

    def __init__(self, target: HttpTarget) -> None:
        self.target = target
        self.client = HttpClient.of(target)
        self.must = [re.compile(p) for p in target.body_must_match]
        self.must_not = [re.compile(p) for p in target.body_must_not_match]
        self._auth: str | None = None

    def _authorization(self) -> str | None:
        auth = self.target.basic_auth
        if auth is None:
            return None
        if self._auth is None:  # read at the first probe, so a rotated file is picked up on restart
            try:
                password = Path(auth.password_file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ProbeFailed("auth", f"cannot read password_file: {exc}") from None
            token = f"{auth.username}:{password[0] if password else ''}".encode()
            self._auth = "Basic " + base64.b64encode(token).decode("ascii")
        return self._auth

    async def probe(self, result: ProbeResult) -> None:
        """Run the probe, adding samples to ``result``; raise ProbeFailed on failure."""
        target = self.target
        phases = Phases()
        url, method, body = target.url, target.method, target.body.encode()
        redirects = 0
        first_host = urllib.parse.urlsplit(url).hostname
        try:
            while True:
                same_host = urllib.parse.urlsplit(url).hostname == first_host
                response = await self._request(url, method, body, phases, same_host)
                location = response.headers.get("location")
                if not (target.follow_redirects and response.status in REDIRECT_CODES
                        and location):
                    break
                redirects += 1
                url, method, body = redirected(url, method, body, response.status, location,
                                               redirects, target.max_redirects)
        finally:
            for phase, seconds in phases.seconds.items():
                result.add(HTTP_PHASE, seconds, phase)
            result.add(HTTP_REDIRECTS, redirects)
            for seconds in phases.connects:
                result.observe_rtt(seconds)
            if phases.first_resolve is not None:
                result.add(DNS_LOOKUP, phases.first_resolve)
        if response.expiry is not None:  # the final request's certificates, as blackbox
            record_expiry(result, response.expiry)
        self._check(response, result)

    def _check(self, response: Response, result: ProbeResult) -> None:
        target = self.target
        result.add(HTTP_STATUS, response.status)
        result.add(HTTP_CONTENT_LENGTH, response.content_length)
        result.add(HTTP_BODY_LENGTH, len(response.body))
        result.add(HTTP_VERSION, response.version)
        result.add(HTTP_SSL, 1.0 if response.tls else 0.0)
        check_status(response.status, target.valid_status_codes)
        if self.must or self.must_not:
            mismatch = body_mismatch(response.text(), self.must, self.must_not)
            result.add(FAILED_DUE_TO_REGEX, 0.0 if mismatch is None else 1.0)
            if mismatch is not None:
                raise ProbeFailed("content", f"body {mismatch}")

    async def _request(self, url: str, method: str, body: bytes, phases: Phases,
                       same_host: bool) -> Response:
        headers: dict[str, str] = {}
        auth = self._authorization()
        if auth and same_host:  # as Go's client: credentials are not sent to another host
            headers["Authorization"] = auth
        headers.update(self.target.headers)
        return await self.client.request(url, method, body, headers, phases,
                                         (same_host and self.target.server_name) or None)


class HttpClient:
    """HTTP/1.1 on asyncio streams: one request per fresh connection, each phase timed.

    Shared by the ``http`` probe and the ``scenario`` steps; the TLS context is built once.
    """

    def __init__(self, context: ssl.SSLContext, body_size_limit: int) -> None:
        self.context = context
        self.body_size_limit = body_size_limit

    @classmethod
    def of(cls, target: HttpsSettings) -> HttpClient:
        """A client with the target's CA file, verification and body size limit."""
        return cls(client_context(target.ca_file, target.insecure_skip_verify),
                   target.body_size_limit)

    async def request(self, url: str, method: str, body: bytes, headers: Mapping[str, str],
                      phases: Phases, server_name: str | None = None) -> Response:
        """Send one request and read its response; raise ProbeFailed on a failure.

        ``headers`` are added to (or replace) the client's own; ``server_name`` is the TLS
        SNI and certificate name, by default the URL's host.
        """
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        loop = asyncio.get_running_loop()

        start = time.perf_counter()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ProbeFailed("dns", f"cannot resolve {host!r}: {exc}") from None
        resolved = phases.timed("resolve", start)
        if phases.first_resolve is None:
            phases.first_resolve = resolved - start
        start = resolved

        family, type_, proto, _, address = infos[0]
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        writer: asyncio.StreamWriter | None = None
        try:
            await connect_socket(sock, address, port)
            connected = phases.timed("connect", start)
            phases.connects.append(connected - start)
            start = connected
            if tls:
                reader, writer = await open_tls(sock, self.context, server_name or host)
                start = phases.timed("tls", start)
                expiry = peer_expiry(writer.get_extra_info("ssl_object"))
            else:
                reader, writer = await asyncio.open_connection(sock=sock)
                start = phases.timed("connect", start)
                expiry = None
            writer.write(request_bytes(parts, method, body, headers))
            response = await self._read_response(reader, method, tls, phases, start)
            response.expiry = expiry
            return response
        finally:
            if writer is not None:
                writer.close()
            else:
                sock.close()

    async def _read_response(self, reader: asyncio.StreamReader, method: str, tls: bool,
                             phases: Phases, start: float) -> Response:
        try:
            status_line = await reader.readline()
            start = phases.timed("processing", start)
            match = _STATUS_LINE.fullmatch(status_line)
            if not match:
                raise ProbeFailed("status", f"not an HTTP response: {status_line[:80]!r}")
            status = int(match.group(3))
            version = float(f"{match.group(1).decode()}.{match.group(2).decode()}")
            headers: dict[str, str] = {}
            set_cookies: list[str] = []
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "set-cookie":  # the one header that comes many times, never joined
                    set_cookies.append(value.strip())
                headers[name] = value.strip()
            content_length = int(headers["content-length"]) if headers.get(
                "content-length", "").isdigit() else -1
            if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
                body = b""
            else:
                body = await self._read_body(reader, headers, content_length)
            phases.timed("transfer", start)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            raise ProbeFailed("connect", f"connection lost while reading the response: "
                                         f"{exc}") from None
        except ValueError as exc:  # a line over the stream limit, a bad chunk size
            raise ProbeFailed("status", f"malformed response: {exc}") from None
        return Response(status, version, headers, body, tls, content_length,
                        set_cookies=set_cookies)

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str],
                         content_length: int) -> bytes:
        limit = self.body_size_limit
        too_big = ProbeFailed("content", f"body larger than body_size_limit ({limit} bytes)")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            size = 0
            while True:
                length = int((await reader.readline()).split(b";")[0].strip(), 16)
                if length == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                size += length
                if size > limit:
                    raise too_big
                chunks.append(await reader.readexactly(length))
                await reader.readline()
        if content_length >= 0:
            if content_length > limit:
                raise too_big
            return await reader.readexactly(content_length)
        body = await reader.read(limit + 1)
        while len(body) <= limit:
            more = await reader.read(limit + 1 - len(body))
            if not more:
                break
            body += more
        if len(body) > limit:
            raise too_big
        return body


def request_bytes(parts: urllib.parse.SplitResult, method: str, body: bytes,
                  extra: Mapping[str, str]) -> bytes:
    """The request head and body; ``extra`` headers are added to, or replace, the defaults."""
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    netloc = parts.netloc.rpartition("@")[2]
    headers = {"Host": netloc, "User-Agent": USER_AGENT, "Accept": "*/*",
               "Connection": "close"}
    if body or method in ("POST", "PUT", "PATCH"):
        headers["Content-Length"] = str(len(body))
    headers.update(extra)
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
