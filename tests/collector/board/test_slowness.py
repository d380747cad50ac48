"""The board's "Vì sao chậm? / Why is it slow?": readings to a commune's section, the sentences
for what is missing, the HTML (escaped, human units) and the JSON; the queries against a real
Prometheus."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import yaml

from collector.board import api, pages, slowness
from collector.board.slowness import Slowness, WhySlow, read_slowness
from collector.board.sources import Prometheus, Sample
from collector.board.status import judge
from collector.inventory import load_inventory
from collector.render import dashboards
from tests.collector.board.fleet_readings import FleetReadings
from tests.support.alert_peers import scaled
from tests.support.paths import ROOT
from tests.support.peers import Prometheus as PrometheusPeer
from tests.support.peers import serving, wait_for
from tests.support.synthetic_fleet import Commune, FleetExporter, scrape_config

CODE = "14797"
EVIL = '<script>alert("x")</script>&"\''


def _s(name: str, value: float, **labels: str) -> Sample:
    return Sample({"__name__": name, "commune": CODE, **labels}, value)


def full() -> dict[str, list[Sample]]:
    """What a commune with every part reports: two RTT targets, a run both ways, flows."""
    rtt = [_s(f"commune_target:commune_probe_rtt_seconds:{q}_1h", v, target=t, kind=k)
           for t, k, values in (("gateway", "icmp", (0.02, 0.04, 0.09)),
                                ("tthc-db", "tcp", (0.03, float("nan"), 0.2)))
           for q, v in zip(("p50", "p90", "p99"), values, strict=True)]
    last = [_s(slowness.BITS, 48.2e6, target="province", direction="download"),
            _s(slowness.BITS, 9.5e6, target="province", direction="upload"),
            _s(slowness.UNDER_LOAD, 0.12, target="province", direction="download"),
            _s(slowness.UNDER_LOAD, 0.035, target="province", direction="upload"),
            _s(slowness.IDLE, 0.03, target="province"),
            _s(slowness.GRADE, 3, target="province", direction="download"),
            _s(slowness.GRADE, 5, target="province", direction="upload"),
            _s(slowness.BUDGET, 1e8, target="province"),
            _s(slowness.LISTENER, 1)]
    talkers = [Sample({"commune": CODE, "host": h}, v)
               for h, v in (("ketoan-pc", 1.25e6), ("camera-1", 90e3), (EVIL, 10))]
    apps = [Sample({"commune": CODE, "app": a}, v)
            for a, v in (("https", 1.1e6), ("rtp", 90e3), ("windows-update", 250e3))]
    return {"rtt": rtt, "last": last, "talkers": talkers, "apps": apps}


def test_a_commune_with_every_part() -> None:
    why = Slowness(full()).of(CODE)
    assert why.missing == {}
    assert [(r.target, r.p50, r.p99) for r in why.rtt] == [("gateway", 0.02, 0.09),
                                                           ("tthc-db", 0.03, 0.2)]
    assert why.rtt[1].p90 is None  # NaN: no RTT in that part of the hour
    down, up = why.throughput
    assert (down.direction, down.bits_per_second, down.latency_under_load, down.idle_latency,
            down.grade) == ("download", 48.2e6, 0.12, 0.03, "C")
    assert (up.direction, up.grade) == ("upload", "A")
    assert [u.name for u in why.talkers] == ["ketoan-pc", "camera-1", EVIL]
    assert [u.name for u in why.apps] == ["https", "windows-update", "rtp"]  # busiest first


def test_another_communes_readings_are_not_mixed_in() -> None:
    vectors = full()
    assert Slowness(vectors).of("16318") == WhySlow(missing={
        "rtt": slowness.NO_RTT, "throughput": slowness.NO_THROUGHPUT_TARGET,
        "flows": slowness.NO_FLOWS_MODULE})


@pytest.mark.parametrize("keep,throughput,flows", [
    # a throughput target configured (its budget series) but not run yet; the flows module
    # listening with nothing received
    ({slowness.BUDGET, slowness.LISTENER}, slowness.NO_THROUGHPUT_RUN, slowness.NO_FLOW_EXPORT),
    # no throughput target; flows module unable to bind its port
    ({slowness.LISTENER}, slowness.NO_THROUGHPUT_TARGET, slowness.FLOWS_NOT_LISTENING),
    # neither
    (set(), slowness.NO_THROUGHPUT_TARGET, slowness.NO_FLOWS_MODULE),
])
def test_each_missing_part_says_what_is_missing_and_how_to_get_it(
        keep: set[str], throughput: str, flows: str) -> None:
    listener = 0 if throughput == slowness.NO_THROUGHPUT_TARGET and keep else 1
    last = [s for s in full()["last"] if s.labels["__name__"] in keep]
    last = [_s(s.labels["__name__"], listener) if s.labels["__name__"] == slowness.LISTENER
            else s for s in last]
    why = Slowness({"last": last}).of(CODE)
    assert why.missing == {"rtt": slowness.NO_RTT, "throughput": throughput, "flows": flows}
    for sentence in why.missing.values():
        vi, en = sentence.split(" / ", 1)
        assert vi and ("modules." in en or "slot_second" in en or "log" in en), sentence


def test_the_sentences_name_what_to_configure() -> None:
    assert "NetFlow/IPFIX" in slowness.NO_FLOW_EXPORT and "flows port" in slowness.NO_FLOW_EXPORT
    assert "no throughput target configured" in slowness.NO_THROUGHPUT_TARGET
    assert "kind throughput" in slowness.NO_THROUGHPUT_TARGET


def test_a_read_failure_is_said_in_every_part() -> None:
    why = Slowness({}, "not read: Prometheus at x is unreachable").of(CODE)
    assert set(why.missing) == {"rtt", "throughput", "flows"}
    assert set(why.missing.values()) == {"not read: Prometheus at x is unreachable"}


def test_grades_match_the_recording_rule_and_the_dashboard() -> None:
    mapped = {int(k): v["text"] for k, v in dashboards.GRADE_MAPPINGS[0]["options"].items()}
    assert mapped == slowness.GRADES


def test_the_section_in_html_escaped_with_human_units() -> None:
    text = pages.why_slow_section(Slowness(full()).of(CODE))
    assert "<h2>Vì sao chậm? / Why is it slow?</h2>" in text
    assert "<script>" not in text and "&lt;script&gt;alert(&quot;x&quot;)" in text
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", text)
    for shown in ("20 ms", "90 ms", "48.2 Mbit/s", "9.5 Mbit/s", "120 ms", "30 ms",
                  "1.25 MB/s", "90 kB/s", "10 B/s", "C", "A", "https", "ketoan-pc"):
        assert shown in cells, (shown, cells)
    assert '<td class="good">A</td>' in text and '<td class="">C</td>' in text


def test_missing_parts_show_their_sentences_in_html() -> None:
    text = pages.why_slow_section(Slowness({}).of(CODE))
    for sentence in (slowness.NO_RTT, slowness.NO_THROUGHPUT_TARGET, slowness.NO_FLOWS_MODULE):
        assert f'<p class="empty">{html.escape(sentence)}</p>' in text
    assert "<table>" not in text


def test_the_commune_page_and_the_json_carry_the_section() -> None:
    inventory = load_inventory(ROOT / "configs/inventory/thanh-hoa.yml")
    board = judge(inventory, FleetReadings(inventory).readings(), now=0,
                  slowness=Slowness(full()))
    commune = board.commune(CODE)
    assert commune is not None and commune.why_slow is not None
    assert "ketoan-pc" in pages.commune_page(board, commune, "thanh-hoa.yml")
    data = json.loads(api.status_json(board))
    communes = {c["code"]: c for r in data["regions"] for c in r["communes"]}
    why = communes[CODE]["why_slow"]
    assert why["talkers"][0] == {"name": "ketoan-pc", "bytes_per_second": 1.25e6}
    assert why["throughput"][0]["grade"] == "C" and why["rtt"][1]["p90"] is None
    other = next(code for code in communes if code != CODE)
    assert communes[other]["why_slow"]["missing"]["flows"] == slowness.NO_FLOWS_MODULE
    # without the readings (a board judged without them) the key is there, empty
    plain = judge(inventory, FleetReadings(inventory).readings(), now=0)
    assert json.loads(api.status_json(plain))["regions"][0]["communes"][0]["why_slow"] is None


@pytest.mark.peer
def test_the_queries_on_prometheus_give_each_part_bounded(tmp_path: Path) -> None:
    """A real Prometheus scrapes the synthetic fleet (more hosts and apps than 5) and evaluates
    recording.yml (scaled: the hour's quantiles every second over a minute)."""
    fleet = (Commune(CODE, "Phường Hạc Thành", "Thành phố Thanh Hóa", "lowland"),
             Commune("14866", "Xã Mường Chanh", "Huyện Mường Lát", "mountain"))
    (tmp_path / "recording.yml").write_text(
        scaled((ROOT / "configs/prometheus/rules/recording.yml").read_text()))
    exporter = FleetExporter(fleet)
    with serving(exporter), PrometheusPeer(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp_path / "recording.yml")],
            "scrape_configs": [scrape_config(fleet, exporter.address)]}, allow_unicode=True),
            tmp_path) as peer:
        source = Prometheus(peer.url, timeout=5)
        why = wait_for(lambda: (w := read_slowness(source).of(CODE)) and not w.missing and w,
                       30, what="every part of the section")
    assert [u.name for u in why.talkers] == ["ketoan-pc", "camera-1", "pc-3", "pc-2", "pc-1"]
    assert [u.name for u in why.apps] == ["https", "windows-update", "rtp", "http", "sip"]
    # rate() over 15 min of a few seconds' data is small; the proportions are the fleet's
    assert why.talkers[0].bytes_per_second / why.talkers[1].bytes_per_second == pytest.approx(
        400 / 90, rel=0.05)
    assert [(r.direction, r.grade, r.bits_per_second) for r in why.throughput] == [
        ("download", "B", 48e6), ("upload", "A", 9e6)]
    assert why.throughput[0].idle_latency == 0.03
    gateway = next(r for r in why.rtt if r.target == "gateway")
    assert gateway.p50 == pytest.approx(0.0256) and 0.0256 < gateway.p90 <= gateway.p99 <= 0.0512
