"""File integrity: baseline on first run, then modified, added and removed files counted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.modules.security.config import IntegrityConfig, PathSet
from agent.modules.security.integrity import IntegrityCheck
from common.schema import Invalid
from common.statefile import StateFileError
from common.units import Duration
from tests.support.samples import value


def counts(check: IntegrityCheck, name: str) -> dict[str, float]:
    families = check.collect()
    return {kind: value(families, f"commune_integrity_{kind}", path_set=name)
            for kind in ("changed_files", "added_files", "removed_files", "files", "truncated")}


def make_tree(root: Path) -> None:
    (root / "www" / "js").mkdir(parents=True)
    (root / "www" / "index.php").write_text("<?php echo 'portal';")
    (root / "www" / "js" / "app.js").write_text("console.log(1)")
    (root / "hosts").write_text("127.0.0.1 localhost\n")


def test_modify_add_remove(tmp_path: Path) -> None:
    make_tree(tmp_path)
    state = tmp_path / "state"
    config = IntegrityConfig((PathSet("portal", (str(tmp_path / "www"), str(tmp_path / "hosts"))),))
    clock = [1_000.0]
    check = IntegrityCheck(config, str(state), clock=lambda: clock[0])
    assert counts(check, "portal") == {"changed_files": 0, "added_files": 0, "removed_files": 0,
                                       "files": 3, "truncated": 0}
    baseline = json.loads((state / "integrity-portal.json").read_text())
    assert len(baseline["files"]) == 3

    # Same size, mtime put back: the ctime still changes, so the new content is hashed.
    index = tmp_path / "www" / "index.php"
    st = index.stat()
    index.write_text("<?php echo 'PORTAL';")
    os.utime(index, ns=(st.st_atime_ns, st.st_mtime_ns))
    (tmp_path / "www" / "js" / "shell.php").write_text("backdoor")
    (tmp_path / "hosts").unlink()
    clock[0] = 2_000.0
    assert counts(check, "portal") == {"changed_files": 1, "added_files": 1, "removed_files": 1,
                                       "files": 3, "truncated": 0}
    # A restarted agent keeps the baseline of the first run.
    again = IntegrityCheck(config, str(state), clock=lambda: clock[0])
    families = again.collect()
    assert value(families, "commune_integrity_baseline_timestamp_seconds",
                 path_set="portal") == 1_000
    assert value(families, "commune_integrity_changed_files", path_set="portal") == 1

    # Deleting the baseline accepts the current files.
    (state / "integrity-portal.json").unlink()
    fresh = IntegrityCheck(config, str(state), clock=lambda: clock[0])
    assert counts(fresh, "portal")["changed_files"] == 0
    assert value(fresh.collect(), "commune_integrity_baseline_timestamp_seconds",
                 path_set="portal") == 2_000


def test_max_files_truncates(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / f"f{i:02d}").write_text(str(i))
    config = IntegrityConfig((PathSet("many", (str(tmp_path),), max_files=5),))
    got = counts(IntegrityCheck(config, str(tmp_path / ".state")), "many")
    assert got["files"] == 5
    assert got["truncated"] == 1


def test_corrupt_baseline_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    (tmp_path / "state").mkdir()
    baseline = tmp_path / "state" / "integrity-s.json"
    baseline.write_text("{not json")
    config = IntegrityConfig((PathSet("s", (str(tmp_path / "a"),)),))
    with pytest.raises(StateFileError, match=r"not JSON.*delete the file; a new baseline is"):
        IntegrityCheck(config, str(tmp_path / "state"))  # at start: the agent exits 2
    baseline.unlink()
    check = IntegrityCheck(config, str(tmp_path / "state"))
    baseline.write_text('{"files": 1}')  # damaged while running: this check fails
    with pytest.raises(RuntimeError, match=r"not a baseline.*delete the file"):
        check.collect()


def test_duplicate_path_set_names_rejected() -> None:
    with pytest.raises(Invalid, match="duplicate path_set names: web"):
        IntegrityConfig((PathSet("web", ("/a",)), PathSet("web", ("/b",))))


def test_rescanned_at_most_once_per_every(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    clock = [0.0]
    config = IntegrityConfig((PathSet("s", (str(tmp_path / "a"),)),), every=Duration(300))
    check = IntegrityCheck(config, str(tmp_path / "state"), clock=lambda: clock[0])
    assert counts(check, "s")["changed_files"] == 0
    (tmp_path / "a").write_text("b")
    clock[0] = 299.0
    assert counts(check, "s")["changed_files"] == 0  # the last result, no walk
    clock[0] = 300.0
    assert counts(check, "s")["changed_files"] == 1
