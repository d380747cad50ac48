"""What keeps the gateway's memory and CPU bounded whatever clients send.

Each limit refuses a request with its own status and reason, counted in
``commune_gateway_limited_requests_total{reason}``:

======================  ======  ============================================================
reason                  status  limit (gateway.yml)
======================  ======  ============================================================
``connections``         503     ``max_connections`` open at once
``per_source``          429     ``max_connections_per_source``: open at once from one address
                                and not yet shown a valid token
``receiving``           503     ``max_receiving_bytes``: bodies received or decoded at once
``token_busy``          429     ``max_requests_per_token`` at once for one node
``header_timeout``      408     ``header_timeout`` for the headers to arrive (slowloris)
``body_timeout``        408     ``body_timeout`` for a whole body to arrive (slowloris)
``body_size``           413     ``max_body_bytes`` declared by Content-Length
``decoded_size``        413     ``max_decoded_bytes`` announced by the snappy header
``series``              413     ``max_series_per_request``
``samples``             413     ``max_samples_per_request``
======================  ======  ============================================================

503 and 429 carry ``Retry-After``: they are about the gateway's load, not the request, and the
agent keeps the samples and sends them again.

A connection stops counting against its address once a request on it carried a valid token, so
the agents of many communes behind one NAT address keep their kept-alive connections, while one
address opening connections that send nothing or wrong tokens holds at most
``max_connections_per_source`` of them. A connection waiting out a wrong token's delay
(common/logindelay.py, up to 5 s) gives its ``max_connections`` slot to others meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

RETRY_AFTER = 1  # seconds, in the Retry-After of 429 and 503 answers

STATUS = {
    "connections": 503, "per_source": 429, "receiving": 503, "token_busy": 429,
    "header_timeout": 408, "body_timeout": 408,
    "body_size": 413, "decoded_size": 413, "series": 413, "samples": 413,
}


class Limited(Exception):
    """A request refused by one of the limits; ``status`` is its HTTP answer."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = STATUS[reason]

    @property
    def retry_after(self) -> int | None:
        """Seconds to wait before retrying, for the answers a retry can cure soon."""
        return RETRY_AFTER if self.status in (429, 503) else None


class ByteBudget:
    """Bytes that may be held at once across all connections (``max_receiving_bytes``)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._lock = threading.Lock()

    def reserve(self, size: int) -> int:
        """Take ``size`` bytes (at most the whole budget); return what was taken.

        Raise Limited("receiving") when that much is not free now.
        """
        size = min(size, self.capacity)
        with self._lock:
            if self.used + size > self.capacity:
                used = self.used
                raise Limited("receiving", f"the gateway is receiving {used} bytes of bodies "
                              f"already (max_receiving_bytes {self.capacity}); retry later")
            self.used += size
        return size

    def release(self, size: int) -> None:
        """Give back what reserve() took."""
        with self._lock:
            self.used -= size


class Slots:
    """At most ``limit`` requests at once per key (a node's token)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._busy: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def acquire(self, key: Hashable) -> None:
        """Take a slot for ``key``; raise Limited("token_busy") when all are taken."""
        with self._lock:
            busy = self._busy.get(key, 0)
            if busy >= self.limit:
                raise Limited("token_busy", f"this node has {busy} requests in progress already "
                              f"(max_requests_per_token); send one at a time")
            self._busy[key] = busy + 1

    def release(self, key: Hashable) -> None:
        """Give back a slot taken by acquire()."""
        with self._lock:
            busy = self._busy.pop(key) - 1
            if busy:
                self._busy[key] = busy

    def busy(self, key: Hashable) -> int:
        """Requests in progress for ``key``."""
        with self._lock:
            return self._busy.get(key, 0)


class Connections:
    """The open connections, under ``max_connections`` and ``max_connections_per_source``.

    ``open`` counts against ``max_connections``. Per source (a client address, its /64 for
    IPv6), only the connections that have not shown a valid token yet count against
    ``per_source``. ``delayed`` connections wait out a wrong token's delay outside ``open``;
    at most ``limit`` of them at once, so threads stay bounded.
    """

    def __init__(self, limit: int, per_source: int) -> None:
        self.limit = limit
        self.per_source = per_source
        self.open = 0
        self.delayed = 0
        self._unproven: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, source: str) -> Connection:
        """Count a new connection from ``source`` in; raise Limited when a limit is reached."""
        with self._lock:
            unproven = self._unproven.get(source, 0)
            if unproven >= self.per_source:
                raise Limited("per_source", f"{source} has {unproven} connections open that "
                              "have not sent a valid token yet (max_connections_per_source); "
                              "retry later")
            if self.open >= self.limit:
                raise Limited("connections", f"the gateway has {self.limit} connections open "
                              "(max_connections); retry later")
            self.open += 1
            self._unproven[source] = unproven + 1
        return Connection(self, source)

    def unproven(self, source: str) -> int:
        """Connections from ``source`` that have not shown a valid token yet."""
        with self._lock:
            return self._unproven.get(source, 0)

    def _leave_source(self, source: str) -> None:
        count = self._unproven.pop(source) - 1
        if count:
            self._unproven[source] = count


class Connection:
    """One admitted connection's share of :class:`Connections`, given back by its methods."""

    def __init__(self, limits: Connections, source: str) -> None:
        self.limits = limits
        self.source = source
        self.counted = True  # in ``open``
        self.unproven = True  # in its source's count
        self.delayed = False

    def proven(self) -> None:
        """A request on it carried a valid token: it no longer counts against its source."""
        with self.limits._lock:
            if self.unproven:
                self.unproven = False
                self.limits._leave_source(self.source)

    def step_aside(self) -> bool:
        """Leave ``open`` to wait out a failure delay, if fewer than ``limit`` wait already.

        The connection still counts against its source, and it closes after its 401.
        """
        limits = self.limits
        with limits._lock:
            if not self.counted or limits.delayed >= limits.limit:
                return False
            self.counted, self.delayed = False, True
            limits.open -= 1
            limits.delayed += 1
        return True

    def close(self) -> None:
        """The connection closed: give back whatever it still holds."""
        limits = self.limits
        with limits._lock:
            if self.counted:
                limits.open -= 1
            if self.delayed:
                limits.delayed -= 1
            if self.unproven:
                limits._leave_source(self.source)
            self.counted = self.delayed = self.unproven = False
