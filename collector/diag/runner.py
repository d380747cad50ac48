"""Running a runbook on many hosts: bounded concurrency, per-host and total timeouts, Ctrl-C."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Literal

from collector.diag.judge import judge
from collector.diag.runbook import Runbook
from collector.diag.ssh import (
    Cancelled,
    Connector,
    Resolver,
    SshError,
    SshSettings,
    run_command,
)

CheckStatus = Literal["pass", "fail", "timeout", "error", "skipped"]
HostStatus = Literal["ok", "failed", "unreachable", "skipped"]


@dataclass(frozen=True)
class Target:
    """A node to diagnose: its SSH address and, when from the inventory, who it is."""

    host: str
    commune: str = ""
    commune_name: str = ""
    node: str = ""
    user: str | None = None
    port: int | None = None
    # Values the inventory knows for this host, used for runbook params of the same name.
    facts: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How the report names this target."""
        return f"{self.commune}/{self.node}" if self.commune else self.host


@dataclass
class CheckResult:
    """The outcome of one step on one host."""

    name: str
    status: CheckStatus
    exit_code: int | None = None
    duration: float = 0.0
    reasons: tuple[str, ...] = ()
    values: tuple[float, ...] = ()
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False


@dataclass
class HostResult:
    """The outcome of a runbook on one host."""

    target: Target
    status: HostStatus
    endpoint: str = ""
    error_kind: str = ""
    error: str = ""
    duration: float = 0.0
    checks: list[CheckResult] = field(default_factory=list)


@dataclass
class FleetResult:
    """Every host's result, in target order, and how the run ended."""

    runbook: Runbook
    params: Mapping[str, str]
    hosts: list[HostResult]
    started: float
    duration: float
    interrupted: bool = False
    total_timeout_hit: bool = False


class StopReason:
    """Why the shared stop event was set: Ctrl-C or the total timeout."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        """Stop every host, remembering the first reason."""
        if not self.event.is_set():
            self.reason = reason
            self.event.set()


def _skip_rest(book: Runbook, done: int, why: str) -> list[CheckResult]:
    return [CheckResult(step.name, "skipped", reasons=(why,)) for step in book.steps[done:]]


def run_host(target: Target, book: Runbook, params: Mapping[str, str], resolver: Resolver,
             connector: Connector, host_timeout: float, stop: StopReason) -> HostResult:
    """Connect to one target and run every step of ``book``; never raises for SSH problems."""
    start = time.monotonic()
    deadline = start + host_timeout
    result = HostResult(target, "skipped")
    if stop.event.is_set():
        result.error_kind, result.error = "stopped", stop.reason
        return result
    try:
        if not target.host:
            raise ValueError(target.facts.get("error", "no SSH address"))
        endpoint = resolver.endpoint(target.host, target.user, target.port)
    except ValueError as exc:
        result.status, result.error_kind, result.error = "unreachable", "config", str(exc)
        result.duration = time.monotonic() - start
        return result
    result.endpoint = str(endpoint)
    client = None
    try:
        values = {**book.resolve_params(params, target.facts), "commune": target.commune,
                  "node": target.node}
        client = connector.connect(endpoint, max(deadline - time.monotonic(), 0.1))
        for i, step in enumerate(book.steps):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.checks += _skip_rest(book, i, f"host timeout ({host_timeout:g}s, --timeout)")
                break
            budget = min(float(step.timeout), remaining)
            outcome = run_command(client, book.render(step, values), budget, stop.event)
            check = CheckResult(step.name, "pass", outcome.exit_code, outcome.duration,
                                stdout=outcome.stdout, stderr=outcome.stderr,
                                truncated=outcome.truncated)
            if outcome.timed_out:
                which = "step" if budget >= step.timeout else "host (--timeout)"
                check.status = "timeout"
                check.reasons = (f"no answer within the {which} timeout of {budget:g}s",)
            else:
                verdict = judge(step.expect, outcome.exit_code, outcome.stdout, outcome.stderr)
                check.values = verdict.values
                if not verdict.passed:
                    check.status, check.reasons = "fail", verdict.reasons
            result.checks.append(check)
        failed = any(c.status != "pass" for c in result.checks)
        result.status = "failed" if failed else "ok"
    except Cancelled:
        result.status, result.error_kind, result.error = "skipped", "stopped", stop.reason
        result.checks += _skip_rest(book, len(result.checks), stop.reason)
    except SshError as exc:
        result.status, result.error_kind, result.error = "unreachable", exc.kind, str(exc)
    except ValueError as exc:  # a parameter missing for this host
        result.status, result.error_kind, result.error = "unreachable", "config", str(exc)
    except Exception as exc:  # a broken connection mid-run must not stop the fleet
        if stop.event.is_set():
            result.status, result.error_kind, result.error = "skipped", "stopped", stop.reason
        else:
            result.status, result.error_kind = "unreachable", "ssh"
            result.error = f"{result.endpoint}: {type(exc).__name__}: {exc}"
    finally:
        if client is not None:
            client.close()
        result.duration = time.monotonic() - start
    return result


def default_host_timeout(book: Runbook, settings: SshSettings) -> float:
    """Connecting plus every step's own timeout, plus a little slack."""
    return settings.connect_timeout + sum(float(s.timeout) for s in book.steps) + 5.0


def run_fleet(targets: Sequence[Target], book: Runbook, params: Mapping[str, str],
              settings: SshSettings, concurrency: int = 16, host_timeout: float | None = None,
              total_timeout: float | None = None,
              on_result: Callable[[HostResult], None] | None = None,
              stop: StopReason | None = None) -> FleetResult:
    """Run ``book`` on every target, ``concurrency`` at a time. Ctrl-C stops cleanly."""
    stop = stop or StopReason()
    started_wall = time.time()
    start = time.monotonic()
    resolver = Resolver(settings)
    connector = Connector(settings)
    per_host = host_timeout or default_host_timeout(book, settings)
    results: dict[int, HostResult] = {}
    interrupted = False
    timer = None
    if total_timeout is not None:
        timer = threading.Timer(total_timeout, stop.set,
                                (f"total timeout ({total_timeout:g}s, --total-timeout) reached",))
        timer.daemon = True
        timer.start()
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="diag")
    try:
        futures: dict[Future[HostResult], int] = {
            pool.submit(run_host, t, book, params, resolver, connector, per_host, stop): i
            for i, t in enumerate(targets)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    results[futures[future]] = future.result()
                    if on_result is not None:
                        on_result(results[futures[future]])
        except KeyboardInterrupt:
            interrupted = True
            stop.set("interrupted (Ctrl-C)")
            for future in pending:
                future.cancel()
            for future, i in futures.items():
                if not future.cancelled():
                    results[i] = future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        connector.close()
        if timer is not None:
            timer.cancel()
    hosts = [results.get(i) or HostResult(t, "skipped", error_kind="stopped", error=stop.reason,
                                          checks=_skip_rest(book, 0, stop.reason))
             for i, t in enumerate(targets)]
    return FleetResult(book, params, hosts, started_wall, time.monotonic() - start,
                       interrupted=interrupted,
                       total_timeout_hit=stop.event.is_set() and not interrupted)
