"""The ``throughput`` probe: iperf3 download and upload, with the RTT measured while they run.

Once an hour, at the target's slot (a second of the hour), a background run pings the target
for the idle RTT, then runs ``iperf3 -c HOST -p PORT -J -t N`` (``-R`` for the download) while
it keeps pinging; each collection reports the last run. The latency the transfer adds over the
idle RTT is graded by Waveform's bufferbloat thresholds. A daily byte budget (UTC days) caps
the traffic: a transfer whose bytes, estimated from the last one, would exceed it is skipped and
counted. The day and its bytes are kept per target in ``STATE_DIR/throughput-NAME.json``,
written after each transfer, so a restarted agent goes on counting; a state file it cannot
trust (damaged, foreign) is counted and the day's budget taken as used up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import socket
import statistics
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import icmplib

from agent.modules.probe.result import ProbeFailed, ProbeResult, Reason
from agent.modules.probe.targets import ThroughputTarget
from agent.modules.probe.throughput_metrics import (
    BITS_PER_SECOND,
    BUFFERBLOAT_GRADE,
    BYTES_TODAY,
    IDLE_LATENCY,
    LAST_RUN,
    LATENCY_UNDER_LOAD,
    RETRANSMITS,
    RUNS,
    SKIPPED,
    STATE_ERRORS,
)
from common.statefile import StateFileError, read_state_json, write_atomically

log = logging.getLogger(__name__)
STATE_VERSION = 1

# Waveform's bufferbloat grades: the added latency below which each is given; F above the last.
GRADES = (("A+", 0.005), ("A", 0.030), ("B", 0.060), ("C", 0.200), ("D", 0.400))
GRADE_NAMES = (*(name for name, _ in GRADES), "F")
IDLE_PINGS = 5
RAMP_UP = 1.0  # pings in the transfer's first second (TCP slow start) are not counted


def bufferbloat_grade(added: float) -> str:
    """The grade of ``added`` seconds of latency under load."""
    for name, limit in GRADES:
        if added < limit:
            return name
    return "F"


def default_slot_second(name: str | None = None) -> int:
    """The slot of a host without one set: from its host name, stable across runs."""
    return zlib.crc32((name or socket.gethostname()).encode()) % 3600


@dataclass(frozen=True)
class Transfer:
    """What one iperf3 run measured."""

    bits_per_second: float
    retransmits: int
    bytes: int


def parse_iperf3(text: str) -> Transfer:
    """The receiver's goodput, the sender's retransmits and the bytes moved, from ``iperf3 -J``.

    Raise ProbeFailed when iperf3 reports an error or the output is not its JSON.
    """
    try:
        data = json.loads(text)
    except ValueError:
        raise ProbeFailed("content", f"iperf3 gave no JSON: {text[:200]!r}") from None
    if not isinstance(data, dict):
        raise ProbeFailed("content", "iperf3 gave JSON that is not an object")
    if data.get("error"):
        error = str(data["error"])
        reason: Reason = "connect" if "connect" in error or "refused" in error else "status"
        raise ProbeFailed(reason, f"iperf3: {error}")
    try:
        end = data["end"]
        sent, received = end["sum_sent"], end["sum_received"]
        return Transfer(float(received["bits_per_second"]), int(sent.get("retransmits", 0)),
                        max(int(sent["bytes"]), int(received["bytes"])))
    except (KeyError, TypeError, ValueError):
        raise ProbeFailed("content", "iperf3's JSON has no end.sum_sent/sum_received") from None


@dataclass
class DailyBudget:
    """Bytes moved on one UTC day, against a limit."""

    limit: int
    day: int = -1
    used: int = 0

    def _roll(self, now: float) -> None:
        if int(now // 86400) != self.day:
            self.day, self.used = int(now // 86400), 0

    def allows(self, estimate: int, now: float) -> bool:
        """Whether a transfer of ``estimate`` bytes fits in what is left today (none is left
        once ``used`` reaches the limit, even with no estimate yet)."""
        self._roll(now)
        return self.used < self.limit and self.used + estimate <= self.limit

    def spend(self, count: int, now: float) -> None:
        """Count ``count`` bytes moved."""
        self._roll(now)
        self.used += count

    def today(self, now: float) -> int:
        """Bytes moved today."""
        self._roll(now)
        return self.used


def state_path(state_dir: Path, name: str) -> Path:
    """The budget state file of target ``name`` in ``state_dir``."""
    return state_dir / f"throughput-{urllib.parse.quote(name, safe='')}.json"


class BudgetState:
    """A target's DailyBudget kept in a state file: loaded at start, saved after each transfer.

    A file that is damaged, truncated or another target's is counted in ``errors``, logged once,
    and the budget is taken as used up for the rest of that UTC day: better a skipped transfer
    than traffic over the budget. A failed write is counted and logged; the probe goes on.
    """

    def __init__(self, path: Path, name: str, budget: DailyBudget, now: float) -> None:
        self.path, self.name, self.budget = path, name, budget
        self.errors = 0
        self._write_failing = False
        try:
            data = read_state_json(path)
            if data is None:
                return
            day, used = self._parse(data)
        except (StateFileError, OSError) as exc:
            self.errors += 1
            log.warning("throughput %s: budget state %s unusable (%s); today's budget is taken "
                        "as used up / tệp trạng thái hạn mức không dùng được, coi như đã hết "
                        "hạn mức hôm nay", name, path, getattr(exc, "problem", exc))
            budget.day, budget.used = int(now // 86400), budget.limit
            return
        budget.day, budget.used = day, used

    def _parse(self, data: object) -> tuple[int, int]:
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise StateFileError(self.path, f"not a version {STATE_VERSION} budget state")
        if data.get("target") != self.name:
            raise StateFileError(self.path, f"the state of target {data.get('target')!r}, "
                                            f"not {self.name!r}")
        day, used = data.get("day"), data.get("used")
        if (not isinstance(day, int) or not isinstance(used, int) or isinstance(day, bool)
                or isinstance(used, bool) or day < 0 or used < 0):
            raise StateFileError(self.path, "day and used must be whole numbers >= 0")
        return day, used

    def save(self) -> None:
        """Write the budget's day and bytes; count and log a failure, never raise."""
        text = json.dumps({"version": STATE_VERSION, "target": self.name,
                           "day": self.budget.day, "used": self.budget.used})
        try:
            write_atomically(self.path, text + "\n", make_parents=True)
        except OSError as exc:
            self.errors += 1
            if not self._write_failing:
                log.warning("throughput %s: cannot write budget state %s: %s / không ghi được "
                            "tệp trạng thái hạn mức", self.name, self.path, exc)
            self._write_failing = True
            return
        self._write_failing = False


@dataclass
class Direction:
    """One direction's last measurement and its counters."""

    transfer: Transfer | None = None
    loaded_rtt: float | None = None
    runs: int = 0
    skipped: int = 0


@dataclass
class Run:
    """The state the probe keeps between runs."""

    idle_rtt: float | None = None
    finished: float | None = None
    failure: ProbeFailed | None = None
    directions: dict[str, Direction] = field(default_factory=dict)


class ThroughputProbe:
    """Probes one ``throughput`` target: a run at its slot of each hour, reported until the next.

    ``clock`` gives Unix time, ``wrap`` prefixes the iperf3 command line (tests use neither);
    with ``state_dir`` the daily budget is kept there across restarts.
    """

    def __init__(self, target: ThroughputTarget, privileged: Callable[[], bool],
                 clock: Callable[[], float] = time.time,
                 wrap: tuple[str, ...] = (), state_dir: Path | None = None) -> None:
        self.target = target
        self.privileged = privileged
        self.clock = clock
        self.wrap = wrap
        self.slot = (target.slot_second if target.slot_second is not None
                     else default_slot_second())
        self.budget = DailyBudget(target.daily_budget)
        self.saved = (BudgetState(state_path(state_dir, target.name), target.name, self.budget,
                                  clock()) if state_dir is not None else None)
        self.state = Run(directions={d: Direction() for d in target.directions})
        self.last_start = clock()  # a restarted agent waits for its slot, not runs at once
        self.task: asyncio.Task[None] | None = None

    def due(self, now: float) -> bool:
        """Whether this hour's slot has come since the last run started."""
        slot = now - now % 3600 + self.slot
        if slot > now:
            slot -= 3600
        return self.last_start < slot

    async def probe(self, result: ProbeResult) -> None:
        """Start a run when due; report the last one (its failure, if it failed)."""
        now = self.clock()
        if self.due(now) and (self.task is None or self.task.done()):
            self.last_start = now
            self.task = asyncio.create_task(self.run())
        self.report(result)

    def report(self, result: ProbeResult) -> None:
        """The last run's samples into ``result``; raise its failure again."""
        state = self.state
        result.add(BYTES_TODAY, self.budget.today(self.clock()))
        if self.saved is not None:
            result.add(STATE_ERRORS, self.saved.errors)
        if state.idle_rtt is not None:
            result.add(IDLE_LATENCY, state.idle_rtt)
        if state.finished is not None:
            result.add(LAST_RUN, state.finished)
        for direction, d in state.directions.items():
            result.add(RUNS, d.runs, direction)
            result.add(SKIPPED, d.skipped, direction)
            if d.transfer is not None:
                result.add(BITS_PER_SECOND, d.transfer.bits_per_second, direction)
                result.add(RETRANSMITS, d.transfer.retransmits, direction)
            if d.loaded_rtt is not None:
                result.add(LATENCY_UNDER_LOAD, d.loaded_rtt, direction)
                if state.idle_rtt is not None:
                    grade = bufferbloat_grade(d.loaded_rtt - state.idle_rtt)
                    for g in GRADE_NAMES:
                        result.add(BUFFERBLOAT_GRADE, 1.0 if g == grade else 0.0, direction, g)
        if state.failure is not None:
            raise ProbeFailed(state.failure.reason, str(state.failure))

    async def run(self) -> None:
        """One run: the idle RTT, then each direction's transfer under pings."""
        state = self.state
        state.failure = None
        try:
            binary = self._binary()
            idle = [rtt for rtt in [await self._ping() for _ in range(IDLE_PINGS)] if rtt]
            state.idle_rtt = statistics.median(idle) if idle else None
            for direction, d in state.directions.items():
                estimate = d.transfer.bytes if d.transfer else 0
                if not self.budget.allows(estimate, self.clock()):
                    d.skipped += 1
                    continue
                d.runs += 1
                try:
                    transfer, rtts = await self._transfer(binary, direction)
                except BaseException:
                    d.transfer, d.loaded_rtt = None, None  # no stale value beside a failure
                    raise
                self.budget.spend(transfer.bytes, self.clock())
                if self.saved is not None:
                    self.saved.save()
                d.transfer = transfer
                d.loaded_rtt = statistics.median(rtts) if rtts else None
        except ProbeFailed as exc:
            state.failure = exc
        except OSError as exc:
            state.failure = ProbeFailed("connect", f"{type(exc).__name__}: {exc}")
        finally:
            state.finished = self.clock()

    def _binary(self) -> str:
        found = shutil.which(self.target.iperf3)
        if found is None:
            raise ProbeFailed("internal", f"{self.target.iperf3!r} not found: install Debian's "
                                          f"iperf3 package or set the target's iperf3 path")
        return found

    async def _transfer(self, binary: str, direction: str) -> tuple[Transfer, list[float]]:
        target = self.target
        argv = [*self.wrap, binary, "-c", target.host, "-p", str(target.port), "-J",
                "-t", f"{float(target.duration):g}", "-P", str(target.streams),
                "--connect-timeout", "5000"]
        if direction == "download":
            argv.append("-R")
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL)
        pinger = asyncio.create_task(self._ping_while_loaded())
        try:
            out, _ = await asyncio.wait_for(process.communicate(), target.run_timeout)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            raise ProbeFailed("timeout", f"iperf3 {direction} did not finish within "
                                         f"{target.run_timeout:g}s") from None
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
        return parse_iperf3(out.decode(errors="replace")), self._loaded

    async def _ping_while_loaded(self) -> None:
        self._loaded: list[float] = []
        start = time.monotonic()
        while True:
            sent = time.monotonic()
            rtt = await self._ping()
            if rtt is not None and sent - start >= RAMP_UP:
                self._loaded.append(rtt)
            await asyncio.sleep(max(0.0, self.target.ping_interval - (time.monotonic() - sent)))

    async def _ping(self) -> float | None:
        """One RTT to the target, or None when no answer came within a second."""
        target = self.target
        if target.ping == "tcp":
            start = time.perf_counter()
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(target.host, target.ping_port), 1.0)
            except ConnectionRefusedError:
                return time.perf_counter() - start  # the RST came back: a round trip
            except (OSError, asyncio.TimeoutError):
                return None
            rtt = time.perf_counter() - start
            writer.close()
            return rtt
        try:
            host = await icmplib.async_ping(target.host, count=1, timeout=1,
                                            privileged=self.privileged())
        except (icmplib.ICMPLibError, OSError):
            return None
        return host.rtts[0] / 1000 if host.rtts else None
