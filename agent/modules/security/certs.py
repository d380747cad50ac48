"""Expiry of local certificate files (PEM), e.g. the portal's or the VPN's.

Parsed with ``cryptography`` (a dependency of the package) rather than the standard library's
private ``_ssl._test_decode_cert``. A file holding a chain reports its first certificate.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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


def cert_files(paths: tuple[str, ...]) -> Iterator[str]:
    """The configured files, and the ``*.pem``/``*.crt``/``*.cer`` files of configured folders.

    Each file comes once, as first named, even when it is configured and also in a configured
    folder: a series twice in one exposition is an error to Prometheus.
    """
    seen: set[str] = set()
    for path in paths:
        if os.path.isdir(path):
            found = [os.path.join(path, name) for name in sorted(os.listdir(path))]
            found = [f for f in found if f.endswith(CERT_SUFFIXES) and os.path.isfile(f)]
        else:
            found = [path]
        for file in found:
            key = os.path.realpath(file)
            if key not in seen:
                seen.add(key)
                yield file


def read_validity(path: str) -> tuple[float, float]:
    """(notBefore, notAfter) in unixtime of the first PEM certificate in ``path``."""
    from cryptography import x509

    try:
        with open(path, "rb") as file:
            first = x509.load_pem_x509_certificates(file.read())[0]
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: no readable PEM certificate ({exc})") from None
    return (first.not_valid_before_utc.timestamp(), first.not_valid_after_utc.timestamp())


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
