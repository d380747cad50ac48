"""The board's HTML, written on the server: no script, no external asset (an offline LAN).

Everything that comes from Prometheus, Alertmanager or the inventory goes through ``_e()``
(``html.escape``), attributes included.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable

from collector.board.causes import State
from collector.board.conferences import Conference
from collector.board.slowness import FLOW_WINDOW, WhySlow
from collector.board.sources import Alert
from collector.board.status import Board, CommuneStatus

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.35 "DejaVu Sans",Arial,sans-serif;background:#f4f5f7;color:#1d2430}
header{background:#1d2430;color:#fff;padding:10px 16px;display:flex;flex-wrap:wrap;
 align-items:baseline;gap:6px 18px}
header h1{font-size:19px;margin:0}header a{color:#fff}
.when{color:#c9d1dc;font-size:12px}
main{padding:10px 16px}
.counts span{display:inline-block;padding:2px 9px;border-radius:10px;margin-right:4px;
 font-weight:bold;font-size:13px}
.ok{background:#2e7d32;color:#fff}.degraded{background:#f9a825;color:#1d2430}
.down{background:#c62828;color:#fff}.nodata{background:#9aa3ae;color:#fff}
.tile.ok{background:#e2f0e3;color:#1b4d1e;border-left:4px solid #2e7d32}
.tile.degraded{border-left:4px solid #b26a00}.tile.down{border-left:4px solid #7f0000}
.tile.nodata{border-left:4px solid #5b6573}
.notes,.alerts,.targets{margin:8px 0;padding:0;list-style:none}
.notes li{background:#fff3cd;padding:6px 10px;border-left:4px solid #f9a825;margin-bottom:4px}
.alerts li{background:#fff;padding:6px 10px;border-left:5px solid #f9a825;margin-bottom:4px}
.alerts li.critical{border-left-color:#c62828}
.alerts b{margin-right:6px}.alerts small{color:#5b6573}
.alerts kbd{display:block;font:12px monospace;color:#3a4452;margin-top:2px}
.targets li{display:inline-block;background:#fff;border-radius:4px;padding:3px 8px;
 margin:0 6px 4px 0;border-bottom:3px solid #2e7d32}
.targets li.tdown{border-bottom-color:#c62828}
.targets li.label{background:none;border:none;padding-left:0}
h2{font-size:16px;margin:16px 0 6px}
section h2{font-size:14px;margin:14px 0 5px;color:#3a4452}
section h2 small{font-weight:normal;color:#5b6573}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(168px,1fr));gap:5px}
.tile{display:block;padding:5px 7px;border-radius:4px;text-decoration:none;min-height:52px}
.tile .n{display:block;font-weight:bold;font-size:12.5px}
.tile .c{display:block;font-size:11.5px}
.tile.ok .c{opacity:.75}
.verdict{list-style:none;padding:0;margin:8px 0}
.verdict li{display:inline-block;margin:0 6px 4px 0}
table{border-collapse:collapse;background:#fff;margin:4px 0 12px;min-width:420px}
th,td{border:1px solid #d9dde3;padding:4px 8px;text-align:left;font-size:13px}
th{background:#eceff3}
td.bad{color:#c62828;font-weight:bold}td.good{color:#2e7d32}
.state{display:inline-block;padding:3px 10px;border-radius:4px;font-weight:bold}
code{background:#1d2430;color:#e8edf3;padding:6px 10px;display:inline-block;border-radius:4px;
 font-size:13px}
.empty{color:#5b6573;font-style:italic}
section.why-slow h2{font-size:16px;margin:16px 0 6px;color:inherit}
.why-slow h3{font-size:13.5px;margin:10px 0 4px;color:#3a4452}
.conference{background:#fff;border-left:5px solid #1565c0;padding:6px 12px;margin:10px 0}
.conference h2{margin:4px 0}.conference ul{margin:4px 0;padding-left:18px}
.conference .why{color:#c62828}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _page(title: str, body: str, refresh: int) -> str:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh > 0 else ""
    return ("<!doctype html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\">{meta}"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n")


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _header(title: str, generated_at: float | None, home: bool = True) -> str:
    link = '<a href="/">← bảng tổng hợp / board</a>' if home else ""
    when = (f'<span class="when">cập nhật / updated {_e(_when(generated_at))}</span>'
            if generated_at is not None else "")
    return f"<header><h1>{_e(title)}</h1>{when}{link}</header>"


def _alert_items(alerts: Iterable[Alert]) -> str:
    items = []
    for a in alerts:
        vi = a.annotations.get("summary_vi", "")
        en = a.annotations.get("summary_en", "")
        text = " / ".join(_e(t) for t in (vi, en) if t) or _e(
            ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items())
                      if k not in ("alertname", "alertstate", "__name__")))
        diag = a.annotations.get("diag", "")
        extra = f"<kbd>{_e(diag)}</kbd>" if diag else ""
        since = f" <small>từ / since {_e(a.starts_at[:19].replace('T', ' '))}</small>" \
            if a.starts_at else ""
        items.append(f'<li class="{_e(a.severity)}"><b>{_e(a.name)}</b>{text}{since}{extra}</li>')
    return "".join(items)


def _tile(c: CommuneStatus) -> str:
    cause = c.cause.text if c.cause else State.OK.label
    more = f" (+{len(c.causes) - 1})" if len(c.causes) > 1 else ""
    tip = "; ".join(x.text for x in c.causes) or State.OK.label
    return (f'<a class="tile {c.state.slug}" data-code="{_e(c.code)}" '
            f'data-state="{c.state.slug}" href="/commune/{_e(c.code)}" '
            f'title="{_e(c.code)}: {_e(tip)}"><span class="n">{_e(c.name)}</span>'
            f'<span class="c">{_e(cause)}{more}</span></a>')


def _counts(board: Board) -> str:
    counts = board.counts()
    return '<div class="counts">' + "".join(
        f'<span class="{s.slug}">{counts[s]} {_e(s.label)}</span>'
        for s in (State.DOWN, State.DEGRADED, State.NO_DATA, State.OK)) + "</div>"


def _conference(c: Conference) -> str:
    """One conference whose readiness window is open: its title, start, counts, who is not
    ready and why (each linking to the commune's page)."""
    items = "".join(
        f'<li data-code="{_e(n.code)}"><a href="/commune/{_e(n.code)}">{_e(n.name)}</a> '
        f'<small>{_e(n.region)}</small>: <span class="why">{_e("; ".join(n.texts()))}</span>'
        "</li>" for n in c.not_ready)
    listing = (f"<ul>{items}</ul>" if items else
               '<p class="empty">Mọi xã đã sẵn sàng / every commune is ready</p>')
    mos = f" · MOS ≥ {_e(c.mos_threshold)}" if c.mos_threshold else ""
    return (f'<section class="conference" data-conference="{_e(c.name)}">'
            f"<h2>Sẵn sàng hội nghị / Conference readiness: {_e(c.title)}</h2>"
            f"<p>Bắt đầu / starts {_e(c.starts)}{mos} · "
            f'<span class="counts"><span class="ok">{c.ready} sẵn sàng / ready</span>'
            f'<span class="down">{len(c.not_ready)} chưa sẵn sàng / not ready</span></span></p>'
            f"{listing}</section>")


def _conferences(board: Board) -> str:
    """The open conferences' sections; else one line naming the next conference, if any."""
    opened = [c for c in board.conferences if c.is_open]
    if opened:
        return "".join(_conference(c) for c in opened)
    if board.conferences:
        c = board.conferences[0]
        return (f'<p class="empty" data-conference="{_e(c.name)}">Hội nghị tới / next '
                f"conference: {_e(c.title)}, {_e(c.starts)}</p>")
    return '<p class="empty">Chưa có hội nghị nào được lên lịch / no conference scheduled</p>'


def board_page(board: Board, refresh: int = 30) -> str:
    """``/``: the province's communes as tiles by region, worst first, province alerts on top."""
    parts = [_header(f"{board.province}: tình trạng các xã / commune status",
                     board.generated_at, home=False), "<main>", _counts(board)]
    if board.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in board.notes)
                     + "</ul>")
    source = "Alertmanager" if board.alerts_from == "alertmanager" else "Prometheus (ALERTS)"
    if board.alerts:
        parts.append(f'<h2>Cảnh báo toàn tỉnh / province alerts <small>({_e(source)})</small>'
                     f'</h2><ul class="alerts">{_alert_items(board.alerts)}</ul>')
    else:
        parts.append('<p class="empty">Không có cảnh báo toàn tỉnh / no province alert open '
                     f'({_e(source)})</p>')
    parts.append(_conferences(board))
    if board.targets:
        label = '<li class="label">Dịch vụ tỉnh / province services:</li>'
        parts.append('<ul class="targets">' + label + "".join(
            f'<li class="{"tdown" if t.down else "tup"}" data-target="{_e(t.name)}">'
            f'{_e(t.name)}: {t.ratio:.0%} / {t.communes} xã</li>' for t in board.targets)
            + "</ul>")
    for region, communes in board.regions:
        bad = sum(c.state >= State.DEGRADED for c in communes)
        note = f" — {bad} cần xem / to check" if bad else ""
        parts.append(f'<section data-region="{_e(region)}"><h2>{_e(region)} '
                     f'<small>{len(communes)} xã{_e(note)}</small></h2><div class="grid">'
                     + "".join(_tile(c) for c in communes) + "</div></section>")
    parts.append("</main>")
    return _page(f"{board.province}: commune status", "".join(parts), refresh)


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if unit == "%":
        return f"{value:.1%}"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:g}"


def _age(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _yes(value: bool | None, yes: str = "có / yes", no: str = "không / no") -> str:
    if value is None:
        return "<td>—</td>"
    return f'<td class="{"good" if value else "bad"}">{yes if value else no}</td>'


def _table(headers: Iterable[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _si(value: float | None, unit: str) -> str:
    """``value`` in ``unit`` with an SI prefix, three significant digits: 48.2 Mbit/s."""
    if value is None or not math.isfinite(value):
        return "—"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _latency(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.2f} s"


GOOD_GRADES, BAD_GRADES = frozenset({"A+", "A", "B"}), frozenset({"D", "F"})


def _grade(grade: str | None) -> str:
    css = "good" if grade in GOOD_GRADES else "bad" if grade in BAD_GRADES else ""
    return f'<td class="{css}">{_e(grade or "—")}</td>'


def why_slow_section(why: WhySlow | None) -> str:
    """"Vì sao chậm? / Why is it slow?": RTT quantiles per target over the last hour, the last
    throughput run, the top talkers and apps; an empty part says what is missing."""
    title = "<h2>Vì sao chậm? / Why is it slow?</h2>"
    if why is None:
        return (f'<section class="why-slow">{title}<p class="empty">Chưa đọc / not read yet'
                "</p></section>")
    missing = why.missing
    rtt = [f"<tr><td>{_e(r.target)}</td><td>{_e(r.kind)}</td><td>{_latency(r.p50)}</td>"
           f"<td>{_latency(r.p90)}</td><td>{_latency(r.p99)}</td></tr>" for r in why.rtt]
    runs = [f"<tr><td>{_e(r.target)}</td><td>{_e(r.direction)}</td>"
            f"<td>{_si(r.bits_per_second, 'bit/s')}</td><td>{_latency(r.latency_under_load)}</td>"
            f"<td>{_latency(r.idle_latency)}</td>{_grade(r.grade)}</tr>" for r in why.throughput]
    parts = [f'<section class="why-slow" id="why-slow">{title}',
             "<h3>Độ trễ 1 giờ qua / RTT over the last hour</h3>",
             _table(("target", "kind", "p50", "p90", "p99"), rtt, missing.get("rtt", "")),
             "<h3>Lần đo băng thông gần nhất / last throughput run</h3>",
             _table(("target", "direction", "throughput", "latency under load",
                     "idle latency", "bufferbloat"), runs, missing.get("throughput", ""))]
    if "flows" in missing:
        parts += ["<h3>Máy và ứng dụng dùng nhiều nhất / top talkers and apps</h3>",
                  f'<p class="empty">{_e(missing["flows"])}</p>']
    else:
        for heading, usage, column in (
                ("Máy dùng nhiều nhất / top talkers", why.talkers, "host"),
                ("Ứng dụng dùng nhiều nhất / top apps", why.apps, "app")):
            rows = [f"<tr><td>{_e(u.name)}</td><td>{_si(u.bytes_per_second, 'B/s')}</td></tr>"
                    for u in usage]
            parts += [f"<h3>{heading} ({FLOW_WINDOW})</h3>",
                      _table((column, "bytes/s"), rows,
                             "không có / none (every host is outside the top-N: 'other')")]
    parts.append("</section>")
    return "".join(parts)


def commune_page(board: Board, commune: CommuneStatus, inventory_file: str,
                 refresh: int = 30) -> str:
    """``/commune/<code>``: probes, link quality, VC, alerts, heartbeat, the diag command, and
    why it is slow."""
    c = commune
    ok = f'<li><span class="state ok">{State.OK.label}</span></li>'
    causes = "".join(f'<li><span class="state {x.state.slug}">{_e(x.text)}</span></li>'
                     for x in c.causes) or ok
    nodes = [f"<tr><td>{_e(n.instance)}</td>"
             + _yes(n.up, "trả lời / answers", "không / no")
             + f"<td>{_age(n.heartbeat_age)}</td>"
             + _yes(n.ok, "ổn / ok", "mất / lost") + "</tr>" for n in c.nodes]
    probes = [f"<tr><td>{_e(p.target)}</td><td>{_e(p.kind)}</td>"
              + _yes(p.success, "thành công / ok", "thất bại / failed")
              + f"<td>{_fmt(p.duration, 's')}</td>"
              + ("<td class=\"bad\">lỗi toàn tỉnh / down province-wide</td>" if p.province_down
                 else "<td></td>") + "</tr>" for p in c.probes]
    links = [f"<tr><td>{_e(x.target)}</td><td>{_fmt(x.loss, '%')}</td>"
             f"<td>{_fmt(x.rtt, 's')}</td></tr>" for x in c.links]
    vcs = [f"<tr><td>{_e(v.device)}</td><td>{_e(v.vendor)}</td>" + _yes(v.up)
           + _yes(v.registered) + _yes(v.in_call)
           + f"<td>{_fmt(v.loss, '%')}</td><td>{_fmt(v.jitter, 's')}</td></tr>" for v in c.vcs]
    devices = [f"<tr><td>{_e(d)}</td>" + _yes(up, "trả lời / answers", "không / no") + "</tr>"
               for d, up in c.devices]
    diag = c.diag_command(inventory_file)
    alerts = (f'<ul class="alerts">{_alert_items(c.alerts)}</ul>' if c.alerts
              else '<p class="empty">Không có cảnh báo / no open alert</p>')
    body = [
        _header(f"{c.name} ({c.code})", board.generated_at), "<main>",
        f"<p>{_e(c.region)} · {_e(c.terrain)}</p>",
        f'<ul class="verdict" data-state="{c.state.slug}">{causes}</ul>',
        "<h2>Chạy chẩn đoán / run diagnostics</h2>", f"<code>{_e(diag)}</code>",
        "<h2>Cảnh báo / open alerts</h2>", alerts,
        "<h2>Agent (nhịp tim / last heartbeat)</h2>",
        _table(("instance", "scrape (up)", "heartbeat age", "state"), nodes,
               "Không có số liệu agent / no agent data"),
        "<h2>Phép thử / probes (5-min mean)</h2>",
        _table(("target", "kind", "result", "duration", ""), probes,
               "Không có phép thử / no probe"),
        "<h2>Chất lượng đường truyền / link quality (5-min mean)</h2>",
        _table(("target", "packet loss", "RTT"), links, "Không có số liệu ICMP / no ICMP data"),
        "<h2>Hội nghị truyền hình / VC</h2>",
        _table(("device", "vendor", "up", "registered", "in call", "loss", "jitter"), vcs,
               "Không có thiết bị VC / no VC endpoint"),
        "<h2>Thiết bị mạng / network devices (SNMP)</h2>",
        _table(("device", "SNMP"), devices, "Không có thiết bị SNMP / no SNMP device"),
        why_slow_section(c.why_slow),
        "</main>"]
    return _page(f"{c.name} ({c.code})", "".join(body), refresh)


def not_found_page(code: str) -> str:
    """The 404 of a commune code the inventory does not have."""
    return _page("404", _header("Không tìm thấy / not found", None) +
                 f"<main><p>Không có xã mã {_e(code)} trong danh mục. / No commune has the code "
                 f"{_e(code)} in the inventory: check the code, or pick the commune on the "
                 '<a href="/">board</a>.</p></main>', 0)


def unreachable_page(message: str, refresh: int = 30) -> str:
    """The page served while Prometheus cannot be read."""
    return _page("Prometheus unreachable", _header(
        "Không đọc được số liệu / Prometheus unreachable", time.time(), home=False) +
        '<main><ul class="notes"><li>'
        f"{_e(message)}.</li></ul><p>Bảng sẽ tự tải lại khi Prometheus trả lời. / The board "
        "reloads by itself and shows the province again as soon as Prometheus answers; check "
        "that Prometheus runs and that --prometheus points at it.</p></main>", refresh)
