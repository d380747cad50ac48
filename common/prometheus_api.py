"""Prometheus' HTTP query API, as the collector's commands read it (the board, ``expire``).

Every request has a timeout; any failure (refused, timed out, an error answer, an answer that is
not Prometheus') is a :class:`SourceError` that names the source and says what happened, never a
traceback.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SourceError(Exception):
    """Prometheus (or Alertmanager) could not be read; the message says which and why."""

    def __init__(self, source: str, url: str, reason: str) -> None:
        super().__init__(f"{source} at {url} {reason}")
        self.source = source
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and value."""

    labels: Mapping[str, str]
    value: float


def get_json(source: str, base: str, path: str, params: Mapping[str, str],
             timeout: float) -> Any:
    """GET ``base`` + ``path`` with ``params`` and return the JSON answer; SourceError if none."""
    url = f"{base.rstrip('/')}{path}"
    full = f"{url}?{urllib.parse.urlencode(params)}" if params else url
    try:
        with urllib.request.urlopen(urllib.request.Request(
                full, headers={"Accept": "application/json"}), timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        raise SourceError(source, base, f"answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise SourceError(source, base, f"did not answer within {timeout:g}s") from None
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        raise SourceError(source, base, f"is unreachable ({text})") from None
    except ValueError:
        raise SourceError(source, base, "answered something that is not JSON") from None


class PrometheusQuery:
    """Instant queries against a Prometheus HTTP API, each with a timeout."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout

    def query(self, expr: str) -> list[Sample]:
        """Run ``expr``; return its instant vector."""
        data = get_json("Prometheus", self.url, "/api/v1/query",
                        {"query": expr, "timeout": f"{self.timeout:g}"}, self.timeout)
        if not isinstance(data, dict) or data.get("status") != "success":
            raise SourceError("Prometheus", self.url, f"refused {expr!r}: {data!r:.200}")
        try:
            return [Sample(dict(s["metric"]), float(s["value"][1]))
                    for s in data["data"]["result"]]
        except (KeyError, TypeError, ValueError, IndexError):
            raise SourceError("Prometheus", self.url,
                              f"answered an unexpected shape for {expr!r}") from None
