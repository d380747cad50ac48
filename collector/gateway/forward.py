"""Forwarding to the remote-write receivers: one bounded queue and one sender per receiver.

A receiver that answers 5xx/429 or cannot be reached is retried with exponential backoff until
the body's deadline (the gateway's ``ack_timeout``); then the body is given up, the waiting agent
gets 503 and keeps the samples in its spool. So the gateway never holds the only copy of
anything, and a poison body cannot block a queue for good. The queue is bounded by
``queue_bytes``; when full, new requests get 503. A 4xx answer is final: the body is dropped,
counted, and the agent is told (400).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

from collector.gateway.config import Receiver
from common import remote_write
from common.poster import Poster, Rejected, Retry

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
        self.expired = Counter("commune_gateway_expired_samples",
                               "Samples given up at the deadline (the agent keeps and resends "
                               "them).", ["receiver"], registry=registry)
        self.queue_bytes = Gauge("commune_gateway_queue_bytes",
                                 "Bytes waiting for a receiver.", ["receiver"], registry=registry)


MAX_GROUP_BYTES = 4 << 20  # uncompressed bytes merged into one request to a receiver


@dataclass
class Item:
    """One agent request waiting for a receiver."""

    raw: bytes  # an uncompressed WriteRequest
    samples: int
    deadline: float  # time.monotonic() when the agent stops waiting
    future: Future[None] = field(default_factory=Future)


class ReceiverQueue:
    """Sends bodies to one receiver, in order, retrying until it takes or refuses them.

    Requests waiting together are merged into one (concatenated WriteRequests are one
    WriteRequest), so a busy gateway sends few large requests. If a receiver refuses a merged
    request, its parts are sent one by one, so one agent's bad samples never cost another's.
    """

    def __init__(self, receiver: Receiver, metrics: ForwardMetrics) -> None:
        self.receiver = receiver
        self.name = receiver.label
        token = None
        if receiver.bearer_token_file:
            with open(receiver.bearer_token_file, encoding="utf-8") as f:
                token = f.read().strip()
        self._token = token
        self.metrics = metrics
        self.bytes = 0
        self.healthy = True
        self._items: collections.deque[Item] = collections.deque()
        self._cond = threading.Condition()
        self._draining = False
        self._stopping = False
        # Several posts in flight, like Prometheus' remote-write shards. Order per series holds:
        # an agent sends its next batch only after this one was taken by every receiver.
        self._threads = [threading.Thread(target=self._run, name=f"forward-{self.name}-{i}",
                                          daemon=True) for i in range(receiver.concurrency)]
        for thread in self._threads:
            thread.start()

    def submit(self, raw: bytes, samples: int, deadline: float) -> Future[None]:
        """Queue an uncompressed body until ``deadline`` (monotonic); the future ends when the
        receiver took it, or raises Rejected (4xx) or Retry (not taken by the deadline)."""
        item = Item(raw, samples, deadline)
        with self._cond:
            if self.bytes + len(raw) > self.receiver.queue_bytes and self._items:
                raise QueueFull(f"receiver {self.name}: queue full ({self.bytes} bytes)")
            self._items.append(item)
            self.bytes += len(raw)
            self.metrics.queue_bytes.labels(self.name).set(self.bytes)
            self._cond.notify()
        return item.future

    def _run(self) -> None:
        receiver = self.receiver
        poster = Poster(receiver.url, self._token, receiver.timeout, receiver.ca_file,
                        user_agent="commune-collector",
                        headers=receiver.headers)  # one connection per sender thread
        try:
            self._send_loop(poster)
        finally:
            poster.close()

    def _send_loop(self, poster: Poster) -> None:
        while True:
            with self._cond:
                while not self._items and not (self._draining or self._stopping):
                    self._cond.wait()
                if not self._items:
                    return
                group: list[Item] = []
                size = 0
                while self._items and (not group
                                       or size + len(self._items[0].raw) <= MAX_GROUP_BYTES):
                    item = self._items.popleft()
                    group.append(item)
                    size += len(item.raw)
            self._deliver(poster, group)
            with self._cond:
                self.bytes -= size
                self.metrics.queue_bytes.labels(self.name).set(self.bytes)

    def _deliver(self, poster: Poster, group: list[Item]) -> None:
        error = self._post(poster, b"".join(i.raw for i in group), min(i.deadline for i in group))
        if isinstance(error, Rejected) and len(group) > 1:
            for item in group:
                self._finish(item, self._post(poster, item.raw, item.deadline))
            return
        for item in group:
            self._finish(item, error)

    def _finish(self, item: Item, error: Exception | None) -> None:
        if error is None:
            self.metrics.forwarded.labels(self.name).inc(item.samples)
            item.future.set_result(None)
            return
        if isinstance(error, Rejected):
            log.warning("receiver %s refused %d samples: %s", self.name, item.samples, error)
            self.metrics.rejected.labels(self.name).inc(item.samples)
        else:
            self.metrics.expired.labels(self.name).inc(item.samples)
        item.future.set_exception(error)

    def _post(self, poster: Poster, raw: bytes, deadline: float) -> Exception | None:
        """Post until taken (None), refused (Rejected) or the deadline passes (Retry)."""
        body = remote_write.compress(raw)
        backoff = MIN_BACKOFF
        while True:
            if time.monotonic() >= deadline:
                return Retry("not taken before the deadline")
            try:
                poster.post(body)
            except Retry as exc:
                if self._stopping or time.monotonic() + backoff >= deadline:
                    return exc
                if self.healthy:
                    log.warning("receiver %s: %s; retrying", self.name, exc)
                self.healthy = False
                self.metrics.retries.labels(self.name).inc()
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping, timeout=backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Rejected as exc:
                return exc
            if not self.healthy:
                log.info("receiver %s: accepting again", self.name)
            self.healthy = True
            return None

    def stop(self, timeout: float) -> None:
        """Finish what is queued within ``timeout`` seconds, then stop."""
        with self._cond:
            self._draining = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(1.0)


class Forwarder:
    """Fans a body out to every receiver."""

    def __init__(self, receivers: Sequence[Receiver], registry: CollectorRegistry) -> None:
        metrics = ForwardMetrics(registry)
        self.queues = [ReceiverQueue(r, metrics) for r in receivers]

    def submit(self, raw: bytes, samples: int, deadline: float) -> list[Future[None]]:
        """Queue an uncompressed body for every receiver; raise QueueFull if any has no room."""
        return [q.submit(raw, samples, deadline) for q in self.queues]

    @property
    def ready(self) -> bool:
        """True while every receiver's queue has room."""
        return all(q.bytes < q.receiver.queue_bytes for q in self.queues)

    def stop(self, timeout: float = 5.0) -> None:
        """Drain for up to ``timeout`` seconds, then stop every sender."""
        for q in self.queues:
            q.stop(timeout)
