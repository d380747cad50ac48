"""Fixtures of the probe tests."""

from __future__ import annotations

import pytest

from tests.support.probe_peers import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA and a server certificate for 127.0.0.1, one per test module."""
    return make_pki(tmp_path_factory.mktemp("pki"))
