"""``--web.config.file``: TLS and basic auth in Prometheus' exporter-toolkit format.

Example::

    tls_server_config:
      cert_file: agent.crt
      key_file: agent.key
      min_version: TLS12
    basic_auth_users:
      prometheus: $2b$12$hNf2lSsxfm0.i4a.1kVpSOVyBCfIB51VRjgBUyv6kdnyTlgWj81Ay
"""

from __future__ import annotations

import hashlib
import os
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from common.logindelay import FailureDelay
from common.schema import ExistingFile, Invalid, load_file

TLSVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
ClientAuth = Literal["NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                     "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"]

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3,
}


class BcryptHash(str):
    """A bcrypt password hash, as exporter-toolkit's ``basic_auth_users`` takes."""

    @classmethod
    def parse(cls, text: str) -> BcryptHash:
        """Check ``text`` looks like a bcrypt hash."""
        if not text.startswith(("$2a$", "$2b$", "$2y$")) or len(text) != 60:
            raise ValueError("expected a bcrypt hash like '$2y$10$...', not a password; make "
                             "one with: htpasswd -nBC 10 '' | tr -d ':'")
        return cls(text)


@dataclass(frozen=True)
class TLSServerConfig:
    """``tls_server_config``: the server certificate and what is asked of clients."""

    cert_file: ExistingFile
    key_file: ExistingFile
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: ExistingFile | None = None
    min_version: TLSVersion = "TLS12"
    max_version: TLSVersion = "TLS13"

    def __post_init__(self) -> None:
        verifies = self.client_auth_type in ("VerifyClientCertIfGiven",
                                             "RequireAndVerifyClientCert")
        if verifies and self.client_ca_file is None:
            raise Invalid(f"client_auth_type {self.client_auth_type} needs client_ca_file",
                          key="client_ca_file")
        if _TLS_VERSIONS[self.min_version] > _TLS_VERSIONS[self.max_version]:
            raise Invalid(f"min_version {self.min_version} is above max_version "
                          f"{self.max_version}", key="min_version")

    def context(self) -> ssl.SSLContext:
        """An SSL server context with this certificate and client policy."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _TLS_VERSIONS[self.min_version]
        ctx.maximum_version = _TLS_VERSIONS[self.max_version]
        ctx.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file:
            ctx.load_verify_locations(self.client_ca_file)
        ctx.verify_mode = {
            "NoClientCert": ssl.CERT_NONE,
            # Python cannot request a certificate without verifying it: both verify if given.
            "RequestClientCert": ssl.CERT_OPTIONAL,
            "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
            "RequireAnyClientCert": ssl.CERT_REQUIRED,
            "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
        }[self.client_auth_type]
        return ctx


@dataclass(frozen=True)
class HTTPServerConfig:
    """``http_server_config``: extra response headers."""

    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebConfig:
    """The whole web config file."""

    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = HTTPServerConfig()
    basic_auth_users: Mapping[str, BcryptHash] = field(default_factory=dict)


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Load and validate a web config file; raise ConfigError naming the line."""
    return load_file(WebConfig, path)


class BasicAuth:
    """Checks Authorization headers against bcrypt hashes, caching the (slow) successes.

    Every failed check is answered late, by the delay its source address has earned
    (:class:`FailureDelay`, common/logindelay.py): guessing passwords from one address slows
    down, logins that succeed never do.
    """

    def __init__(self, users: Mapping[str, str], cache_size: int = 256,
                 failures: FailureDelay | None = None) -> None:
        self.users = dict(users)
        self.failures = failures if failures is not None else FailureDelay()
        self._cache: dict[bytes, bool] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def check(self, user: str, password: str, source: str | None = None) -> bool:
        """True when ``user`` exists and ``password`` matches its hash.

        When it does not and ``source`` (the client's address) is given, wait the delay that
        source has earned before returning.
        """
        ok = self._check(user, password)
        if not ok and source is not None:
            self.failures.wait(source)
        return ok

    def _check(self, user: str, password: str) -> bool:
        import bcrypt  # only agents with basic auth pay for it

        hashed = self.users.get(user)
        if hashed is None:
            return False
        key = hashlib.sha256(f"{user}\0{password}\0{hashed}".encode()).digest()
        with self._lock:
            if key in self._cache:
                return True
        ok = bcrypt.checkpw(password.encode(), hashed.encode())
        if ok:
            with self._lock:
                if len(self._cache) >= self._cache_size:
                    self._cache.clear()
                self._cache[key] = True
        return ok
