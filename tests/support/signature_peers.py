"""The signature chain's peers: a CA made with ``openssl``, ``openssl ocsp`` responders, CRLs.

The CA signs a responder certificate (OCSP signing), a good and a revoked leaf; ``index.txt`` is
the responder's database. A rogue key with the CA's very name signs the responses of a second
responder: the wrong-key case. CRLs are made with ``cryptography`` (fresh or already stale,
which the ``openssl ca`` command cannot write) and served by a small HTTP server.
"""

from __future__ import annotations

import contextlib
import datetime
import http.server
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.support.peers import LOOPBACK, Process, free_port, require_binary, wait_for

GOOD_SERIAL, REVOKED_SERIAL, UNKNOWN_SERIAL = 0x1001, 0x1002, 0x1003
CA_SUBJECT = "/C=VN/O=Test Government CA/CN=Test National Root CA"


@dataclass(frozen=True)
class SigningCa:
    """Paths of the CA's files, made by ``make_ca``."""

    folder: Path
    ca_cert: Path
    ca_key: Path
    responder_cert: Path
    responder_key: Path
    rogue_cert: Path
    rogue_key: Path
    good_cert: Path
    revoked_cert: Path
    index: Path


def _run(*args: str) -> None:
    subprocess.run([require_binary("openssl"), *args], check=True, capture_output=True)


def _key(path: Path) -> None:
    _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-out", str(path))


def make_ca(folder: Path, ocsp_url: str) -> SigningCa:
    """A CA, its OCSP responder certificate, a good and a revoked leaf naming ``ocsp_url``."""
    folder.mkdir(parents=True, exist_ok=True)
    f = {name: folder / name for name in ("ca.key", "ca.crt", "resp.key", "resp.crt",
                                          "rogue.key", "rogue.crt", "leaf.key", "good.crt",
                                          "revoked.crt", "index.txt")}
    _key(f["ca.key"])
    _run("req", "-x509", "-new", "-key", str(f["ca.key"]), "-out", str(f["ca.crt"]), "-days",
         "30", "-subj", CA_SUBJECT, "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _key(f["rogue.key"])  # same name as the CA, another key
    _run("req", "-x509", "-new", "-key", str(f["rogue.key"]), "-out", str(f["rogue.crt"]),
         "-days", "30", "-subj", CA_SUBJECT, "-addext", "extendedKeyUsage=OCSPSigning")
    _key(f["resp.key"])
    _key(f["leaf.key"])

    def issue(key: Path, out: Path, subject: str, serial: int, ext: str) -> None:
        csr, extfile = folder / f"{out.stem}.csr", folder / f"{out.stem}.ext"
        extfile.write_text(ext)
        _run("req", "-new", "-key", str(key), "-out", str(csr), "-subj", subject)
        _run("x509", "-req", "-in", str(csr), "-CA", str(f["ca.crt"]), "-CAkey",
             str(f["ca.key"]), "-set_serial", str(serial), "-days", "30", "-out", str(out),
             "-extfile", str(extfile))

    issue(f["resp.key"], f["resp.crt"], "/CN=Test OCSP Responder", 0x2001,
          "extendedKeyUsage=OCSPSigning\nbasicConstraints=CA:FALSE\n")
    leaf_ext = f"authorityInfoAccess=OCSP;URI:{ocsp_url}\nbasicConstraints=CA:FALSE\n"
    issue(f["leaf.key"], f["good.crt"], "/CN=Chu tich UBND xa (token)", GOOD_SERIAL, leaf_ext)
    issue(f["leaf.key"], f["revoked.crt"], "/CN=Can bo mot cua (lost token)", REVOKED_SERIAL,
          leaf_ext)
    expiry = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30))
    stamp = expiry.strftime("%y%m%d%H%M%SZ")
    revoked_at = (datetime.datetime.now(datetime.timezone.utc)
                  - datetime.timedelta(hours=1)).strftime("%y%m%d%H%M%SZ")
    f["index.txt"].write_text(
        f"V\t{stamp}\t\t{GOOD_SERIAL:X}\tunknown\t/CN=Chu tich UBND xa (token)\n"
        f"R\t{stamp}\t{revoked_at},keyCompromise\t{REVOKED_SERIAL:X}\tunknown\t"
        f"/CN=Can bo mot cua (lost token)\n")
    return SigningCa(folder, f["ca.crt"], f["ca.key"], f["resp.crt"], f["resp.key"],
                  f["rogue.crt"], f["rogue.key"], f["good.crt"], f["revoked.crt"],
                  f["index.txt"])


@contextlib.contextmanager
def ocsp_responder(ca: SigningCa, port: int, signer: Path, key: Path, log: Path
                   ) -> Iterator[Process]:
    """``openssl ocsp`` answering from the CA's index on ``port``, signing with ``signer``.

    openssl 3.0 takes a port only and listens on every address; the tests talk to it on
    127.0.0.1 only. It serves one connection at a time and waits on a silent one, so readiness
    is read from its log, not probed with a connection.
    """
    argv = [require_binary("openssl"), "ocsp", "-index", str(ca.index), "-port", str(port),
            "-CA", str(ca.ca_cert), "-rsigner", str(signer), "-rkey", str(key), "-nmin", "60"]
    with Process(argv, log) as process:
        wait_for(lambda: "waiting for OCSP client connections" in process.log(),
                 what=f"openssl ocsp on port {port}")
        yield process


def make_crl(ca: SigningCa, next_update_in: datetime.timedelta, revoked: tuple[int, ...] = (
        REVOKED_SERIAL,), der: bool = True, key: Path | None = None) -> bytes:
    """A CRL of the CA, nextUpdate ``next_update_in`` from now (negative: stale)."""
    private = serialization.load_pem_private_key((key or ca.ca_key).read_bytes(), None)
    issuer = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc)
    this_update = min(now, now + next_update_in) - datetime.timedelta(days=1)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
               .last_update(this_update).next_update(now + next_update_in))
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial)
            .revocation_date(this_update).build())
    crl = builder.sign(private, hashes.SHA256())  # type: ignore[arg-type]
    return crl.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/pkix-crl")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")


@contextlib.contextmanager
def file_server(files: dict[str, bytes]) -> Iterator[str]:
    """Serve ``files`` (path -> bytes) on 127.0.0.1; yield the base URL."""
    handler = type("Files", (_Files,), {"files": files})
    server = http.server.ThreadingHTTPServer((LOOPBACK, free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a responder hanging)."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for sock in held:
            sock.close()
        listener.close()
