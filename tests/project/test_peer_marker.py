"""The peer mark's enforcement (tests/support/peer_marker.py), run on a small suite of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.paths import ROOT

CONFTEST = """
from tests.support import peer_marker

def pytest_configure(config):
    config.pluginmanager.register(peer_marker.PeerMarkPlugin(), "peer-marker")
"""
# A fixture that starts a "peer", used by a marked test first, then by an unmarked one; an
# unmarked test elsewhere whose plain parameter has the same name.
WITH_PEER = """
import pytest
from tests.support.peer_marker import require_peer

@pytest.fixture(scope="session")
def port():
    require_peer("a stand-in")
    return 1

@pytest.mark.peer
def test_a_marked_user(port):
    assert port == 1

def test_an_unmarked_user(port):
    assert port == 1
"""
SAME_NAME = """
import pytest

@pytest.mark.parametrize("port", [22])
def test_a_parameter_of_the_same_name(port):
    assert port == 22
"""


def test_a_fixture_that_started_a_peer_is_known_by_where_it_is_defined(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_a_with_peer.py").write_text(textwrap.dedent(WITH_PEER))
    (tmp_path / "test_b_same_name.py").write_text(textwrap.dedent(SAME_NAME))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist",
                           "-p", "no:cacheprovider", "-o", "markers=peer: starts a peer",
                           "-rA", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    outcomes = {line.split(" ", 1)[1].split(" - ")[0].rsplit("::", 1)[-1]: line.split(" ", 1)[0]
                for line in done.stdout.splitlines()
                if line.startswith(("PASSED ", "FAILED ", "ERROR "))}
    assert outcomes == {"test_a_marked_user": "PASSED", "test_an_unmarked_user": "ERROR",
                        "test_a_parameter_of_the_same_name[22]": "PASSED"}, done.stdout
    assert "uses the fixture port, which started a Debian peer" in done.stdout
