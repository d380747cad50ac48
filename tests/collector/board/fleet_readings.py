"""Readings of a whole province built in memory, healthy unless a test breaks something."""

from __future__ import annotations

from collections.abc import Iterable

from collector.board.sources import Alert, Readings, Sample
from collector.inventory import Inventory

TARGETS = (("tthc-portal", "http"), ("tthc-db", "tcp"), ("vc-sip", "sip"), ("gateway", "icmp"))


def _base(commune: str, instance: str) -> dict[str, str]:
    return {"commune": commune, "instance": instance, "job": "commune-agent"}


class FleetReadings:
    """Every series the board reads, per commune; ``set()`` changes one, ``drop()`` a commune."""

    def __init__(self, inventory: Inventory, pushed: Iterable[str] = ()) -> None:
        self.vectors: dict[str, list[Sample]] = {}
        self.alerts: list[Alert] = []
        pushed = set(pushed)
        for i, commune in enumerate(inventory.communes):
            code = commune.code
            instance = "lan-1" if code in pushed else f"10.38.{i + 1}.10:9810"
            base = _base(code, instance)
            if code in pushed:
                self.add("heartbeat_age", base, 5)
            else:
                self.add("up", base, 1)
            for target, kind in TARGETS:
                labels = {**base, "target": target, "kind": kind}
                self.add("probe_success", labels, 1)
                self.add("probe_duration", labels, 0.3)
            icmp = {**base, "target": "gateway", "kind": "icmp"}
            self.add("icmp_loss", icmp, 0.0)
            self.add("icmp_rtt", {**icmp, "stat": "avg"}, 0.02)
            vc = {**base, "device": "vc-1", "vendor": "poly"}
            for name, value in (("vc_up", 1), ("vc_registered", 1), ("vc_in_call", 0),
                                ("vc_loss", 0.0), ("vc_jitter", 0.004)):
                self.add(name, vc, value)
            self.add("snmp_up", {**base, "device": "core-switch"}, 1)

    def add(self, name: str, labels: dict[str, str], value: float) -> None:
        """Add one series."""
        self.vectors.setdefault(name, []).append(Sample(labels, value))

    def set(self, name: str, commune: str, value: float, **match: str) -> None:
        """Set ``name`` of ``commune`` (the series whose labels include ``match``) to ``value``."""
        found = False
        for i, s in enumerate(self.vectors[name]):
            if s.labels["commune"] == commune and all(s.labels.get(k) == v
                                                       for k, v in match.items()):
                self.vectors[name][i] = Sample(s.labels, value)
                found = True
        assert found, (name, commune, match)

    def drop(self, commune: str) -> None:
        """Remove every series of ``commune`` (it never reported)."""
        for name, samples in self.vectors.items():
            self.vectors[name] = [s for s in samples if s.labels["commune"] != commune]

    def alert(self, name: str, **labels: str) -> None:
        """An open alert."""
        self.alerts.append(Alert(name, {"alertname": name, **labels},
                                 {"summary_vi": f"{name} vi", "summary_en": f"{name} en"}))

    def readings(self, alerts_from: str = "alertmanager") -> Readings:
        """The Readings the board judges."""
        return Readings({k: list(v) for k, v in self.vectors.items()}, list(self.alerts),
                        alerts_from)
