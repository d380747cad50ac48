"""The throughput budget across restarts: kept in a state file, against Debian's iperf3 on
loopback; a damaged state file and a read-only state folder are counted, never a reset."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.modules.probe.result import ProbeResult
from agent.modules.probe.targets import ThroughputTarget
from agent.modules.probe.throughput import ThroughputProbe, state_path
from agent.modules.probe.throughput_metrics import BYTES_TODAY, RUNS, SKIPPED, STATE_ERRORS
from common.units import ByteSize, Duration
from tests.support.peers import LOOPBACK, free_port
from tests.support.throughput_peer import iperf3_server
from tests.support.tmpfs import python_on_tmpfs

pytestmark = pytest.mark.peer
DAY = 20_000 * 86400.0
ROOT = Path(__file__).resolve().parents[4]


def sample(result: ProbeResult, spec: object, *labels: str) -> float:
    [value] = [v for s, ls, v in result.samples if s is spec and ls == labels]
    return value


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with iperf3_server(LOOPBACK) as bound:
        yield bound


def target(port: int) -> ThroughputTarget:
    return ThroughputTarget(name="province/a", host=LOOPBACK, port=port, duration=Duration(2),
                            directions=("upload",), daily_budget=ByteSize(10**6), ping="tcp",
                            ping_port=free_port())


def run_once(probe: ThroughputProbe) -> ProbeResult:
    result = ProbeResult()

    async def run() -> None:
        await probe.run()
        probe.report(result)

    asyncio.run(run())
    return result


def test_a_restarted_probe_keeps_todays_budget_and_runs_again_next_day(
        port: int, tmp_path: Path) -> None:
    now = [DAY + 3600]
    first = ThroughputProbe(target(port), lambda: True, clock=lambda: now[0], state_dir=tmp_path)
    moved = sample(run_once(first), BYTES_TODAY)
    assert moved > 10**6  # one transfer, over the budget: the next one must not run today
    saved = json.loads(state_path(tmp_path, "province/a").read_text())
    assert saved == {"version": 1, "target": "province/a", "day": 20_000, "used": moved}

    now[0] += 3600
    restarted = ThroughputProbe(target(port), lambda: True, clock=lambda: now[0],
                                state_dir=tmp_path)
    result = run_once(restarted)
    assert (sample(result, RUNS, "upload"), sample(result, SKIPPED, "upload")) == (0, 1)
    assert sample(result, BYTES_TODAY) == moved
    assert sample(result, STATE_ERRORS) == 0

    now[0] += 86400  # the next UTC day: a fresh budget
    result = run_once(restarted)
    assert sample(result, RUNS, "upload") == 1
    assert json.loads(state_path(tmp_path, "province/a").read_text())["day"] == 20_001


@pytest.mark.parametrize("text", [
    '{"version": 1, "target": "province/a", "day": 20000, "us',  # truncated
    "\x00\x00\x00",  # damaged
    '{"version": 1, "target": "other", "day": 20000, "used": 5}',  # another target's
    '{"version": 1, "target": "province/a", "day": 20000, "used": -5}'])
def test_an_untrusted_state_file_is_counted_and_the_day_taken_as_used_up(
        port: int, tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture) -> None:
    path = state_path(tmp_path, "province/a")
    path.write_text(text)
    now = [DAY + 7200]
    probe = ThroughputProbe(target(port), lambda: True, clock=lambda: now[0], state_dir=tmp_path)
    result = run_once(probe)
    assert sample(result, STATE_ERRORS) == 1
    assert (sample(result, RUNS, "upload"), sample(result, SKIPPED, "upload")) == (0, 1)
    assert sample(result, BYTES_TODAY) == 10**6
    assert [r.getMessage() for r in caplog.records if str(path) in r.getMessage()] != []
    now[0] += 86400
    assert sample(run_once(probe), RUNS, "upload") == 1  # the next day runs and rewrites it
    assert json.loads(path.read_text())["target"] == "province/a"


# In a user and mount namespace of its own (unshare -rm), the state folder a read-only tmpfs.
_READ_ONLY_CHILD = """
import asyncio, sys
from pathlib import Path
from agent.modules.probe.result import ProbeResult
from agent.modules.probe.targets import ThroughputTarget
from agent.modules.probe.throughput import ThroughputProbe
from common.units import ByteSize, Duration
target = ThroughputTarget(name="province", host="127.0.0.1", port=int(sys.argv[2]),
                          duration=Duration(2), directions=("upload",),
                          daily_budget=ByteSize(10**9), ping="tcp", ping_port=int(sys.argv[3]))
probe = ThroughputProbe(target, lambda: True, state_dir=Path(sys.argv[1]) / "probe")
result = ProbeResult()
async def run():
    await probe.run()
    probe.report(result)
asyncio.run(run())
for spec, labels, value in result.samples:
    print(spec.name, *labels, value)
"""


def test_a_read_only_state_folder_is_counted_and_the_run_still_reports(
        port: int, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    done = python_on_tmpfs(folder, "ro,size=64k", _READ_ONLY_CHILD, folder, port, free_port())
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "commune_throughput_state_errors_total 1" in lines
    assert "commune_throughput_runs_total upload 1" in lines
    assert any(line.startswith("commune_throughput_bits_per_second upload ") for line in lines)
    assert "cannot write budget state" in done.stderr and str(folder) in done.stderr
