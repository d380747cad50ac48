"""Incremental log reading: rotation mid-read, truncation, partial last line, invalid UTF-8."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.modules.security.tail import LogTail, Position


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def test_starts_at_end_unless_from_start(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"old 1\nold 2\n")
    assert LogTail(str(path)).read_lines() == []
    assert LogTail(str(path), from_start=True).read_lines() == ["old 1", "old 2"]


def test_appended_lines_once_each(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"old\n")
    tail = LogTail(str(path))
    tail.read_lines()
    append(path, b"a\nb\n")
    assert tail.read_lines() == ["a", "b"]
    assert tail.read_lines() == []
    append(path, b"c\n")
    assert tail.read_lines() == ["c"]


def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"")
    tail = LogTail(str(path))
    tail.read_lines()
    append(path, b"complete\nhalf of a li")
    assert tail.read_lines() == ["complete"]
    position = tail.position()
    assert position is not None and position.offset == len(b"complete\n")
    append(path, b"ne\n")
    assert tail.read_lines() == ["half of a line"]


def test_invalid_utf8_is_replaced_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"")
    tail = LogTail(str(path))
    tail.read_lines()
    append(path, b"Invalid user \xff\xfeadmin from 10.0.0.1 port 22\nnext\n")
    lines = tail.read_lines()
    assert lines == ["Invalid user \ufffd\ufffdadmin from 10.0.0.1 port 22", "next"]


def test_rotation_drains_old_file_then_reads_new_from_start(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"")
    tail = LogTail(str(path))
    tail.read_lines()
    append(path, b"before\n")
    assert tail.read_lines() == ["before"]
    append(path, b"written after our read, before rotation\nunterminated")
    os.rename(path, tmp_path / "auth.log.1")  # logrotate's create mode
    path.write_bytes(b"new 1\nnew 2\n")
    assert tail.read_lines() == ["written after our read, before rotation", "unterminated",
                                 "new 1", "new 2"]
    append(path, b"new 3\n")
    assert tail.read_lines() == ["new 3"]


def test_moved_away_and_not_yet_recreated(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"")
    tail = LogTail(str(path))
    tail.read_lines()
    append(path, b"x\n")
    os.rename(path, tmp_path / "auth.log.1")
    assert tail.read_lines() == ["x"]
    path.write_bytes(b"y\n")
    assert tail.read_lines() == ["y"]


def test_truncation_reads_from_start(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"line one is long\nline two is long\n")
    tail = LogTail(str(path), from_start=True)
    assert len(tail.read_lines()) == 2
    with open(path, "wb") as handle:  # copytruncate
        handle.write(b"fresh\n")
    assert tail.read_lines() == ["fresh"]


def test_saved_position_resumes_same_file_and_restarts_rotated_one(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"seen\nnot yet\n")
    st = os.stat(path)
    same = LogTail(str(path), saved=Position(st.st_dev, st.st_ino, len(b"seen\n")))
    assert same.read_lines() == ["not yet"]
    other = LogTail(str(path), saved=Position(st.st_dev, st.st_ino + 1, 3))
    assert other.read_lines() == ["seen", "not yet"]  # a new file since: read it whole


def test_read_limit_spreads_a_big_backlog_over_calls(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"".join(b"line %06d\n" % i for i in range(10_000)))
    tail = LogTail(str(path), from_start=True)
    first = tail.read_lines(limit=50_000)
    rest = tail.read_lines()
    assert 0 < len(first) < 10_000
    assert first + rest == [f"line {i:06d}" for i in range(10_000)]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.tuples(st.just("append"), st.text(alphabet="ab\n\xe9", max_size=40)),
    st.tuples(st.just("read"), st.just("")),
    st.tuples(st.just("rotate"), st.just("")),
), max_size=40))
def test_every_line_once_in_order(tmp_path_factory: pytest.TempPathFactory,
                                  ops: list[tuple[str, str]]) -> None:
    """Appends in arbitrary pieces, reads and rotations (one at most between reads): each line
    written comes out once, in order; an unterminated line is complete when its file rotates."""
    folder = tmp_path_factory.mktemp("tail")
    path = folder / "auth.log"
    path.write_bytes(b"")
    tail = LogTail(str(path))
    tail.read_lines()
    expected: list[str] = []
    partial = ""
    got: list[str] = []
    rotated = False
    for n, (op, text) in enumerate(ops):
        if op == "append":
            append(path, text.encode())
            *complete, partial = (partial + text).split("\n")
            expected += complete
        elif op == "rotate" and not rotated:
            os.rename(path, folder / f"auth.log.{n}")
            path.write_bytes(b"")
            if partial:
                expected.append(partial)
            partial, rotated = "", True
        elif op == "read":
            got += tail.read_lines()
            rotated = False
    got += tail.read_lines()
    assert got == expected
