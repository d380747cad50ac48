"""OCSP and CRL probes against a CA made here, ``openssl ocsp`` as the responder, local CRLs."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from agent.modules.probe.module import ProbeModule
from tests.support.peers import free_port
from tests.support.probe_peers import load_probe_config, probe, reasons
from tests.support.samples import maybe_value, registry_of, value
from tests.support.signature_peers import (
    GOOD_SERIAL,
    UNKNOWN_SERIAL,
    SigningCa,
    file_server,
    make_ca,
    make_crl,
    ocsp_responder,
    silent_server,
)

HOUR = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class Responders:
    """The CA and the URLs of its responders."""

    ca: SigningCa
    delegated: str  # signs with the CA's OCSP responder certificate (the leaves' AIA URL)
    direct: str     # signs with the CA's own key
    rogue: str      # signs with a key that has the CA's name but is not the CA's


@pytest.fixture(scope="module")
def responders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Responders]:
    folder = tmp_path_factory.mktemp("ca")
    ports = [free_port() for _ in range(3)]
    ca = make_ca(folder, f"http://127.0.0.1:{ports[0]}/")
    signers = [(ca.responder_cert, ca.responder_key), (ca.ca_cert, ca.ca_key),
               (ca.rogue_cert, ca.rogue_key)]
    with (ocsp_responder(ca, ports[0], *signers[0], folder / "delegated.log"),
          ocsp_responder(ca, ports[1], *signers[1], folder / "direct.log"),
          ocsp_responder(ca, ports[2], *signers[2], folder / "rogue.log")):
        yield Responders(ca, *(f"http://127.0.0.1:{p}/" for p in ports))


def ocsp_status(reg: object, target: str) -> dict[str, float]:
    return {s: value(reg, "commune_ocsp_cert_status", target=target, kind="ocsp", status=s)
            for s in ("good", "revoked", "unknown")}


@pytest.mark.peer
def test_ocsp_good_revoked_and_unknown(responders: Responders) -> None:
    ca, now = responders.ca, time.time()
    reg = probe(f"""
        targets:
          - {{name: token, kind: ocsp, cert_file: "{ca.good_cert}", issuer_file: "{ca.ca_cert}"}}
          - {{name: lost, kind: ocsp, cert_file: "{ca.revoked_cert}",
             issuer_file: "{ca.ca_cert}"}}
          - {{name: stranger, kind: ocsp, serial: "{UNKNOWN_SERIAL:#x}",
             url: "{responders.delegated}", issuer_file: "{ca.ca_cert}"}}
          - {{name: by-serial, kind: ocsp, serial: "{GOOD_SERIAL}", url: "{responders.delegated}",
             issuer_file: "{ca.ca_cert}", hash_algorithm: sha256}}
    """)
    assert ocsp_status(reg, "token") == {"good": 1, "revoked": 0, "unknown": 0}
    assert ocsp_status(reg, "lost") == {"good": 0, "revoked": 1, "unknown": 0}
    assert ocsp_status(reg, "stranger") == {"good": 0, "revoked": 0, "unknown": 1}
    assert ocsp_status(reg, "by-serial")["good"] == 1
    for target in ("token", "lost", "stranger", "by-serial"):
        # The responder answered, signed: the probe succeeds whatever the status.
        assert value(reg, "probe_success", target=target, kind="ocsp") == 1, reasons(reg, target)
        assert value(reg, "commune_ocsp_signature_valid", target=target, kind="ocsp") == 1
        this = value(reg, "commune_ocsp_this_update_timestamp_seconds", target=target)
        assert abs(this - now) < 120
        assert value(reg, "commune_ocsp_next_update_timestamp_seconds",
                     target=target) == pytest.approx(this + 3600, abs=5)  # -nmin 60
        assert 0 < value(reg, "commune_ocsp_response_duration_seconds", target=target) < 5
    revoked_at = value(reg, "commune_ocsp_revocation_timestamp_seconds", target="lost")
    assert revoked_at == pytest.approx(now - 3600, abs=120)
    assert maybe_value(reg, "commune_ocsp_revocation_timestamp_seconds", target="token") is None


@pytest.mark.peer
def test_ocsp_signature_by_the_ca_itself_verifies(responders: Responders) -> None:
    ca = responders.ca
    reg = probe(f"""
        targets:
          - {{name: direct, kind: ocsp, cert_file: "{ca.revoked_cert}", url: "{responders.direct}",
             issuer_file: "{ca.ca_cert}"}}
    """)
    assert value(reg, "commune_ocsp_signature_valid", target="direct") == 1
    assert ocsp_status(reg, "direct")["revoked"] == 1


@pytest.mark.peer
def test_ocsp_response_signed_by_the_wrong_key_fails(responders: Responders) -> None:
    ca = responders.ca
    reg = probe(f"""
        targets:
          - {{name: rogue, kind: ocsp, cert_file: "{ca.good_cert}", url: "{responders.rogue}",
             issuer_file: "{ca.ca_cert}"}}
    """)
    assert value(reg, "probe_success", target="rogue", kind="ocsp") == 0
    assert reasons(reg, "rogue") == ["signature"]
    assert value(reg, "commune_ocsp_signature_valid", target="rogue") == 0
    assert ocsp_status(reg, "rogue")["good"] == 1  # reported, but not to be trusted


@pytest.mark.peer
def test_ocsp_asked_about_another_issuer_or_a_dead_responder(responders: Responders) -> None:
    ca = responders.ca
    reg = probe(f"""
        targets:
          - {{name: wrong-issuer, kind: ocsp, cert_file: "{ca.good_cert}",
             issuer_file: "{ca.rogue_cert}"}}
          - {{name: dead, kind: ocsp, cert_file: "{ca.good_cert}", url: "http://127.0.0.1:9/",
             issuer_file: "{ca.ca_cert}"}}
          - {{name: not-a-cert, kind: ocsp, cert_file: "{ca.index}", issuer_file: "{ca.ca_cert}"}}
    """)
    # A configured issuer that is not the certificate's (same name, another key): whatever the
    # responder says, its signature does not chain to that issuer.
    assert reasons(reg, "wrong-issuer") == ["signature"]
    assert reasons(reg, "dead") == ["connect"]
    assert reasons(reg, "not-a-cert") == ["content"]


@pytest.mark.peer
def test_crl_fresh_stale_and_forged(responders: Responders) -> None:
    ca, now = responders.ca, time.time()
    fresh = make_crl(ca, 6 * HOUR)
    files = {"/fresh.crl": fresh, "/stale.crl": make_crl(ca, -2 * HOUR, der=False),
             "/forged.crl": make_crl(ca, 6 * HOUR, key=ca.rogue_key), "/junk.crl": b"<html>"}
    with file_server(files) as url:
        reg = probe("targets:\n" + "".join(
            f'  - {{name: {name}, kind: crl, url: "{url}/{name}.crl", '
            f'issuer_file: "{ca.ca_cert}"}}\n' for name in ("fresh", "stale", "forged", "junk",
                                                            "missing")))
    assert value(reg, "probe_success", target="fresh", kind="crl") == 1
    assert value(reg, "commune_crl_size_bytes", target="fresh") == len(fresh)
    assert value(reg, "commune_crl_revoked_certificates", target="fresh") == 1
    assert value(reg, "commune_crl_signature_valid", target="fresh") == 1
    assert value(reg, "commune_crl_next_update_timestamp_seconds",
                 target="fresh") == pytest.approx(now + 6 * 3600, abs=60)
    assert 0 < value(reg, "commune_crl_download_duration_seconds", target="fresh") < 5
    # Stale, but fetched and genuine: the probe succeeds and the alert reads nextUpdate.
    assert value(reg, "probe_success", target="stale", kind="crl") == 1
    assert value(reg, "commune_crl_next_update_timestamp_seconds", target="stale") < now
    assert reasons(reg, "forged") == ["signature"]
    assert value(reg, "commune_crl_signature_valid", target="forged") == 0
    assert reasons(reg, "junk") == ["content"]
    assert reasons(reg, "missing") == ["status"]


@pytest.mark.peer
def test_one_slow_responder_delays_nothing_else(responders: Responders) -> None:
    ca = responders.ca
    with file_server({"/ca.crl": make_crl(ca, 6 * HOUR)}) as url, silent_server() as port:
        module = ProbeModule(load_probe_config(f"""
            targets:
              - {{name: token, kind: ocsp, cert_file: "{ca.good_cert}",
                 issuer_file: "{ca.ca_cert}", timeout: 5s}}
              - {{name: crl, kind: crl, url: "{url}/ca.crl", timeout: 5s}}
              - {{name: hung-ocsp, kind: ocsp, cert_file: "{ca.good_cert}",
                 url: "http://127.0.0.1:{port}/", issuer_file: "{ca.ca_cert}", timeout: 1s}}
              - {{name: hung-crl, kind: crl, url: "http://127.0.0.1:{port}/ca.crl", timeout: 1s}}
        """))
        start = time.perf_counter()
        reg = registry_of(asyncio.run(module.collect()))
        elapsed = time.perf_counter() - start
    assert reasons(reg, "hung-ocsp") == ["timeout"] and reasons(reg, "hung-crl") == ["timeout"]
    assert value(reg, "probe_success", target="token", kind="ocsp") == 1
    assert value(reg, "probe_success", target="crl", kind="crl") == 1
    assert value(reg, "probe_duration_seconds", target="token", kind="ocsp") < 0.8
    assert value(reg, "probe_duration_seconds", target="crl", kind="crl") < 0.8
    assert elapsed < 1.8  # the hung ones' own 1 s, run alongside, not one after the other
