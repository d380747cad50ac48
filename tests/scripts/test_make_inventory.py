"""scripts/make_inventory.py: the communes CSV gives a valid, deterministic inventory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from collector.inventory import load_inventory
from tests.support.paths import ROOT

SCRIPT = ROOT / "scripts/make_inventory.py"
CSV = ROOT / "configs/inventory/thanh-hoa-communes.csv"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          check=False)


def test_generated_inventory_is_deterministic_and_valid(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yml", tmp_path / "b.yml"
    assert run(str(CSV), "-o", str(first)).returncode == 0
    result = run(str(CSV), "-o", str(second))
    assert result.stdout == f"wrote {second}: 166 communes (19 phường, 147 xã; 77 mountain)\n"
    assert first.read_bytes() == second.read_bytes()
    assert first.read_text(encoding="utf-8").startswith("# The province inventory")
    inv = load_inventory(first)
    rows = CSV.read_text(encoding="utf-8").splitlines()[1:]
    assert [c.code for c in inv.communes] == [r.split(",")[0] for r in rows]
    hac_thanh = inv.commune("14797")
    assert (hac_thanh.name, hac_thanh.type, hac_thanh.group) == (
        "Phường Hạc Thành", "phường", "Thành phố Thanh Hóa")
    assert hac_thanh.nodes[0].address == "10.38.1.10:9810"


def test_bad_csv_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\n1,A\n", encoding="utf-8")
    result = run(str(bad), "-o", str(tmp_path / "out.yml"))
    assert result.returncode == 1
    assert "expected columns code,name,type,former_districts,terrain, got code,name" in (
        result.stderr)
    dup = tmp_path / "dup.csv"
    dup.write_text("code,name,type,former_districts,terrain\n1,A,xã,D,lowland\n"
                   "1,B,xã,D,lowland\n", encoding="utf-8")
    assert f"{dup}:3: duplicate code '1'" in run(str(dup), "-o", str(tmp_path / "o.yml")).stderr
