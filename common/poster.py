"""Posting remote-write bodies over HTTP(S), and what an answer means for the batch."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from common import remote_write


class Rejected(Exception):
    """The gateway refused a batch for good (4xx other than 408 and 429)."""


class Retry(Exception):
    """The batch may succeed later (5xx, 408, 429, connection trouble)."""


class Poster:
    """POSTs remote-write bodies over one kept-alive HTTP(S) connection."""

    def __init__(self, url: str, token: str | None, timeout: float,
                 ca_file: str | None = None, user_agent: str = "commune-agent",
                 headers: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.headers = {**remote_write.HEADERS, "User-Agent": user_agent, **(headers or {})}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.context = ssl.create_default_context(cafile=ca_file) if self.https else None
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(self.host, self.port,
                                                         timeout=self.timeout, context=self.context)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def post(self, body: bytes) -> None:
        """Send one body; raise Retry or Rejected unless the answer is 2xx."""
        try:
            conn = self._connection()
            conn.request("POST", self.path, body, self.headers)
            resp = conn.getresponse()
            text = resp.read()  # all of it, or the kept-alive connection is out of step
            if resp.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Retry(f"{type(exc).__name__}: {exc}") from None
        if 200 <= resp.status < 300:
            return
        message = f"HTTP {resp.status}: {text[:300].decode(errors='replace').strip()}"
        # 408 (the receiver's body deadline on a slow link), 429 and 5xx: send it again later.
        if resp.status in (408, 429) or resp.status >= 500:
            raise Retry(message)
        raise Rejected(message)

    def close(self) -> None:
        """Drop the connection; the next post opens a new one."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
