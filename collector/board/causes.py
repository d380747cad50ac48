"""The causes a tile can show, each one short phrase in Vietnamese and English.

A cause has a key (stable, in the JSON), its phrases and the state it gives a commune. Alerts
of the shipped rules map to the same keys (:data:`ALERT_CAUSES`), so a cause seen both in the
metrics and in an alert is shown once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class State(enum.IntEnum):
    """A commune's state; a larger value is worse, and the board sorts worst first."""

    OK = 0
    NO_DATA = 1
    DEGRADED = 2
    DOWN = 3

    @property
    def slug(self) -> str:
        """``ok``, ``nodata``, ``degraded``, ``down``: the CSS class and the JSON value."""
        return self.name.lower().replace("_", "")

    @property
    def label(self) -> str:
        """The state in both languages."""
        return _STATE_LABELS[self]


_STATE_LABELS = {State.OK: "bình thường / ok", State.NO_DATA: "chưa có số liệu / no data",
                 State.DEGRADED: "suy giảm / degraded", State.DOWN: "mất kết nối / down"}


@dataclass(frozen=True)
class Cause:
    """Why a commune is not ok, in one phrase per language."""

    key: str
    vi: str
    en: str
    state: State

    @property
    def text(self) -> str:
        """``vi / en``, as the tiles show it."""
        return f"{self.vi} / {self.en}"


def _cause(key: str, vi: str, en: str, state: State = State.DEGRADED) -> Cause:
    return Cause(key, vi, en, state)


NO_DATA = _cause("no-data", "chưa có số liệu", "no data", State.NO_DATA)
AGENT_UNREACHABLE = _cause("agent-unreachable", "không liên lạc được xã", "commune unreachable",
                           State.DOWN)
AGENT_SILENT = _cause("agent-silent", "xã ngừng gửi số liệu", "agent silent", State.DOWN)
UPLINK_DOWN = _cause("uplink-down", "mất kết nối", "uplink down", State.DOWN)
NODE_UNREACHABLE = _cause("node-unreachable", "một máy không liên lạc được", "a node unreachable")
PORTAL_SLOW = _cause("portal-slow", "cổng TTHC chậm", "portal slow")
PACKET_LOSS = _cause("packet-loss", "đường truyền mất gói", "packet loss")
HIGH_LATENCY = _cause("high-latency", "đường truyền trễ cao", "high latency")
LINK_CONGESTED = _cause("link-congested", "đường truyền nghẽn", "link congested")
SIGNATURE = _cause("signature", "dịch vụ chữ ký số lỗi", "signature service fault")
VC_FAULT = _cause("vc-fault", "hội nghị truyền hình lỗi", "VC fault")
NETWORK_DEVICE = _cause("network-device", "thiết bị mạng không phản hồi", "network device down")
DISK = _cause("disk", "ổ đĩa sắp đầy", "disk nearly full")
MEMORY = _cause("memory", "máy thiếu bộ nhớ", "memory short")
SECURITY = _cause("security", "cảnh báo an ninh", "security alert")
WEB_SERVER = _cause("web-server", "máy chủ web lỗi", "web server errors")
AGENT_PROBLEM = _cause("agent", "agent gặp sự cố", "agent problem")

# The province targets every commune probes (inventory province_targets), and the usual LAN one.
_TARGETS = {
    "tthc-portal": ("không vào được cổng TTHC", "portal unreachable"),
    "tthc-db": ("không kết nối được CSDL", "database unreachable"),
    "vc-sip": ("không kết nối được tổng đài SIP", "SIP server unreachable"),
    "gateway": ("mất kết nối cổng mạng LAN", "LAN gateway unreachable"),
}


def target_unreachable(target: str) -> Cause:
    """The commune cannot reach ``target`` while its uplink works."""
    vi, en = _TARGETS.get(target, (f"không truy cập được {target}", f"{target} unreachable"))
    return _cause(f"target:{target}", vi, en)


# Alert names of configs/prometheus/rules/ -> the cause they report.
ALERT_CAUSES: dict[str, Cause] = {
    "CommuneUplinkDown": UPLINK_DOWN,
    "CommuneAgentDown": AGENT_UNREACHABLE,
    "CommuneAgentSilent": AGENT_SILENT,
    "CommuneAgentNotReporting": AGENT_SILENT,
    "CommunePortalSlow": PORTAL_SLOW,
    "CommuneLinkPacketLoss": PACKET_LOSS,
    "CommuneLinkLatencyHigh": HIGH_LATENCY,
    "CommuneLinkCongested": LINK_CONGESTED,
    "CommuneSignatureServiceUnreachable": SIGNATURE,
    "SignatureServiceDownProvinceWide": SIGNATURE,
    "CRLStale": SIGNATURE,
    "VCEndpointUnreachable": VC_FAULT,
    "VCEndpointUnregistered": VC_FAULT,
    "VCCallQualityPoor": VC_FAULT,
    "NetworkDeviceUnreachable": NETWORK_DEVICE,
    "InterfaceErrors": NETWORK_DEVICE,
    "InterfaceDiscards": NETWORK_DEVICE,
    "InterfaceFlapping": NETWORK_DEVICE,
    "LinkSaturated": NETWORK_DEVICE,
    "CommuneDiskNearlyFull": DISK,
    "CommuneMemoryPressure": MEMORY,
    "CommunePushLagging": AGENT_PROBLEM,
    "CommunePushDroppingSamples": AGENT_PROBLEM,
    "CommuneAgentModuleFailing": AGENT_PROBLEM,
    "CommuneClockSkew": AGENT_PROBLEM,
    "TTHCWebServerErrors": WEB_SERVER,
    "TTHCWebServerSlow": WEB_SERVER,
    "TTHCWebLogUnreadable": WEB_SERVER,
}
_SECURITY_ALERTS = ("AuthBruteForce", "UnexpectedListeningPort", "InsecureServiceListening",
                    "SNMPDefaultCommunity", "UnknownLANDevice", "FileIntegrityChanged",
                    "LocalCertificateExpiring", "SecurityUpdatesPending", "SecurityCheckDown",
                    "TTHCWebAttackPatterns", "TTHCWebErrorBursts", "CommuneTLSCertificateMismatch",
                    "TrustRootMissing")


def alert_cause(name: str, labels: dict[str, str] | None = None) -> Cause:
    """The cause an open commune alert reports; it makes a commune degraded, at worst."""
    labels = labels or {}
    if name == "CommuneTargetUnreachable":
        return target_unreachable(labels.get("target", "?"))
    if name.startswith(_SECURITY_ALERTS) or labels.get("runbook") == "security":
        return SECURITY
    cause = ALERT_CAUSES.get(name) or _cause(f"alert:{name}", f"cảnh báo {name}", f"alert {name}")
    return Cause(cause.key, cause.vi, cause.en, min(cause.state, State.DEGRADED))
