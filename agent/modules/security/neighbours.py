"""New devices on the LAN: the neighbour table (``ip -j neigh`` or ``/proc/net/arp``) against the
known MAC addresses, with the first time each unknown address was seen.

The vendor comes from the IEEE OUI table that the ``netaddr`` package ships (offline), when that
package is installed; randomised (locally administered) addresses have no vendor.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.security.config import NeighboursConfig, normalise_mac
from common.statefile import StateFileError, read_state_json, write_atomically

log = logging.getLogger(__name__)
_AFRESH = "the neighbours now present are then taken as known"

UNKNOWN = MetricSpec("commune_lan_unknown_devices", "gauge",
                     "Devices in the neighbour table whose MAC address is not in the known list.")
DEVICES = MetricSpec("commune_lan_devices", "gauge",
                     "Distinct MAC addresses in the neighbour table.")
FIRST_SEEN = MetricSpec("commune_lan_device_first_seen_timestamp_seconds", "gauge",
                        "When an unknown device present now was first seen (newest max_series).",
                        ("mac", "vendor"))
METRICS = (UNKNOWN, DEVICES, FIRST_SEEN)

_SKIP_STATES = {"FAILED", "INCOMPLETE", "NOARP"}


@dataclass(frozen=True)
class Neighbour:
    """One entry of the neighbour table."""

    ip: str
    mac: str
    device: str


def parse_proc_arp(text: str) -> list[Neighbour]:
    """Parse ``/proc/net/arp`` (IPv4 only); incomplete entries (flags 0x0) are left out."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6 or fields[2] == "0x0":
            continue
        try:
            mac = normalise_mac(fields[3])
        except ValueError:
            continue
        if mac != "00:00:00:00:00:00":
            found.append(Neighbour(fields[0], mac, fields[5]))
    return found


def parse_ip_neigh_json(text: str) -> list[Neighbour]:
    """Parse ``ip -j neigh`` (IPv4 and IPv6); failed and incomplete entries are left out."""
    found = []
    for entry in json.loads(text or "[]"):
        states = set(entry.get("state") or ())
        lladdr = entry.get("lladdr")
        if not lladdr or states & _SKIP_STATES:
            continue
        try:
            mac = normalise_mac(lladdr)
        except ValueError:
            continue
        found.append(Neighbour(str(entry.get("dst", "")), mac, str(entry.get("dev", ""))))
    return found


def vendor_of(mac: str) -> str:
    """The OUI's organisation from netaddr's offline IEEE table, or "" if unknown/unavailable."""
    if int(mac[:2], 16) & 0x02:
        return ""  # locally administered: randomised by the device, no vendor
    try:
        from netaddr import EUI, NotRegisteredError
    except ImportError:
        return ""
    try:
        return str(EUI(mac).oui.registration().org).strip()
    except (NotRegisteredError, IndexError, ValueError):
        return ""


def read_table(source: str, proc_root: Path = Path("/proc")) -> list[Neighbour]:
    """The neighbour table from ``ip -j neigh`` (``ip``), ``/proc/net/arp`` (``proc``) or
    whichever this host has (``auto``)."""
    ip = shutil.which("ip") if source in ("auto", "ip") else None
    if ip is not None:
        done = subprocess.run([ip, "-j", "neigh", "show"], capture_output=True, text=True,
                              timeout=10, check=False)
        if done.returncode == 0:
            return parse_ip_neigh_json(done.stdout)
        if source == "ip":
            raise RuntimeError(f"ip -j neigh failed: {done.stderr.strip()}")
    elif source == "ip":
        raise RuntimeError("the 'ip' command is not installed; use neighbours.source: proc")
    return parse_proc_arp((proc_root / "net/arp").read_text())


class NeighboursCheck:
    """Counts unknown MAC addresses in the neighbour table and remembers when each appeared."""

    name = "neighbours"

    def __init__(self, config: NeighboursConfig, state_dir: str | None,
                 table: Callable[[], list[Neighbour]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.known = config.known_macs()
        self.table = table or (lambda: read_table(config.source))
        self.clock = clock
        self.state_file = Path(state_dir) / "neighbours.json" if state_dir else None
        self.first_seen: dict[str, float] = self._load()
        self._vendors: dict[str, str] = {}

    def _load(self) -> dict[str, float]:
        if self.state_file is None:
            return {}
        try:
            data = read_state_json(self.state_file, afresh=_AFRESH)
        except OSError as exc:
            log.warning("security: ignoring unreadable %s (%s)", self.state_file, exc)
            return {}
        if data is None:
            return {}
        try:
            return {normalise_mac(mac): float(ts) for mac, ts in data.items()}
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise StateFileError(self.state_file, f"not a neighbours file ({type(exc).__name__}"
                                 f": {exc})", afresh=_AFRESH) from None

    def _save(self) -> None:
        if self.state_file is None:
            return
        try:
            write_atomically(self.state_file, json.dumps(self.first_seen), make_parents=True)
        except OSError as exc:
            log.warning("security: cannot save %s: %s", self.state_file, exc)

    def _vendor(self, mac: str) -> str:
        if mac not in self._vendors:
            if len(self._vendors) >= self.config.max_tracked:
                self._vendors.clear()
            self._vendors[mac] = vendor_of(mac)
        return self._vendors[mac]

    def collect(self) -> list[Metric]:
        """The families for the current neighbour table."""
        now = self.clock()
        present = {n.mac for n in self.table()}
        unknown = present - self.known
        changed = False
        for mac in unknown:
            if mac not in self.first_seen:
                self.first_seen[mac] = now
                changed = True
        if len(self.first_seen) > self.config.max_tracked:
            # Forget the oldest absent devices first; present ones keep their first-seen time.
            absent = sorted((ts, mac) for mac, ts in self.first_seen.items() if mac not in present)
            for _, mac in absent[:len(self.first_seen) - self.config.max_tracked]:
                del self.first_seen[mac]
            changed = True
        if changed:
            self._save()
        newest = sorted(unknown, key=lambda mac: (-self.first_seen[mac], mac))
        first_seen = FIRST_SEEN.family()
        for mac in newest[:self.config.max_series]:
            first_seen.add_metric([mac, self._vendor(mac)], self.first_seen[mac])
        count = UNKNOWN.family()
        count.add_metric([], float(len(unknown)))
        devices = DEVICES.family()
        devices.add_metric([], float(len(present)))
        return [count, devices, first_seen]
