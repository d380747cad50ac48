"""Fixtures of the push tests: a real Prometheus accepting remote-write."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import Prometheus
from tests.push.peers import PROMETHEUS_PUSH_ARGS, PROMETHEUS_PUSH_CONFIG


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
