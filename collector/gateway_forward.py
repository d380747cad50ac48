"""Forwarding to the remote-write receivers: one bounded queue and one sender per receiver.

A receiver that answers 5xx/429 or cannot be reached is retried with exponential backoff, the
queue holding what waits (up to ``queue_bytes``; when full, new requests are refused with 503 so
agents keep the data in their spools). A 4xx answer is final: the batch is dropped, counted, and
reported to the waiting agent.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from prometheus_client import CollectorRegistry, Counter, Gauge

from agent.push.client import Poster, Rejected, Retry
from collector.gateway_config import Receiver

log = logging.getLogger(__name__)

MIN_BACKOFF = 0.1
MAX_BACKOFF = 10.0


class QueueFull(Exception):
    """A receiver's queue has no room; the agent should retry later (503)."""


class ForwardMetrics:
    """Per-receiver counters, in the gateway's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.forwarded = Counter("commune_gateway_forwarded_samples",
                                 "Samples a receiver accepted.", ["receiver"], registry=registry)
        self.rejected = Counter("commune_gateway_rejected_samples",
                                "Samples a receiver refused with 4xx (dropped).", ["receiver"],
                                registry=registry)
        self.retries = Counter("commune_gateway_forward_retries",
                               "Failed sends to a receiver that were retried.", ["receiver"],
                               registry=registry)
        self.queue_bytes = Gauge("commune_gateway_queue_bytes",
                                 "Bytes waiting for a receiver.", ["receiver"], registry=registry)


Item = tuple[bytes, int, "Future[None]"]


class ReceiverQueue:
    """Sends bodies to one receiver, in order, retrying until it takes or refuses them."""

    def __init__(self, receiver: Receiver, metrics: ForwardMetrics) -> None:
        self.receiver = receiver
        self.name = receiver.label
        token = None
        if receiver.bearer_token_file:
            with open(receiver.bearer_token_file, encoding="utf-8") as f:
                token = f.read().strip()
        self.poster = Poster(receiver.url, token, receiver.timeout, receiver.ca_file,
                             user_agent="commune-collector")
        self.metrics = metrics
        self.bytes = 0
        self.healthy = True
        self._items: collections.deque[Item] = collections.deque()
        self._cond = threading.Condition()
        self._draining = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"forward-{self.name}",
                                        daemon=True)
        self._thread.start()

    def submit(self, body: bytes, samples: int) -> Future[None]:
        """Queue a body; the future ends when the receiver took it (or raises Rejected)."""
        future: Future[None] = Future()
        with self._cond:
            if self.bytes + len(body) > self.receiver.queue_bytes and self._items:
                raise QueueFull(f"receiver {self.name}: queue full ({self.bytes} bytes)")
            self._items.append((body, samples, future))
            self.bytes += len(body)
            self.metrics.queue_bytes.labels(self.name).set(self.bytes)
            self._cond.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not (self._draining or self._stopping):
                    self._cond.wait()
                if not self._items:
                    return
                body, samples, future = self._items[0]
            self._deliver(body, samples, future)
            with self._cond:
                self._items.popleft()
                self.bytes -= len(body)
                self.metrics.queue_bytes.labels(self.name).set(self.bytes)

    def _deliver(self, body: bytes, samples: int, future: Future[None]) -> None:
        backoff = MIN_BACKOFF
        while True:
            try:
                self.poster.post(body)
            except Retry as exc:
                if self._stopping:
                    future.set_exception(exc)
                    return
                if self.healthy:
                    log.warning("receiver %s: %s; retrying", self.name, exc)
                self.healthy = False
                self.metrics.retries.labels(self.name).inc()
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping, timeout=backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Rejected as exc:
                log.warning("receiver %s refused %d samples: %s", self.name, samples, exc)
                self.metrics.rejected.labels(self.name).inc(samples)
                future.set_exception(exc)
                return
            if not self.healthy:
                log.info("receiver %s: accepting again", self.name)
            self.healthy = True
            self.metrics.forwarded.labels(self.name).inc(samples)
            future.set_result(None)
            return

    def stop(self, timeout: float) -> None:
        """Finish what is queued within ``timeout`` seconds, then stop."""
        with self._cond:
            self._draining = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(1.0)
        self.poster.close()


class Forwarder:
    """Fans a body out to every receiver."""

    def __init__(self, receivers: Sequence[Receiver], registry: CollectorRegistry) -> None:
        metrics = ForwardMetrics(registry)
        self.queues = [ReceiverQueue(r, metrics) for r in receivers]

    def submit(self, body: bytes, samples: int) -> list[Future[None]]:
        """Queue ``body`` for every receiver; raise QueueFull if any has no room."""
        return [q.submit(body, samples) for q in self.queues]

    @property
    def ready(self) -> bool:
        """True while every receiver's queue has room."""
        return all(q.bytes < q.receiver.queue_bytes for q in self.queues)

    def stop(self, timeout: float = 5.0) -> None:
        """Drain for up to ``timeout`` seconds, then stop every sender."""
        for q in self.queues:
            q.stop(timeout)
