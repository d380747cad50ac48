"""The ``crl`` probe: download a certificate revocation list; its freshness, size and signature.

The list may be DER or PEM. A stale list (``nextUpdate`` past) still succeeds: the alert on
``commune_crl_next_update_timestamp_seconds`` says so, while ``probe_success`` says whether the
list can be fetched at all.
"""

from __future__ import annotations

import time

from cryptography import x509

from agent.modules.probe.http import HttpClient, Phases
from agent.modules.probe.ocsp import load_certificate
from agent.modules.probe.result import (
    CRL_DURATION,
    CRL_NEXT_UPDATE,
    CRL_REVOKED,
    CRL_SIGNATURE,
    CRL_SIZE,
    CRL_THIS_UPDATE,
    ProbeFailed,
    ProbeResult,
)
from agent.modules.probe.targets import CrlTarget


def parse_crl(data: bytes) -> x509.CertificateRevocationList:
    """A DER or PEM CRL; ValueError when it is neither."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


class CrlProbe:
    """Probes one ``crl`` target."""

    def __init__(self, target: CrlTarget) -> None:
        self.target = target
        self.client = HttpClient.of(target)

    async def probe(self, result: ProbeResult) -> None:
        """Download and parse the CRL; fail on no answer, a bad list, or a bad signature."""
        target = self.target
        start = time.perf_counter()
        response = await self.client.request(target.url, "GET", b"", {}, Phases())
        result.add(CRL_DURATION, time.perf_counter() - start)
        if response.status != 200:
            raise ProbeFailed("status", f"HTTP status {response.status}, expected 200")
        result.add(CRL_SIZE, len(response.body))
        try:
            crl = parse_crl(response.body)
        except ValueError as exc:
            raise ProbeFailed("content", f"not a CRL (DER or PEM): {exc}") from None
        result.add(CRL_THIS_UPDATE, crl.last_update_utc.timestamp())
        if crl.next_update_utc is not None:
            result.add(CRL_NEXT_UPDATE, crl.next_update_utc.timestamp())
        result.add(CRL_REVOKED, len(crl))
        if target.issuer_file is not None:
            issuer = load_certificate(target.issuer_file, "issuer_file")
            valid = crl.issuer == issuer.subject and crl.is_signature_valid(
                issuer.public_key())  # type: ignore[arg-type]
            result.add(CRL_SIGNATURE, 1.0 if valid else 0.0)
            if not valid:
                raise ProbeFailed("signature", f"the CRL is not signed by "
                                               f"{issuer.subject.rfc4514_string()}")
