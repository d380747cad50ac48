"""The gateway's YAML config (``commune-collector serve --config.file gateway.yml``).

    receivers:
      - url: http://127.0.0.1:9090/api/v1/write      # Prometheus, VictoriaMetrics, Mimir...
    inventory: ../inventory/thanh-hoa.yml   # optional: commune_name, region, terrain, role
    tokens:                       # one per pushing node; [] (or none) is valid: every push 401
      - commune: "14797"
        node: lan-1
        sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

Tokens are stored as SHA-256 hex digests of the token text. A token is 32 random bytes
(``openssl rand -hex 32``), so a fast hash is enough: nobody can brute-force 256 bits, and a
digest can be looked up in a dict on every request. bcrypt, made for short human passwords,
would cost ~100 ms of CPU per request.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from common.filetext import GATEWAY_MAX_BYTES
from common.schema import ExistingFile, Invalid, load_file
from common.units import ByteSize, Duration

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
RECEIVER_TIMEOUT = Duration(30)
QUEUE_BYTES = ByteSize(256 << 20)
MAX_BODY_BYTES = ByteSize(8 << 20)
MAX_DECODED_BYTES = ByteSize(32 << 20)
MAX_CONNECTIONS = 256
# Connections from one address that have not sent a valid token yet. Agents behind one NAT
# count only while they connect (a TLS handshake and the headers, under a second each), so 32
# lets a few dozen of them connect in the same second; a hostile address holds 32 of 256 slots.
MAX_CONNECTIONS_PER_SOURCE = 32
MAX_RECEIVING_BYTES = ByteSize(64 << 20)
BODY_TIMEOUT = Duration(30)
HEADER_TIMEOUT = Duration(60)
MAX_REQUESTS_PER_TOKEN = 4
MAX_SERIES_PER_REQUEST = 50_000
MAX_SAMPLES_PER_REQUEST = 200_000
ACK_TIMEOUT = Duration(10)
MAX_SAMPLE_AHEAD = Duration(600)


@dataclass(frozen=True)
class Receiver:
    """A remote-write endpoint the gateway forwards to."""

    url: str
    name: str = ""
    timeout: Duration = RECEIVER_TIMEOUT
    bearer_token_file: ExistingFile | None = None
    ca_file: ExistingFile | None = None
    queue_bytes: ByteSize = QUEUE_BYTES  # uncompressed bytes waiting; when full, agents get 503
    concurrency: int = 4  # posts in flight to this receiver
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. Mimir's X-Scope-OrgID


    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid(f"expected an http(s) URL like 'http://127.0.0.1:9090/api/v1/write', "
                          f"got {self.url!r}", key="url")
        if not 1 <= self.concurrency <= 64:
            raise Invalid(f"expected 1 to 64, got {self.concurrency}", key="concurrency")

    @property
    def label(self) -> str:
        """The receiver's name in the gateway's metrics."""
        return self.name or (urlsplit(self.url).netloc)


@dataclass(frozen=True)
class Token:
    """One node's token: its digest and the identity it grants."""

    commune: str
    node: str
    sha256: str

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.commune):
            raise Invalid(f"expected the commune's code, like '16318', got {self.commune!r}",
                          key="commune")
        if not self.node:
            raise Invalid("name the node, like 'lan-1'", key="node")
        if not _SHA256.fullmatch(self.sha256):
            raise Invalid("expected 64 lowercase hex digits: printf %s TOKEN | sha256sum",
                          key="sha256")


@dataclass(frozen=True)
class GatewayConfig:
    """The whole gateway config."""

    receivers: tuple[Receiver, ...]
    # No token is a valid gateway that answers every push 401: a fresh install before its first
    # enrolment, or after the last node was revoked.
    tokens: tuple[Token, ...] = ()
    inventory: ExistingFile | None = None
    max_body_bytes: ByteSize = MAX_BODY_BYTES  # compressed; larger bodies get 413
    max_decoded_bytes: ByteSize = MAX_DECODED_BYTES  # after snappy; larger get 413
    ack_timeout: Duration = ACK_TIMEOUT
    # Limits that keep the gateway's memory and CPU bounded whatever clients send
    # (collector/gateway/limits.py); each refusal is counted by reason.
    max_connections: int = MAX_CONNECTIONS  # open at once; more get 503
    # Open at once from one address and not yet shown a valid token; more get 429.
    max_connections_per_source: int = MAX_CONNECTIONS_PER_SOURCE
    # Bodies being received or decoded at once, across all connections; over it: 503.
    max_receiving_bytes: ByteSize = MAX_RECEIVING_BYTES
    body_timeout: Duration = BODY_TIMEOUT  # for a whole body to arrive; slower ones get 408
    # For a request's headers, idle time on a kept-alive connection included; then 408.
    header_timeout: Duration = HEADER_TIMEOUT
    max_requests_per_token: int = MAX_REQUESTS_PER_TOKEN  # at once per node; more get 429
    max_series_per_request: int = MAX_SERIES_PER_REQUEST  # more get 413
    max_samples_per_request: int = MAX_SAMPLES_PER_REQUEST  # more get 413
    # Drop (and count) samples older than this: set it to the receivers' out-of-order window,
    # past which Prometheus refuses them (2.42 with a 500, which would be retried forever).
    max_sample_age: Duration | None = None
    # Drop (and count) samples stamped further ahead than this: an agent with a wrong clock
    # would otherwise move the receiver's head forward and get everyone else's samples refused.
    max_sample_ahead: Duration = MAX_SAMPLE_AHEAD
    job: str = "commune-agent"

    def __post_init__(self) -> None:
        for key in ("max_connections", "max_connections_per_source", "max_requests_per_token",
                    "max_series_per_request", "max_samples_per_request"):
            if getattr(self, key) < 1:
                raise Invalid(f"expected at least 1, got {getattr(self, key)}", key=key)
        for key in ("body_timeout", "header_timeout"):
            if getattr(self, key) <= 0:
                raise Invalid("must be greater than 0s", key=key)
        if self.max_receiving_bytes < self.max_body_bytes:
            raise Invalid(f"must be at least max_body_bytes ({self.max_body_bytes}), or no "
                          "body of that size could ever be received", key="max_receiving_bytes")
        if not self.receivers:
            raise Invalid("configure at least one receiver", key="receivers")
        digests = [t.sha256 for t in self.tokens]
        dup = next((d for d in digests if digests.count(d) > 1), None)
        if dup is not None:
            raise Invalid(f"token digest {dup[:12]}... is listed twice; give every node its own",
                          key="tokens")
        labels = [r.label for r in self.receivers]
        if len(set(labels)) != len(labels):
            raise Invalid("two receivers have the same name; set 'name:' on each",
                          key="receivers")


def token_digest(token: str) -> str:
    """The ``sha256:`` value to store for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def load_gateway_config(path: str) -> GatewayConfig:
    """Load and validate a gateway config; raise ConfigError listing every problem."""
    return load_file(GatewayConfig, path, GATEWAY_MAX_BYTES, "a gateway config")
