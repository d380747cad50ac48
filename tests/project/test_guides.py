"""The runnable guides of the docs (tests/support/guide.py): found, well formed, the same commands
in every copy. tests/deploy/test_rollout_guide.py runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.guide import MARKER, Mapping, Ports, guides, runs
from tests.support.paths import ROOT

README = ROOT / "README.md"
ROLLOUT = ROOT / "docs" / "rollout.md"
COPIES = {"add-commune": [(README, "add-commune"), (ROLLOUT, "add-commune-en"),
                          (ROLLOUT, "add-commune-vi")]}


@pytest.mark.parametrize("name", sorted(COPIES))
def test_every_copy_of_a_guide_holds_the_same_commands(name: str) -> None:
    copies = {f"{path.name} {guide}": runs(guides(path)[guide]) for path, guide in COPIES[name]}
    first = next(iter(copies.values()))
    assert [machine for machine, _ in first] == ["province", "node", "province", "node"]
    for where, commands in copies.items():
        assert commands == first, f"{where} differs from {next(iter(copies))}"


def test_every_marker_names_a_known_guide() -> None:
    known = {(path, guide) for copies in COPIES.values() for path, guide in copies}
    for page in (README, *sorted((ROOT / "docs").rglob("*.md"))):
        for guide in guides(page):
            assert (page, guide) in known, f"{page.name}: guide {guide!r} is run by no test"


def test_a_marker_without_its_block_is_an_error(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- guide add-commune-en: node -->\nsome text\n")
    with pytest.raises(ValueError, match=r"page\.md:1: a guide marker must be followed"):
        guides(page)
    assert MARKER.match("<!-- guide add-commune-en: node -->")
    assert not MARKER.match("<!-- guide add-commune-en: laptop -->")


def test_the_mapping_moves_paths_ports_and_the_code() -> None:
    mapping = Mapping(Path("/r"), Ports(1, 2, 3, 4), code="cme1.abc")
    assert mapping.apply("sudo grep -n x /etc/commune-collector/a.yml") == (
        "grep -n x /r/etc/commune-collector/a.yml")
    assert mapping.apply("sudo bash deploy/install-agent.sh --enrol cme1.eyJ...") == (
        "bash deploy/install-agent.sh --root /r --listen 127.0.0.1:4 --ready-timeout 90 "
        "--enrol cme1.abc")
    assert mapping.apply("promtool query instant http://127.0.0.1:9090 'up{a=\"/etc/x\"}'") == (
        "promtool query instant http://127.0.0.1:1 'up{a=\"/r/etc/x\"}'")
    assert mapping.apply("x --gateway-url http://COLLECTOR:9820/api/v1/write") == (
        "x --gateway-url http://127.0.0.1:3/api/v1/write")
