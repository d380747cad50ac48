"""rules/commune-conferences.yml: what render writes from a conference schedule."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.cli import main
from collector.conferences import load_conferences
from collector.inventory import load_inventory
from collector.render.conference_rules import CONFERENCE_RULES
from collector.render.output import RenderOptions, ShippedData, render
from collector.render.rules import rules_for_render
from common.schema import ConfigError
from tests.support.paths import ROOT

INVENTORY = ROOT / "configs/inventory/thanh-hoa.yml"
FIXTURE = ROOT / "tests/rules/conferences"
EPOCH = datetime.fromtimestamp(0, timezone.utc)


def _rendered(tmp_path: Path, schedule_file: Path, now: datetime) -> Any:
    inventory = load_inventory(INVENTORY)
    schedule = load_conferences(schedule_file, inventory)
    files = render(inventory, RenderOptions(), tmp_path, ShippedData.load(rules_for_render(None)),
                   schedule, now)
    return yaml.safe_load(files[f"rules/{CONFERENCE_RULES}"])


def test_the_promtool_fixture_is_what_render_writes(tmp_path: Path) -> None:
    """tests/rules/conferences_test.yml runs on the committed render of schedule.yml: the same
    bytes as render gives now (regenerate with the snippet in the assertion message)."""
    inventory = load_inventory(INVENTORY)
    schedule = load_conferences(FIXTURE / "schedule.yml", inventory)
    files = render(inventory, RenderOptions(), tmp_path, ShippedData.load(rules_for_render(None)),
                   schedule, EPOCH)
    content = files[f"rules/{CONFERENCE_RULES}"]
    committed = (FIXTURE / CONFERENCE_RULES).read_bytes()
    assert content.split(b"\n", 1)[1] == committed.split(b"\n", 1)[1], (
        "tests/rules/conferences/commune-conferences.yml is stale: write the render of "
        "schedule.yml at the epoch there")


def test_a_window_opens_warn_before_the_start_and_closes_at_the_end(tmp_path: Path) -> None:
    schedule = tmp_path / "conferences.yml"
    schedule.write_text('timezone: "+07:00"\nconferences:\n'
                        '  - {name: a, title: "A", start: 2026-12-15T08:00, duration: 2h,'
                        ' warn_before: 24h, communes: all, mos_threshold: 3.8}\n')
    groups = _rendered(tmp_path, schedule, EPOCH)["groups"]
    window, start, reason, ready = groups[0]["rules"]
    start_s = int(datetime(2026, 12, 15, 1, tzinfo=timezone.utc).timestamp())
    assert window["expr"] == (f"(vector(time()) >= bool {start_s - 86400}) * "
                              f"(vector(time()) < bool {start_s + 7200})")
    assert window["labels"] == {"conference": "a", "title": "A",
                                "starts": "2026-12-15 08:00 +07:00", "mos_threshold": "3.8"}
    assert start["expr"].startswith(f"vector({start_s}) ")
    assert "< 3.8" in reason["expr"] and "commune=~" not in reason["expr"]
    assert ready["labels"] == {"conference": "a"}


def test_ended_conferences_are_left_out_and_scopes_resolve_regions(tmp_path: Path) -> None:
    schedule = tmp_path / "conferences.yml"
    schedule.write_text("conferences:\n"
                        '  - {name: old, title: "Old", start: 2020-01-01T08:00}\n'
                        '  - {name: new, title: "New", start: 2026-12-15T08:00,'
                        ' communes: ["14797", "Huyện Mường Lát"]}\n')
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    groups = _rendered(tmp_path, schedule, now)["groups"]
    assert [g["name"] for g in groups] == ["conference-new"]
    reason = groups[0]["rules"][2]["expr"]
    assert 'commune=~"14797|14866|' in reason
    later = _rendered(tmp_path, schedule, datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert later["groups"] == []


def test_without_a_schedule_there_is_no_file(tmp_path: Path) -> None:
    inventory = load_inventory(INVENTORY)
    files = render(inventory, RenderOptions(), tmp_path, ShippedData.load(rules_for_render(None)))
    assert f"rules/{CONFERENCE_RULES}" not in files and "rules/commune-inventory.yml" in files


@pytest.mark.parametrize("text,expected", [
    ("conferences:\n  - {name: A_b, title: x, start: 2026-12-15T08:00}\n",
     "2:12: conferences[0].name: expected a name like 'giao-ban-thang-12'"),
    ("conferences:\n  - {name: a, title: x, start: 2026-12-15}\n",
     "2:32: conferences[0].start: expected a date and a time"),
    ("conferences:\n  - {name: a, title: x, start: 2026-12-15T08:00, communes: [\"99999\"]}\n",
     "2:61: conferences[0].communes[0]: '99999' is neither a commune code nor a region"),
    ("conferences:\n  - {name: a, title: x, start: 2026-12-15T08:00, mos_threshold: 5}\n",
     "2:65: conferences[0].mos_threshold: expected a MOS between 1.0 and 4.5"),
    ("timezone: Mars/Olympus\n", "1:11: timezone: unknown time zone 'Mars/Olympus'"),
    ("conferences:\n  - {name: a, title: x, start: 2026-12-15T08:00}\n"
     "  - {name: a, title: y, start: 2026-12-16T08:00}\n",
     "3:12: conferences[1].name: duplicate conference 'a' (first at line 2)"),
])
def test_bad_schedules_are_refused_naming_the_place(tmp_path: Path, text: str,
                                                    expected: str) -> None:
    schedule = tmp_path / "conferences.yml"
    schedule.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_conferences(schedule, load_inventory(INVENTORY))
    assert f"{schedule}:{expected}" in str(caught.value)


def test_render_cli_refuses_a_bad_schedule_with_every_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schedule = tmp_path / "conferences.yml"
    schedule.write_text("timezone: Nowhere/City\nconferences:\n"
                        "  - {name: a, title: x, start: 2026-12-15T08:00, duration: 0s}\n")
    code = main(["render", "--inventory", str(INVENTORY), "--out", str(tmp_path / "out"),
                 "--conferences", str(schedule)])
    assert code == 2
    assert capsys.readouterr().err == (
        f"commune-collector: {schedule}: 2 errors\n"
        f"  {schedule}:1:11: timezone: unknown time zone 'Nowhere/City'; give one like "
        "'Asia/Ho_Chi_Minh' or an offset like '+07:00'\n"
        f"  {schedule}:3:60: conferences[0].duration: expected a duration longer than 0s, "
        "got 0s\n")
    assert not (tmp_path / "out").exists()


def test_render_reads_the_installed_schedule_by_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    etc = tmp_path / "etc"
    (etc / "commune-collector").mkdir(parents=True)
    (etc / "commune-collector/conferences.yml").write_text(
        'conferences:\n  - {name: a, title: "A", start: 2099-12-15T08:00}\n')
    monkeypatch.setenv("COMMUNE_MONITOR_ETC", str(etc))
    out = tmp_path / "out"
    assert main(["render", "--inventory", str(INVENTORY), "--out", str(out)]) == 0
    assert "1 upcoming conferences of" in capsys.readouterr().out
    assert "conference-a" in (out / "rules" / CONFERENCE_RULES).read_text()
