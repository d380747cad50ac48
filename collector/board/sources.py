"""What the board reads: Prometheus' instant queries, open alerts from Alertmanager or Prometheus.

Every request has a timeout; any failure (refused, timed out, an error answer) is a
:class:`SourceError` that names the source and says what happened, never a traceback.
"""

from __future__ import annotations

import concurrent.futures
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The fleet at once, one query per kind of reading: 166 communes cost as many queries as one.
QUERIES: Mapping[str, str] = {
    "up": 'up{commune!=""}',
    "heartbeat_age": 'time() - max_over_time('
                     'commune_agent_heartbeat_timestamp_seconds{commune!=""}[6h])',
    "probe_success": 'probe_success{commune!=""}',
    "probe_duration": 'avg_over_time(probe_duration_seconds{commune!=""}[5m])',
    "icmp_loss": 'avg_over_time(commune_probe_icmp_packet_loss_ratio{commune!=""}[5m])',
    "icmp_rtt": 'avg_over_time(commune_probe_icmp_rtt_seconds{commune!="", stat="avg"}[5m])',
    "vc_up": 'commune_vc_up{commune!=""}',
    "vc_registered": 'max without (protocol) (commune_vc_registered{commune!=""})',
    "vc_in_call": 'commune_vc_in_call{commune!=""}',
    "vc_loss": 'max without (direction) (commune_vc_packet_loss_ratio{commune!=""})',
    "vc_jitter": 'max without (direction) (commune_vc_jitter_seconds{commune!=""})',
    "snmp_up": 'commune_snmp_up{commune!=""}',
    # rules/commune-conferences.yml (rendered from the conference schedule)
    "conference_start": "conference:start_timestamp_seconds:value",
    "conference_open": "conference:window:bool == 1",
    "conference_ready": "commune_conference:vc_ready:bool",
    "conference_reason": "commune_conference_reason:vc_not_ready:bool",
}
ALERTS_QUERY = 'ALERTS{alertstate="firing"}'


class SourceError(Exception):
    """Prometheus or Alertmanager could not be read; the message says which and why."""

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


@dataclass(frozen=True)
class Alert:
    """An open alert, from Alertmanager (with its annotations) or from ``ALERTS``."""

    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: str = ""

    @property
    def severity(self) -> str:
        """``critical``, ``warning``... (``none`` when unset)."""
        return self.labels.get("severity", "none")

    @property
    def commune(self) -> str:
        """The commune code the alert is about, '' for a province alert."""
        return self.labels.get("commune", "")


@dataclass(frozen=True)
class Readings:
    """Everything one refresh of the board read."""

    vectors: Mapping[str, list[Sample]]
    alerts: list[Alert]
    alerts_from: str            # "alertmanager" or "prometheus"
    notes: list[str] = field(default_factory=list)  # e.g. Alertmanager unreachable

    def vector(self, name: str) -> list[Sample]:
        """The samples of query ``name`` of :data:`QUERIES`."""
        return self.vectors.get(name, [])


def _get_json(source: str, base: str, path: str, params: Mapping[str, str],
              timeout: float) -> Any:
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


class Prometheus:
    """Instant queries against a Prometheus HTTP API, each with a timeout."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout

    def query(self, expr: str) -> list[Sample]:
        """Run ``expr``; return its instant vector."""
        data = _get_json("Prometheus", self.url, "/api/v1/query",
                         {"query": expr, "timeout": f"{self.timeout:g}"}, self.timeout)
        if not isinstance(data, dict) or data.get("status") != "success":
            raise SourceError("Prometheus", self.url, f"refused {expr!r}: {data!r:.200}")
        try:
            return [Sample(dict(s["metric"]), float(s["value"][1]))
                    for s in data["data"]["result"]]
        except (KeyError, TypeError, ValueError, IndexError):
            raise SourceError("Prometheus", self.url,
                              f"answered an unexpected shape for {expr!r}") from None

    def alerts(self) -> list[Alert]:
        """The firing alerts, from the ``ALERTS`` series (no annotations there)."""
        return [Alert(s.labels["alertname"], s.labels) for s in self.query(ALERTS_QUERY)
                if "alertname" in s.labels]


class Alertmanager:
    """Open alerts from Alertmanager's API v2: active, neither silenced nor inhibited."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout

    def alerts(self) -> list[Alert]:
        """The alerts a person should see now."""
        data = _get_json("Alertmanager", self.url, "/api/v2/alerts",
                         {"active": "true", "silenced": "false", "inhibited": "false"},
                         self.timeout)
        if not isinstance(data, list):
            raise SourceError("Alertmanager", self.url, f"answered {data!r:.200}")
        try:
            return [Alert(str(a["labels"].get("alertname", "?")), dict(a["labels"]),
                          dict(a.get("annotations") or {}), str(a.get("startsAt", "")))
                    for a in data if isinstance(a, dict) and isinstance(a.get("labels"), dict)]
        except (TypeError, ValueError):
            raise SourceError("Alertmanager", self.url, "answered an unexpected shape") from None


def read_all(prometheus: Prometheus, alertmanager: Alertmanager | None = None,
             workers: int = len(QUERIES) + 1) -> Readings:
    """Run every query of :data:`QUERIES` and fetch the open alerts, all at once: a Prometheus
    that does not answer costs one timeout, not one per query.

    Prometheus failing is a SourceError; Alertmanager failing falls back to ``ALERTS``, noted.
    """
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="board-query") as pool:
        futures = {name: pool.submit(prometheus.query, expr) for name, expr in QUERIES.items()}
        am = pool.submit(alertmanager.alerts) if alertmanager is not None else None
        vectors = {name: future.result() for name, future in futures.items()}
        notes = []
        if am is not None:
            try:
                return Readings(vectors, am.result(), "alertmanager")
            except SourceError as exc:
                notes.append(f"{exc}; alerts below come from Prometheus (ALERTS)")
        return Readings(vectors, prometheus.alerts(), "prometheus", notes)
