"""The ``probe`` module: every configured target probed concurrently, each within its timeout.

A probe never raises out of ``collect``: a failure is data (``probe_success 0`` and
``commune_probe_failure_reason{reason}``), and the log says it once when a target's state
changes, not every interval. An exception a probe does not expect (other than a socket's
``OSError``) is reason ``internal``, a bug rather than a network fault, and that log line carries
its traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.core import Metric

from agent.modules.probe.config import ProbeConfig
from agent.modules.probe.icmp import icmp_privileged
from agent.modules.probe.kinds import KINDS, Prober
from agent.modules.probe.result import (
    DURATION,
    FAILURE_REASON,
    METRICS,
    SUCCESS,
    TK,
    ProbeFailed,
    ProbeResult,
)
from agent.modules.probe.rtt_histogram import RTT_HISTOGRAM, RttHistograms
from agent.modules.probe.targets import Target, ThroughputTarget

log = logging.getLogger(__name__)


class _IcmpMode:
    """Which ICMP sockets this process may open, found once (retried while none may)."""

    def __init__(self, detect: Callable[[], bool] = icmp_privileged) -> None:
        self.detect = detect
        self.privileged: bool | None = None

    def __call__(self) -> bool:
        if self.privileged is None:
            self.privileged = self.detect()
        return self.privileged


class ProbeModule:
    """Probes the configured targets; one collection runs them all at once."""

    name = "probe"
    metrics = (*METRICS, RTT_HISTOGRAM)

    def __init__(self, config: ProbeConfig, icmp_mode: Callable[[], bool] | None = None) -> None:
        self.config = config
        mode = icmp_mode or _IcmpMode()
        self.probers = [(target, self._prober(target, mode)) for target in config.targets]
        self._state: dict[str, str | None] = {}
        self.rtts = RttHistograms((target.name, target.kind) for target in config.targets)

    def _prober(self, target: Target, mode: Callable[[], bool]) -> Prober:
        if isinstance(target, ThroughputTarget):  # the one kind with state across restarts
            from agent.modules.probe.throughput import ThroughputProbe

            return ThroughputProbe(target, mode, state_dir=Path(self.config.state_dir))
        return KINDS[target.kind].prober(target, mode)

    async def collect(self) -> list[Metric]:
        """Probe every target concurrently; return fresh families."""
        results = await asyncio.gather(*(self._run(t, p) for t, p in self.probers))
        families = {spec: spec.family() for spec in METRICS}
        for (target, _), (result, duration) in zip(self.probers, results, strict=True):
            base = [target.name, target.kind]
            families[SUCCESS].add_metric(base, 0.0 if result.reason else 1.0)
            families[DURATION].add_metric(base, duration)
            if result.reason_label:
                families[FAILURE_REASON].add_metric([*base, result.reason_label], 1.0)
            for spec, labels, value in result.samples:
                # A spec labelled by ``scenario`` (not ``target, kind``) takes the name alone.
                head = base if spec.labels[:2] == TK else base[:1]
                families[spec].add_metric([*head, *labels], value)
            self.rtts.observe(target.name, target.kind, result.rtts)
        rtts = self.rtts.family()
        return [family for family in (*families.values(), rtts) if family.samples]

    async def _run(self, target: Target, prober: Prober) -> tuple[ProbeResult, float]:
        result = ProbeResult()
        unexpected: Exception | None = None
        start = time.perf_counter()
        try:
            await asyncio.wait_for(prober.probe(result), target.timeout)
        except ProbeFailed as exc:
            result.fail(exc.reason, str(exc))
        except asyncio.TimeoutError:
            result.fail("timeout", f"no result within the timeout ({target.timeout})")
        except OSError as exc:  # a socket error a probe did not name: still the network's fault
            log.debug("probe %s failed with an OS error", target.name, exc_info=True)
            result.fail("connect", f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a probe's bug must not stop the other targets
            unexpected = exc
            result.fail("internal", f"{type(exc).__name__}: {exc}")
        duration = time.perf_counter() - start
        self._log_change(target, result, unexpected)
        return result, duration

    def _log_change(self, target: Target, result: ProbeResult,
                    unexpected: Exception | None) -> None:
        previous = self._state.get(target.name, "unknown")
        if result.reason_label == previous:
            return
        self._state[target.name] = result.reason_label
        if result.reason:
            # An unexpected exception is a bug: its traceback goes with it, once, to report it.
            log.warning("probe %s (%s) failing: %s: %s", target.name, target.kind,
                        result.reason_label, result.message, exc_info=unexpected)
        elif previous != "unknown":
            log.info("probe %s (%s) succeeding again", target.name, target.kind)

    def close(self) -> None:
        """Nothing to release: every probe opens and closes its own sockets."""
