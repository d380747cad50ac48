"""Grafana dashboards as code: plain dicts, written as dashboards/*.json.

    python -m collector.render.dashboards dashboards/     # regenerate after editing this file

Every query uses metric names of the agent (node_exporter, blackbox_exporter and snmp_exporter
names, ``commune_*``) or the recording rules of configs/prometheus/rules/recording.yml. Every
dashboard has the ``region`` and (multi-select) ``commune`` variables, both fed from the inventory
series ``commune_inventory_node_info``, so a commune that never reported can still be picked.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collector.render.panels import (
    Panel,
    dashboard,
    heatmap,
    repeated,
    row,
    stat,
    state_timeline,
    table,
    timeseries,
)
from collector.render.status_view import (
    ALERTS,
    PASSING,
    PORTAL,
    SEL,
    STATUS,
    STATUS_MAPPINGS,
    UPLINK,
    C,
    alert_annotations,
    status_table,
    variables,
)


def province() -> dict[str, Any]:
    """Tổng quan tỉnh / Province overview: every inventory commune, by region, worst first."""
    return dashboard("commune-province", "Tổng quan tỉnh / Province overview", [
        stat("Xã mất kết nối / Communes with uplink down",
             f"count({UPLINK} == 0) or vector(0)", thresholds=[("green", None), ("red", 1)]),
        stat("Xã không có dữ liệu / Communes with no data",
             f"count(({STATUS}) == -1) or vector(0)", thresholds=[("green", None), ("orange", 1)]),
        stat("Xã truy cập được cổng TTHC / Communes reaching the portal",
             f"target:probe_success:ratio_communes{{{PORTAL}}}", "percentunit",
             [("red", None), ("orange", 0.5), ("green", 0.95)]),
        stat("Cảnh báo đang mở / Open alerts", f"count({ALERTS}) or vector(0)",
             thresholds=[("green", None), ("orange", 1)]),
        repeated(status_table("Trạng thái xã: $region (xấu nhất trước) / Communes, worst first"),
                 "region"),
        repeated(state_timeline("Lịch sử 24 giờ: $region / Last 24 h", STATUS, "{{commune}}",
                                STATUS_MAPPINGS, w=12, h=9), "region"),
        table("Đường truyền tệ nhất: mất gói / Worst links: packet loss",
              f"topk(20, commune:commune_probe_icmp_packet_loss_ratio:max_avg5m{C})",
              "percentunit", h=10, drill=True),
        table("Đường truyền tệ nhất: độ trễ / Worst links: RTT",
              f"topk(20, commune:commune_probe_icmp_rtt_seconds:max_avg5m{C})", "s", h=10,
              drill=True),
        timeseries("SLO cổng TTHC: tỉ lệ lỗi / Portal SLO error ratio", [
            ("province:tthc_portal_probe_errors:ratio_avg5m", "5m"),
            ("province:tthc_portal_probe_errors:ratio_avg1h", "1h"),
            ("province:tthc_portal_probe_errors:ratio_avg6h", "6h")], "percentunit"),
        stat("Agent trả lời / Agents answering", "province:commune_agent_up:ratio", "percentunit",
             [("red", None), ("orange", 0.9), ("green", 0.99)], w=12, h=8),
        table("Cảnh báo đang mở / Open alerts",
              f"sort_desc(count by (alertname, severity) ({ALERTS})) or on () vector(0)", w=24,
              h=8),
    ], variables(), ("province",), alert_annotations())


def commune() -> dict[str, Any]:
    """Chi tiết xã / Commune detail, for the communes chosen in ``$commune``."""
    return dashboard("commune-detail", "Chi tiết xã / Commune detail", [
        stat("Đường truyền / Uplink (1 = up)", f"min({UPLINK})",
             thresholds=[("red", None), ("green", 1)]),
        stat("Mất gói / Packet loss",
             f"max(commune:commune_probe_icmp_packet_loss_ratio:max_avg5m{C})",
             "percentunit", [("green", None), ("orange", 0.05), ("red", 0.1)]),
        stat("RTT", f"max(commune:commune_probe_icmp_rtt_seconds:max_avg5m{C})", "s",
             [("green", None), ("orange", 0.15), ("red", 0.4)]),
        stat("Cảnh báo / Alerts", f'count(ALERTS{{alertstate="firing", {SEL}}}) or vector(0)',
             thresholds=[("green", None), ("orange", 1)]),
        state_timeline("Trạng thái / Status", STATUS, "{{commune}} {{commune_name}}",
                       STATUS_MAPPINGS, time_from="", h=5),
        timeseries("Phép thử thành công / Probe success by target",
                   [(f"commune_target:probe_success:max{C}", "{{commune}} {{target}}")]),
        timeseries("Thời gian phép thử / Probe duration by target",
                   [(f"commune_target:probe_duration_seconds:avg5m{C}",
                     "{{commune}} {{target}}")], "s"),
        timeseries("Cổng TTHC theo giai đoạn / Portal phases",
                   [(f"commune_target_phase:probe_http_duration_seconds:avg5m{{{SEL}, {PORTAL}}}",
                     "{{commune}} {{phase}}")], "s"),
        table("Phép thử (lỗi trước) / Probes, failing first (1 = failing, with the reason)",
              f"sort_desc(max by (commune, target, reason) (commune_probe_failure_reason{C}) "
              f"or on (commune, target) {PASSING.format(by='commune, target', sel=C)})"),
        timeseries("Mất gói ICMP / ICMP packet loss",
                   [(f"commune_probe_icmp_packet_loss_ratio{C}", "{{commune}} {{target}}")],
                   "percentunit"),
        timeseries("RTT và jitter / RTT and jitter", [
            (f'commune_probe_icmp_rtt_seconds{{{SEL}, stat="avg"}}', "rtt {{commune}} {{target}}"),
            (f"commune_probe_icmp_jitter_seconds{C}", "jitter {{commune}} {{target}}")], "s"),
        timeseries("CPU", [(f"commune_instance:node_cpu_busy:ratio_rate5m{C}",
                            "{{commune}} {{instance}}")], "percentunit", w=8),
        timeseries("Bộ nhớ khả dụng / Memory available",
                   [(f"commune_instance:node_memory_available:ratio{C}",
                     "{{commune}} {{instance}}")], "percentunit", w=8),
        timeseries("Ổ đĩa trống / Disk free",
                   [(f"commune_instance_mountpoint:node_filesystem_avail:ratio{C}",
                     "{{commune}} {{instance}} {{mountpoint}}")], "percentunit", w=8),
        timeseries("Lưu lượng cổng mạng / Interface traffic", [
            (f"interface:ifHCInOctets:rate5m{C} * 8", "in {{device}} {{ifName}}"),
            (f"interface:ifHCOutOctets:rate5m{C} * 8", "out {{device}} {{ifName}}")], "bps"),
        # commune-diag's textfile carries commune and node only (no inventory labels): the
        # communes of the chosen regions are the ones in $commune.
        table("Kết quả chẩn đoán / Diagnostics (commune-diag)",
              'sort(commune_diag_check_success{commune=~"$commune"})'),
        *why_slow(),
    ], variables(), ("commune",),
        alert_annotations(f'ALERTS{{alertstate="firing", {SEL}}}'))


# The bufferbloat grade's number (recording.yml: 6 A+ .. 1 F) shown as its letter.
GRADE_MAPPINGS: list[dict[str, Any]] = [{"type": "value", "options": {
    str(score): {"text": grade, "color": colour, "index": index}
    for index, (score, grade, colour) in enumerate((
        (6, "A+", "green"), (5, "A", "green"), (4, "B", "yellow"), (3, "C", "orange"),
        (2, "D", "red"), (1, "F", "dark-red")))}}]
RTT_BUCKETS = "commune_probe_rtt_histogram_seconds_bucket"


def _rtt_quantile(q: float) -> tuple[str, str]:
    return (f"histogram_quantile({q:g}, sum by (commune, target, le) "
            f"(rate({RTT_BUCKETS}{C}[$__rate_interval])))",
            f"p{q * 100:g} {{{{commune}}}} {{{{target}}}}")


def why_slow() -> list[Panel]:
    """The commune detail's "Vì sao chậm?" row: the RTT distribution of every probe (ICMP and
    TCP connects), the hourly throughput runs with latency under load, who and what uses the
    link (the flows module)."""
    flows = f'commune_flow_bytes_total{{{SEL}, host!="other"}}'
    return [
        row("Vì sao chậm? / Why is it slow?"),
        heatmap("Phân bố độ trễ / RTT distribution (ICMP, TCP connect)",
                f"sum by (le) (increase({RTT_BUCKETS}{C}[$__rate_interval]))"),
        timeseries("Độ trễ p50, p90, p99 / RTT p50, p90, p99 by target",
                   [_rtt_quantile(0.5), _rtt_quantile(0.9), _rtt_quantile(0.99)], "s"),
        timeseries("Băng thông đo được / Measured throughput (iperf3, hourly)",
                   [(f"commune_throughput_bits_per_second{C}",
                     "{{direction}} {{commune}} {{target}}")], "bps", w=10),
        timeseries("Độ trễ khi tải và khi rảnh / Latency under load and idle", [
            (f"commune_latency_under_load_seconds{C}",
             "under load {{direction}} {{commune}} {{target}}"),
            (f"commune_throughput_idle_latency_seconds{C}", "idle {{commune}} {{target}}")],
            "s", w=10),
        stat("Bufferbloat (xấu nhất / worst)",
             f"min(commune_target_direction:commune_bufferbloat_grade:score{C})",
             thresholds=[("dark-red", None), ("red", 2), ("orange", 3), ("yellow", 4),
                         ("green", 5)], w=4, h=8, mappings=GRADE_MAPPINGS),
        table("Máy dùng nhiều nhất / Top talkers (flows, over the range)",
              f"topk(10, sum by (commune, host) (rate({flows}[$__range])))", "Bps"),
        table("Ứng dụng dùng nhiều nhất / Top apps (flows, over the range)",
              f"topk(10, sum by (commune, app) "
              f"(rate(commune_flow_bytes_total{C}[$__range])))", "Bps"),
    ]


def portal() -> dict[str, Any]:
    """Cổng TTHC / TTHC portal: SLO, phases, availability by commune, certificate."""
    return dashboard("commune-tthc-portal", "Cổng dịch vụ công TTHC / TTHC portal", [
        stat("Phép thử tốt / Good probes (SLO 99%)", "province:tthc_portal_probe_good:ratio",
             "percentunit", [("red", None), ("orange", 0.95), ("green", 0.99)]),
        stat("Ngân sách lỗi 6h / Error ratio 6h",
             "province:tthc_portal_probe_errors:ratio_avg6h", "percentunit",
             [("green", None), ("orange", 0.01), ("red", 0.06)]),
        stat("Chứng chỉ còn / Certificate left",
             f"min(probe_ssl_last_chain_expiry_timestamp_seconds{{{PORTAL}}}) - time()", "s",
             [("red", None), ("orange", 3 * 86400), ("green", 14 * 86400)]),
        stat("Thời gian trung vị / Median duration",
             f"target:probe_duration_seconds:p50{{{PORTAL}}}", "s",
             [("green", None), ("orange", 3), ("red", 6)]),
        timeseries("Giai đoạn (trung vị các xã) / Phases, median over communes",
                   [(f"target_phase:probe_http_duration_seconds:p50{{{PORTAL}}}", "{{phase}}")],
                   "s"),
        timeseries("Giai đoạn (p90 các xã) / Phases, p90 over communes",
                   [(f"target_phase:probe_http_duration_seconds:p90{{{PORTAL}}}", "{{phase}}")],
                   "s"),
        timeseries("Tỉ lệ lỗi SLO / SLO error ratio", [
            ("province:tthc_portal_probe_errors:ratio_avg5m", "5m"),
            ("province:tthc_portal_probe_errors:ratio_avg30m", "30m"),
            ("province:tthc_portal_probe_errors:ratio_avg1h", "1h")], "percentunit"),
        timeseries("Mã trạng thái HTTP / HTTP status codes",
                   [(f'count_values("code", probe_http_status_code{{{PORTAL}}})', "{{code}}")]),
        table("Khả dụng theo xã (xấu nhất trước) / Availability by commune, worst first",
              f"sort(commune_target:probe_success:max{{{SEL}, {PORTAL}}})", drill=True),
        table("Xã chậm nhất / Slowest communes",
              f"topk(20, commune_target:probe_duration_seconds:avg5m{{{SEL}, {PORTAL}}})", "s",
              drill=True),
        # The web servers' own access logs (agent's logs module).
        stat("Tỉ lệ lỗi 5xx (máy chủ) / 5xx ratio (server logs)",
             "max(file:commune_http_server_errors:ratio_rate5m) or vector(0)", "percentunit",
             [("green", None), ("orange", 0.05), ("red", 0.25)]),
        stat("Yêu cầu mỗi giây / Requests per second",
             "sum(file:commune_http_requests:rate5m) or vector(0)", "reqps"),
        stat("p90 thời gian xử lý / p90 request time (server logs)",
             "max(file:commune_http_request_duration_seconds:p90_rate5m)", "s",
             [("green", None), ("orange", 1), ("red", 2)]),
        stat("Nhật ký đọc được / Logs followed", "min(commune_logs_file_up)",
             thresholds=[("red", None), ("green", 1)]),
        timeseries("Yêu cầu theo mã trạng thái / Requests by status class", [
            ("sum by (status_class) (file_status_class:commune_http_requests:rate5m)",
             "{{status_class}}")], "reqps"),
        timeseries("Thời gian xử lý (nhật ký) / Request time from the logs", [
            ("file:commune_http_request_duration_seconds:p90_rate5m", "p90 {{instance}} {{file}}"),
            ("histogram_quantile(0.5, sum by (le, route) "
             "(rate(commune_http_request_duration_seconds_bucket[5m])))", "p50 {{route}}")], "s",
            drill=True),
        timeseries("Yêu cầu đáng ngờ theo loại / Suspicious requests by kind", [
            ("sum by (kind) (file_kind:commune_http_suspicious_requests:rate5m)", "{{kind}}")],
            "reqps"),
        table("Nguồn gây loạt lỗi 401/403/404 / Error-burst sources",
              f"topk(20, commune_http_error_burst_source_responses{C})", drill=True),
    ], variables(), ("tthc",), alert_annotations())


def vc() -> dict[str, Any]:
    """Hội nghị truyền hình / VC hardware."""
    return dashboard("commune-vc", "Thiết bị hội nghị truyền hình / VC hardware", [
        stat("Thiết bị không phản hồi / Endpoints down",
             "count(commune_vc_up == 0) or vector(0)", thresholds=[("green", None), ("red", 1)]),
        stat("Chưa đăng ký / Not registered",
             "count(max without (protocol) (commune_vc_registered) == 0) or vector(0)",
             thresholds=[("green", None), ("orange", 1)]),
        stat("Đang họp / In a call", "sum(commune_vc_in_call) or vector(0)"),
        stat("SIP tỉnh trả lời / Province SIP answering",
             'target:probe_success:ratio_communes{target="vc-sip"}', "percentunit",
             [("red", None), ("orange", 0.5), ("green", 0.95)]),
        # 2 = up and registered (or up, where the vendor does not report registration),
        # 1 = up but not registered, 0 = down
        table("Thiết bị (xấu nhất trước) / Endpoints, worst first",
              f"sort(commune_vc_up{C} + (max without (protocol) (commune_vc_registered{C}) or "
              f"commune_vc_up{C}))", w=24, drill=True),
        timeseries("Mất gói trong cuộc họp / Call packet loss",
                   [(f"commune_vc_packet_loss_ratio{C}",
                     "{{commune_name}} {{device}} {{direction}}")],
                   "percentunit", drill=True),
        timeseries("Jitter trong cuộc họp / Call jitter",
                   [(f"commune_vc_jitter_seconds{C}", "{{commune_name}} {{device}} {{direction}}")],
                   "s", drill=True),
        table("Mã SIP OPTIONS / SIP OPTIONS status", f"commune_probe_sip_status_code{C}", w=12,
              drill=True),
        # G.107 E-model from the ICMP burst towards the MCU (probe targets with mos: true)
        timeseries("MOS ước tính tới MCU / Estimated call quality (MOS) towards the MCU",
                   [(f"commune_vc_mos_estimate{C}", "{{commune_name}} {{target}}")], "short",
                   drill=True),
        *conference_readiness(),
    ], variables(), ("vc",), alert_annotations())


def conference_readiness() -> list[dict[str, Any]]:
    """The conference readiness row of the VC dashboard (rules/commune-conferences.yml, rendered
    from the schedule; empty tables when no conference is upcoming)."""
    return [
        row("Sẵn sàng hội nghị / Conference readiness"),
        # the start as Unix milliseconds, which Grafana shows as a local date and time
        table("Hội nghị sắp tới (sớm nhất trước) / Upcoming conferences, soonest first",
              "sort(conference:start_timestamp_seconds:value * 1000)", "dateTimeAsLocal",
              w=12, h=6),
        stat("Xã sẵn sàng / Communes ready",
             f"count(commune_conference:vc_ready:bool{C} == 1) or vector(0)",
             thresholds=[("blue", None)], w=6, h=6),
        stat("Xã chưa sẵn sàng / Communes not ready",
             f"count(commune_conference:vc_ready:bool{C} == 0) or vector(0)",
             thresholds=[("green", None), ("red", 1)], w=6, h=6),
        # one row per commune, conference and reason (unreachable, unregistered, mos_low,
        # no_data), while the conference's window is open
        table("Xã chưa sẵn sàng và lý do / Communes not ready, with the reason",
              f"commune_conference_reason:vc_not_ready:bool{C}", w=24, drill=True),
    ]


def network() -> dict[str, Any]:
    """Thiết bị mạng / Network devices (SNMP)."""
    return dashboard("commune-network", "Thiết bị mạng / Network devices (SNMP)", [
        stat("Thiết bị không đọc được / Devices not answering SNMP",
             f"count(commune_snmp_up{C} == 0) or vector(0)",
             thresholds=[("green", None), ("red", 1)]),
        stat("Cổng bão hoà / Saturated ports",
             "count(interface:if_in_utilization:ratio5m > 0.9 or "
             "interface:if_out_utilization:ratio5m > 0.9) or vector(0)",
             thresholds=[("green", None), ("orange", 1)]),
        stat("Cổng có lỗi / Ports with errors",
             "count(interface:if_errors:rate5m > 0.1) or vector(0)",
             thresholds=[("green", None), ("orange", 1)]),
        stat("Thời gian đọc SNMP / SNMP poll time", "max(commune_snmp_scrape_duration_seconds)",
             "s"),
        table("Cổng dùng nhiều nhất / Busiest ports",
              f"topk(20, interface:if_in_utilization:ratio5m{C})", "percentunit", drill=True),
        table("Cổng nhiều lỗi nhất / Ports with most errors",
              f"topk(20, interface:if_errors:rate5m{C} + interface:if_discards:rate5m{C})",
              drill=True),
        # topk, not "> 0": a quiet network shows its ports at 0 rather than "no data".
        timeseries("Lỗi và bỏ gói / Errors and discards (top 10)", [
            (f"topk(10, interface:if_errors:rate5m{C})",
             "errors {{commune_name}} {{device}} {{ifName}}"),
            (f"topk(10, interface:if_discards:rate5m{C})",
             "discards {{commune_name}} {{device}} {{ifName}}")], drill=True),
        timeseries("Trạng thái cổng đổi / Port state changes (15m, top 10)",
                   [(f"topk(10, changes(ifOperStatus{C}[15m]))",
                     "{{commune_name}} {{device}} {{ifName}}")], drill=True),
        # 1 = admin up but oper down; the ports that are up follow at 0.
        table("Cổng bật nhưng không lên (trước) / Admin up, oper down first",
              f"sort_desc((ifOperStatus{C} != bool 1) and on (commune, instance, device, ifIndex) "
              f"ifAdminStatus{C} == 1)", drill=True),
        table("Thời gian chạy thiết bị (mới khởi động trước) / Device uptime, restarted first",
              f"sort(sysUpTime{C} / 100)", "s", drill=True),
        timeseries("Tốc độ cổng / Port speed", [(f"ifHighSpeed{C} > 0", "{{device}} {{ifName}}")],
                   "Mbits", w=24, drill=True),
    ], variables(), ("snmp",), alert_annotations())


def fleet() -> dict[str, Any]:
    """Sức khoẻ agent / Fleet health: versions, module errors, push lag."""
    return dashboard("commune-fleet", "Sức khoẻ agent / Fleet health", [
        stat("Agent trả lời / Agents answering", "province:commune_agent_up:ratio", "percentunit",
             [("red", None), ("orange", 0.9), ("green", 0.99)]),
        stat("Mô-đun lỗi / Failing modules", "count(commune_module_up == 0) or vector(0)",
             thresholds=[("green", None), ("orange", 1)]),
        stat("Độ trễ gửi lớn nhất / Worst push lag", "max(commune_push_lag_seconds)", "s",
             [("green", None), ("orange", 60), ("red", 300)]),
        stat("Bộ đệm lớn nhất / Largest spool", "max(commune_push_spool_bytes)", "bytes"),
        table("Phiên bản agent / Agent versions", "count by (version) (commune_agent_build_info)"),
        table("Mô-đun (lỗi trước) / Modules, failing first", f"sort(commune_module_up{C})",
              drill=True),
        timeseries("Lỗi mô-đun / Module errors", [
            ("sum by (module) (rate(commune_module_errors_total[5m]))", "{{module}}")]),
        timeseries("Thời gian thu thập / Collection time", [
            ("max by (module) (commune_module_duration_seconds)", "{{module}}")], "s"),
        timeseries("Độ trễ gửi / Push lag", [
            (f"topk(10, commune_push_lag_seconds{C})", "{{commune_name}}"),
            (f"topk(10, commune_push_oldest_sample_age_seconds{C})", "oldest {{commune_name}}")],
            "s", drill=True),
        timeseries("Mẫu gửi và bỏ / Samples sent and dropped", [
            ("sum(rate(commune_push_sent_samples_total[5m]))", "sent"),
            ("sum by (reason) (rate(commune_push_dropped_samples_total[5m]))",
             "dropped {{reason}}")]),
        table("Agent im lặng lâu nhất / Longest silent pushed agents",
              f"topk(20, commune_instance:commune_agent_heartbeat:age_seconds{C})", "s", w=24,
              drill=True),
    ], variables(), ("fleet",), alert_annotations())


def security() -> dict[str, Any]:
    """An ninh / Security: the agents' security module (logins, sockets, LAN devices, integrity,
    certificates, updates) and the TLS of the province's services seen from the communes."""
    auth = "instance_service_source:commune_auth_failures:rate5m"
    return dashboard("commune-security", "An ninh / Security", [
        stat("Đăng nhập sai từ Internet / Failed logins from the WAN (/s)",
             f'sum({auth}{{source_class="wan"}}) or vector(0)', "short",
             [("green", None), ("orange", 0.2), ("red", 2)]),
        stat("Đăng nhập sai trong mạng xã / Failed logins from LAN or local (/s)",
             f'sum({auth}{{source_class=~"lan|local"}}) or vector(0)', "short",
             [("green", None), ("red", 0.05)]),
        stat("Cổng lạ đang mở / Unexpected listening sockets",
             "sum(commune_unexpected_listen_sockets) or vector(0)",
             thresholds=[("green", None), ("orange", 1)]),
        stat("Thiết bị lạ trong mạng xã / Unknown LAN devices",
             "sum(commune_lan_unknown_devices) or vector(0)",
             thresholds=[("green", None), ("orange", 1)]),
        stat("Tệp khác bản gốc / Files differing from the baseline",
             "sum(instance_path_set:commune_integrity_differences:sum) or vector(0)",
             thresholds=[("green", None), ("red", 1)]),
        stat("Máy thiếu bản vá bảo mật / Nodes with pending security updates",
             'count(commune_pending_updates{kind="security"} > 0) or vector(0)',
             thresholds=[("green", None), ("orange", 1)]),
        stat("Chứng chỉ cục bộ sớm hết hạn / Soonest local certificate expiry",
             "min(commune_cert_expiry_timestamp_seconds) - time()", "s",
             [("red", None), ("orange", 3 * 86400), ("green", 14 * 86400)]),
        stat("Kiểm tra an ninh lỗi / Security checks failing",
             "count(commune_security_check_up == 0) or vector(0)",
             thresholds=[("green", None), ("orange", 1)]),
        timeseries("Đăng nhập sai theo nguồn / Failed logins by source class", [
            (f"sum by (source_class) ({auth})", "{{source_class}}")]),
        timeseries("Đăng nhập sai theo lý do / Failed logins by reason", [
            ("sum by (reason) (instance:commune_auth_failures:rate5m)", "{{reason}}")]),
        table("Nguồn đăng nhập sai nhiều nhất / Top failed-login sources",
              f"topk(20, commune_auth_failures_top_source{C})", drill=True),
        table("Cổng lạ / Unexpected listening sockets", f"commune_unexpected_listen{C} == 1",
              drill=True),
        table("Thiết bị lạ theo xã / Unknown LAN devices by commune",
              f"sort_desc(commune_lan_unknown_devices{C})", drill=True),
        table("Thiết bị mới thấy / LAN devices first seen (newest first)",
              f"sort_desc(topk(50, commune_lan_device_first_seen_timestamp_seconds{C}))",
              "dateTimeAsIso", drill=True),
        table("Tính toàn vẹn (khác trước) / Integrity, changed first",
              f"sort_desc(instance_path_set:commune_integrity_differences:sum{C})", drill=True),
        table("Chứng chỉ cục bộ (sớm hết hạn trước) / Local certificates, soonest first",
              f"sort(commune_cert_expiry_timestamp_seconds{C} - time())", "s", drill=True),
        table("Bản cập nhật chờ cài / Pending updates",
              f'sort_desc(commune_pending_updates{{kind="security", {SEL}}})', drill=True),
        table("Dịch vụ không mã hoá, SNMP mặc định / Cleartext services, default SNMP community",
              f"commune_insecure_service{C} == 1 or commune_snmp_default_community{C} == 1",
              drill=True),
        stat("Cổng TTHC qua HTTPS / Portal over HTTPS (min over communes)",
             f"min(probe_http_ssl{{{PORTAL}}})", thresholds=[("red", None), ("green", 1)]),
        stat("Chứng chỉ khác nhau / Distinct portal certificates seen",
             f'count(count_values("expiry", probe_ssl_last_chain_expiry_timestamp_seconds'
             f'{{{PORTAL}}}))', thresholds=[("green", None), ("orange", 2)]),
        stat("Xã lỗi TLS / Communes failing TLS",
             'count(commune_probe_failure_reason{reason="tls"} == 1) or vector(0)',
             thresholds=[("green", None), ("red", 1)]),
        stat("Xã sai nội dung / Communes failing the content check",
             'count(commune_probe_failure_reason{reason="content"} == 1) or vector(0)',
             thresholds=[("green", None), ("red", 1)]),
        table("Chứng chỉ theo dịch vụ / Certificate left by target",
              "min by (target) (probe_ssl_last_chain_expiry_timestamp_seconds) - time()", "s"),
        table("Lỗi phép thử theo nguyên nhân (lỗi trước) / Probe failures by reason",
              f"sort_desc(sum by (target, reason) (commune_probe_failure_reason{C}) "
              f"or on (target) {PASSING.format(by='target', sel=C)})"),
        table("Xã thấy chứng chỉ khác số đông / Communes seeing another portal certificate",
              f"probe_ssl_last_chain_expiry_timestamp_seconds{{{PORTAL}}} != on () group_left "
              f"quantile(0.5, probe_ssl_last_chain_expiry_timestamp_seconds{{{PORTAL}}}) "
              "or on () vector(0)", w=24),
        timeseries("Chuyển hướng / Redirects", [
            ("max by (target) (probe_http_redirects)", "{{target}}")]),
        timeseries("Thời gian DNS / DNS lookup time (p90 over communes)", [
            ("quantile by (target) (0.9, probe_dns_lookup_time_seconds)", "{{target}}")], "s"),
    ], variables(), ("security",), alert_annotations())


DASHBOARDS = {"province-overview": province, "commune-detail": commune,
              "tthc-portal": portal, "vc-hardware": vc, "network-devices": network,
              "fleet-health": fleet, "security": security}


def render_json(build: Callable[[], dict[str, Any]]) -> str:
    """One dashboard as the JSON text written to dashboards/."""
    return json.dumps(build(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write every dashboard into the folder given (default: dashboards/)."""
    out = Path(argv[0] if argv else "dashboards")
    out.mkdir(parents=True, exist_ok=True)
    for name, build in DASHBOARDS.items():
        (out / f"{name}.json").write_text(render_json(build), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
