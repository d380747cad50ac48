"""scripts/fill_rule_test_annotations.py rebuilds the golden annotations promtool renders."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.paths import ROOT
from tests.support.peers import require_binary

pytestmark = pytest.mark.peer


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fill_rule_test_annotations", ROOT / "scripts" / "fill_rule_test_annotations.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stripped_annotations_are_filled_back(tmp_path: Path) -> None:
    require_binary("promtool")
    golden = (ROOT / "tests/rules/tthc_portal_test.yml").read_text()
    golden = golden.replace("../../configs", str(ROOT / "configs"))
    stripped = re.sub(r"            exp_annotations:\n(?:              .*\n)+", "", golden)
    assert stripped != golden and "exp_annotations" not in stripped
    path = tmp_path / "tthc_portal_test.yml"
    path.write_text(stripped)
    assert _script().fill(path) == golden.count("exp_annotations:")
    assert path.read_text() == golden


def test_existing_annotations_are_left_alone(tmp_path: Path) -> None:
    require_binary("promtool")
    golden = (ROOT / "tests/rules/vc_test.yml").read_text()
    golden = golden.replace("../../configs", str(ROOT / "configs"))
    path = tmp_path / "vc_test.yml"
    path.write_text(golden)
    assert _script().fill(path) == 0
    assert path.read_text() == golden
