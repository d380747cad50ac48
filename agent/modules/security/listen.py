"""Listening TCP and bound UDP sockets (sock_diag netlink or ``/proc/net`` on Linux, psutil
elsewhere) compared to the allow-list of the config.

Flags the insecure cleartext services too: telnet (23/tcp), FTP (21/tcp) and SNMP (161/udp,
whose v1/v2c communities travel in clear) listening on this host, on any address.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.security.config import ListenConfig
from agent.modules.security.procnet import InodeOwners, ProcSocket, read_listening
from agent.modules.security.sockdiag import read_listening_netlink

log = logging.getLogger(__name__)

UNEXPECTED = MetricSpec("commune_unexpected_listen", "gauge",
                        "1 for each listening socket not in the allow-list (at most max_series).",
                        ("proto", "port", "process"))
UNEXPECTED_COUNT = MetricSpec("commune_unexpected_listen_sockets", "gauge",
                              "Listening (proto, port, process) not in the allow-list.")
LISTENING = MetricSpec("commune_listen_sockets", "gauge",
                       "Distinct listening ports checked, by protocol.", ("proto",))
INSECURE = MetricSpec("commune_insecure_service", "gauge",
                      "1 if a cleartext service (telnet, ftp, snmp) listens on this host.",
                      ("service",))
METRICS = (UNEXPECTED, UNEXPECTED_COUNT, LISTENING, INSECURE)

INSECURE_SERVICES = {"telnet": ("tcp", 23), "ftp": ("tcp", 21), "snmp": ("udp", 161)}
_DEFAULT_EPHEMERAL = (32768, 60999)

Listener = tuple[str, int, str, bool]  # (proto, port, process, bound to loopback only)


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8 and ::1 (and their IPv4-mapped form)."""
    return address.startswith("127.") or address in ("::1", "::ffff:127.0.0.1") or \
        address.startswith("::ffff:127.")


def ephemeral_range(proc_root: Path = Path("/proc")) -> tuple[int, int]:
    """The kernel's local port range for client sockets (Linux), or its default."""
    try:
        low, high = (proc_root / "sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return _DEFAULT_EPHEMERAL


class ListenCheck:
    """Finds listening sockets that the allow-list does not name."""

    name = "listen"

    def __init__(self, config: ListenConfig, proc_root: Path = Path("/proc"),
                 connections: Callable[[], list[Any]] | None = None) -> None:
        self.config = config
        self.ephemeral = ephemeral_range(proc_root)
        self.proc_root = proc_root
        self._connections = connections
        if connections is None and not (proc_root / "net" / "tcp").exists():
            self._connections = lambda: psutil.net_connections(kind="inet")
        self._owners = InodeOwners(proc_root)
        self._netlink = proc_root == Path("/proc")  # sock_diag answers for this host only
        self._names: dict[int, tuple[float, str]] = {}  # pid -> (create time, name)

    def _process(self, pid: int | None) -> str:
        if not pid:
            return "unknown"
        if len(self._names) > 4096:  # pids come and go; the cache is only a shortcut
            self._names.clear()
        try:
            proc = psutil.Process(pid)
            created = proc.create_time()
            cached = self._names.get(pid)
            if cached is not None and cached[0] == created:
                return cached[1]
            name = proc.name()
        except (psutil.Error, OSError):
            return "unknown"
        self._names[pid] = (created, name)
        return name

    def listeners(self) -> set[Listener]:
        """(proto, port, process, loopback) of every listening socket on this host."""
        if self._connections is None:
            return self._proc_listeners()
        found: set[Listener] = set()
        low, high = self.ephemeral
        for conn in self._connections():
            if conn.type == socket.SOCK_STREAM:
                if conn.status != psutil.CONN_LISTEN:
                    continue
                proto = "tcp"
            elif conn.type == socket.SOCK_DGRAM:
                if conn.raddr:
                    continue  # connected: a client
                proto = "udp"
            else:
                continue
            if not conn.laddr:
                continue
            ip, port = conn.laddr[0], conn.laddr[1]
            if proto == "udp" and low <= port <= high and not self.config.include_ephemeral_udp:
                continue
            found.add((proto, port, self._process(conn.pid), is_loopback(ip)))
        return found

    def _read_sockets(self) -> list[ProcSocket]:
        if self._netlink:
            try:
                return read_listening_netlink()
            except OSError as exc:  # no sock_diag (old kernel, seccomp): /proc/net from now on
                log.info("security: sock_diag unavailable (%s); reading /proc/net", exc)
                self._netlink = False
        return read_listening(self.proc_root)

    def _proc_listeners(self) -> set[Listener]:
        low, high = self.ephemeral
        sockets = [s for s in self._read_sockets()
                   if s.proto == "tcp" or self.config.include_ephemeral_udp
                   or not low <= s.port <= high]
        owners = self._owners.resolve({s.inode for s in sockets})
        names = {pid: self._process(pid) for pid in set(owners.values())}
        # The owner exited and left the socket to a child (daemons do): look it up again.
        self._owners.forget({pid for pid, name in names.items() if pid and name == "unknown"})
        return {(s.proto, s.port, names[owners[s.inode]], s.loopback) for s in sockets}

    def allowed(self, proto: str, port: int, process: str) -> bool:
        """True if an allow-list entry matches the socket's protocol, port and process."""
        return any(a.proto == proto and a.port == port and a.process in (None, process)
                   for a in self.config.allow)

    def collect(self) -> list[Metric]:
        """The families for the current sockets."""
        listeners = self.listeners()
        # A port bound on loopback and on another address is exposed: loopback-only means
        # every socket of that (proto, port, process) is on loopback.
        exposed: dict[tuple[str, int, str], bool] = {}
        for proto, port, process, loopback in listeners:
            key = (proto, port, process)
            exposed[key] = exposed.get(key, False) or not loopback
        checked = {key for key, out in exposed.items() if out or self.config.include_loopback}
        unexpected = sorted(key for key in checked if not self.allowed(*key))
        family = UNEXPECTED.family()
        for proto, port, process in unexpected[:self.config.max_series]:
            family.add_metric([proto, str(port), process], 1.0)
        count = UNEXPECTED_COUNT.family()
        count.add_metric([], float(len(unexpected)))
        listening = LISTENING.family()
        for proto in ("tcp", "udp"):
            listening.add_metric([proto], float(len({p for pr, p, _ in checked if pr == proto})))
        insecure = INSECURE.family()
        ports = {(proto, port) for proto, port, _, _ in listeners}
        for service, proto_port in INSECURE_SERVICES.items():
            insecure.add_metric([service], 1.0 if proto_port in ports else 0.0)
        return [family, count, listening, insecure]
