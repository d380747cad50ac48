"""The push client: collections go to the spool, a sender thread delivers them oldest first.

Each collection the scheduler reports becomes one spool record, every sample stamped with the
collection time. A heartbeat record (``commune_agent_heartbeat_timestamp_seconds`` plus the
agent's own metrics, push metrics included) is added every interval, so the province can alert
on a pushed agent that went silent. The sender reads the spool in order and posts remote-write
requests: 2xx delivers, 408/429/5xx and connection errors retry with exponential backoff, any
other 4xx drops the batch (counted as ``rejected``). A record that passes its checksums but does
not decode is dropped and counted as ``corrupt``; nothing is retried forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.push.config import PushConfig
from agent.push.record import CorruptRecord, decode_payload, encode_payload
from agent.push.spool import Spool
from common import remote_write
from common.poster import Poster, Rejected, Retry

log = logging.getLogger(__name__)

SPOOL_BYTES = MetricSpec("commune_push_spool_bytes", "gauge",
                         "Bytes of samples spooled on disk, waiting or delivered.")
SENT = MetricSpec("commune_push_sent_samples_total", "counter",
                  "Samples the gateway accepted.")
DROPPED = MetricSpec("commune_push_dropped_samples_total", "counter",
                     "Samples given up: spool_full (oldest dropped to stay under "
                     "max_spool_bytes), rejected (the gateway answered 4xx), spool_error "
                     "(the spool could not be written) or corrupt (a spooled record was "
                     "damaged).", ("reason",))
LAG = MetricSpec("commune_push_lag_seconds", "gauge",
                 "How far the oldest undelivered sample trails the newest spooled one "
                 "(0 when all are delivered).")
OLDEST_AGE = MetricSpec("commune_push_oldest_sample_age_seconds", "gauge",
                        "Age of the oldest sample not yet delivered (0 when all are).")
HEARTBEAT = MetricSpec("commune_agent_heartbeat_timestamp_seconds", "gauge",
                       "When the agent last spooled its heartbeat; pushed every interval.")
METRICS = (SPOOL_BYTES, SENT, DROPPED, LAG, OLDEST_AGE, HEARTBEAT)
DROP_REASONS = ("spool_full", "rejected", "spool_error", "corrupt")


def group_records(payloads: Sequence[bytes], counts: Sequence[int]) -> tuple[bytes | None, int]:
    """One compressed WriteRequest from spool payloads, skipping those that do not decode.

    Returns the body (None when none decoded) and the samples skipped.
    """
    decoded, skipped = [], 0
    for payload, count in zip(payloads, counts, strict=True):
        try:
            decoded.append(decode_payload(payload))
        except CorruptRecord as exc:
            log.warning("push: dropping a spooled record of %d samples: %s", count, exc)
            skipped += count
    return (_encode(decoded) if decoded else None), skipped


def _encode(records: Iterable[Sequence[tuple[bytes, int, float]]]) -> bytes:
    """Samples grouped per series, each series in timestamp order, snappy-compressed."""
    series: dict[bytes, list[tuple[int, float]]] = {}
    for samples_of_record in records:
        for key, stamp, value in samples_of_record:
            samples = series.get(key)
            if samples is None:
                series[key] = [(stamp, value)]
            else:
                samples.append((stamp, value))
    raw = b"".join(remote_write.encode_series(key, samples) for key, samples in series.items())
    return remote_write.compress(raw)


def series_key(name: str, labels: dict[str, str]) -> bytes:
    """The encoded labels of a series, ``__name__`` included."""
    return remote_write.encode_labels([("__name__", name), *labels.items()])


class PushClient:
    """Spools collections and delivers them to the gateway from a background thread."""

    def __init__(self, config: PushConfig, interval: float,
                 own_families: Callable[[], Iterable[Metric]] = lambda: (),
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.interval = interval
        self.own_families = own_families
        self.clock = clock
        with open(config.token_file, encoding="utf-8") as f:
            token = f.read().strip()
        self.spool = Spool(config.spool_dir, config.max_spool_bytes)
        self.poster = Poster(config.url, token, config.timeout, config.ca_file)
        self.sent = 0
        self.rejected = 0
        self.write_errors = 0  # samples lost because the spool could not be written
        self.undecodable = 0  # samples in records that passed their checksums but do not decode
        self.heartbeat = 0.0
        self._last_ms = 0
        self._keys: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- producing ------------------------------------------------------------------------
    def collected(self, module: str, families: Sequence[Metric]) -> None:
        """Scheduler subscriber: spool one module's collection, stamped now."""
        self._spool_families(families)

    def _spool_families(self, families: Iterable[Metric]) -> None:
        entries = []
        for family in families:
            for sample in family.samples:
                ident = (sample.name, tuple(sample.labels.items()))
                key = self._keys.get(ident)
                if key is None:
                    if len(self._keys) > 100_000:  # label churn: do not grow without bound
                        self._keys.clear()
                    key = self._keys[ident] = series_key(sample.name, sample.labels)
                entries.append((key, float(sample.value)))
        if not entries:
            return
        with self._lock:
            # Strictly increasing stamps keep every series in order even if the clock steps back.
            stamp = max(int(self.clock() * 1000), self._last_ms + 1)
            self._last_ms = stamp
            try:
                self.spool.append(encode_payload(stamp, entries))
            except OSError as exc:
                self.write_errors += len(entries)
                log.error("push: cannot write to the spool in %s: %s; %d samples lost",
                          self.config.spool_dir, exc, len(entries))
                return
        self._wake.set()

    def beat(self) -> None:
        """Spool the heartbeat and the agent's own metrics."""
        self.heartbeat = self.clock()
        family = HEARTBEAT.family()
        family.add_metric([], self.heartbeat)
        self._spool_families([family, *self.own_families()])

    # -- metrics ----------------------------------------------------------------------------
    def families(self) -> list[Metric]:
        """The push metrics, for the agent's /metrics (through Scheduler.extra)."""
        out = {spec: spec.family() for spec in METRICS}
        out[SPOOL_BYTES].add_metric([], self.spool.size)
        out[SENT].add_metric([], self.sent)
        out[DROPPED].add_metric(["spool_full"], self.spool.dropped)
        out[DROPPED].add_metric(["rejected"], self.rejected)
        out[DROPPED].add_metric(["spool_error"], self.write_errors)
        out[DROPPED].add_metric(["corrupt"], self.spool.corrupt + self.undecodable)
        oldest = self.spool.oldest_timestamp_ms()
        newest = self.spool.newest_timestamp_ms()
        lag = (newest - oldest) / 1000 if oldest is not None and newest is not None else 0.0
        out[LAG].add_metric([], max(0.0, lag))
        out[OLDEST_AGE].add_metric([], max(0.0, self.clock() - oldest / 1000) if oldest else 0.0)
        if self.heartbeat:
            out[HEARTBEAT].add_metric([], self.heartbeat)
        return list(out.values())

    # -- sending ----------------------------------------------------------------------------
    def send_once(self) -> bool:
        """Deliver the oldest batch; True if the spool may have more to send right away."""
        batch = self.spool.read(self.config.batch_samples)
        if batch is None:
            return False
        try:
            body, skipped = group_records(batch.payloads, batch.counts)
        except Exception:  # records that decode but cannot be encoded: never retried
            log.exception("push: dropping %d spooled samples that cannot be encoded",
                          batch.samples)
            self.spool.give_up(batch)
            return True
        good = batch.samples - skipped
        if body is None:
            self.spool.give_up(batch)
            return True
        try:
            self.poster.post(body)
        except Rejected as exc:
            log.warning("push: gateway rejected %d samples: %s", good, exc)
            self.rejected += good
            self.undecodable += skipped
            self.spool.done(batch, delivered=True)
            return True
        except BaseException:  # Retry: read again after the backoff
            self.spool.done(batch, delivered=False)
            raise
        self.sent += good
        self.undecodable += skipped
        self.spool.done(batch, delivered=True)
        return True

    def _send_loop(self) -> None:
        backoff = float(self.config.min_backoff)
        while not self._stop.is_set():
            try:
                more = self.send_once()
                backoff = float(self.config.min_backoff)
            except Retry as exc:
                log.info("push: %s; retrying in %.1fs (%d samples waiting)", exc, backoff,
                         self.spool.pending())
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.config.max_backoff)
                continue
            except Exception:  # a bug here must not stop delivery for good
                log.exception("push: sending failed")
                self._stop.wait(backoff)
                continue
            if not more:
                self._wake.wait(self.interval)
                self._wake.clear()

    def _beat_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception:
                log.exception("push: heartbeat failed")
            self._stop.wait(self.interval)

    def start(self, heartbeat: bool = True) -> None:
        """Start the sender thread and (unless told not to) the heartbeat thread."""
        loops = [(self._send_loop, "push")]
        if heartbeat:
            loops.append((self._beat_loop, "push-heartbeat"))
        for target, name in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads; what was not delivered stays in the spool for the next start."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self.poster.close()
        self.spool.close()
