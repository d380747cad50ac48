"""The throughput probe without a peer: iperf3's JSON, grades, the budget, the hourly slot."""

from __future__ import annotations

import asyncio
import json

import pytest

from agent.modules.probe.result import ProbeFailed, ProbeResult
from agent.modules.probe.targets import ThroughputTarget
from agent.modules.probe.throughput import (
    DailyBudget,
    ThroughputProbe,
    bufferbloat_grade,
    default_slot_second,
    parse_iperf3,
)
from agent.modules.probe.throughput_metrics import RUNS
from common.schema import Invalid
from tests.agent.modules.probe.test_probe_config import agent_config, errors

HOUR = 3600.0
# What iperf3 3.12 -J prints at the end of a test, trimmed to the keys the probe reads.
IPERF3_END = {"start": {}, "intervals": [], "end": {
    "sum_sent": {"bytes": 6_000_000, "bits_per_second": 9.6e6, "retransmits": 12},
    "sum_received": {"bytes": 5_900_000, "bits_per_second": 9.4e6}}}


def test_parse_iperf3_takes_the_receivers_rate_and_the_senders_retransmits() -> None:
    transfer = parse_iperf3(json.dumps(IPERF3_END))
    assert (transfer.bits_per_second, transfer.retransmits, transfer.bytes) == (
        9.4e6, 12, 6_000_000)


@pytest.mark.parametrize(("text", "reason"), [
    ('{"start": {}, "error": "unable to connect to server: Connection refused"}', "connect"),
    ('{"error": "the server is busy running a test. try again later"}', "status"),
    ("iperf3: parameter error", "content"),
    ('{"end": {}}', "content"),
    ("[1, 2]", "content"),
])
def test_parse_iperf3_failures_name_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ProbeFailed) as caught:
        parse_iperf3(text)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("added", "grade"), [
    (0.0, "A+"), (0.0049, "A+"), (0.005, "A"), (0.029, "A"), (0.030, "B"), (0.059, "B"),
    (0.060, "C"), (0.199, "C"), (0.200, "D"), (0.399, "D"), (0.400, "F"), (3.0, "F")])
def test_bufferbloat_grade_follows_waveforms_thresholds(added: float, grade: str) -> None:
    assert bufferbloat_grade(added) == grade


def test_budget_counts_bytes_and_starts_again_each_utc_day() -> None:
    budget = DailyBudget(1000)
    day = 20_000 * 86400.0
    assert budget.allows(1000, day)
    budget.spend(700, day + 10)
    assert not budget.allows(301, day + 20)
    assert budget.allows(300, day + 20)
    assert budget.today(day + 86399) == 700
    assert budget.allows(1000, day + 86400)
    assert budget.today(day + 86400) == 0


def test_slot_default_is_stable_and_within_the_hour() -> None:
    slots = {default_slot_second(f"commune-{i}") for i in range(200)}
    assert default_slot_second("commune-7") == default_slot_second("commune-7")
    assert slots <= set(range(3600)) and len(slots) > 150


def target(**fields: object) -> ThroughputTarget:
    return ThroughputTarget(**{"name": "province", "host": "192.0.2.9", **fields})  # type: ignore[arg-type]


def test_due_once_per_hour_at_the_slot_and_not_at_start() -> None:
    now = [1000 * HOUR + 5 * 60]  # minute 5 of an hour
    probe = ThroughputProbe(target(slot_second=20 * 60), lambda: True, clock=lambda: now[0])
    assert not probe.due(now[0])  # a (re)started agent waits for its slot
    now[0] += 14 * 60
    assert not probe.due(now[0])
    now[0] += 60
    assert probe.due(now[0])  # minute 20
    probe.last_start = now[0]
    assert not probe.due(now[0] + 30 * 60)
    assert probe.due(now[0] + HOUR)
    assert probe.due(now[0] + 5 * HOUR)  # an agent asleep for hours runs once, at once


def test_missing_iperf3_is_a_failure_that_says_what_to_install() -> None:
    now = [1000 * HOUR]
    probe = ThroughputProbe(target(slot_second=60, iperf3="/nonexistent/iperf3"), lambda: True,
                            clock=lambda: now[0])

    async def collect() -> ProbeResult:
        result = ProbeResult()
        with pytest.raises(ProbeFailed) as caught:
            await probe.probe(result)  # not due: nothing ran, nothing failed
            now[0] += 2 * 60
            await probe.probe(ProbeResult())  # due: the run starts in the background
            assert probe.task is not None
            await probe.task
            await probe.probe(result)
        assert "install Debian's iperf3" in str(caught.value)
        assert caught.value.reason == "internal"
        return result

    result = asyncio.run(collect())
    assert (RUNS, ("download",), 0) in result.samples  # the run stopped before any transfer


def test_throughput_target_loads_from_the_agent_config() -> None:
    config = agent_config("""
        commune: "16318"
        modules:
          probe:
            targets:
              - {name: province, kind: throughput, host: 192.0.2.9, slot_second: 1020,
                 daily_budget: 200MB, directions: [download]}
        """)
    [loaded] = config.modules.entries[0].config.targets.items  # type: ignore[attr-defined]
    assert isinstance(loaded, ThroughputTarget)
    assert (loaded.slot_second, loaded.daily_budget, loaded.directions) == (
        1020, 200 * 10**6, ("download",))


@pytest.mark.parametrize(("fields", "key"), [
    ({"slot_second": 3600}, "slot_second"), ({"duration": 1}, "duration"),
    ({"directions": ()}, "directions"), ({"directions": ("upload", "upload")}, "directions"),
    ({"port": 0}, "port"), ({"ping_interval": 0.01}, "ping_interval")])
def test_bad_throughput_targets_name_their_key(fields: dict[str, object], key: str) -> None:
    with pytest.raises(Invalid) as caught:
        target(**fields)
    assert caught.value.key == key


def test_bad_throughput_config_is_a_config_error() -> None:
    assert errors("""
        commune: "1"
        modules:
          probe:
            targets:
              - {name: p, kind: throughput, host: 192.0.2.9, slot_second: 4000}
    """) == ["agent.yml:5:67: modules.probe.targets[0].slot_second: expected a second of the "
             "hour in 0..3599, got 4000"]


def test_a_relative_probe_state_dir_is_a_config_error() -> None:
    assert errors("""
        commune: "1"
        modules:
          probe:
            state_dir: var/probe
            targets:
              - {name: p, kind: throughput, host: 192.0.2.9}
    """) == ["agent.yml:4:16: modules.probe.state_dir: expected an absolute path, got "
             "'var/probe'"]
