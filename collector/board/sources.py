"""What the board reads: Prometheus' instant queries, open alerts from Alertmanager or Prometheus.

Every request has a timeout; any failure (refused, timed out, an error answer) is a
:class:`SourceError` that names the source and says what happened, never a traceback.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping
from dataclasses import dataclass, field

from common.prometheus_api import PrometheusQuery, Sample, SourceError
from common.prometheus_api import get_json as _get_json

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


class Prometheus(PrometheusQuery):
    """Instant queries against a Prometheus HTTP API, each with a timeout."""

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
