"""TLS for the probes: client contexts (verify on by default) and certificate expiry of a peer."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Any

from agent.modules.probe.result import (
    SSL_EARLIEST,
    SSL_LAST_CHAIN,
    TLS_VERSION,
    ProbeResult,
)


def client_context(ca_file: str | None, insecure_skip_verify: bool) -> ssl.SSLContext:
    """A client context: system CAs (or ``ca_file``), hostname check, unless told to skip."""
    context = ssl.create_default_context(cafile=ca_file)
    if insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True)
class PeerExpiry:
    """Expiry (unixtime) of the earliest certificate sent, and of the verified chain's earliest."""

    earliest: float | None
    last_chain: float | None
    version: str | None


def _not_after(cert: Any) -> float | None:
    info = cert.get_info() if hasattr(cert, "get_info") else None
    if not info or "notAfter" not in info:
        return None
    return float(ssl.cert_time_to_seconds(info["notAfter"]))


def _chain(ssl_object: Any, which: str) -> list[Any]:
    # Public from Python 3.13; CPython 3.10-3.12 have them on the internal _ssl object.
    method = getattr(ssl_object, which, None) or getattr(
        getattr(ssl_object, "_sslobj", None), which, None)
    if method is None:
        return []
    try:
        return list(method() or [])
    except (ssl.SSLError, ValueError):
        return []


def peer_expiry(ssl_object: Any) -> PeerExpiry:
    """Read certificate expiries from a connected ``ssl.SSLObject`` (or SSLSocket)."""
    sent = [t for t in (_not_after(c) for c in _chain(ssl_object, "get_unverified_chain"))
            if t is not None]
    verified = [t for t in (_not_after(c) for c in _chain(ssl_object, "get_verified_chain"))
                if t is not None]
    if not sent:  # no chain API: fall back to the leaf
        leaf = ssl_object.getpeercert() if ssl_object is not None else None
        if leaf and "notAfter" in leaf:
            sent = [float(ssl.cert_time_to_seconds(leaf["notAfter"]))]
    earliest = min(sent) if sent else None
    # With verification off there is no verified chain: the leaf stands for it.
    last_chain = min(verified) if verified else (sent[0] if sent else None)
    version = ssl_object.version() if ssl_object is not None else None
    return PeerExpiry(earliest, last_chain, version)


def record_expiry(result: ProbeResult, expiry: PeerExpiry) -> None:
    """Add the ``probe_ssl_*`` and ``probe_tls_version_info`` samples."""
    if expiry.earliest is not None:
        result.add(SSL_EARLIEST, expiry.earliest)
    if expiry.last_chain is not None:
        result.add(SSL_LAST_CHAIN, expiry.last_chain)
    if expiry.version:
        result.add(TLS_VERSION, 1.0, expiry.version)


def os_error_text(exc: OSError) -> str:
    """``connection refused`` rather than asyncio's ``Connect call failed ('1.2.3.4', 80)``."""
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return exc.strerror or str(exc)


def classify_tls_error(exc: BaseException) -> str:
    """A one-line description of a handshake failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verification failed: {exc.verify_message or exc}"
    return f"TLS handshake failed: {exc}"
