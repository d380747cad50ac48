"""Background collection: every module on its own interval and timeout, into one snapshot.

The scheduler owns an asyncio loop in a background thread. Coroutine modules (probes, SNMP) run
on the loop and are cancelled at their timeout; plain modules (host) run in worker threads, and a
run that outlives its timeout is abandoned: the module is reported down and is not started again
until that run returns, so a hung filesystem cannot pile up threads.

After each module run the snapshot is rebuilt from every module's last rendered text plus the
agent's own metrics, so a scrape only sends bytes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import threading
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client import ProcessCollector
from prometheus_client.core import Metric

from agent.config import AgentConfig
from agent.exposition import Snapshot, render, with_labels
from agent.modules import MODULES
from agent.modules.base import MetricSpec, Module
from common import __version__

log = logging.getLogger(__name__)

MODULE_UP = MetricSpec("commune_module_up", "gauge",
                       "1 if the module's last collection succeeded within its timeout.",
                       ("module",))
MODULE_DURATION = MetricSpec("commune_module_duration_seconds", "gauge",
                             "Duration of the module's last collection.", ("module",))
MODULE_ERRORS = MetricSpec("commune_module_errors_total", "counter",
                           "Collections of the module that failed or timed out.", ("module",))
MODULE_LAST_SUCCESS = MetricSpec("commune_module_last_success_timestamp_seconds", "gauge",
                                 "When the module last collected successfully.", ("module",))
BUILD_INFO = MetricSpec("commune_agent_build_info", "gauge",
                        "Always 1; the agent's version as a label.", ("version",))
SELF_METRICS = (MODULE_UP, MODULE_DURATION, MODULE_ERRORS, MODULE_LAST_SUCCESS, BUILD_INFO)

# Called with the module name and its labelled families after each successful collection.
Subscriber = Callable[[str, Sequence[Metric]], None]


@dataclass
class ModuleRun:
    """One configured module and what the scheduler knows of it."""

    name: str
    module: Module
    interval: float
    timeout: float
    rendered: bytes = b""
    ran: bool = False
    up: bool = False
    duration: float = 0.0
    errors: int = 0
    last_success: float = 0.0
    last_error: str | None = None
    busy: concurrent.futures.Future[list[Metric]] | None = field(default=None, repr=False)


class Scheduler:
    """Runs modules in the background and keeps the latest complete snapshot."""

    def __init__(self, runs: Sequence[ModuleRun], labels: dict[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        self.runs = list(runs)
        self.labels = labels
        self.clock = clock
        self.subscribers: list[Subscriber] = []
        # More of the agent's own families (the push client's), rendered with the rest.
        self.extra: list[Callable[[], Iterable[Metric]]] = []
        self._process = ProcessCollector(registry=None)
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(2, len(self.runs) + 1), thread_name_prefix="module")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._lock = threading.Lock()
        self.snapshot = self._assemble()

    @property
    def ready(self) -> bool:
        """True once every module has run at least once (successfully or not)."""
        return all(run.ran for run in self.runs)

    async def run_module(self, run: ModuleRun) -> None:
        """Collect one module once, within its timeout, and update the snapshot."""
        if run.busy is not None and not run.busy.done():
            self._failed(run, f"previous collection still running after {run.timeout:g}s", 0.0)
            return
        start = time.perf_counter()
        try:
            families = await asyncio.wait_for(self._collect(run), run.timeout)
            labelled = list(with_labels(families, self.labels))
            rendered = render(labelled)
        except asyncio.TimeoutError:
            self._failed(run, f"timed out after {run.timeout:g}s", time.perf_counter() - start)
            return
        except Exception as exc:  # a module's bug must not stop the agent
            self._failed(run, f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
            return
        run.duration = time.perf_counter() - start
        run.rendered, run.ran, run.last_success = rendered, True, self.clock()
        if not run.up and run.last_error is not None:
            log.info("module %s: collecting again", run.name)
        run.up, run.last_error = True, None
        self._publish()
        for subscriber in self.subscribers:
            try:
                subscriber(run.name, labelled)
            except Exception:
                log.exception("subscriber failed for module %s", run.name)

    async def _collect(self, run: ModuleRun) -> list[Metric]:
        collect = run.module.collect
        if inspect.iscoroutinefunction(collect):
            return list(await collect())
        loop = asyncio.get_running_loop()
        future = self._threads.submit(lambda: list(typing.cast(Iterable[Metric], collect())))
        run.busy = future
        return await asyncio.wrap_future(future, loop=loop)

    def _failed(self, run: ModuleRun, reason: str, duration: float) -> None:
        if run.up or run.last_error is None:
            log.warning("module %s failed: %s", run.name, reason)
        run.ran, run.up, run.duration = True, False, duration
        run.errors += 1
        run.last_error = reason
        # Stale data is worse than none: a down module serves only its up/error series.
        run.rendered = b""
        self._publish()

    def _publish(self) -> None:
        with self._lock:
            self.snapshot = self._assemble()

    def _self_families(self) -> Iterable[Metric]:
        families = {spec: spec.family() for spec in SELF_METRICS}
        for run in self.runs:
            families[MODULE_UP].add_metric([run.name], 1.0 if run.up else 0.0)
            families[MODULE_DURATION].add_metric([run.name], run.duration)
            families[MODULE_ERRORS].add_metric([run.name], run.errors)
            if run.last_success:
                families[MODULE_LAST_SUCCESS].add_metric([run.name], run.last_success)
        families[BUILD_INFO].add_metric([__version__], 1.0)
        yield from families.values()
        for extra in self.extra:
            yield from extra()
        yield from self._process.collect()

    def own_families(self) -> list[Metric]:
        """The agent's own metrics, labelled like the snapshot (the push heartbeat sends them)."""
        return list(with_labels(self._self_families(), self.labels))

    def _assemble(self) -> Snapshot:
        own = render(self.own_families())
        return Snapshot.of([run.rendered for run in self.runs] + [own], self.clock())

    async def collect_all(self) -> None:
        """Run every module once, concurrently."""
        await asyncio.gather(*(self.run_module(run) for run in self.runs))

    async def _loop_module(self, run: ModuleRun, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not stopping.is_set():
            await self.run_module(run)
            due += run.interval
            now = loop.time()
            if due < now:  # a slow run: skip the ticks it overran instead of bursting
                due = now + run.interval - ((now - due) % run.interval)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), due - now)

    async def run_forever(self, started: threading.Event | None = None) -> None:
        """Collect every module on its schedule until stop() is called."""
        self._loop = asyncio.get_running_loop()
        self._stopping = stopping = asyncio.Event()
        if started is not None:
            started.set()
        await asyncio.gather(*(self._loop_module(run, stopping) for run in self.runs))

    def start(self) -> None:
        """Start collecting in a background thread."""
        started = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self.run_forever(started),),
                                        name="scheduler", daemon=True)
        self._thread.start()
        started.wait()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop collecting and close every module."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self._threads.shutdown(wait=False, cancel_futures=True)
        for run in self.runs:
            try:
                run.module.close()
            except Exception:
                log.exception("closing module %s", run.name)


def build_scheduler(config: AgentConfig) -> Scheduler:
    """Instantiate the configured modules (importing only their code) into a scheduler."""
    runs = []
    for entry in config.modules:
        module = MODULES[entry.name].build(entry.config)
        runs.append(ModuleRun(entry.name, module, config.interval_of(entry),
                              config.timeout_of(entry)))
    return Scheduler(runs, {"commune": config.commune})
