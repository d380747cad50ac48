"""The ``push:`` section of the agent config (light: loading it imports no protobuf).

    push:
      url: "https://collector.example:9820/api/v1/write"
      token_file: /etc/commune-agent/token
      spool_dir: /var/lib/commune-agent/spool
      max_spool_bytes: 256MiB
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from common.schema import ExistingFile, Invalid
from common.units import ByteSize, Duration

MIN_SPOOL_BYTES = 16 << 10
DEFAULT_SPOOL_BYTES = ByteSize(256 << 20)
DEFAULT_TIMEOUT = Duration(10)
DEFAULT_MIN_BACKOFF = Duration(0.5)
DEFAULT_MAX_BACKOFF = Duration(30)


@dataclass(frozen=True)
class PushConfig:
    """Remote-write to the province gateway through an on-disk spool."""

    url: str
    token_file: ExistingFile
    spool_dir: str
    max_spool_bytes: ByteSize = DEFAULT_SPOOL_BYTES
    timeout: Duration = DEFAULT_TIMEOUT
    batch_samples: int = 5000
    min_backoff: Duration = DEFAULT_MIN_BACKOFF
    max_backoff: Duration = DEFAULT_MAX_BACKOFF
    ca_file: ExistingFile | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid(f"expected an http(s) URL like "
                          f"'https://collector.example:9820/api/v1/write', got {self.url!r}",
                          key="url")
        if not self.spool_dir:
            raise Invalid("name a folder for the spool, e.g. /var/lib/commune-agent/spool",
                          key="spool_dir")
        if self.max_spool_bytes < MIN_SPOOL_BYTES:
            raise Invalid(f"must be at least {MIN_SPOOL_BYTES // 1024}KiB, "
                          f"got {self.max_spool_bytes} bytes", key="max_spool_bytes")
        if self.batch_samples < 1:
            raise Invalid("must be at least 1", key="batch_samples")
        if self.timeout <= 0:
            raise Invalid("must be greater than 0s", key="timeout")
        if not 0 < self.min_backoff <= self.max_backoff:
            raise Invalid(f"min_backoff ({self.min_backoff}) must be > 0s and at most "
                          f"max_backoff ({self.max_backoff})", key="min_backoff")
