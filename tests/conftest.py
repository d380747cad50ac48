"""Fixtures shared by the tests of several folders; the plugin that enforces the peer mark."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import peer_marker, release, wheelhouse
from tests.support.peers import Prometheus
from tests.support.province import INVENTORY, Province, gateway_yaml
from tests.support.push_peers import PROMETHEUS_PUSH_ARGS, PROMETHEUS_PUSH_CONFIG
from tests.support.tlsfiles import TLSFiles, make_tls_files


def pytest_configure(config: pytest.Config) -> None:
    """Enforce the peer mark for every test and every fixture (tests/support/peer_marker.py)."""
    if not config.pluginmanager.has_plugin("peer-marker"):
        config.pluginmanager.register(peer_marker.PeerMarkPlugin(), "peer-marker")


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A CA and a server certificate for 127.0.0.1."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    """Prometheus with the remote-write receiver and a 1h out-of-order window."""
    workdir = tmp_path / "prom"
    workdir.mkdir()
    prom = Prometheus(PROMETHEUS_PUSH_CONFIG, workdir, PROMETHEUS_PUSH_ARGS)
    try:
        yield prom
    finally:
        prom.stop()


@pytest.fixture
def province(tmp_path: Path) -> Province:
    """inventory.yml and gateway.yml in a temporary folder (receiver: a closed port)."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    gateway = tmp_path / "gateway.yml"
    gateway.write_text(gateway_yaml("http://127.0.0.1:9/api/v1/write", inventory))
    return Province(inventory, gateway)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """commune-monitor's real wheel and its dependencies', built once per session, offline
    (shared by the pytest-xdist workers of the session: their basetemps have one parent)."""
    base = tmp_path_factory.getbasetemp()
    return wheelhouse.shared(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)


@pytest.fixture(scope="session")
def release_tarball(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> Path:
    """The offline release scripts/build-wheelhouse.sh builds (its dependencies from ``wheels``,
    so without the network): commune-monitor-wheelhouse.tar.gz."""
    return release.build(tmp_path_factory.mktemp("release"), wheels)
