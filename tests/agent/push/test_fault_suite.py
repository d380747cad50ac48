"""The fault suite: a real agent pushing through the gateway into a real Prometheus, under faults.

Every case runs the agent with the tick module (one sample per collection, numbered 1, 2, 3...
in a state file that survives restarts) and no heartbeat, so each sample is accounted for:

- sent: ticks the agent produced (the state file);
- delivered: distinct ticks Prometheus holds for the case's node;
- dropped and counted: the agent's ``commune_push_dropped_samples_total``, all reasons, summed
  over its runs (scraped once a run is healthy again, just before it stops);
- kept: ticks still in the spool after the last stop, waiting for the next start;
- lost uncounted: sent - delivered - counted - kept, which must be 0.

Each case ends with an agent restart. A read-only spool and a full disk are made in a mount
namespace of their own (``unshare -rm``): a bind mount remounted read-only, a 256 KiB tmpfs. The
table is printed when the module ends.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.push.client import DROP_REASONS
from agent.push.record import HEADER_SIZE, scan_records
from agent.push.spool import Spool
from tests.support.paths import ROOT
from tests.support.peers import (
    LOOPBACK,
    Process,
    Prometheus,
    free_port,
    http_get,
    require_binary,
    wait_for,
)
from tests.support.push_peers import (
    PROMETHEUS_PUSH_ARGS,
    PROMETHEUS_PUSH_CONFIG,
    Gateway,
    NodeToken,
    raw_samples,
    write_agent_config,
    write_gateway_config,
)
from tests.support.tick import read_ticks

pytestmark = pytest.mark.peer

CASES = ("kill -9 while spooling", "receiver down mid-stream", "read-only spool",
         "full disk, then space freed", "truncated segment", "corrupted segment")


@dataclass
class Row:
    """One line of the table."""

    case: str
    sent: int = 0
    delivered: int = 0
    counted: int = 0
    kept: int = 0
    peak_kib: int = 0

    @property
    def lost(self) -> int:
        """Samples neither delivered, nor counted, nor waiting in the spool."""
        return self.sent - self.delivered - self.counted - self.kept


ROWS: list[Row] = []


def table(rows: Sequence[Row]) -> str:
    """The fault table, one line per case."""
    head = (f"{'case':<30} {'sent':>6} {'delivered':>9} {'dropped+counted':>15} "
            f"{'kept':>5} {'lost uncounted':>14} {'peak RSS':>9}")
    lines = [head, "-" * len(head)]
    lines += [f"{r.case:<30} {r.sent:>6} {r.delivered:>9} {r.counted:>15} {r.kept:>5} "
              f"{r.lost:>14} {r.peak_kib / 1024:>7.1f}MB" for r in rows]
    return "\n".join(lines)


@dataclass
class Stand:
    """Prometheus with its remote-write receiver and one gateway, a token per case."""

    work: Path
    prometheus: Prometheus
    gateway: Gateway
    gateway_config: Path
    tokens: dict[str, NodeToken] = field(default_factory=dict)

    def restart_gateway(self) -> None:
        """Start the gateway again on the same port."""
        self.gateway = Gateway(self.gateway_config, self.work, port=self.gateway.port,
                               name=f"gateway-{time.monotonic_ns()}")


@pytest.fixture(scope="module")
def stand(tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[Stand]:
    work = tmp_path_factory.mktemp("faults")
    (work / "prom").mkdir()
    prometheus = Prometheus(PROMETHEUS_PUSH_CONFIG, work / "prom", PROMETHEUS_PUSH_ARGS)
    tokens = {case: NodeToken.new("14797", node=f"node-{n}") for n, case in enumerate(CASES)}
    config = write_gateway_config(work / "gateway.yml", [f"{prometheus.url}/api/v1/write"],
                                  list(tokens.values()))
    try:
        gateway = Gateway(config, work)
    except BaseException:
        prometheus.stop()
        raise
    bench = Stand(work, prometheus, gateway, config, tokens)
    try:
        yield bench
    finally:
        bench.gateway.stop()
        prometheus.stop()
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if ROWS and capture is not None:
            with capture.global_and_fixture_disabled():
                print(f"\n{table(ROWS)}")


class Namespace:
    """A mount namespace of its own (``unshare -rm``), held open by a sleeping shell."""

    def __init__(self, setup: str) -> None:
        self.proc = subprocess.Popen(
            [require_binary("unshare"), "-rm", "sh", "-c",
             f"{setup} && echo ready && exec sleep 3600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line == "ready\n", self.proc.communicate(timeout=10)

    def enter(self) -> list[str]:
        """The argv prefix that runs a command inside the namespace."""
        return [require_binary("nsenter"), "-t", str(self.proc.pid), "-U", "-m",
                "--preserve-credentials", f"--wd={ROOT}", "--"]

    def run(self, *argv: str) -> None:
        """Run a command inside the namespace."""
        subprocess.run([*self.enter(), *argv], check=True, timeout=30)

    def path(self, path: Path) -> Path:
        """``path`` as the namespace sees it, from outside."""
        return Path(f"/proc/{self.proc.pid}/root{path}")

    def close(self) -> None:
        """End the namespace (and its mounts)."""
        self.proc.kill()
        self.proc.communicate(timeout=10)


class FaultAgent(Process):
    """The agent of ``tests.agent.push.fault_agent`` on a free port, maybe in a namespace."""

    def __init__(self, config: Path, workdir: Path, prefix: Sequence[str] = (),
                 env: dict[str, str] | None = None, wait: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        super().__init__([*prefix, sys.executable, "-m", "tests.agent.push.fault_agent",
                          "--config.file", str(config), "--web.listen-address",
                          f"{LOOPBACK}:{self.port}"],
                         workdir / f"agent-{self.port}.log", cwd=ROOT, env=env)
        self.peak_kib = 0
        if wait:
            wait_for(lambda: self.ready() or not self.alive(), 20,
                     what=f"agent ready ({self.log_path})")
            assert self.alive(), self.log()

    def ready(self) -> bool:
        self.sample_memory()
        return http_get(f"{self.url}/-/ready")[0] == 200

    def sample_memory(self) -> None:
        """Keep the peak resident size (VmHWM) seen so far."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                self.peak_kib = max(self.peak_kib, int(line.split()[1]))

    def metrics(self) -> dict[str, float]:
        """Its push series, ``name:reason`` for the drops."""
        self.sample_memory()
        _, body, _ = http_get(f"{self.url}/metrics")
        out = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name.startswith("commune_push_"):
                    reason = sample.labels.get("reason")
                    out[f"{sample.name}:{reason}" if reason else sample.name] = sample.value
        return out

    def dropped(self, reason: str | None = None) -> int:
        """Samples it counted as dropped, for one reason or all."""
        metrics = self.metrics()
        reasons = [reason] if reason else list(DROP_REASONS)
        return int(sum(metrics.get(f"commune_push_dropped_samples_total:{r}", 0)
                       for r in reasons))


class Case:
    """One case: its folder, node token, the agents it ran, and its row of the table."""

    def __init__(self, stand: Stand, name: str, tmp: Path) -> None:
        self.stand = stand
        self.dir = tmp
        self.token = stand.tokens[name]
        self.row = Row(name)
        self.ticks = tmp / "ticks"
        self.spool = tmp / "spool"
        self.spool.mkdir()
        self.selector = f'test_ticks_total{{instance="{self.token.node}"}}'
        self.agents: list[FaultAgent] = []

    def agent(self, url: str | None = None, prefix: Sequence[str] = (), push_extra: str = "",
              interval: str = "50ms", env: dict[str, str] | None = None,
              wait: bool = True) -> FaultAgent:
        """Start the agent pushing to ``url`` (the gateway by default)."""
        config = write_agent_config(self.dir, url or self.stand.gateway.write_url, self.token,
                                    interval=interval, push_extra=push_extra)
        agent = FaultAgent(config, self.dir, prefix, env, wait)
        self.agents.append(agent)
        return agent

    def close(self) -> None:
        """Stop any agent a failed case left running."""
        for agent in self.agents:
            agent.stop(signal.SIGKILL)

    def stop(self, agent: FaultAgent) -> None:
        """Count what the agent dropped, keep its peak memory, stop it."""
        self.row.counted += agent.dropped()
        self.row.peak_kib = max(self.row.peak_kib, agent.peak_kib)
        assert agent.stop() == 0, agent.log()

    def delivered(self) -> set[int]:
        """Ticks Prometheus holds for this case."""
        return {int(v) for _, v in raw_samples(self.stand.prometheus, self.selector)}

    def wait_delivered(self, at_least: int, agent: FaultAgent | None = None,
                       missing: int | Callable[[], int] = 0, timeout: float = 30) -> None:
        """Until Prometheus holds every tick up to ``at_least`` but ``missing`` of them."""
        def check() -> bool:
            if agent is not None:
                agent.sample_memory()
            gone = missing() if callable(missing) else missing
            return len(set(range(1, at_least + 1)) & self.delivered()) >= at_least - gone

        try:
            wait_for(check, timeout, interval=0.2, what=f"ticks 1..{at_least} delivered")
        except BaseException:
            absent = sorted(set(range(1, at_least + 1)) - self.delivered())
            print(f"not delivered ({missing} may be missing): {absent}")
            raise

    def wait_ticks(self, at_least: int, agent: FaultAgent) -> int:
        """Until the agent has produced ``at_least`` ticks; the count then."""
        def check() -> bool:
            agent.sample_memory()
            return read_ticks(self.ticks) >= at_least

        wait_for(check, 30, interval=0.05, what=f"{at_least} ticks")
        return read_ticks(self.ticks)

    def finish(self, spool_dir: Path | None = None) -> Row:
        """Fill in the row once the last agent stopped; record it."""
        self.row.sent = read_ticks(self.ticks)
        delivered = self.delivered()
        assert delivered <= set(range(1, self.row.sent + 1)), "a tick that was never sent"
        self.row.delivered = len(delivered)
        self.row.kept = Spool(spool_dir or self.spool, 1 << 30, fsync=False).pending()
        ROWS.append(self.row)
        return self.row


def dead_url() -> str:
    """A remote-write URL where nothing listens: the receiver is unreachable."""
    return f"http://{LOOPBACK}:{free_port()}/api/v1/write"


def kill_9_while_spooling(case: Case) -> None:
    agent = case.agent(env={"FAULT_KILL_AT_APPEND": "30"}, wait=False)
    def dead() -> bool:
        agent.sample_memory()
        return not agent.alive()

    wait_for(dead, 30, what=f"the agent killed in an append ({agent.log_path})")
    assert agent.stop() == -signal.SIGKILL
    case.row.peak_kib = agent.peak_kib
    killed_at = read_ticks(case.ticks)
    assert killed_at == 30
    again = case.agent()
    case.wait_delivered(killed_at + 10, again, missing=1)
    assert again.dropped("corrupt") == 1, "the torn tick, counted at the restart"
    case.stop(again)


def receiver_down_mid_stream(case: Case) -> None:
    agent = case.agent()
    case.wait_delivered(10, agent)
    case.stand.gateway.stop()
    down = read_ticks(case.ticks)
    case.wait_ticks(down + 30, agent)
    assert agent.metrics()["commune_push_oldest_sample_age_seconds"] > 0.5
    case.stand.restart_gateway()
    up = read_ticks(case.ticks)
    case.wait_delivered(up, agent)
    case.stop(agent)
    again = case.agent()
    case.wait_delivered(read_ticks(case.ticks) + 10, again)
    case.stop(again)
    assert case.row.counted == 0


def read_only_spool(case: Case) -> None:
    backlog = case.agent(dead_url())  # a backlog waits in the spool
    case.wait_ticks(20, backlog)
    case.stop(backlog)
    spooled = read_ticks(case.ticks)
    ns = Namespace(f"mount --bind {case.spool} {case.spool} && "
                   f"mount -o remount,bind,ro {case.spool}")
    try:
        agent = case.agent(prefix=ns.enter())
        case.wait_delivered(spooled, agent)  # delivery goes on from a read-only spool
        wait_for(lambda: agent.dropped("spool_error") >= 5, 30, what="spool errors counted")
        ns.run("mount", "-o", "remount,bind,rw", str(case.spool))
        writable = read_ticks(case.ticks) + 1
        case.wait_delivered(writable + 10, agent, missing=agent.dropped)  # resumes by itself
        case.stop(agent)
    finally:
        ns.close()
    again = case.agent()
    case.wait_delivered(read_ticks(case.ticks) + 10, again, missing=case.row.counted)
    case.stop(again)


def fill_up(path: Path) -> int:
    """Write ``path`` until the disk is full; the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                written += f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return written


def full_disk_then_space_freed(case: Case) -> None:
    ns = Namespace(f"mount -t tmpfs -o size=256k tmpfs {case.spool}")
    try:
        agent = case.agent(prefix=ns.enter(), push_extra="max_spool_bytes: 64KiB\n")
        case.wait_delivered(10, agent)
        filler = ns.path(case.spool / "filler")
        assert fill_up(filler) > 0
        wait_for(lambda: agent.dropped("spool_error") >= 10, 30, what="ENOSPC counted")
        filler.unlink()
        freed = read_ticks(case.ticks) + 1
        # Spooling and delivery resume by themselves.
        case.wait_delivered(freed + 10, agent, missing=agent.dropped)
        case.stop(agent)
        again = case.agent(prefix=ns.enter(), push_extra="max_spool_bytes: 64KiB\n")
        case.wait_delivered(read_ticks(case.ticks) + 10, again, missing=case.row.counted)
        case.stop(again)
        case.finish(ns.path(case.spool))
    finally:
        ns.close()


def spool_backlog(case: Case, ticks: int) -> list[Path]:
    """Spool ``ticks`` while the receiver is unreachable (4 KiB segments); the segments."""
    agent = case.agent(dead_url(), push_extra="max_spool_bytes: 16KiB\n", interval="25ms")
    case.wait_ticks(ticks, agent)
    case.stop(agent)
    segments = sorted(case.spool.glob("*.seg"))
    assert len(segments) >= 2, segments
    return segments


def damaged_segment(case: Case, damage: Callable[[list[Path]], int]) -> None:
    segments = spool_backlog(case, 100)
    lost = damage(segments)
    again = case.agent()
    case.wait_delivered(read_ticks(case.ticks), again, missing=lost)
    # The count shows in the agent's next snapshot after delivery passed the damage.
    wait_for(lambda: again.dropped("corrupt") >= lost, 10, what="the damaged ticks counted")
    assert again.dropped("corrupt") == lost > 0, "every damaged tick counted, exactly"
    case.stop(again)


def truncate_older_segment(segments: list[Path]) -> int:
    """Cut the older segment inside a record's payload: that record and all after it go."""
    scan = scan_records(segments[0].read_bytes())
    middle = len(scan.records) // 2
    start, header, _ = scan.records[middle]
    os.truncate(segments[0], start + HEADER_SIZE + header.length // 2)
    return sum(h.count for _, h, _ in scan.records[middle:])


def corrupt_newest_segment(segments: list[Path]) -> int:
    """Change a byte in the header of a record in the middle of the newest segment, never its
    last record (damage there is a torn tail); in the one before if the newest holds one."""
    for path in reversed(segments):
        data = bytearray(path.read_bytes())
        records = scan_records(bytes(data)).records
        candidates = records[:-1] if path == segments[-1] else records
        if candidates:
            start, header, _ = candidates[len(candidates) // 2]
            data[start + 10] ^= 0x5A  # the sample count: the header's own CRC no longer matches
            path.write_bytes(data)
            return header.count
    raise AssertionError(f"no record to damage in {segments}")


RUNS: dict[str, Callable[[Case], None]] = {
    "kill -9 while spooling": kill_9_while_spooling,
    "receiver down mid-stream": receiver_down_mid_stream,
    "read-only spool": read_only_spool,
    "full disk, then space freed": full_disk_then_space_freed,
    "truncated segment": lambda case: damaged_segment(case, truncate_older_segment),
    "corrupted segment": lambda case: damaged_segment(case, corrupt_newest_segment),
}


@pytest.mark.parametrize("name", CASES)
def test_nothing_is_lost_uncounted(stand: Stand, name: str, tmp_path: Path) -> None:
    case = Case(stand, name, tmp_path)
    try:
        RUNS[name](case)
    finally:
        case.close()
    row = ROWS[-1] if ROWS and ROWS[-1] is case.row else case.finish()
    assert row.sent > 0 and row.delivered > 0
    assert row.lost == 0, table([row])
