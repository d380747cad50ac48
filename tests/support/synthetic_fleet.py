"""A synthetic commune fleet on loopback: one HTTP server answering /metrics?commune=CODE with
every series of the metric contract, for Prometheus to scrape with inventory labels per target.

Values move with the clock (counters grow, one port flaps), so rates, changes() and the
recording rules all have something to compute. Nothing here probes anything.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from tests.support.peers import EXPOSITION, LOOPBACK, QuietHandler


class Commune(NamedTuple):
    code: str
    name: str
    region: str
    terrain: str


PHASES = {"resolve": 0.01, "connect": 0.04, "tls": 0.08, "processing": 0.6, "transfer": 0.05}
IFACES = (("1", "Gi0/1", "uplink"), ("2", "Gi0/2", "mot-cua"))


def _series(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {value}" if inner else f"{name} {value}"


def exposition(code: str, index: int, now: float, failing: str = "") -> str:
    """The /metrics body of commune ``code`` (``index``-th of the fleet) at ``now``.

    ``failing`` is the code of the commune whose database probe fails (reason ``connect``) and
    whose snmp module is down, so the 'worst first' and failure panels have something to show.
    """
    t = now
    lines: list[str] = []
    add = lines.append
    bad = code == failing
    for target, kind in (("tthc-portal", "http"), ("tthc-db", "tcp"), ("vc-sip", "sip"),
                         ("gateway", "icmp")):
        ok = not (bad and target == "tthc-db")
        labels = {"target": target, "kind": kind}
        add(_series("probe_success", labels, int(ok)))
        add(_series("probe_duration_seconds", labels, 0.2 + 0.01 * index if ok else 10))
        for reason in ("dns", "connect", "timeout"):
            add(_series("commune_probe_failure_reason", {**labels, "reason": reason},
                        int(not ok and reason == "connect")))
    portal = {"target": "tthc-portal", "kind": "http"}
    for phase, seconds in PHASES.items():
        add(_series("probe_http_duration_seconds", {**portal, "phase": phase},
                    seconds * (1 + index / 10)))
    add(_series("probe_http_status_code", portal, 200))
    add(_series("probe_http_ssl", portal, 1))
    add(_series("probe_http_redirects", portal, 1))
    add(_series("probe_dns_lookup_time_seconds", portal, 0.004 + 0.001 * index))
    add(_series("probe_ssl_earliest_cert_expiry", portal, t + 30 * 86400))
    add(_series("probe_ssl_last_chain_expiry_timestamp_seconds", portal, t + 30 * 86400))
    add(_series("commune_probe_sip_status_code", {"target": "vc-sip", "kind": "sip"}, 200))
    icmp = {"target": "gateway", "kind": "icmp"}
    add(_series("commune_probe_icmp_packet_loss_ratio", icmp, 0.01 * (index % 5)))
    for stat, rtt in (("min", 0.01), ("avg", 0.02 + 0.005 * index), ("max", 0.09)):
        add(_series("commune_probe_icmp_rtt_seconds", {**icmp, "stat": stat}, rtt))
    add(_series("commune_probe_icmp_jitter_seconds", icmp, 0.003))
    lines += _why_slow(t, index)
    # SNMP: one switch with two ports; port 1 flaps every 2 s, port 2 is down but enabled.
    switch = {"device": "core-switch"}
    add(_series("commune_snmp_up", switch, 1))
    add(_series("commune_snmp_scrape_duration_seconds", switch, 0.12))
    add(_series("sysUpTime", switch, 3600 * 100))
    for if_index, if_name, alias in IFACES:
        port = {**switch, "ifIndex": if_index, "ifName": if_name, "ifAlias": alias,
                "ifDescr": f"GigabitEthernet0/{if_index}"}
        add(_series("ifHCInOctets", port, int(t * 2_000_000)))
        add(_series("ifHCOutOctets", port, int(t * 1_000_000)))
        add(_series("ifInErrors", port, int(t)))
        add(_series("ifOutErrors", port, 0))
        add(_series("ifInDiscards", port, int(t * 2)))
        add(_series("ifOutDiscards", port, 0))
        oper = (1 if int(t) % 4 < 2 else 2) if if_index == "1" else 2
        add(_series("ifOperStatus", port, oper))
        add(_series("ifAdminStatus", port, 1))
        add(_series("ifHighSpeed", port, 100))
    vc = {"device": "vc-1", "vendor": "poly"}
    add(_series("commune_vc_up", vc, 1))
    add(_series("commune_vc_registered", {**vc, "protocol": "sip"}, 1))
    add(_series("commune_vc_registered", {**vc, "protocol": "h323"}, 0))
    add(_series("commune_vc_in_call", vc, 1))
    add(_series("commune_vc_mos_estimate", {"target": "vc-mcu"}, 4.3 - 0.1 * index))
    for direction in ("rx", "tx"):
        add(_series("commune_vc_packet_loss_ratio", {**vc, "direction": direction}, 0.001))
        add(_series("commune_vc_jitter_seconds", {**vc, "direction": direction}, 0.004))
    add(_series("commune_push_spool_bytes", {}, 4096))
    add(_series("commune_push_sent_samples_total", {}, int(t)))
    add(_series("commune_push_dropped_samples_total", {"reason": "spool_full"}, 0))
    add(_series("commune_push_lag_seconds", {}, 1.5))
    add(_series("commune_push_oldest_sample_age_seconds", {}, 2))
    add(_series("commune_agent_heartbeat_timestamp_seconds", {}, t))
    for module in ("host", "probe", "snmp"):
        up = not (bad and module == "snmp")
        add(_series("commune_module_up", {"module": module}, int(up)))
        add(_series("commune_module_duration_seconds", {"module": module}, 0.05))
        add(_series("commune_module_errors_total", {"module": module}, 0 if up else int(t)))
    add(_series("commune_agent_build_info", {"version": "0.1.0"}, 1))
    add(_series("node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}, t * 0.7))
    add(_series("node_cpu_seconds_total", {"cpu": "0", "mode": "user"}, t * 0.3))
    add(_series("node_memory_MemAvailable_bytes", {}, 2e9))
    add(_series("node_memory_MemTotal_bytes", {}, 8e9))
    root = {"device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}
    add(_series("node_filesystem_avail_bytes", root, 40e9))
    add(_series("node_filesystem_size_bytes", root, 100e9))
    add(_series("node_filesystem_readonly", root, 0))
    add(_series("node_time_seconds", {}, t))
    add(_series("commune_diag_check_success", {"runbook": "network-basic", "check": "ping-gateway"},
                1))
    lines += _security(t, bad)
    lines += _web_logs(t, bad)
    return "\n".join(lines) + "\n"


def _why_slow(t: float, index: int) -> list[str]:
    """The RTT histogram of the gateway (10 RTTs a second, half under 25.6 ms), the last
    throughput run (grade B down, A up) and flows: more hosts and apps than a top 5."""
    lines = []
    gateway = {"target": "gateway", "kind": "icmp"}
    for le, share in (("0.0128", 0.0), ("0.0256", 0.5), ("0.0512", 0.9 + index / 100),
                      ("+Inf", 1.0)):
        lines.append(_series("commune_probe_rtt_histogram_seconds_bucket", {**gateway, "le": le},
                             int(t * 10 * share)))
    lines.append(_series("commune_probe_rtt_histogram_seconds_sum", gateway, t * 10 * 0.03))
    lines.append(_series("commune_probe_rtt_histogram_seconds_count", gateway, int(t * 10)))
    for direction, bps, loaded, grade in (("download", 48e6, 0.09, "B"),
                                          ("upload", 9e6, 0.035, "A")):
        labels = {"target": "province", "direction": direction}
        lines.append(_series("commune_throughput_bits_per_second", labels, bps))
        lines.append(_series("commune_latency_under_load_seconds", labels, loaded))
        for g in ("A+", "A", "B", "C", "D", "F"):
            lines.append(_series("commune_bufferbloat_grade", {**labels, "grade": g},
                                 int(g == grade)))
    lines.append(_series("commune_throughput_idle_latency_seconds", {"target": "province"}, 0.03))
    flows = [("ketoan-pc", "https", 400_000), ("camera-1", "rtp", 90_000),
             ("other", "windows-update", 250_000), ("other", "other", 1_000)]
    flows += [(f"pc-{n}", app, 1_000 * n) for n, app in enumerate(("dns", "ntp", "sip", "http"))]
    for host, app, per_second in flows:
        lines.append(_series("commune_flow_bytes_total",
                             {"direction": "download", "host": host, "app": app},
                             int(t * per_second)))
    return lines


def _security(t: float, bad: bool) -> list[str]:
    """The security module's series; only the ``failing`` commune is under attack and behind
    (so that the alerts stay quiet for the rest, as in a healthy province)."""
    lines: list[str] = []
    add = lines.append
    for check in ("auth", "listen", "neighbours", "integrity", "certs", "updates"):
        add(_series("commune_security_check_up", {"check": check},
                    int(not (bad and check == "updates"))))
    for reason, source_class, per_second in (("bad_password", "wan", 0.05),
                                             ("invalid_user", "wan", 0.02),
                                             ("bad_password", "lan", 0.01)):
        add(_series("commune_auth_failures_total", {"service": "ssh", "reason": reason,
                                                    "source_class": source_class},
                    int(t * per_second * (5 if bad else 1))))
    add(_series("commune_auth_failures_total",
                {"service": "sudo", "reason": "bad_password", "source_class": "local"}, 3))
    add(_series("commune_auth_failures_top_source", {"source": "203.0.113.7"}, 120))
    add(_series("commune_auth_failures_top_source", {"source": "10.38.1.55"}, 6))
    if bad:
        add(_series("commune_unexpected_listen", {"proto": "tcp", "port": "8080",
                                                  "process": "python3"}, 1))
    add(_series("commune_unexpected_listen_sockets", {}, int(bad)))
    add(_series("commune_insecure_service", {"service": "telnet"}, int(bad)))
    add(_series("commune_insecure_service", {"service": "ftp"}, 0))
    add(_series("commune_snmp_default_community", {"address": "10.38.1.2:161",
                                                   "community": "public"}, int(bad)))
    add(_series("commune_lan_unknown_devices", {}, 2 + int(bad)))
    add(_series("commune_lan_device_first_seen_timestamp_seconds",
                {"mac": "00:1b:21:0a:0b:0d", "vendor": "Intel"}, t - 3600))
    for kind in ("changed", "added", "removed"):
        add(_series(f"commune_integrity_{kind}_files", {"path_set": "portal"},
                    int(bad and kind == "changed")))
    add(_series("commune_cert_expiry_timestamp_seconds", {"path": "/etc/ssl/portal.pem"},
                t + (5 if bad else 60) * 86400))
    add(_series("commune_pending_updates", {"kind": "all"}, 12))
    add(_series("commune_pending_updates", {"kind": "security"}, 3 if bad else 0))
    return lines


def _web_logs(t: float, bad: bool) -> list[str]:
    """The logs module's series of a web server's access log (label ``file``)."""
    lines: list[str] = []
    add = lines.append
    log = {"file": "portal"}
    for status_class, per_second in (("2xx", 20), ("3xx", 2), ("4xx", 1), ("5xx", 0.5)):
        add(_series("commune_http_requests_total", {**log, "method": "GET",
                                                    "status_class": status_class,
                                                    "route": "dossier"},
                    int(t * per_second * (4 if bad and status_class == "5xx" else 1))))
    cumulative = 0.0
    for le, share in (("0.1", 0.5), ("0.5", 0.3), ("1.0", 0.1), ("2.5", 0.05), ("+Inf", 0.05)):
        cumulative += share
        add(_series("commune_http_request_duration_seconds_bucket",
                    {**log, "route": "dossier", "le": le}, int(t * 23.5 * cumulative)))
    add(_series("commune_http_request_duration_seconds_sum", {**log, "route": "dossier"}, t * 8))
    add(_series("commune_http_request_duration_seconds_count", {**log, "route": "dossier"},
                int(t * 23.5)))
    for kind, per_second in (("sql_injection", 0.02), ("path_traversal", 0.01),
                             ("scanner_user_agent", 0.005)):
        add(_series("commune_http_suspicious_requests_total", {**log, "kind": kind},
                    int(t * per_second * (5 if bad else 1))))
    add(_series("commune_http_error_bursts_total", log, int(t / 3600)))
    add(_series("commune_http_error_burst_source_responses", {**log, "source": "198.51.100.9"},
                40))
    add(_series("commune_logs_file_up", log, 1))
    add(_series("commune_logs_lines_total", log, int(t * 23.5)))
    add(_series("commune_logs_lines_failed_total", log, 0))
    return lines


class FleetExporter(ThreadingHTTPServer):
    """Answers /metrics?commune=CODE for every commune of ``fleet``."""

    def __init__(self, fleet: Sequence[Commune], failing: str = "",
                 handler: type[BaseHTTPRequestHandler] | None = None) -> None:
        super().__init__((LOOPBACK, 0), handler or _Handler)
        self.index = {c.code: i for i, c in enumerate(fleet)}
        self.failing = failing

    @property
    def address(self) -> str:
        """host:port to scrape."""
        return f"{LOOPBACK}:{self.server_address[1]}"


class _Handler(QuietHandler):
    server: FleetExporter

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        code = query.get("commune", [""])[0]
        if code not in self.server.index:
            self.send_error(404, f"unknown commune {code!r}")
            return
        body = exposition(code, self.server.index[code], time.time(), self.server.failing).encode()
        self.send_body(body, EXPOSITION)


def scrape_config(fleet: Sequence[Commune], address: str, interval: str = "1s") -> dict[str, Any]:
    """One Prometheus job scraping every commune, inventory labels per target (as file_sd)."""
    return {"job_name": "commune-agent", "scrape_interval": interval, "scrape_timeout": interval,
            "static_configs": [
                {"targets": [address], "labels": {
                    "__param_commune": c.code, "commune": c.code, "commune_name": c.name,
                    "region": c.region, "terrain": c.terrain, "role": "lan-node",
                    "instance": f"10.38.{i + 1}.10:9810"}}
                for i, c in enumerate(fleet)]}

