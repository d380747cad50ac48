"""The ``ocsp`` probe: ask a certificate's responder for its status, with ``cryptography``.

The request names the certificate by the issuer's name and key hashes and the serial (from
``cert_file``, or ``serial`` when only the number is known), POSTed to the responder. The probe
succeeds when a successful response about that serial comes back signed by the issuer, or by a
responder certificate the issuer issued with the OCSP-signing purpose (RFC 6960 4.2.2.2); the
status (good, revoked, unknown) and the response's times are reported either way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from agent.modules.probe.http import HttpClient, Phases
from agent.modules.probe.result import (
    OCSP_DURATION,
    OCSP_NEXT_UPDATE,
    OCSP_REVOKED_AT,
    OCSP_SIGNATURE,
    OCSP_STATUS,
    OCSP_THIS_UPDATE,
    ProbeFailed,
    ProbeResult,
)
from agent.modules.probe.targets import OcspTarget, parse_serial
from agent.modules.probe.tls import client_context

MAX_RESPONSE = 1 << 20
STATUS_NAMES = {ocsp.OCSPCertStatus.GOOD: "good", ocsp.OCSPCertStatus.REVOKED: "revoked",
                ocsp.OCSPCertStatus.UNKNOWN: "unknown"}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}


def load_certificate(path: str, key: str) -> x509.Certificate:
    """The first certificate of a PEM or DER file; ProbeFailed naming ``key`` otherwise."""
    try:
        data = Path(path).read_bytes()
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except (OSError, ValueError) as exc:
        raise ProbeFailed("content", f"{key} {path}: not a readable certificate "
                                     f"({type(exc).__name__})") from None


def key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's bytes, what an OCSP CertID's key hash is taken of."""
    spki = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)

    def header(at: int) -> tuple[int, int]:  # (start of the value, its length) of a DER TLV
        length = spki[at + 1]
        if length < 0x80:
            return at + 2, length
        count = length & 0x7F
        return at + 2 + count, int.from_bytes(spki[at + 2:at + 2 + count], "big")

    inner, _ = header(0)                     # SubjectPublicKeyInfo SEQUENCE
    algorithm, length = header(inner)        # AlgorithmIdentifier SEQUENCE
    bits, length = header(algorithm + length)  # BIT STRING
    return spki[bits + 1:bits + length]      # after the unused-bits byte


def verify_signature(key: Any, signature: bytes, data: bytes,
                     algorithm: hashes.HashAlgorithm | None) -> bool:
    """Whether ``signature`` over ``data`` verifies with public ``key``."""
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _is_responder(response: ocsp.OCSPResponse, certificate: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == certificate.subject
    key_id = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest
    return response.responder_key_hash == key_id


def signed_by_issuer(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    """Whether the response is signed by ``issuer`` or by a responder it delegated to.

    A signature or key algorithm cryptography does not know is not a valid signature.
    """
    try:
        return _signed_by_issuer(response, issuer)
    except UnsupportedAlgorithm:
        return False


def _signed_by_issuer(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    signer = issuer
    for candidate in response.certificates:
        if _is_responder(response, candidate):
            signer = candidate
            break
    if signer != issuer:
        try:
            signer.verify_directly_issued_by(issuer)
            usage = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            return False
        if ExtendedKeyUsageOID.OCSP_SIGNING not in usage:
            return False
    elif not _is_responder(response, issuer):
        return False
    return verify_signature(signer.public_key(), response.signature, response.tbs_response_bytes,
                            response.signature_hash_algorithm)


def aia_ocsp_url(certificate: x509.Certificate) -> str | None:
    """The certificate's OCSP responder from its Authority Information Access, if any."""
    try:
        aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except x509.ExtensionNotFound:
        return None
    for description in aia.value:
        if (description.access_method == AuthorityInformationAccessOID.OCSP
                and isinstance(description.access_location, x509.UniformResourceIdentifier)):
            return str(description.access_location.value)
    return None


@dataclass(frozen=True)
class _Request:
    """What the probe asks, built from the files at the first run."""

    url: str
    serial: int
    issuer: x509.Certificate
    body: bytes


class OcspProbe:
    """Probes one ``ocsp`` target."""

    def __init__(self, target: OcspTarget) -> None:
        self.target = target
        self.client = HttpClient(client_context(None, False), MAX_RESPONSE)
        self._request: _Request | None = None

    def _build(self) -> _Request:
        target = self.target
        issuer = load_certificate(target.issuer_file, "issuer_file")
        algorithm = _HASHES[target.hash_algorithm]()
        builder = ocsp.OCSPRequestBuilder()
        url = target.url
        if target.cert_file is not None:
            certificate = load_certificate(target.cert_file, "cert_file")
            serial = certificate.serial_number
            builder = builder.add_certificate(certificate, issuer, algorithm)
            url = url or aia_ocsp_url(certificate)
            if url is None:
                raise ProbeFailed("content", f"cert_file {target.cert_file} names no OCSP "
                                             f"responder: set 'url'")
        else:
            assert target.serial is not None and url is not None  # checked at load
            serial = parse_serial(target.serial)

            def digest(data: bytes) -> bytes:
                hasher = hashes.Hash(_HASHES[target.hash_algorithm]())
                hasher.update(data)
                return hasher.finalize()

            builder = builder.add_certificate_by_hash(
                digest(issuer.subject.public_bytes()), digest(key_bits(issuer)), serial,
                algorithm)
        body = builder.build().public_bytes(serialization.Encoding.DER)
        return _Request(url, serial, issuer, body)

    async def probe(self, result: ProbeResult) -> None:
        """Ask the responder; fail on no answer, an error status, or a bad signature."""
        if self._request is None:
            self._request = self._build()
        request = self._request
        start = time.perf_counter()
        response = await self.client.request(
            request.url, "POST", request.body,
            {"Content-Type": "application/ocsp-request", "Accept": "application/ocsp-response"},
            Phases())
        result.add(OCSP_DURATION, time.perf_counter() - start)
        if response.status != 200:
            raise ProbeFailed("status", f"HTTP status {response.status} from the responder, "
                                        f"expected 200")
        try:
            answer = ocsp.load_der_ocsp_response(response.body)
        except ValueError as exc:
            raise ProbeFailed("content", f"not an OCSP response: {exc}") from None
        if answer.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise ProbeFailed("status", f"the responder answered "
                                        f"{answer.response_status.name.lower()}")
        single = next((s for s in answer.responses if s.serial_number == request.serial), None)
        if single is None:
            raise ProbeFailed("content", f"the response is not about serial {request.serial:#x}")
        status = STATUS_NAMES[single.certificate_status]
        for name in STATUS_NAMES.values():
            result.add(OCSP_STATUS, 1.0 if name == status else 0.0, name)
        result.add(OCSP_THIS_UPDATE, single.this_update_utc.timestamp())
        if single.next_update_utc is not None:
            result.add(OCSP_NEXT_UPDATE, single.next_update_utc.timestamp())
        if single.revocation_time_utc is not None:
            result.add(OCSP_REVOKED_AT, single.revocation_time_utc.timestamp())
        valid = signed_by_issuer(answer, request.issuer)
        result.add(OCSP_SIGNATURE, 1.0 if valid else 0.0)
        if not valid:
            raise ProbeFailed("signature", "the response is not signed by the issuer nor by a "
                                           "responder the issuer delegated to")
