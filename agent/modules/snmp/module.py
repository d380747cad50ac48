"""The ``snmp`` module: polls the commune's switches, routers and VC endpoints concurrently.

Each device is walked with its own timeout, retries, max-repetitions and GETBULK setting; all
devices run at once on the scheduler's loop, so a dead one costs only its own timeout and shows
as ``commune_snmp_up{device} 0`` with ``commune_snmp_failure_reason{device,reason} 1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import Metric
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from agent.modules.base import MetricSpec
from agent.modules.snmp.client import Session
from agent.modules.snmp.config import Device, SnmpConfig
from agent.modules.snmp.decode import Decoder, Sample, Table
from agent.modules.snmp.definitions import Definition
from agent.modules.snmp.errors import SnmpError
from agent.modules.snmp.http_status import HttpStatusError, collect_http
from agent.modules.snmp.native import NativeSession
from agent.modules.snmp.traps import TrapListener, device_sources

log = logging.getLogger(__name__)

UP = MetricSpec("commune_snmp_up", "gauge",
                "1 if every module of the device was read in its last collection.", ("device",))
DURATION = MetricSpec("commune_snmp_scrape_duration_seconds", "gauge",
                      "How long the device's last collection took.", ("device",))
PDUS = MetricSpec("commune_snmp_pdus_total", "counter",
                  "SNMP requests sent to the device.", ("device",))
ERRORS = MetricSpec("commune_snmp_errors_total", "counter",
                    "Failed requests (timeout, auth, status, decode, connect) and dropped values "
                    "(type, index, value) of the device.", ("device", "reason"))
FAILURE = MetricSpec("commune_snmp_failure_reason", "gauge",
                     "1 for the reason the device's last collection failed.",
                     ("device", "reason"))
TRAPS = MetricSpec("commune_snmp_traps_total", "counter",
                   "Traps and informs received, by source (device name or IP) and type.",
                   ("source", "trap"))
TRAPS_DROPPED = MetricSpec("commune_snmp_traps_dropped_total", "counter",
                           "Datagrams the trap listener did not count as traps (too_big, "
                           "bad_version, bad_community, malformed, bad_pdu, cardinality, "
                           "overflow: the socket's queue was full, internal).", ("reason",))
TRAP_LISTENER_UP = MetricSpec("commune_snmp_trap_listener_up", "gauge",
                              "1 if the trap listener holds its UDP port.")
METRICS: tuple[MetricSpec, ...] = (UP, DURATION, PDUS, ERRORS, FAILURE, TRAPS, TRAPS_DROPPED,
                                   TRAP_LISTENER_UP)

MAX_CONCURRENT_DEVICES = 32


@dataclass
class DeviceState:
    """What the module remembers of one device between collections."""

    device: Device
    session: Session | NativeSession | None = None
    pdus: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_failure: str | None = None


@dataclass
class DeviceResult:
    """One collection of one device."""

    samples: list[Sample]
    duration: float
    failure: str | None
    module_up: dict[str, bool]


def _family_type(kind: str, name: str) -> tuple[str, str]:
    """(family name, Prometheus type) of a definition metric.

    snmp_exporter's counters keep MIB names without ``_total`` (``ifHCInOctets``) and are typed
    counter all the same; agent.exposition writes such bare counters as they are.
    """
    if kind == "counter":
        return name.removesuffix("_total"), "counter"
    return name, "gauge"


class SnmpModule:
    """Polls every configured device and exposes its modules' metrics."""

    name = "snmp"
    metrics = METRICS

    def __init__(self, config: SnmpConfig) -> None:
        self.config = config
        self.definitions: dict[str, Definition] = dict(config.definitions)
        self.states = [DeviceState(device) for device in config.devices]
        self.traps = TrapListener(config.traps, device_sources(
            (d.name, d.address.host if d.address else None) for d in config.devices)) \
            if config.traps is not None else None
        self._engine: SnmpEngine | None = None
        self._own_engines: list[SnmpEngine] = []
        self._semaphore: asyncio.Semaphore | None = None

    async def collect(self) -> Iterable[Metric]:
        """Poll every device concurrently and return the families."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(MAX_CONCURRENT_DEVICES)
        if self.traps is not None and not self.traps.running:
            try:
                await self.traps.start()
                log.info("listening for SNMP traps on %s", self.traps.config.listen)
            except OSError as exc:
                log.warning("trap listener cannot bind %s: %s", self.traps.config.listen, exc)
        results = await asyncio.gather(*(self._poll(state) for state in self.states))
        return [*self._families(results), *self._trap_families()]

    def _trap_families(self) -> list[Metric]:
        if self.traps is None:
            return []
        counts, dropped, up = TRAPS.family(), TRAPS_DROPPED.family(), TRAP_LISTENER_UP.family()
        for (source, trap), count in sorted(self.traps.counts.items()):
            counts.add_metric([source, trap], count)
        for reason, count in sorted(self.traps.drops().items()):
            dropped.add_metric([reason], count)
        up.add_metric([], 1.0 if self.traps.running else 0.0)
        return [counts, dropped, up]

    async def _poll(self, state: DeviceState) -> DeviceResult:
        assert self._semaphore is not None
        async with self._semaphore:
            start = time.perf_counter()
            samples: list[Sample] = []
            failure: str | None = None
            module_up: dict[str, bool] = {}
            for name in state.device.modules:
                definition = self.definitions[name]
                try:
                    samples += await self._read(state, definition)
                    module_up[name] = True
                except (SnmpError, HttpStatusError) as exc:
                    state.errors[exc.reason] += 1
                    module_up[name] = False
                    if failure is None and state.last_failure != exc.reason:
                        # Once per change, not every interval while the device stays down.
                        log.warning("device %s, module %s: %s", state.device.name, name, exc)
                    failure = failure or exc.reason
                    if exc.reason in ("timeout", "auth", "connect"):
                        # The device will not answer the next module either: do not wait again.
                        for rest in state.device.modules:
                            module_up.setdefault(rest, False)
                        break
            if failure is None and state.last_failure is not None:
                log.info("device %s answers again", state.device.name)
            state.last_failure = failure
            return DeviceResult(samples, time.perf_counter() - start, failure, module_up)

    async def _read(self, state: DeviceState, definition: Definition) -> list[Sample]:
        device = state.device
        if definition.kind != "snmp":
            samples, dropped = await collect_http(device, definition)
            if dropped:
                state.errors["value"] += dropped
            return samples
        if state.session is None and device.version != "3" and device.backend != "pysnmp":
            state.session = await NativeSession.open(device)
        if state.session is None:
            if self._engine is None:
                self._engine = SnmpEngine()
            # pysnmp keeps one key per v3 user name in an engine: two devices with the same
            # user and different passphrases each need an engine of their own.
            engine = self._engine
            if device.v3 is not None:
                engine = SnmpEngine()
                self._own_engines.append(engine)
            state.session = await Session.open(engine, device)
        session = state.session
        try:
            varbinds = await session.get(definition.get)
            for root in definition.walk_roots():
                varbinds += await session.walk(root)
        finally:
            state.pdus += session.pdus
            session.pdus = 0
        decoder = Decoder(definition, device.labels)
        try:
            samples = decoder.samples(Table(varbinds))
        except Exception as exc:  # a reply we could not make sense of must not stop the rest
            raise SnmpError("decode", f"{type(exc).__name__}: {exc}") from exc
        state.errors.update(decoder.dropped)
        return samples

    def _families(self, results: Sequence[DeviceResult]) -> list[Metric]:
        own = {spec: spec.family() for spec in (UP, DURATION, PDUS, ERRORS, FAILURE)}
        families: dict[str, Metric] = {}
        seen: set[tuple[str, str, frozenset[tuple[str, str]]]] = set()
        for state, result in zip(self.states, results, strict=True):
            name = state.device.name
            own[UP].add_metric([name], 0.0 if result.failure else 1.0)
            own[DURATION].add_metric([name], result.duration)
            own[PDUS].add_metric([name], state.pdus)
            for reason, count in sorted(state.errors.items()):
                own[ERRORS].add_metric([name, reason], count)
            if result.failure:
                own[FAILURE].add_metric([name, result.failure], 1.0)
            for sample in result.samples:
                key = (name, sample.name, frozenset(sample.labels.items()))
                if key not in seen:  # two modules may read the same OID (sysUpTime)
                    seen.add(key)
                    self._add(families, sample, name)
            for module, ok in result.module_up.items():
                definition = self.definitions[module]
                if definition.up_metric:
                    labels = {**definition.labels, **state.device.labels}
                    self._add(families, Sample(definition.up_metric, "gauge",
                                               "1 if the device answered its status request.",
                                               labels, 1.0 if ok else 0.0), name)
        return [*own.values(), *families.values()]

    @staticmethod
    def _add(families: dict[str, Metric], sample: Sample, device: str) -> None:
        family_name, prom_type = _family_type(sample.kind, sample.name)
        family = families.get(family_name)
        if family is None:
            family = families[family_name] = Metric(family_name, sample.help or sample.name,
                                                    prom_type)
        family.add_sample(sample.name, {"device": device, **sample.labels}, sample.value)

    def close(self) -> None:
        """Release the SNMP engines' sockets."""
        if self.traps is not None:
            self.traps.close()
        for engine in [*self._own_engines, self._engine]:
            if engine is not None:
                with contextlib.suppress(Exception):
                    engine.close_dispatcher()
        self._engine, self._own_engines = None, []
        for state in self.states:
            if state.session is not None:
                state.session.close()
            state.session = None
