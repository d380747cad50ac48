"""The ``peer`` marker, enforced: a test that starts a Debian peer (scripts/install-peers.sh)
must be marked ``peer``, so ``pytest -m "not peer"`` runs on a machine without them, and a
forgotten mark fails the test instead of passing here and breaking there.

PeerMarkPlugin (registered by tests/conftest.py, so that its hooks also see the fixtures of
session scope) tells this module which test runs and which fixture is being set up.
``require_peer()``, called by ``require_binary()`` and by every other peer starter, fails an
unmarked test, and remembers the fixtures that started a peer: a later test using one of them
(set up once for the session) must be marked too. A fixture is known by its name and where it is
defined, so a plain parameter or another file's fixture of the same name is not taken for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from typing import Any

import pytest

MARK = "peer"
_running: list[pytest.Item] = []  # the test running now (setup, call, teardown)
FixtureKey = tuple[str, str]      # a fixture's name and the node id of where it is defined
_fixtures: list[FixtureKey] = []  # the fixtures being set up now, innermost last
_peer_fixtures: set[FixtureKey] = set()  # the fixtures that started a peer


@contextlib.contextmanager
def running(item: pytest.Item) -> Iterator[None]:
    """While ``item`` runs."""
    _running.append(item)
    try:
        yield
    finally:
        _running.pop()


@contextlib.contextmanager
def setting_up(fixture: FixtureKey) -> Iterator[None]:
    """While ``fixture`` (its name and where it is defined) is set up."""
    _fixtures.append(fixture)
    try:
        yield
    finally:
        _fixtures.pop()


def _fail(item: pytest.Item, what: str) -> None:
    pytest.fail(f"{item.nodeid} uses {what} but is not marked peer: add @pytest.mark.peer to "
                "the test, or pytestmark = pytest.mark.peer to its file", pytrace=False)


def require_peer(what: str) -> None:
    """Fail the running test unless it is marked ``peer``: it is about to start ``what``."""
    _peer_fixtures.update(_fixtures)
    if _running and _running[-1].get_closest_marker(MARK) is None:
        _fail(_running[-1], f"{what}, a Debian peer from scripts/install-peers.sh,")


def _key_used(item: pytest.Item, name: str) -> FixtureKey | None:
    """The fixture ``item`` gets for ``name`` (the closest definition), or None for none."""
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.get(name) if info is not None else None
    return (name, definitions[-1].baseid) if definitions else None


def check_fixtures(item: pytest.Item) -> None:
    """Fail ``item`` unless it is marked ``peer`` or uses no fixture that started a peer."""
    if item.get_closest_marker(MARK) is None:
        used = sorted(name for name in getattr(item, "fixturenames", ())
                      if _key_used(item, name) in _peer_fixtures)
        if used:
            fixtures = f"fixture{'s' if len(used) > 1 else ''} {', '.join(used)}"
            _fail(item, f"the {fixtures}, which started a Debian peer for an earlier test,")


class PeerMarkPlugin:
    """The hooks that keep track of the running test and of the fixture being set up."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        """Let require_peer() know which test runs."""
        with running(item):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any],
                             ) -> Generator[None, object, object]:
        """Let require_peer() know which fixture starts a peer."""
        with setting_up((fixturedef.argname, fixturedef.baseid)):
            return (yield)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """An unmarked test may not use a fixture that started a peer for an earlier test."""
        check_fixtures(item)
