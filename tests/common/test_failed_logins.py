"""Failed logins are answered later and later per source address; good logins never wait."""

from __future__ import annotations

import base64
import http.client
import importlib
import itertools
import re
import threading
import time
from collections.abc import Iterator

import bcrypt
import pytest

from agent.exposition import Snapshot
from agent.web import MetricsServer
from common.logindelay import FailureDelay
from common.schema import HostPort
from common.webconfig import BasicAuth, BcryptHash, WebConfig

PASSWORD = "s3cret-pass"
OTHER_SOURCE = "127.0.0.2"  # any 127/8 address is loopback on Linux


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_delay_doubles_is_capped_and_decays() -> None:
    clock = Clock()
    delay = FailureDelay(base=0.05, cap=1.0, half_life=60, clock=clock)
    assert [delay.failed("192.0.2.1") for _ in range(6)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0]
    assert delay.failed("192.0.2.2") == 0.05  # another source starts afresh
    clock.now += 600  # ten half-lives without a failure: about forgotten
    assert delay.failed("192.0.2.1") == pytest.approx(0.05, rel=0.1)


def test_ipv6_counts_per_64_and_the_table_is_bounded() -> None:
    delay = FailureDelay(base=0.05, cap=10, max_sources=100, clock=Clock())
    delay.failed("2001:db8:1:2::1")
    assert delay.failed("2001:db8:1:2:ffff::9") == 0.1  # same /64
    assert delay.failed("2001:db8:1:3::1") == 0.05
    assert delay.failed("::ffff:192.0.2.7") == 0.05
    assert delay.failed("192.0.2.7") == 0.1  # the IPv4-mapped form is the same client
    for i in range(1000):
        delay.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(delay) == 100


@pytest.fixture
def agent_endpoint() -> Iterator[MetricsServer]:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    config = WebConfig(basic_auth_users={"prometheus": BcryptHash.parse(hashed)})
    server = MetricsServer(HostPort("127.0.0.1:0"), lambda: Snapshot.of([b"up 1\n"], 0.0),
                           lambda: True, config)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def timed_get(port: int, password: str, source: str = "127.0.0.1") -> tuple[int, float]:
    """(status, seconds) of GET /metrics as user prometheus, from ``source``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    credentials = base64.b64encode(f"prometheus:{password}".encode()).decode()
    started = time.monotonic()
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Basic {credentials}"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.monotonic() - started
    finally:
        conn.close()


@pytest.mark.slow  # about 6 s: the delays it measures
def test_wrong_passwords_from_one_source_slow_down_and_good_logins_do_not(
        agent_endpoint: MetricsServer) -> None:
    port = agent_endpoint.port
    assert timed_get(port, PASSWORD)[0] == 200  # bcrypt's first check, then cached
    wrong = [timed_get(port, f"guess-{i}") for i in range(7)]
    assert {status for status, _ in wrong} == {401}
    times = [seconds for _, seconds in wrong]
    print(f"\nwrong passwords from 127.0.0.1: {', '.join(f'{t:.2f}s' for t in times)}")
    # 0.05 s doubling: the seventh waits 3.2 s; 1,000 guesses would take over an hour.
    assert times[-1] > 2.0 and times[-1] > 8 * times[2]
    assert all(later > earlier for earlier, later in itertools.pairwise(times[2:]))
    status, good_same = timed_get(port, PASSWORD)
    status_other, good_other = timed_get(port, PASSWORD, OTHER_SOURCE)
    status_wrong_other, wrong_other = timed_get(port, "guess", OTHER_SOURCE)
    print(f"right password, same source {good_same:.3f}s, another source {good_other:.3f}s; "
          f"a first wrong one from another source {wrong_other:.3f}s")
    assert (status, status_other, status_wrong_other) == (200, 200, 401)
    assert good_same < 0.3 and good_other < 0.3 and wrong_other < 0.5


def test_a_request_without_credentials_is_not_delayed(agent_endpoint: MetricsServer) -> None:
    for _ in range(5):
        conn = http.client.HTTPConnection("127.0.0.1", agent_endpoint.port, timeout=10)
        started = time.monotonic()
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        resp.read()
        conn.close()
        assert resp.status == 401 and time.monotonic() - started < 0.3
    assert agent_endpoint.auth is not None and len(agent_endpoint.auth.failures) == 0


def test_a_first_failure_from_any_source_waits_as_the_docstring_says() -> None:
    doc = " ".join((BasicAuth.__doc__ or "").split())
    assert "Every failed check is answered late" in doc
    named = re.search(r"common/(\w+)\.py", doc)
    assert named is not None and hasattr(
        importlib.import_module(f"common.{named.group(1)}"), "FailureDelay"), doc
    waits: list[str] = []

    class Recording(FailureDelay):
        def wait(self, address: str) -> float:
            waits.append(address)
            return 0.0

    auth = BasicAuth({}, failures=Recording())
    assert not auth.check("nobody", "guess", source="198.51.100.77")  # never seen before
    assert waits == ["198.51.100.77"]
