"""An OCSP response signed with an algorithm cryptography does not know fails as a signature."""

from __future__ import annotations

import contextlib
import datetime
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from agent.modules.probe.ocsp import signed_by_issuer
from tests.support.probe_peers import probe, reasons
from tests.support.samples import value

ECDSA_SHA256 = bytes.fromhex("06082a8648ce3d040302")  # the OID 1.2.840.10045.4.3.2, DER
UNKNOWN_OID = bytes.fromhex("06082a8648ce3d040309")   # 1.2.840.10045.4.3.9: not assigned


def _ca_and_response() -> tuple[x509.Certificate, bytes]:
    """A self-signed CA and a response about itself signed with its key, in DER."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
          .public_key(key.public_key()).serial_number(1).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    response = (ocsp.OCSPResponseBuilder()
                .add_response(ca, ca, hashes.SHA1(), ocsp.OCSPCertStatus.GOOD, now, None, None,
                              None)
                .responder_id(ocsp.OCSPResponderEncoding.HASH, ca).sign(key, hashes.SHA256()))
    return ca, response.public_bytes(serialization.Encoding.DER)


@contextlib.contextmanager
def _responder(body: bytes) -> Iterator[str]:
    """A responder answering every POST with ``body``; yields its URL."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_an_unknown_signature_algorithm_is_not_a_valid_signature(tmp_path: Path) -> None:
    ca, der = _ca_and_response()
    assert der.count(ECDSA_SHA256) == 1  # the response's signatureAlgorithm only
    assert signed_by_issuer(ocsp.load_der_ocsp_response(der), ca)
    forged = der.replace(ECDSA_SHA256, UNKNOWN_OID)
    assert not signed_by_issuer(ocsp.load_der_ocsp_response(forged), ca)
    cert = tmp_path / "ca.pem"
    cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    with _responder(forged) as url:
        reg = probe(f"""
            targets:
              - {{name: odd, kind: ocsp, cert_file: "{cert}", url: "{url}",
                 issuer_file: "{cert}"}}
        """)
    assert reasons(reg, "odd") == ["signature"]
    assert value(reg, "commune_ocsp_signature_valid", target="odd") == 0
