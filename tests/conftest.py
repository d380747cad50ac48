"""Fixtures shared by the tests."""

from __future__ import annotations

import pytest

from tests.tlsfiles import TLSFiles, make_tls_files


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A CA and a server certificate for 127.0.0.1."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))
