"""Benchmark: render of the 166-commune province inventory (target: under 1 s).

The standard tool in the same run is promtool, checking the config we rendered.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.inventory import load_inventory
from collector.render.output import RenderOptions, ShippedData, render, write_files
from collector.render.rules import read_rules
from tests.support.peers import VENV_BIN, require_binary

ROOT = Path(__file__).parents[2]
PROVINCE = ROOT / "configs/inventory/thanh-hoa.yml"
TARGET_SECONDS = 1.0


def _median(fn: object, runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@pytest.mark.bench
@pytest.mark.peer
def test_render_province(tmp_path: Path) -> None:
    options = RenderOptions()
    data = ShippedData.load(read_rules(ROOT / "configs/prometheus/rules"))
    out = tmp_path / "out"
    inventory = load_inventory(PROVINCE)
    load_s = _median(lambda: load_inventory(PROVINCE))
    render_s = _median(lambda: render(inventory, options, out, data))
    files = render(inventory, options, out, data)
    fresh = iter(range(1_000_000))  # a new folder each run: every file really written
    write_s = _median(lambda: write_files(files, tmp_path / f"w{next(fresh)}"))
    in_process = _median(lambda: write_files(
        render(load_inventory(PROVINCE), options, out, data), tmp_path / f"w{next(fresh)}"))

    def cli() -> None:
        subprocess.run([str(VENV_BIN / "commune-collector"), "render", "--inventory",
                        str(PROVINCE), "--out", str(tmp_path / "cli")],
                       check=True, capture_output=True)

    def promtool() -> None:
        subprocess.run([require_binary("promtool"), "check", "config",
                        str(tmp_path / "cli/prometheus.yml")], check=True, capture_output=True)

    cli_s = _median(cli, runs=5)
    promtool_s = _median(promtool, runs=5)
    communes = len(inventory.communes)
    print(f"\nrender of {communes} communes ({sys.implementation.name}): "
          f"load {load_s * 1000:.1f} ms, render {render_s * 1000:.1f} ms, "
          f"write {write_s * 1000:.1f} ms; load+render+write {in_process * 1000:.1f} ms "
          f"= {in_process / TARGET_SECONDS:.3f}x the 1 s target")
    print(f"commune-collector render CLI (process start included) {cli_s * 1000:.0f} ms; "
          f"promtool check config on its output {promtool_s * 1000:.0f} ms "
          f"(render/promtool = {cli_s / promtool_s:.2f})")
    assert in_process < TARGET_SECONDS
