"""Scheduler: modules run in the background; a slow or failing one never stops the others."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from agent.modules.base import MetricSpec
from agent.scheduler import ModuleRun, Scheduler
from tests.support.peers import wait_for
from tests.support.samples import maybe_value

VALUE = MetricSpec("test_value", "gauge", "A test value.", ("source",))


class Counting:
    """A sync module returning how many times it ran."""

    name = "counting"
    metrics = (VALUE,)

    def __init__(self) -> None:
        self.calls = 0

    def collect(self) -> Iterable[Metric]:
        self.calls += 1
        family = VALUE.family()
        family.add_metric(["counting"], self.calls)
        return [family]

    def close(self) -> None:
        pass


class Hanging:
    """A sync module that blocks until released (a hung NFS mount, say)."""

    name = "hanging"
    metrics = (VALUE,)

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def collect(self) -> Iterable[Metric]:
        self.calls += 1
        self.release.wait(30)
        family = VALUE.family()
        family.add_metric(["hanging"], 1)
        return [family]

    def close(self) -> None:
        self.release.set()


class SlowAsync:
    """An async module that never answers in time (a dead device)."""

    name = "slow_async"
    metrics = (VALUE,)

    def __init__(self) -> None:
        self.cancelled = 0

    async def collect(self) -> Iterable[Metric]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return []

    def close(self) -> None:
        pass


class Failing:
    """A module with a bug."""

    name = "failing"
    metrics = (VALUE,)

    def collect(self) -> Iterable[Metric]:
        raise RuntimeError("device said no")

    def close(self) -> None:
        pass


def samples(scheduler: Scheduler) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = scheduler.snapshot.plain.decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_failing_and_timed_out_modules_are_reported_others_continue() -> None:
    counting, hanging, slow = Counting(), Hanging(), SlowAsync()
    runs = [ModuleRun("counting", counting, 0.05, 1.0), ModuleRun("hanging", hanging, 0.1, 0.2),
            ModuleRun("slow_async", slow, 0.1, 0.2), ModuleRun("failing", Failing(), 0.1, 1.0)]
    scheduler = Scheduler(runs, {"commune": "16318"})
    scheduler.start()
    try:
        wait_for(lambda: scheduler.ready and counting.calls >= 10, 10,
                 what="every module to run once while counting keeps going")
        assert maybe_value(scheduler, "commune_module_up", module="counting") == 1
        for name in ("hanging", "slow_async", "failing"):
            assert maybe_value(scheduler, "commune_module_up", module=name) == 0
            errors = maybe_value(scheduler, "commune_module_errors_total", module=name)
            assert errors is not None and errors >= 1
        assert maybe_value(scheduler, "test_value", source="counting") is not None
        assert maybe_value(scheduler, "test_value", source="hanging") is None  # no stale data
        assert slow.cancelled >= 1
        # The hung thread is not started again while it is still running.
        time.sleep(0.5)
        assert hanging.calls == 1
        hanging.release.set()
        wait_for(lambda: maybe_value(scheduler, "commune_module_up", module="hanging") == 1, 5,
                 what="the hanging module to recover")
        assert hanging.calls >= 2
    finally:
        scheduler.stop()


def test_snapshot_is_complete_while_modules_run() -> None:
    """Every snapshot, read at any time, has every module's self series."""
    runs = [ModuleRun("counting", Counting(), 0.01, 1.0), ModuleRun("failing", Failing(), 0.01, 1)]
    scheduler = Scheduler(runs, {"commune": "16318"})
    scheduler.start()
    try:
        wait_for(lambda: scheduler.ready, 5, what="ready")
        for _ in range(200):
            got = samples(scheduler)
            for module in ("counting", "failing"):
                key = ("commune_module_up",
                       (("commune", "16318"), ("module", module)))
                assert key in got
            assert ("commune_agent_build_info",
                    (("commune", "16318"), ("version", "0.1.0"))) in got
            time.sleep(0.001)
    finally:
        scheduler.stop()


def test_commune_label_on_every_series_and_config_wins() -> None:
    class Spoofing(Counting):
        def collect(self) -> Iterable[Metric]:
            family = GaugeMetricFamily("test_spoof", "Spoof.", labels=["commune"])
            family.add_metric(["99999"], 1)
            return [family]

    scheduler = Scheduler([ModuleRun("spoof", Spoofing(), 1, 1)], {"commune": "16318"})
    asyncio.run(scheduler.collect_all())
    scheduler.stop()
    text = scheduler.snapshot.plain.decode()
    families = list(text_string_to_metric_families(text))
    assert families
    for family in families:
        for sample in family.samples:
            assert sample.labels.get("commune") == "16318", sample


def test_not_ready_until_every_module_ran() -> None:
    hanging = Hanging()
    scheduler = Scheduler([ModuleRun("counting", Counting(), 1, 1),
                           ModuleRun("hanging", hanging, 1, 1)], {"commune": "1"})
    assert not scheduler.ready
    asyncio.run(scheduler.run_module(scheduler.runs[0]))
    assert not scheduler.ready
    hanging.release.set()
    asyncio.run(scheduler.run_module(scheduler.runs[1]))
    assert scheduler.ready
    scheduler.stop()


def test_gzip_snapshot_matches_plain() -> None:
    import gzip

    scheduler = Scheduler([ModuleRun("counting", Counting(), 1, 1)], {"commune": "1"})
    asyncio.run(scheduler.collect_all())
    scheduler.stop()
    assert gzip.decompress(scheduler.snapshot.gzipped) == scheduler.snapshot.plain
