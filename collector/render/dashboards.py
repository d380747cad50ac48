"""Grafana dashboards as code: plain dicts, written as dashboards/*.json.

    python -m collector.render.dashboards dashboards/     # regenerate after editing this file

Every query uses metric names of the agent (node_exporter, blackbox_exporter and snmp_exporter
names, ``commune_*``) or the recording rules of configs/prometheus/rules/recording.yml. The
datasource is the ``DS_PROMETHEUS`` variable, so the dashboards import into any Grafana.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SCHEMA_VERSION = 39
Panel = dict[str, Any]


def _target(expr: str, legend: str = "", instant: bool = False) -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": "A",
            "instant": instant, "range": not instant}


def timeseries(title: str, exprs: list[tuple[str, str]], unit: str = "short",
               w: int = 12, h: int = 8) -> Panel:
    """A time-series panel, one query per (expr, legend)."""
    targets = [dict(_target(e, legend), refId=chr(65 + i)) for i, (e, legend) in enumerate(exprs)]
    return {"type": "timeseries", "title": title, "datasource": DS, "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "gridPos": {"w": w, "h": h}}


def stat(title: str, expr: str, unit: str = "short", thresholds: list[tuple[str, float | None]]
         | None = None, w: int = 6, h: int = 4) -> Panel:
    """A single-value panel with colour thresholds [(colour, from)]."""
    steps = [{"color": c, "value": v} for c, v in (thresholds or [("green", None)])]
    return {"type": "stat", "title": title, "datasource": DS, "targets": [_target(expr, "", True)],
            "fieldConfig": {"defaults": {"unit": unit, "thresholds": {
                "mode": "absolute", "steps": steps}}, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"},
            "gridPos": {"w": w, "h": h}}


def status_grid(title: str, expr: str, legend: str, w: int = 24, h: int = 12) -> Panel:
    """One coloured tile per series (0 red 'mất / down', 1 green 'OK'): a status grid."""
    panel = stat(title, expr, thresholds=[("red", None), ("green", 1)], w=w, h=h)
    panel["targets"][0]["legendFormat"] = legend
    panel["options"].update(textMode="name", graphMode="none", orientation="auto")
    panel["fieldConfig"]["defaults"]["mappings"] = [{"type": "value", "options": {
        "0": {"text": "mất / down", "color": "red"}, "1": {"text": "OK", "color": "green"}}}]
    return panel


def table(title: str, expr: str, unit: str = "short", w: int = 12, h: int = 10) -> Panel:
    """An instant-query table (one row per series), sorted as the query sorts it."""
    return {"type": "table", "title": title, "datasource": DS,
            "targets": [dict(_target(expr, "", True), format="table")],
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "transformations": [{"id": "organize", "options": {
                "excludeByName": {"Time": True, "__name__": True, "job": True}}}],
            "gridPos": {"w": w, "h": h}}


def _layout(panels: list[Panel]) -> list[Panel]:
    """Give panels ids and flow them left to right, top to bottom on Grafana's 24-column grid."""
    x = y = row_h = 0
    for number, panel in enumerate(panels, start=1):
        grid = panel["gridPos"]
        if x + grid["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        grid.update(x=x, y=y)
        x += grid["w"]
        row_h = max(row_h, grid["h"])
        panel["id"] = number
    return panels


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": name}, "refresh": 2,
            "sort": 1, "includeAll": False, "multi": False}


def dashboard(uid: str, title: str, panels: list[Panel],
              variables: Sequence[dict[str, Any]] = (), tags: tuple[str, ...] = ()
              ) -> dict[str, Any]:
    """A whole dashboard with the DS_PROMETHEUS datasource variable."""
    ds_var = {"name": "DS_PROMETHEUS", "label": "Nguồn dữ liệu / Datasource", "type": "datasource",
              "query": "prometheus", "refresh": 1, "hide": 0}
    return {"uid": uid, "title": title, "tags": ["commune-monitor", *tags],
            "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True,
            "time": {"from": "now-6h", "to": "now"}, "refresh": "1m", "timezone": "browser",
            "templating": {"list": [ds_var, *variables]}, "annotations": {"list": []},
            "panels": _layout(panels)}


C = '{commune="$commune"}'
PORTAL = 'target="tthc-portal"'


def province() -> dict[str, Any]:
    """Tổng quan tỉnh / Province overview: every commune at a glance, worst first."""
    return dashboard("commune-province", "Tổng quan tỉnh / Province overview", [
        stat("Xã mất kết nối / Communes with uplink down",
             "count(commune:uplink_probe_success:max == 0) or vector(0)",
             thresholds=[("green", None), ("red", 1)]),
        stat("Xã truy cập được cổng TTHC / Communes reaching the portal",
             f"target:probe_success:ratio_communes{{{PORTAL}}}", "percentunit",
             [("red", None), ("orange", 0.5), ("green", 0.95)]),
        stat("Agent trả lời / Agents answering", "province:commune_agent_up:ratio", "percentunit",
             [("red", None), ("orange", 0.9), ("green", 0.99)]),
        stat("Cảnh báo đang mở / Open alerts", 'count(ALERTS{alertstate="firing"}) or vector(0)',
             thresholds=[("green", None), ("orange", 1)]),
        status_grid("Lưới trạng thái các xã / Commune status grid (uplink)",
                    "sort(commune:uplink_probe_success:max)", "{{commune_name}}"),
        table("Trạng thái các xã (xấu nhất trước) / Commune status, worst first",
              "sort(commune:uplink_probe_success:max)", h=14),
        table("Đường truyền tệ nhất: mất gói / Worst links: packet loss",
              "topk(20, commune:commune_probe_icmp_packet_loss_ratio:max_avg5m)", "percentunit",
              h=14),
        timeseries("SLO cổng TTHC: tỉ lệ lỗi / Portal SLO error ratio", [
            ("province:tthc_portal_probe_errors:ratio_avg5m", "5m"),
            ("province:tthc_portal_probe_errors:ratio_avg1h", "1h"),
            ("province:tthc_portal_probe_errors:ratio_avg6h", "6h")], "percentunit"),
        table("Đường truyền tệ nhất: độ trễ / Worst links: RTT",
              "topk(20, commune:commune_probe_icmp_rtt_seconds:max_avg5m)", "s"),
        table("Cảnh báo đang mở / Open alerts",
              'sort_desc(count by (alertname, severity) (ALERTS{alertstate="firing"}))', w=24,
              h=8),
    ], tags=("province",))


def commune() -> dict[str, Any]:
    """Chi tiết xã / Commune detail, for the commune chosen in ``$commune``."""
    return dashboard("commune-detail", "Chi tiết xã / Commune detail", [
        stat("Đường truyền / Uplink (1 = up)", f"commune:uplink_probe_success:max{C}",
             thresholds=[("red", None), ("green", 1)]),
        stat("Mất gói / Packet loss", f"commune:commune_probe_icmp_packet_loss_ratio:max_avg5m{C}",
             "percentunit", [("green", None), ("orange", 0.05), ("red", 0.1)]),
        stat("RTT", f"commune:commune_probe_icmp_rtt_seconds:max_avg5m{C}", "s",
             [("green", None), ("orange", 0.15), ("red", 0.4)]),
        stat("Cảnh báo / Alerts", 'count(ALERTS{alertstate="firing", commune="$commune"}) '
             "or vector(0)", thresholds=[("green", None), ("orange", 1)]),
        timeseries("Phép thử thành công / Probe success by target",
                   [(f"commune_target:probe_success:max{C}", "{{target}}")]),
        timeseries("Thời gian phép thử / Probe duration by target",
                   [(f"commune_target:probe_duration_seconds:avg5m{C}", "{{target}}")], "s"),
        timeseries("Cổng TTHC theo giai đoạn / Portal phases",
                   [(f'commune_target_phase:probe_http_duration_seconds:avg5m{{commune="$commune",'
                     f' {PORTAL}}}', "{{phase}}")], "s"),
        table("Nguyên nhân lỗi / Failure reasons",
              f'commune_probe_failure_reason{C} == 1'),
        timeseries("Mất gói ICMP / ICMP packet loss",
                   [(f"commune_probe_icmp_packet_loss_ratio{C}", "{{target}}")], "percentunit"),
        timeseries("RTT và jitter / RTT and jitter", [
            ('commune_probe_icmp_rtt_seconds{commune="$commune", stat="avg"}', "rtt {{target}}"),
            (f"commune_probe_icmp_jitter_seconds{C}", "jitter {{target}}")], "s"),
        timeseries("CPU", [(f"commune_instance:node_cpu_busy:ratio_rate5m{C}", "{{instance}}")],
                   "percentunit", w=8),
        timeseries("Bộ nhớ khả dụng / Memory available",
                   [(f"commune_instance:node_memory_available:ratio{C}", "{{instance}}")],
                   "percentunit", w=8),
        timeseries("Ổ đĩa trống / Disk free",
                   [(f"commune_instance_mountpoint:node_filesystem_avail:ratio{C}",
                     "{{instance}} {{mountpoint}}")], "percentunit", w=8),
        timeseries("Lưu lượng cổng mạng / Interface traffic", [
            (f"interface:ifHCInOctets:rate5m{C} * 8", "in {{device}} {{ifName}}"),
            (f"interface:ifHCOutOctets:rate5m{C} * 8", "out {{device}} {{ifName}}")], "bps"),
        table("Kết quả chẩn đoán / Diagnostics (commune-diag)",
              f"commune_diag_check_success{C}"),
    ], [_variable("commune", "Xã / Commune", "label_values(commune:probe_success:max, commune)")],
        tags=("commune",))


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
              f"sort(commune_target:probe_success:max{{{PORTAL}}})"),
        table("Xã chậm nhất / Slowest communes",
              f"topk(20, commune_target:probe_duration_seconds:avg5m{{{PORTAL}}})", "s"),
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
             "(rate(commune_http_request_duration_seconds_bucket[5m])))", "p50 {{route}}")], "s"),
        timeseries("Yêu cầu đáng ngờ theo loại / Suspicious requests by kind", [
            ("sum by (kind) (file_kind:commune_http_suspicious_requests:rate5m)", "{{kind}}")],
            "reqps"),
        table("Nguồn gây loạt lỗi 401/403/404 / Error-burst sources",
              "topk(20, commune_http_error_burst_source_responses)"),
    ], tags=("tthc",))


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
              "sort(commune_vc_up + (max without (protocol) (commune_vc_registered) or "
              "commune_vc_up))", w=24),
        timeseries("Mất gói trong cuộc họp / Call packet loss",
                   [("commune_vc_packet_loss_ratio", "{{commune_name}} {{device}} {{direction}}")],
                   "percentunit"),
        timeseries("Jitter trong cuộc họp / Call jitter",
                   [("commune_vc_jitter_seconds", "{{commune_name}} {{device}} {{direction}}")],
                   "s"),
        table("Mã SIP OPTIONS / SIP OPTIONS status", "commune_probe_sip_status_code", w=24),
    ], tags=("vc",))


def network() -> dict[str, Any]:
    """Thiết bị mạng / Network devices (SNMP)."""
    return dashboard("commune-network", "Thiết bị mạng / Network devices (SNMP)", [
        stat("Thiết bị không đọc được / Devices not answering SNMP",
             "count(commune_snmp_up == 0) or vector(0)", thresholds=[("green", None), ("red", 1)]),
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
              "topk(20, interface:if_in_utilization:ratio5m)", "percentunit"),
        table("Cổng nhiều lỗi nhất / Ports with most errors",
              "topk(20, interface:if_errors:rate5m + interface:if_discards:rate5m)"),
        timeseries("Lỗi và bỏ gói / Errors and discards", [
            ("interface:if_errors:rate5m > 0", "errors {{commune_name}} {{device}} {{ifName}}"),
            ("interface:if_discards:rate5m > 0",
             "discards {{commune_name}} {{device}} {{ifName}}")]),
        timeseries("Trạng thái cổng đổi / Port state changes (15m)",
                   [("changes(ifOperStatus[15m]) > 0", "{{commune_name}} {{device}} {{ifName}}")]),
        table("Cổng bật nhưng không lên / Admin up, oper down",
              "ifOperStatus != 1 and on (commune, instance, device, ifIndex) ifAdminStatus == 1"),
        table("Thiết bị khởi động lại gần đây / Recently restarted devices",
              "sort(sysUpTime / 100) < 86400", "s"),
        timeseries("Tốc độ cổng / Port speed", [("ifHighSpeed > 0", "{{device}} {{ifName}}")],
                   "Mbits", w=24),
    ], tags=("snmp",))


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
        table("Mô-đun lỗi / Failing modules", "commune_module_up == 0"),
        timeseries("Lỗi mô-đun / Module errors", [
            ("sum by (module) (rate(commune_module_errors_total[5m]))", "{{module}}")]),
        timeseries("Thời gian thu thập / Collection time", [
            ("max by (module) (commune_module_duration_seconds)", "{{module}}")], "s"),
        timeseries("Độ trễ gửi / Push lag", [
            ("topk(10, commune_push_lag_seconds)", "{{commune_name}}"),
            ("topk(10, commune_push_oldest_sample_age_seconds)", "oldest {{commune_name}}")], "s"),
        timeseries("Mẫu gửi và bỏ / Samples sent and dropped", [
            ("sum(rate(commune_push_sent_samples_total[5m]))", "sent"),
            ("sum by (reason) (rate(commune_push_dropped_samples_total[5m]))",
             "dropped {{reason}}")]),
        table("Agent im lặng lâu nhất / Longest silent pushed agents",
              "topk(20, commune_instance:commune_agent_heartbeat:age_seconds)", "s", w=24),
    ], tags=("fleet",))


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
              "topk(20, commune_auth_failures_top_source)"),
        table("Cổng lạ / Unexpected listening sockets", "commune_unexpected_listen == 1"),
        table("Thiết bị lạ theo xã / Unknown LAN devices by commune",
              "sort_desc(commune_lan_unknown_devices > 0)"),
        table("Thiết bị mới thấy / LAN devices first seen (newest first)",
              "sort_desc(topk(50, commune_lan_device_first_seen_timestamp_seconds))",
              "dateTimeAsIso"),
        table("Thay đổi tính toàn vẹn / Integrity changes",
              "instance_path_set:commune_integrity_differences:sum > 0"),
        table("Chứng chỉ cục bộ (sớm hết hạn trước) / Local certificates, soonest first",
              "sort(commune_cert_expiry_timestamp_seconds - time())", "s"),
        table("Bản cập nhật chờ cài / Pending updates",
              'sort_desc(commune_pending_updates{kind="security"})'),
        table("Dịch vụ không mã hoá, SNMP mặc định / Cleartext services, default SNMP community",
              "commune_insecure_service == 1 or commune_snmp_default_community == 1"),
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
        table("Lỗi phép thử theo nguyên nhân / Probe failures by reason",
              "sum by (target, reason) (commune_probe_failure_reason == 1)"),
        table("Xã thấy chứng chỉ khác số đông / Communes seeing another portal certificate",
              f"probe_ssl_last_chain_expiry_timestamp_seconds{{{PORTAL}}} != on () group_left "
              f"quantile(0.5, probe_ssl_last_chain_expiry_timestamp_seconds{{{PORTAL}}}) "
              "or on () vector(0)", w=24),
        timeseries("Chuyển hướng / Redirects", [
            ("max by (target) (probe_http_redirects)", "{{target}}")]),
        timeseries("Thời gian DNS / DNS lookup time (p90 over communes)", [
            ("quantile by (target) (0.9, probe_dns_lookup_time_seconds)", "{{target}}")], "s"),
    ], tags=("security",))


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
