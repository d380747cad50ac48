"""Required root certificates (the national root CA...) present in the node's trust store.

Certificates are compared by the SHA-256 fingerprint of their DER encoding, as ``openssl x509
-fingerprint -sha256`` prints it; PEM blocks are hashed without parsing the certificates (the
Debian bundle of 144 takes about 3 ms), and a store is read again only when its size or
modification time changes. A missing store is skipped; when no store can be read, the
check fails (``commune_security_check_up{check="trust_roots"} 0``) rather than report every
root absent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterator

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.security.config import (
    SYSTEM_STORES,
    TrustRootsConfig,
    normalise_fingerprint,
)

PRESENT = MetricSpec("commune_trust_root_present", "gauge",
                     "1 if the required root certificate is in the node's trust store, 0 if not.",
                     ("root",))
STORE_CERTS = MetricSpec("commune_trust_store_certificates", "gauge",
                         "Certificates found in the trust stores the check read.")
METRICS = (PRESENT, STORE_CERTS)

_PEM = re.compile(rb"-----BEGIN (?:TRUSTED )?CERTIFICATE-----\s+(.+?)-----END (?:TRUSTED )?"
                  rb"CERTIFICATE-----", re.S)
STORE_SUFFIXES = (".pem", ".crt", ".cer")


def fingerprints(data: bytes) -> set[str]:
    """SHA-256 fingerprints (hex) of the PEM certificates in ``data``, or of ``data`` as DER."""
    blocks = _PEM.findall(data)
    if not blocks:
        return {hashlib.sha256(data).hexdigest()} if data[:1] == b"\x30" else set()
    found = set()
    for block in blocks:
        try:
            found.add(hashlib.sha256(base64.b64decode(block)).hexdigest())
        except (binascii.Error, ValueError):
            continue  # one damaged block does not hide the others
    return found


def _store_files(store: str) -> Iterator[str]:
    if os.path.isdir(store):
        try:
            names = os.listdir(store)
        except OSError as exc:
            raise ValueError(f"cannot list the trust store folder {store}: {exc.strerror}; "
                             f"make it readable or remove it from trust_roots.stores") from None
        for name in sorted(names):
            path = os.path.join(store, name)
            if name.endswith(STORE_SUFFIXES) and os.path.isfile(path):
                yield path
    elif os.path.isfile(store):
        yield store


class TrustRootsCheck:
    """Reports, for each configured root, whether a trust store holds it."""

    name = "trust_roots"

    def __init__(self, config: TrustRootsConfig, system_stores: tuple[str, ...] = SYSTEM_STORES
                 ) -> None:
        self.config = config
        default = next((s for s in system_stores if os.path.exists(s)), system_stores[0])
        self.stores = config.stores or (default,)
        self._wanted: dict[str, set[str]] | None = None
        self._cache: dict[str, tuple[tuple[int, int], set[str]]] = {}

    def _roots(self) -> dict[str, set[str]]:
        if self._wanted is None:
            wanted = {}
            for index, root in enumerate(self.config.roots):
                if root.sha256 is not None:
                    wanted[root.name] = {normalise_fingerprint(root.sha256)}
                else:
                    assert root.file is not None  # one of the two, checked at load
                    try:
                        with open(root.file, "rb") as file:
                            found = fingerprints(file.read())
                    except OSError as exc:
                        raise ValueError(
                            f"root {root.name}: cannot read {root.file}: {exc.strerror}; fix "
                            f"the file or trust_roots.roots[{index}].file") from None
                    if not found:
                        raise ValueError(f"root {root.name}: {root.file} holds no certificate")
                    wanted[root.name] = found
            self._wanted = wanted
        return self._wanted

    def _read(self, path: str) -> set[str] | None:
        try:
            stat = os.stat(path)
            key = (stat.st_size, stat.st_mtime_ns)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
            with open(path, "rb") as file:
                found = fingerprints(file.read())
        except OSError:
            return None
        self._cache[path] = (key, found)
        return found

    def collect(self) -> list[Metric]:
        """The families: each root present or not, and how many certificates the stores hold."""
        trusted: set[str] = set()
        read = 0
        for store in self.stores:
            for path in _store_files(store):
                found = self._read(path)
                if found is not None:
                    read += 1
                    trusted |= found
        if not read:
            raise ValueError(f"no trust store could be read (tried {', '.join(self.stores)}); "
                             f"set trust_roots.stores")
        present, count = PRESENT.family(), STORE_CERTS.family()
        for name, wanted in self._roots().items():
            present.add_metric([name], 1.0 if wanted & trusted else 0.0)
        count.add_metric([], float(len(trusted)))
        return [present, count]
