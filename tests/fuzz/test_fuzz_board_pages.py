"""The status board with hostile readings: any label text, any value (NaN, inf, negative).
Judging and rendering never raise, the pages hold only the board's own tags, and the JSON is
strict JSON."""

from __future__ import annotations

import dataclasses
import json
from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st

from collector.board import api, pages
from collector.board.sources import Alert, Readings, Sample
from collector.board.status import judge
from collector.inventory import Inventory, load_inventory
from tests.support.fuzzing import fuzz
from tests.support.paths import ROOT

PROVINCE = load_inventory(ROOT / "configs/inventory/thanh-hoa.yml")
SMALL: Inventory = dataclasses.replace(
    PROVINCE, communes=type(PROVINCE.communes)(PROVINCE.communes[:2]))
object.__setattr__(SMALL, "file", "<inventory>")
CODES = [c.code for c in SMALL.communes]
NAMES = ["up", "heartbeat_age", "probe_success", "probe_duration", "icmp_loss", "icmp_rtt",
         "vc_up", "vc_registered", "vc_in_call", "vc_loss", "vc_jitter", "snmp_up"]
TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "span", "a",
        "main", "div", "section", "ul", "li", "b", "small", "kbd", "p", "table", "tr", "th", "td",
        "code", "i"}

text = st.text(max_size=30)
labels = st.fixed_dictionaries(
    {"commune": st.sampled_from([*CODES, ""])},
    optional={k: text for k in ("instance", "target", "kind", "device", "vendor", "severity")})
values = st.floats(allow_nan=True, allow_infinity=True)
samples = st.lists(st.builds(Sample, labels, values), max_size=6)
alerts = st.lists(st.builds(Alert, text, labels, st.dictionaries(
    st.sampled_from(["summary_vi", "summary_en", "diag"]), text), text), max_size=3)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)


@fuzz
@given(st.dictionaries(st.sampled_from(NAMES), samples), alerts, text)
def test_any_reading_renders_safely(vectors: dict[str, list[Sample]], open_alerts: list[Alert],
                                    note: str) -> None:
    board = judge(SMALL, Readings(vectors, open_alerts, "alertmanager", [note]), now=0)
    rendered = [pages.board_page(board)]
    rendered += [pages.commune_page(board, c, SMALL.file) for c in board.communes]
    for page in rendered:
        parser = Tags()
        parser.feed(page)
        assert parser.names <= TAGS, parser.names - TAGS

    def strict(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    data = json.loads(api.status_json(board), parse_constant=strict)
    assert sum(data["counts"].values()) == 2
