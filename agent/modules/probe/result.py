"""The probe module's metrics, and the result one probe of one target hands back.

Names and labels are blackbox_exporter's where it has them (``probe_*``); the rest start with
``commune_probe_``. Every series carries ``target`` (the configured name) and ``kind``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agent.modules.base import MetricSpec
from agent.modules.probe.throughput_metrics import THROUGHPUT_METRICS

TK = ("target", "kind")

SUCCESS = MetricSpec("probe_success", "gauge", "Displays whether or not the probe was a success.",
                     TK)
DURATION = MetricSpec("probe_duration_seconds", "gauge",
                      "Returns how long the probe took to complete in seconds.", TK)
FAILURE_REASON = MetricSpec("commune_probe_failure_reason", "gauge",
                            "1 for the reason the last probe failed (dns, connect, tls, timeout, "
                            "status, content, auth, signature, or internal: a fault of the "
                            "agent's probe code; a scenario's is STEP:REASON, naming the step); "
                            "absent when it succeeded.",
                            (*TK, "reason"))
CONNECT_DURATION = MetricSpec("commune_probe_connect_duration_seconds", "gauge",
                              "Time to establish the TCP connection (tcp, h323, sip over TCP/TLS).",
                              TK)

HTTP_STATUS = MetricSpec("probe_http_status_code", "gauge", "Response HTTP status code.", TK)
HTTP_PHASE = MetricSpec("probe_http_duration_seconds", "gauge",
                        "Duration of http request by phase, summed over all redirects.",
                        (*TK, "phase"))
HTTP_CONTENT_LENGTH = MetricSpec("probe_http_content_length", "gauge",
                                 "Length of http content response (-1 when not announced).", TK)
HTTP_BODY_LENGTH = MetricSpec("probe_http_uncompressed_body_length", "gauge",
                              "Length of uncompressed response body.", TK)
HTTP_REDIRECTS = MetricSpec("probe_http_redirects", "gauge",
                            "The number of redirects.", TK)
HTTP_SSL = MetricSpec("probe_http_ssl", "gauge",
                      "Indicates if SSL was used for the final redirect.", TK)
HTTP_VERSION = MetricSpec("probe_http_version", "gauge",
                          "Returns the version of HTTP of the probe response.", TK)
FAILED_DUE_TO_REGEX = MetricSpec("probe_failed_due_to_regex", "gauge",
                                 "Indicates if probe failed due to regex.", TK)
SSL_EARLIEST = MetricSpec("probe_ssl_earliest_cert_expiry", "gauge",
                          "Returns earliest SSL cert expiry in unixtime, over every certificate "
                          "the server sent (cross-signed roots included).", TK)
SSL_LAST_CHAIN = MetricSpec("probe_ssl_last_chain_expiry_timestamp_seconds", "gauge",
                            "Returns last SSL chain expiry in timestamp seconds: the earliest "
                            "expiry in the verified chain (the leaf's, normally). Alert on this.",
                            TK)
TLS_VERSION = MetricSpec("probe_tls_version_info", "gauge",
                         "Returns the TLS version used, or NaN when unknown.", (*TK, "version"))

DNS_LOOKUP = MetricSpec("probe_dns_lookup_time_seconds", "gauge",
                        "Returns the time taken for probe dns lookup in seconds.", TK)
DNS_ANSWERS = MetricSpec("probe_dns_answer_rrs", "gauge",
                         "Returns number of entries in the answer resource record list.", TK)
DNS_RCODE = MetricSpec("commune_probe_dns_rcode", "gauge",
                       "The DNS response code as a number (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN).",
                       TK)

ICMP_LOSS = MetricSpec("commune_probe_icmp_packet_loss_ratio", "gauge",
                       "Share of the burst's echo requests that got no reply (0..1).", TK)
ICMP_RTT = MetricSpec("commune_probe_icmp_rtt_seconds", "gauge",
                      "Round-trip time of the burst's replies.", (*TK, "stat"))
ICMP_JITTER = MetricSpec("commune_probe_icmp_jitter_seconds", "gauge",
                         "Interarrival jitter of the burst's RTTs, as RFC 3550 computes it.", TK)
ICMP_SENT = MetricSpec("commune_probe_icmp_packets_sent", "gauge",
                       "Echo requests sent in the last burst.", TK)

# An icmp target with ``mos: true``: a call's quality over its path (mos.py), by ``target`` only.
VC_MOS = MetricSpec("commune_vc_mos_estimate", "gauge",
                    "Estimated MOS (1..4.5) of a call over the path to the target: ITU-T G.107's "
                    "E-model from the icmp burst's mean RTT, jitter and loss, for the target's "
                    "codec (default G.711 with PLC); 1 when the burst lost every packet.",
                    ("target",))
VC_R_FACTOR = MetricSpec("commune_vc_r_factor", "gauge",
                         "E-model transmission rating R (0..93.2) of that call, from which the "
                         "MOS estimate is derived; 0 when the burst lost every packet.",
                         ("target",))

SIP_STATUS = MetricSpec("commune_probe_sip_status_code", "gauge",
                        "Status code of the SIP OPTIONS answer (0 when none came).", TK)
SIP_RTT = MetricSpec("commune_probe_sip_rtt_seconds", "gauge",
                     "Time from sending OPTIONS to the final answer.", TK)

PATH_HOPS = MetricSpec("commune_probe_path_hops", "gauge",
                       "Hops on the path to the target (the target's distance in TTL).", TK)
PATH_FIRST_BAD = MetricSpec("commune_probe_path_first_bad_hop", "gauge",
                            "First hop from which loss or an RTT jump persists to the end of the "
                            "path; 0 when none.", TK)
PATH_HOP_RTT = MetricSpec("commune_probe_path_hop_rtt_seconds", "gauge",
                          "Average RTT to each hop that answered.", (*TK, "hop", "address"))
PATH_HOP_LOSS = MetricSpec("commune_probe_path_hop_loss_ratio", "gauge",
                           "Share of probes each hop did not answer.", (*TK, "hop", "address"))

# A scenario's series are labelled by ``scenario`` (its target name), without ``kind``.
SCENARIO_SUCCESS = MetricSpec("commune_scenario_success", "gauge",
                              "1 if every step of the scenario passed at the last run.",
                              ("scenario",))
SCENARIO_STEP_SUCCESS = MetricSpec("commune_scenario_step_success", "gauge",
                                   "1 if the step passed, 0 if it failed; steps after a failed "
                                   "one are not run and absent.", ("scenario", "step"))
SCENARIO_STEP_DURATION = MetricSpec("commune_scenario_step_duration_seconds", "gauge",
                                    "Time the step took, its redirects included.",
                                    ("scenario", "step"))
SCENARIO_HOP_DURATION = MetricSpec("commune_scenario_hop_duration_seconds", "gauge",
                                   "Time of each request of a step's redirect chain (hop 0 is "
                                   "the step's own URL), with the host:port it went to.",
                                   ("scenario", "step", "hop", "host"))
SCENARIO_STEP_STATUS = MetricSpec("commune_scenario_step_status_code", "gauge",
                                  "HTTP status of the step's last response.",
                                  ("scenario", "step"))

OCSP_STATUS = MetricSpec("commune_ocsp_cert_status", "gauge",
                         "1 for the certificate's status the responder gave (good, revoked or "
                         "unknown), 0 for the others.", (*TK, "status"))
OCSP_DURATION = MetricSpec("commune_ocsp_response_duration_seconds", "gauge",
                           "Time from sending the OCSP request to the whole response.", TK)
OCSP_THIS_UPDATE = MetricSpec("commune_ocsp_this_update_timestamp_seconds", "gauge",
                              "thisUpdate of the OCSP response, in unixtime.", TK)
OCSP_NEXT_UPDATE = MetricSpec("commune_ocsp_next_update_timestamp_seconds", "gauge",
                              "nextUpdate of the OCSP response, in unixtime (absent when the "
                              "responder gives none).", TK)
OCSP_SIGNATURE = MetricSpec("commune_ocsp_signature_valid", "gauge",
                            "1 if the response is signed by the issuer or by a responder "
                            "certificate the issuer delegated OCSP signing to.", TK)
OCSP_REVOKED_AT = MetricSpec("commune_ocsp_revocation_timestamp_seconds", "gauge",
                             "When the certificate was revoked, in unixtime (revoked only).", TK)

CRL_DURATION = MetricSpec("commune_crl_download_duration_seconds", "gauge",
                          "Time to download the CRL.", TK)
CRL_SIZE = MetricSpec("commune_crl_size_bytes", "gauge", "Size of the CRL as downloaded.", TK)
CRL_THIS_UPDATE = MetricSpec("commune_crl_this_update_timestamp_seconds", "gauge",
                             "thisUpdate (lastUpdate) of the CRL, in unixtime.", TK)
CRL_NEXT_UPDATE = MetricSpec("commune_crl_next_update_timestamp_seconds", "gauge",
                             "nextUpdate of the CRL, in unixtime: past it, the CRL is stale.", TK)
CRL_REVOKED = MetricSpec("commune_crl_revoked_certificates", "gauge",
                         "Entries of the CRL (certificates revoked).", TK)
CRL_SIGNATURE = MetricSpec("commune_crl_signature_valid", "gauge",
                           "1 if the CRL's signature verifies with issuer_file (only when set).",
                           TK)

LOSS_PATH_RUNS = MetricSpec("commune_probe_loss_path_runs_total", "counter",
                            "Path probes an icmp target ran by itself after a burst lost packets.",
                            TK)
LOSS_PATH_FAILURES = MetricSpec("commune_probe_loss_path_failures_total", "counter",
                                "Of those, the path probes that could not trace the path.", TK)
LOSS_PATH_FIRST_LOSSY = MetricSpec("commune_probe_loss_path_first_lossy_hop", "gauge",
                                   "Hop (distance) from which loss lasts to the end of the path, "
                                   "by the last path probe run after packet loss, and its "
                                   "address; 0 when no hop loses.", (*TK, "address"))
LOSS_PATH_TIMESTAMP = MetricSpec("commune_probe_loss_path_timestamp_seconds", "gauge",
                                 "When that path probe finished (Unix time).", TK)

METRICS = (SUCCESS, DURATION, FAILURE_REASON, CONNECT_DURATION, HTTP_STATUS, HTTP_PHASE,
           HTTP_CONTENT_LENGTH, HTTP_BODY_LENGTH, HTTP_REDIRECTS, HTTP_SSL, HTTP_VERSION,
           FAILED_DUE_TO_REGEX, SSL_EARLIEST, SSL_LAST_CHAIN, TLS_VERSION, DNS_LOOKUP, DNS_ANSWERS,
           DNS_RCODE, ICMP_LOSS, ICMP_RTT, ICMP_JITTER, ICMP_SENT, SIP_STATUS, SIP_RTT, PATH_HOPS,
           PATH_FIRST_BAD, PATH_HOP_RTT, PATH_HOP_LOSS, SCENARIO_SUCCESS, SCENARIO_STEP_SUCCESS,
           SCENARIO_STEP_DURATION, SCENARIO_HOP_DURATION, SCENARIO_STEP_STATUS, OCSP_STATUS,
           OCSP_DURATION, OCSP_THIS_UPDATE, OCSP_NEXT_UPDATE, OCSP_SIGNATURE, OCSP_REVOKED_AT,
           CRL_DURATION, CRL_SIZE, CRL_THIS_UPDATE, CRL_NEXT_UPDATE, CRL_REVOKED, CRL_SIGNATURE,
           LOSS_PATH_RUNS, LOSS_PATH_FAILURES, LOSS_PATH_FIRST_LOSSY, LOSS_PATH_TIMESTAMP,
           VC_MOS, VC_R_FACTOR, *THROUGHPUT_METRICS)

# internal: the probe raised something it does not expect, a bug of ours, not a network fault.
# signature: an OCSP response or a CRL whose signature does not verify.
Reason = Literal["dns", "connect", "tls", "timeout", "status", "content", "auth", "signature",
                 "internal"]
REASONS: tuple[Reason, ...] = ("dns", "connect", "tls", "timeout", "status", "content", "auth",
                               "signature", "internal")


class ProbeFailed(Exception):
    """A probe failed for ``reason`` (one of REASONS); the message says what happened."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


@dataclass
class ProbeResult:
    """What one probe of one target measured: samples by metric, and why it failed if it did."""

    samples: list[tuple[MetricSpec, tuple[str, ...], float]] = field(default_factory=list)
    reason: Reason | None = None
    message: str = ""
    rtts: list[float] = field(default_factory=list)  # every echo RTT and TCP connect time
    step: str | None = None  # a scenario's running step: a failure (a timeout too) names it

    @property
    def reason_label(self) -> str | None:
        """The ``reason`` label; a scenario's is prefixed by its step (``login:auth``)."""
        if self.reason is None or self.step is None:
            return self.reason
        return f"{self.step}:{self.reason}"

    def add(self, spec: MetricSpec, value: float, *labels: str) -> None:
        """Record ``value`` for ``spec`` with the extra labels after ``target`` and ``kind``.

        A second value for the same series replaces the first.
        """
        for i, (other, other_labels, _) in enumerate(self.samples):
            if other is spec and other_labels == labels:
                self.samples[i] = (spec, labels, value)
                return
        self.samples.append((spec, labels, value))

    def observe_rtt(self, seconds: float) -> None:
        """Count one ICMP echo RTT or TCP connect time in the target's latency histogram."""
        self.rtts.append(seconds)

    def fail(self, reason: Reason, message: str) -> None:
        """Mark the probe failed; the first failure wins."""
        if self.reason is None:
            self.reason, self.message = reason, message
