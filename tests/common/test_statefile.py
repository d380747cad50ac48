"""The one atomic writer: fsync of file and folder, exact modes, nothing left behind on failure."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

import pytest

from common import enrolment, statefile
from common.statefile import Staging, write_atomically
from tests.support.tmpfs import python_on_tmpfs

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record what each os.fsync call synced: 'file' or 'folder'."""
    calls: list[str] = []
    real = os.fsync

    def record(fd: int) -> None:
        calls.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return calls


def test_writes_and_fsyncs_the_file_then_the_folder(tmp_path: Path, fsyncs: list[str]) -> None:
    path = tmp_path / "state.json"
    write_atomically(path, '{"a": 1}')
    assert path.read_text() == '{"a": 1}'
    assert fsyncs == ["file", "folder"]
    write_atomically(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    assert fsyncs == ["file", "folder"] * 2
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_mode_is_exact_or_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_atomically(tmp_path / "plain", "x")
        write_atomically(tmp_path / "secret", "x", 0o600)
        write_atomically(tmp_path / "public", "x", 0o644)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "plain") == 0o640
    assert _mode(tmp_path / "secret") == 0o600
    assert _mode(tmp_path / "public") == 0o644
    # Replacing a file gives the new file the asked mode, not the old one's.
    (tmp_path / "secret").chmod(0o644)
    write_atomically(tmp_path / "secret", "y", 0o600)
    assert _mode(tmp_path / "secret") == 0o600


def test_a_secret_is_never_readable_by_others(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = os.fsync

    def check(fd: int) -> None:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real(fd)

    monkeypatch.setattr(os, "fsync", check)
    write_atomically(tmp_path / "token", "secret\n", 0o600)
    assert seen == [0o600]


def test_make_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state"
    with pytest.raises(FileNotFoundError):
        write_atomically(path, "x")
    write_atomically(path, "x", make_parents=True)
    assert path.read_text() == "x"


def test_a_failed_rename_keeps_the_old_content_and_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cursor"
    write_atomically(path, "1 0\n")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, "2 0\n")
    assert path.read_text() == "1 0\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cursor"]


def test_a_failed_write_keeps_the_old_content_and_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cursor"
    write_atomically(path, "1 0\n")

    def fail(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="Input/output error"):
        write_atomically(path, "2 0\n")
    assert path.read_text() == "1 0\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cursor"]


# Run in a user and mount namespace of its own (unshare -rm: as root or not) on a 64 KiB tmpfs.
_FULL_DISK_CHILD = """
import sys
from pathlib import Path
from common.statefile import write_atomically
folder = Path(sys.argv[1])
path = folder / "state"
write_atomically(path, b"old")
try:
    write_atomically(path, b"x" * 200_000)
except OSError as exc:
    print("errno", exc.errno)
print("content", path.read_text())
print("files", *sorted(p.name for p in folder.iterdir()))
"""


@pytest.mark.peer
def test_a_full_disk_is_an_os_error_and_changes_nothing(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    done = python_on_tmpfs(small, "size=64k", _FULL_DISK_CHILD, small)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"errno {errno.ENOSPC}", "content old", "files state"]



def test_staging_replaces_in_order_only_when_the_block_succeeds(tmp_path: Path) -> None:
    first, second = tmp_path / "inventory.yml", tmp_path / "gateway.yml"
    first.write_text("inv 1\n")
    second.write_text("gw 1\n")
    with pytest.raises(ValueError, match="would not load"), Staging() as stage:
        staged = stage.add(first, "inv 2\n")
        assert staged.parent == tmp_path and staged.read_text() == "inv 2\n"
        stage.add(second, "gw 2\n")
        raise ValueError("the edited gateway config would not load")
    assert (first.read_text(), second.read_text()) == ("inv 1\n", "gw 1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway.yml", "inventory.yml"]
    replaced: list[str] = []
    real = os.replace

    def record(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        replaced.append(Path(dst).name)
        real(src, dst)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "replace", record)
        with Staging() as stage:
            stage.add(first, "inv 2\n")
            stage.add(second, "gw 2\n")
    assert replaced == ["inventory.yml", "gateway.yml"]
    assert (first.read_text(), second.read_text()) == ("inv 2\n", "gw 2\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway.yml", "inventory.yml"]


def test_temporary_files_are_hidden_beside_the_target(tmp_path: Path) -> None:
    with Staging() as stage:
        staged = stage.add(tmp_path / "agent.yml", "x")
        assert re.fullmatch(r"\.agent\.yml\.[0-9a-f]{8}\.tmp", staged.name)
        assert staged.parent == tmp_path
    assert not staged.exists()


def test_no_other_atomic_writer_is_left() -> None:
    """Every file replaced by agent, collector or common goes through common/statefile.py."""
    writer = ROOT / "common" / "statefile.py"
    offenders = [str(path.relative_to(ROOT))
                 for package in ("agent", "collector", "common")
                 for path in sorted((ROOT / package).rglob("*.py"))
                 if path != writer and re.search(r"\bos\.(replace|rename)\(|\btempfile\b",
                                                 path.read_text(encoding="utf-8"))]
    assert offenders == []
    assert not hasattr(statefile, "replace_file")
    assert not hasattr(enrolment, "write_private")
