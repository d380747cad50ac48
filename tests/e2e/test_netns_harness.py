"""tests/support/netns.py: a cut link carries nothing, a lossy one some, and everything the box
made is removed: on failure, and after a run that was killed before it could clean up."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import netns
from tests.support.box import TcpService
from tests.support.peers import serving, wait_for

pytestmark = pytest.mark.peer

CONNECT = ("import socket, sys\n"
           "ok = 0\n"
           "for _ in range(int(sys.argv[3])):\n"
           "    try:\n"
           "        socket.create_connection((sys.argv[1], int(sys.argv[2])), float(sys.argv[4]))\n"
           "        ok += 1\n"
           "    except OSError:\n"
           "        pass\n"
           "print(ok)\n")


def _connects(commune: netns.Commune, host: str, port: int, tries: int,
              timeout: float = 3.0) -> int:
    """How many of ``tries`` TCP connections from the commune's namespace succeed."""
    done = subprocess.run(commune.argv([sys.executable, "-c", CONNECT, host, str(port),
                                        str(tries), str(timeout)]), capture_output=True,
                          text=True, timeout=120, check=True)
    return int(done.stdout)


def test_links_cut_lossy_and_everything_removed_on_failure() -> None:
    box = netns.Province()
    sleeper = None
    with pytest.raises(RuntimeError, match="the test failed here"), box:
        a, b = box.commune("a"), box.commune("b")
        services, collector = TcpService(box.services), TcpService(box.collector)
        with serving(services), serving(collector):
            port, gateway = services.server_address[1], collector.server_address[1]
            assert _connects(a, box.services, port, 3) == 3
            a.uplink.cut()
            assert not a.uplink.is_up()
            assert _connects(a, box.services, port, 2, 0.5) == 0  # the uplink carries nothing
            assert _connects(a, box.collector, gateway, 3) == 3  # the collector link still works
            assert _connects(b, box.services, port, 3) == 3      # nor is b's uplink cut
            a.uplink.restore()
            wait_for(lambda: _connects(a, box.services, port, 1) == 1, 10,
                     what="the restored uplink carrying again")
            assert _connects(a, box.services, port, 3) == 3
            a.collector_link.set_loss(50)
            assert a.nft_tables() == [netns.LOSS_TABLE]
            lossy = _connects(a, box.collector, gateway, 30, 0.5)
            assert 0 < lossy < 30, lossy  # a SYN or its answer dropped half the time each
            a.collector_link.set_loss(0)
            assert _connects(a, box.collector, gateway, 10) == 10
        sleeper = subprocess.Popen(a.argv(["sleep", "600"]))
        pid = str(sleeper.pid)  # `ip netns exec` enters the namespace, then execs sleep
        wait_for(lambda: pid in subprocess.run(["ip", "netns", "pids", a.namespace],
                                               capture_output=True, text=True).stdout.split(),
                 10, interval=0.05, what="the sleeper inside the namespace")
        raise RuntimeError("the test failed here")
    assert box.leftovers() == []
    assert sleeper is not None and sleeper.wait(timeout=10) != 0  # killed with its namespace


def test_a_killed_run_is_cleaned_up_by_the_next() -> None:
    # A run that died (SIGKILL) left its namespace, veths and route: their pid is gone.
    orphan = subprocess.Popen([sys.executable, "-c", "pass"])
    orphan.wait()
    box = netns.Province(pid=orphan.pid)
    box.commune("a")
    left = box.leftovers()
    assert left and f"cbox-{orphan.pid}-0" in left
    removed = netns.remove_stale()  # what every new box does first
    assert f"cbox-{orphan.pid}-0" in removed and f"cb{orphan.pid}h" in removed
    assert box.leftovers() == []
