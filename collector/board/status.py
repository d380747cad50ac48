"""The status model: every inventory commune judged ok / degraded / down / no data, and why.

:func:`judge` turns one :class:`~collector.board.sources.Readings` into a :class:`Board`. The
mapping (written down in docs/board.md) follows the shipped alert rules:

- no series at all for the commune: no data;
- none of its agents answers (``up == 0``, no heartbeat within 2 min, 5 min in mountains): down;
- every province target it probes fails, while those targets work for most communes: down,
  uplink; a target failing from most communes is the province's fault (shown on top), never
  a commune's;
- a target unreachable, the portal slow (5-min mean over 3 s, 6 s in mountains, while the
  province median is under 3 s), packet loss or latency over the link-quality thresholds, a VC
  endpoint down, unregistered or with a poor call, an SNMP device unreachable, one node of
  several silent, or an open alert about the commune: degraded.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from collector.board import causes
from collector.board.causes import Cause, State
from collector.board.conferences import Conference, conferences
from collector.board.slowness import Slowness, WhySlow
from collector.board.sources import Alert, Readings, Sample
from collector.inventory import Commune, Inventory

# Thresholds of configs/prometheus/rules/ (lowland, mountain).
SILENT_AFTER = (120.0, 300.0)       # CommuneAgentSilent: heartbeat age, seconds
PORTAL_SLOW = (3.0, 6.0)            # CommunePortalSlow: 5-min mean probe duration, seconds
LOSS = (0.05, 0.10)                 # CommuneLinkPacketLoss: 5-min mean loss ratio
RTT = (0.15, 0.40)                  # CommuneLinkLatencyHigh: 5-min mean RTT, seconds
VC_LOSS = (0.03, 0.08)              # VCCallQualityPoor
VC_JITTER = 0.05
PORTAL = "tthc-portal"

# The runbook to run first for a cause (commune-diag run RUNBOOK --commune CODE).
RUNBOOKS = {"portal-slow": "portal-slow", "target:tthc-portal": "portal-slow",
            "target:tthc-db": "services", "target:vc-sip": "vc-endpoint", "vc-fault": "vc-endpoint",
            "network-device": "interfaces", "disk": "disk-mem", "memory": "disk-mem",
            "security": "security", "web-server": "services", "agent": "services",
            "link-congested": "interfaces"}
# Probe kinds of the digital-signature services, judged by their own alerts, not as targets.
SIGNATURE_KINDS = frozenset({"ocsp", "crl"})


@dataclass(frozen=True)
class NodeStatus:
    """One agent of the commune as Prometheus sees it (``instance``)."""

    instance: str
    up: bool | None = None               # scraped: the last scrape answered
    heartbeat_age: float | None = None   # pushed: seconds since the last heartbeat
    ok: bool = False


@dataclass(frozen=True)
class ProbeStatus:
    """The commune's probes of one target (best of its nodes)."""

    target: str
    kind: str
    success: bool
    duration: float | None    # 5-min mean, seconds
    province_down: bool       # the target fails from most communes


@dataclass(frozen=True)
class LinkStatus:
    """Link quality towards one ICMP target: 5-min means."""

    target: str
    loss: float | None
    rtt: float | None


@dataclass(frozen=True)
class VCStatus:
    """One video-conference endpoint."""

    device: str
    vendor: str
    up: bool | None
    registered: bool | None
    in_call: bool | None
    loss: float | None
    jitter: float | None


@dataclass(frozen=True)
class CommuneStatus:
    """One commune: its state, the causes (worst first) and what they come from."""

    code: str
    name: str
    region: str
    terrain: str
    state: State
    causes: tuple[Cause, ...]
    nodes: tuple[NodeStatus, ...] = ()
    probes: tuple[ProbeStatus, ...] = ()
    links: tuple[LinkStatus, ...] = ()
    vcs: tuple[VCStatus, ...] = ()
    devices: tuple[tuple[str, bool], ...] = ()   # (SNMP device, answers)
    alerts: tuple[Alert, ...] = ()
    runbook: str = "network-basic"
    why_slow: WhySlow | None = None     # None when the board did not read it

    @property
    def cause(self) -> Cause | None:
        """The worst cause, the one the tile shows."""
        return self.causes[0] if self.causes else None

    def diag_command(self, inventory_file: str | None = None) -> str:
        """The commune-diag command to run first for this commune, with ``--inventory`` if given."""
        command = f"commune-diag run {self.runbook} --commune {self.code}"
        return f"{command} --inventory {inventory_file}" if inventory_file else command


@dataclass(frozen=True)
class TargetStatus:
    """A province target across the communes that probe it."""

    name: str
    kind: str
    ratio: float        # share of the communes that reach it
    communes: int       # how many communes probe it
    down: bool          # fails from most communes (at least two report)


@dataclass(frozen=True)
class Board:
    """The province at one moment."""

    province: str
    generated_at: float
    communes: tuple[CommuneStatus, ...]
    alerts: tuple[Alert, ...]               # province alerts (no commune label)
    targets: tuple[TargetStatus, ...]
    alerts_from: str
    notes: tuple[str, ...] = ()
    regions: tuple[tuple[str, tuple[CommuneStatus, ...]], ...] = field(default=())
    conferences: tuple[Conference, ...] = ()   # upcoming, soonest first (board/conferences.py)

    def counts(self) -> dict[State, int]:
        """How many communes are in each state."""
        counts = dict.fromkeys(State, 0)
        for commune in self.communes:
            counts[commune.state] += 1
        return counts

    def commune(self, code: str) -> CommuneStatus | None:
        """The commune with ``code``, or None."""
        return next((c for c in self.communes if c.code == code), None)


def _by_commune(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        out[s.labels.get("commune", "")].append(s)
    return out


def _pick(terrain: str, pair: tuple[float, float]) -> float:
    return pair[1] if terrain == "mountain" else pair[0]


def _flag(value: float | None) -> bool | None:
    return None if value is None else value >= 1


class _Fleet:
    """The readings, indexed by commune; province-wide views of the targets."""

    def __init__(self, readings: Readings, province_targets: Iterable[str]) -> None:
        self.v = {name: _by_commune(readings.vector(name)) for name in readings.vectors}
        self.province_targets = set(province_targets)
        best: dict[tuple[str, str], float] = {}
        kinds: dict[str, str] = {}
        for s in readings.vector("probe_success"):
            key = (s.labels.get("commune", ""), s.labels.get("target", ""))
            best[key] = max(best.get(key, 0.0), s.value)
            kinds[key[1]] = s.labels.get("kind", "")
        per_target: dict[str, list[float]] = defaultdict(list)
        for (_, target), value in best.items():
            per_target[target].append(value)
        self.targets = tuple(
            TargetStatus(t, kinds[t], statistics.fmean(v), len(v),
                         len(v) >= 2 and statistics.fmean(v) < 0.5)
            for t, v in sorted(per_target.items()))
        self.down_targets = {t.name for t in self.targets if t.down}
        portal = [s.value for s in readings.vector("probe_duration")
                  if s.labels.get("target") == PORTAL]
        self.portal_median = statistics.median(portal) if portal else 0.0

    def of(self, name: str, code: str) -> list[Sample]:
        return self.v.get(name, {}).get(code, [])


def _nodes(fleet: _Fleet, commune: Commune) -> tuple[NodeStatus, ...]:
    silent_after = _pick(commune.terrain, SILENT_AFTER)
    nodes: dict[str, NodeStatus] = {}
    for s in fleet.of("up", commune.code):
        instance = s.labels.get("instance", "?")
        nodes[instance] = NodeStatus(instance, up=s.value >= 1, ok=s.value >= 1)
    for s in fleet.of("heartbeat_age", commune.code):
        instance = s.labels.get("instance", "?")
        old = nodes.get(instance)
        # A scrape is the newer word on a scraped node: its heartbeat series lingers 6 h.
        ok = old.ok if old is not None else s.value <= silent_after
        nodes[instance] = NodeStatus(instance, old.up if old else None, max(s.value, 0.0), ok)
    return tuple(sorted(nodes.values(), key=lambda n: n.instance))


def _probes(fleet: _Fleet, code: str) -> tuple[ProbeStatus, ...]:
    success: dict[str, float] = {}
    kinds: dict[str, str] = {}
    for s in fleet.of("probe_success", code):
        target = s.labels.get("target", "?")
        success[target] = max(success.get(target, 0.0), s.value)
        kinds[target] = s.labels.get("kind", "")
    durations: dict[str, list[float]] = defaultdict(list)
    for s in fleet.of("probe_duration", code):
        durations[s.labels.get("target", "?")].append(s.value)
    return tuple(ProbeStatus(t, kinds[t], success[t] >= 1,
                             statistics.fmean(durations[t]) if durations[t] else None,
                             t in fleet.down_targets)
                 for t in sorted(success))


def _links(fleet: _Fleet, code: str) -> tuple[LinkStatus, ...]:
    loss = {s.labels.get("target", "?"): s.value for s in fleet.of("icmp_loss", code)}
    rtt = {s.labels.get("target", "?"): s.value for s in fleet.of("icmp_rtt", code)}
    return tuple(LinkStatus(t, loss.get(t), rtt.get(t)) for t in sorted(loss.keys() | rtt.keys()))


def _vcs(fleet: _Fleet, code: str) -> tuple[VCStatus, ...]:
    by_device: dict[str, dict[str, float]] = defaultdict(dict)
    vendors: dict[str, str] = {}
    for name in ("vc_up", "vc_registered", "vc_in_call", "vc_loss", "vc_jitter"):
        for s in fleet.of(name, code):
            device = s.labels.get("device", "?")
            vendors.setdefault(device, s.labels.get("vendor", ""))
            values = by_device[device]
            values[name] = max(values.get(name, s.value), s.value)
    return tuple(VCStatus(d, vendors[d], _flag(v.get("vc_up")), _flag(v.get("vc_registered")),
                          _flag(v.get("vc_in_call")), v.get("vc_loss"), v.get("vc_jitter"))
                 for d, v in sorted(by_device.items()))


def _vc_fault(vc: VCStatus, terrain: str) -> bool:
    if vc.up is False:
        return True
    if vc.registered is False:
        return True
    if vc.in_call is False:
        return False  # call quality is only judged in a call (Poly reports no call state)
    return ((vc.loss or 0.0) > _pick(terrain, VC_LOSS)) or ((vc.jitter or 0.0) > VC_JITTER)


def _findings(fleet: _Fleet, commune: Commune, status: CommuneStatus) -> list[Cause]:
    found: list[Cause] = []
    nodes, probes = status.nodes, status.probes
    if nodes and not any(n.ok for n in nodes):
        pushed = all(n.up is None for n in nodes)
        found.append(causes.AGENT_SILENT if pushed else causes.AGENT_UNREACHABLE)
        return found  # what it reported before is stale: say nothing else
    if any(not n.ok for n in nodes):
        found.append(causes.NODE_UNREACHABLE)
    # A signature service (OCSP, CRL) is not the commune's link: its own alerts speak for it,
    # and CommuneTargetUnreachable leaves it out (configs/prometheus/rules/availability.yml).
    judged = [p for p in probes if not p.province_down and p.kind not in SIGNATURE_KINDS]
    uplink = [p for p in judged if p.target in fleet.province_targets] or judged
    if uplink and not any(p.success for p in uplink):
        found.append(causes.UPLINK_DOWN)
    else:
        found += [causes.target_unreachable(p.target) for p in judged if not p.success]
        portal = next((p for p in judged if p.target == PORTAL and p.success), None)
        slow = _pick(commune.terrain, PORTAL_SLOW)
        if portal and (portal.duration or 0.0) > slow and fleet.portal_median <= PORTAL_SLOW[0]:
            found.append(causes.PORTAL_SLOW)
        if any((link.loss or 0.0) > _pick(commune.terrain, LOSS) for link in status.links):
            found.append(causes.PACKET_LOSS)
        if any((link.rtt or 0.0) > _pick(commune.terrain, RTT) for link in status.links):
            found.append(causes.HIGH_LATENCY)
    if any(_vc_fault(vc, commune.terrain) for vc in status.vcs):
        found.append(causes.VC_FAULT)
    if any(not up for _, up in status.devices):
        found.append(causes.NETWORK_DEVICE)
    return found


def judge_commune(fleet: _Fleet, commune: Commune, alerts: Iterable[Alert]) -> CommuneStatus:
    """The status of one commune."""
    code = commune.code
    status = CommuneStatus(
        code, commune.name, commune.group, commune.terrain, State.OK, (),
        nodes=_nodes(fleet, commune), probes=_probes(fleet, code), links=_links(fleet, code),
        vcs=_vcs(fleet, code),
        devices=tuple(sorted({s.labels.get("device", "?"): s.value >= 1
                              for s in fleet.of("snmp_up", code)}.items())),
        alerts=tuple(alerts))
    has_data = any(fleet.of(name, code) for name in fleet.v)
    found = _findings(fleet, commune, status) if has_data else [causes.NO_DATA]
    for alert in status.alerts:
        found.append(causes.alert_cause(alert.name, dict(alert.labels)))
    worst: dict[str, Cause] = {}
    for cause in found:  # one entry per key, its worst state; first seen first among equals
        if cause.key not in worst or cause.state > worst[cause.key].state:
            worst[cause.key] = cause
    ordered = sorted(worst.values(), key=lambda c: -c.state)
    state = ordered[0].state if ordered else State.OK
    runbook = RUNBOOKS.get(ordered[0].key, "network-basic") if ordered else "network-basic"
    return CommuneStatus(**{**status.__dict__, "state": state, "causes": tuple(ordered),
                            "runbook": runbook})


def judge(inventory: Inventory, readings: Readings, now: float | None = None,
          slowness: Slowness | None = None) -> Board:
    """The board of every inventory commune from ``readings`` (and each commune's "why is it
    slow" section from ``slowness``, when given)."""
    fleet = _Fleet(readings, (t.name for t in inventory.province_targets))
    by_commune: dict[str, list[Alert]] = defaultdict(list)
    province_alerts = []
    for alert in readings.alerts:
        if alert.commune:
            by_commune[alert.commune].append(alert)
        else:
            province_alerts.append(alert)
    communes = tuple(judge_commune(fleet, c, by_commune.get(c.code, ()))
                     for c in inventory.communes)
    if slowness is not None:
        communes = tuple(dataclasses.replace(c, why_slow=slowness.of(c.code)) for c in communes)
    regions: dict[str, list[CommuneStatus]] = {}
    for status in communes:  # regions in inventory order, worst first within each
        regions.setdefault(status.region, []).append(status)
    grouped = tuple((name, tuple(sorted(members, key=lambda c: -c.state)))
                    for name, members in regions.items())
    severity = {"critical": 0, "warning": 1}
    province_alerts.sort(key=lambda a: (severity.get(a.severity, 2), a.name))
    names = {t.name for t in inventory.province_targets}
    targets = tuple(t for t in fleet.targets if t.name in names) if names else fleet.targets
    return Board(inventory.province.name, time.time() if now is None else now, communes,
                 tuple(province_alerts), targets, readings.alerts_from,
                 tuple(readings.notes), grouped, conferences(readings, inventory))
