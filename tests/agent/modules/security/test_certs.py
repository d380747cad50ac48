"""Certificate expiry of local PEM files made by the openssl CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.modules.security.certs import CertsCheck, read_validity
from agent.modules.security.config import CertsConfig
from tests.support.peers import require_binary
from tests.support.samples import samples, value
from tests.support.tlsfiles import make_tls_files

pytestmark = pytest.mark.peer

EXPIRY = "commune_cert_expiry_timestamp_seconds"


def openssl_end_date(path: Path) -> float:
    """notAfter as openssl prints it, in unixtime (through date -d)."""
    out = subprocess.run([require_binary("openssl"), "x509", "-noout", "-enddate", "-in",
                          str(path)], check=True, capture_output=True, text=True).stdout
    text = out.strip().removeprefix("notAfter=")
    return float(subprocess.run(["date", "-u", "-d", text, "+%s"], check=True,
                                capture_output=True, text=True).stdout)


def test_files_and_folders(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls", days=2)
    chain = tmp_path / "tls" / "chain.pem"
    chain.write_text(tls.cert.read_text() + tls.ca_cert.read_text())
    (tmp_path / "tls" / "not-a-cert.pem").write_text("hello\n")
    check = CertsCheck(CertsConfig(paths=(str(tls.cert), str(tmp_path / "tls"),
                                          str(tmp_path / "missing.pem"))))
    families = check.collect()
    assert value(families, EXPIRY, path=str(tls.cert)) == openssl_end_date(tls.cert)
    assert value(families, EXPIRY, path=str(chain)) == openssl_end_date(tls.cert)  # first one
    assert value(families, "commune_cert_unreadable", path=str(tmp_path / "missing.pem")) == 1
    assert value(families, "commune_cert_unreadable",
                 path=str(tmp_path / "tls" / "not-a-cert.pem")) == 1
    not_before, not_after = read_validity(str(tls.cert))
    assert 2 * 86400 - 120 <= not_after - not_before <= 2 * 86400 + 120


def test_series_bounded(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls")
    for i in range(10):
        (tmp_path / "tls" / f"copy{i}.crt").write_text(tls.cert.read_text())
    families = CertsCheck(CertsConfig(paths=(str(tmp_path / "tls"),), max_series=4)).collect()
    assert len(samples(families, EXPIRY)) == 4


def test_a_file_named_and_in_a_named_folder_is_one_series(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls")
    folder = str(tmp_path / "tls")
    families = CertsCheck(CertsConfig(paths=(str(tls.cert), folder, folder + "/"))).collect()
    paths = [s.labels["path"] for f in families for s in f.samples if s.name == EXPIRY]
    assert len(paths) == len(set(paths)) and paths.count(str(tls.cert)) == 1
    assert len({Path(p).resolve() for p in paths}) == len(paths)
