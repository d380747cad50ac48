"""Expiry of local certificate files (PEM), e.g. the portal's or the VPN's.

Parsed with the standard library's OpenSSL binding (``ssl._ssl._test_decode_cert``, what
``ssl.SSLSocket.getpeercert`` uses), so no extra package is needed. A file holding a chain
reports its first certificate.
"""

from __future__ import annotations

import _ssl
import os
import ssl
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.security.config import CertsConfig

EXPIRY = MetricSpec("commune_cert_expiry_timestamp_seconds", "gauge",
                    "When the certificate in the file expires (notAfter), in unixtime.", ("path",))
NOT_BEFORE = MetricSpec("commune_cert_not_before_timestamp_seconds", "gauge",
                        "When the certificate in the file becomes valid (notBefore).", ("path",))
UNREADABLE = MetricSpec("commune_cert_unreadable", "gauge",
                        "1 if the file is missing or holds no PEM certificate.", ("path",))
METRICS = (EXPIRY, NOT_BEFORE, UNREADABLE)

CERT_SUFFIXES = (".pem", ".crt", ".cer")

# Private, so typeshed leaves it out: bound once here with the type CPython gives it.
_test_decode_cert: Callable[[str], dict[str, Any]] = vars(_ssl)["_test_decode_cert"]


def cert_files(paths: tuple[str, ...]) -> Iterator[str]:
    """The configured files, and the ``*.pem``/``*.crt``/``*.cer`` files of configured folders."""
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if name.endswith(CERT_SUFFIXES) and os.path.isfile(full):
                    yield full
        else:
            yield path


def read_validity(path: str) -> tuple[float, float]:
    """(notBefore, notAfter) in unixtime of the first PEM certificate in ``path``."""
    try:
        decoded = _test_decode_cert(path)
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"{path}: no readable PEM certificate ({exc})") from None
    return (float(ssl.cert_time_to_seconds(decoded["notBefore"])),
            float(ssl.cert_time_to_seconds(decoded["notAfter"])))


class CertsCheck:
    """Reports when each configured certificate expires."""

    name = "certs"

    def __init__(self, config: CertsConfig) -> None:
        self.config = config

    def collect(self) -> list[Metric]:
        """The families for the configured certificate files."""
        expiry, not_before, unreadable = EXPIRY.family(), NOT_BEFORE.family(), UNREADABLE.family()
        for i, path in enumerate(cert_files(self.config.paths)):
            if i >= self.config.max_series:
                break
            try:
                start, end = read_validity(path)
            except ValueError:
                unreadable.add_metric([path], 1.0)
                continue
            unreadable.add_metric([path], 0.0)
            expiry.add_metric([path], end)
            not_before.add_metric([path], start)
        return [expiry, not_before, unreadable]
