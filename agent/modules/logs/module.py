"""The ``logs`` module: follows access logs and turns their lines into request metrics.

Each collection reads what was appended to each configured log since the last one (at most
``max_read_bytes``), counts it into the module's counters, and returns them as fresh families.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

from agent.modules.base import MetricSpec
from agent.modules.logs.config import LogsConfig
from agent.modules.logs.counts import FileCounts
from agent.modules.logs.state import load_positions, save_positions
from agent.tail import Position, Tailer

log = logging.getLogger(__name__)

REQUESTS = MetricSpec("commune_http_requests_total", "counter",
                      "HTTP requests logged, by method, status class and configured route.",
                      ("file", "method", "status_class", "route"))
DURATION = MetricSpec("commune_http_request_duration_seconds", "histogram",
                      "Request time logged by the web server (logs that carry it).",
                      ("file", "route"))
RESPONSE_BYTES = MetricSpec("commune_http_response_bytes_total", "counter",
                            "Response body bytes logged.", ("file",))
SUSPICIOUS = MetricSpec("commune_http_suspicious_requests_total", "counter",
                        "Requests that look like attack probes, by kind.", ("file", "kind"))
BURSTS = MetricSpec("commune_http_error_bursts_total", "counter",
                    "Times a source started a burst of 401/403/404 responses.", ("file",))
BURST_SOURCES = MetricSpec("commune_http_error_burst_source_responses", "gauge",
                           "401/403/404 responses in the burst window of the top sources in a "
                           "burst now.", ("file", "source"))
SOURCES_TRACKED = MetricSpec("commune_http_error_sources_tracked", "gauge",
                             "Sources of 401/403/404 remembered for burst detection (bounded).",
                             ("file",))
LINES = MetricSpec("commune_logs_lines_total", "counter", "Log lines parsed.", ("file",))
FAILED = MetricSpec("commune_logs_lines_failed_total", "counter",
                    "Log lines that did not match the file's format.", ("file",))
INVALID_UTF8 = MetricSpec("commune_logs_invalid_utf8_lines_total", "counter",
                          "Log lines with invalid UTF-8 (read with replacement characters).",
                          ("file",))
READ_BYTES = MetricSpec("commune_logs_read_bytes_total", "counter",
                        "Bytes read from the log files.", ("file",))
PENDING_BYTES = MetricSpec("commune_logs_pending_bytes", "gauge",
                           "Bytes written to the log and not read yet (behind when > 0 for "
                           "long).", ("file",))
ROTATIONS = MetricSpec("commune_logs_rotations_total", "counter",
                       "Times the log was rotated (a new file at the path).", ("file",))
TRUNCATIONS = MetricSpec("commune_logs_truncations_total", "counter",
                         "Times the log was truncated in place (copytruncate).", ("file",))
FILE_UP = MetricSpec("commune_logs_file_up", "gauge",
                     "1 if the log file is open and being followed.", ("file",))
METRICS = (REQUESTS, DURATION, RESPONSE_BYTES, SUSPICIOUS, BURSTS, BURST_SOURCES,
           SOURCES_TRACKED, LINES, FAILED, INVALID_UTF8, READ_BYTES, PENDING_BYTES, ROTATIONS,
           TRUNCATIONS, FILE_UP)

class LogsModule:
    """Follows the configured access logs; counters live here between collections."""

    name = "logs"
    metrics = METRICS

    def __init__(self, config: LogsConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        saved = load_positions(config.state_file) if config.state_file else {}
        self.files = [(FileCounts(f, clock),
                       Tailer(f.path, from_start=f.from_start, max_bytes=f.max_read_bytes,
                              resume=saved.get(f.name)))
                      for f in config.files]
        self._saved: dict[str, Position] = dict(saved)
        self._save_error: str | None = None

    def collect(self) -> Iterable[Metric]:
        """Read what is new in every log, then return every counter."""
        for counts, tailer in self.files:
            was = tailer.error
            counts.feed_bytes(tailer.read())
            if tailer.error != was:
                if tailer.error is None:
                    log.info("logs: following %s", tailer.path)
                else:  # said once per change, not every interval
                    log.warning("logs: %s: %s", tailer.path, tailer.error)
        if self.config.state_file:
            self._save(self.config.state_file)
        return self.families()

    def _save(self, path: str) -> None:
        positions = dict(self._saved)
        for counts, tailer in self.files:
            position = tailer.position()
            if position is not None:
                positions[counts.file.name] = position
        if positions == self._saved:
            return
        try:
            save_positions(path, positions)
        except OSError as exc:
            if str(exc) != self._save_error:  # say it once, not every interval
                log.warning("logs: cannot write state file %s: %s", path, exc)
            self._save_error = str(exc)
            return
        self._saved, self._save_error = positions, None

    def families(self) -> list[Metric]:
        """The module's counters as fresh families (no reading)."""
        fam = {spec: spec.family() for spec in METRICS if spec is not DURATION}
        duration = DURATION.histogram_family()
        for counts, tailer in self.files:
            name = counts.file.name
            for (method, status_class, route), n in sorted(counts.requests.items()):
                fam[REQUESTS].add_metric([name, method, status_class, route], n)
            for route, (per_bucket, total) in sorted(counts.durations.items()):
                cumulative, buckets = 0, []
                for bound, n in zip((*counts.buckets, float("inf")), per_bucket, strict=True):
                    cumulative += n
                    buckets.append((floatToGoString(bound), cumulative))
                duration.add_metric([name, route], buckets, total[0])
            fam[RESPONSE_BYTES].add_metric([name], counts.response_bytes)
            for kind, n in counts.suspicious.items():
                fam[SUSPICIOUS].add_metric([name, kind], n)
            fam[BURSTS].add_metric([name], counts.bursts.bursts)
            for source, responses in counts.bursts.top(counts.file.top_sources, self.clock()):
                fam[BURST_SOURCES].add_metric([name, source], round(responses, 3))
            fam[SOURCES_TRACKED].add_metric([name], len(counts.bursts))
            fam[LINES].add_metric([name], counts.lines)
            fam[FAILED].add_metric([name], counts.failed)
            fam[INVALID_UTF8].add_metric([name], counts.invalid_utf8)
            fam[READ_BYTES].add_metric([name], tailer.stats.read_bytes)
            fam[PENDING_BYTES].add_metric([name], tailer.pending_bytes())
            fam[ROTATIONS].add_metric([name], tailer.stats.rotations)
            fam[TRUNCATIONS].add_metric([name], tailer.stats.truncations)
            fam[FILE_UP].add_metric([name], 0.0 if tailer.error else 1.0)
        return [*fam.values(), duration]

    def close(self) -> None:
        """Close the followed files."""
        for _, tailer in self.files:
            tailer.close()
