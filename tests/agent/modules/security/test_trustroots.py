"""Required roots in the trust store: fingerprints as openssl prints them, bundles and folders."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.modules.security.config import TrustRootsConfig
from agent.modules.security.trustroots import TrustRootsCheck, fingerprints
from common.schema import ConfigError, load_yaml
from tests.support.peers import require_binary
from tests.support.samples import value
from tests.support.tlsfiles import make_tls_files

PRESENT = "commune_trust_root_present"


def openssl_fingerprint(path: Path) -> str:
    """``AB:CD:...`` as ``openssl x509 -fingerprint -sha256`` prints it."""
    out = subprocess.run([require_binary("openssl"), "x509", "-noout", "-fingerprint",
                          "-sha256", "-in", str(path)], check=True, capture_output=True,
                         text=True).stdout
    return out.strip().split("=", 1)[1]


def der(path: Path, out: Path) -> Path:
    subprocess.run([require_binary("openssl"), "x509", "-in", str(path), "-outform", "DER",
                    "-out", str(out)], check=True, capture_output=True)
    return out


def config(text: str, tmp_path: Path) -> TrustRootsConfig:
    return load_yaml(TrustRootsConfig, text, "agent.yml", tmp_path)


@pytest.mark.peer
def test_roots_by_file_and_fingerprint_in_a_bundle_and_a_folder(tmp_path: Path) -> None:
    national = make_tls_files(tmp_path / "national")   # its CA stands for the national root
    other = make_tls_files(tmp_path / "other")
    absent = make_tls_files(tmp_path / "absent")
    bundle = tmp_path / "ca-certificates.crt"
    bundle.write_text(national.ca_cert.read_text() + other.cert.read_text())
    folder = tmp_path / "certs"
    folder.mkdir()
    der(other.ca_cert, folder / "other-root.cer")  # a DER file in a folder
    fingerprint = openssl_fingerprint(other.ca_cert)
    check = TrustRootsCheck(config(f"""
        roots:
          - {{name: vn-root-ca, file: "{national.ca_cert}"}}
          - {{name: commercial-ca, sha256: "{fingerprint}"}}
          - {{name: missing-ca, file: "{absent.ca_cert}"}}
        stores: ["{bundle}", "{folder}", "{tmp_path / 'no-such-store'}"]
    """, tmp_path))
    families = check.collect()
    assert value(families, PRESENT, root="vn-root-ca") == 1
    assert value(families, PRESENT, root="commercial-ca") == 1
    assert value(families, PRESENT, root="missing-ca") == 0
    assert value(families, "commune_trust_store_certificates") == 3
    # The root is removed from the bundle: the next collection sees it (size and mtime changed).
    bundle.write_text(other.cert.read_text())
    assert value(check.collect(), PRESENT, root="vn-root-ca") == 0


@pytest.mark.peer
def test_fingerprints_match_openssl(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    expected = openssl_fingerprint(tls.ca_cert).replace(":", "").lower()
    assert fingerprints(tls.ca_cert.read_bytes()) == {expected}
    assert fingerprints(der(tls.ca_cert, tmp_path / "ca.der").read_bytes()) == {expected}
    assert fingerprints(b"not a certificate\n") == set()


def test_no_readable_store_fails_the_check(tmp_path: Path) -> None:
    check = TrustRootsCheck(config(f"""
        roots: [{{name: r, sha256: "{'00' * 32}"}}]
        stores: ["{tmp_path / 'none.crt'}"]
    """, tmp_path))
    with pytest.raises(ValueError, match="no trust store could be read"):
        check.collect()


def test_an_unreadable_root_file_names_the_root_the_file_and_the_key(tmp_path: Path) -> None:
    root = tmp_path / "root.pem"
    root.write_text("")
    check = TrustRootsCheck(config(f"""
        roots: [{{name: a, sha256: "{'00' * 32}"}}, {{name: vn-root, file: "{root}"}}]
        stores: ["{tmp_path}"]
    """, tmp_path))
    root.unlink()  # gone after the config was loaded
    (tmp_path / "store.pem").write_text("")
    with pytest.raises(ValueError) as info:
        check.collect()
    assert str(info.value) == (f"root vn-root: cannot read {root}: No such file or directory; "
                               f"fix the file or trust_roots.roots[1].file")


def test_an_unlistable_store_folder_names_the_folder_and_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests run as root, which lists any folder: the refusal is simulated.
    def refuse(path: str) -> list[str]:
        raise PermissionError(13, "Permission denied", path)

    check = TrustRootsCheck(config(f"""
        roots: [{{name: r, sha256: "{'00' * 32}"}}]
        stores: ["{tmp_path}"]
    """, tmp_path))
    monkeypatch.setattr("agent.modules.security.trustroots.os.listdir", refuse)
    with pytest.raises(ValueError) as info:
        check.collect()
    assert str(info.value) == (f"cannot list the trust store folder {tmp_path}: Permission "
                               f"denied; make it readable or remove it from trust_roots.stores")


def test_the_system_store_is_the_default(tmp_path: Path) -> None:
    store = tmp_path / "bundle.crt"
    store.write_text("")
    check = TrustRootsCheck(config(f'roots: [{{name: r, sha256: "{"11" * 32}"}}]', tmp_path),
                            system_stores=(str(tmp_path / "absent.crt"), str(store)))
    assert check.stores == (str(store),)
    assert value(check.collect(), PRESENT, root="r") == 0


@pytest.mark.parametrize(("text", "message"), [
    ("roots: []", "roots: list at least one root"),
    ("roots: [{name: r}]", "roots[0].file: give either 'file'"),
    ('roots: [{name: r, sha256: "AB:CD"}]', "roots[0].sha256: expected a SHA-256 fingerprint"),
    ("roots: [{name: r, file: missing.pem}]", "roots[0].file:"),
    ('roots: [{name: "a b", sha256: "' + "00" * 32 + '"}]', "roots[0].name: expected a name"),
    ('roots: [{name: r, sha256: "' + "00" * 32 + '"}]\nstores: [certs]',
     "stores: expected absolute paths"),
])
def test_config_errors(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config(text, tmp_path)
    assert any(message in str(issue) for issue in info.value.issues), info.value.issues
