"""The shared tailer on real files: start at the end, partial lines, rotation, copytruncate,
bounds, saved positions; bytes for the logs module, text (invalid UTF-8 replaced) for auth logs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.tail import Position, Tailer


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def test_starts_at_the_end_of_an_existing_file(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"old 1\nold 2\n")
    tailer = Tailer(str(log))
    assert tailer.read() == b""
    append(log, b"new 1\n")
    assert tailer.read() == b"new 1\n"
    assert tailer.stats.read_bytes == len(b"new 1\n")


def test_starting_at_the_end_skips_a_half_written_last_line(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"old 1\nold 2 half")
    tailer = Tailer(str(log))
    assert tailer.read() == b""
    append(log, b" done\nnew 1\n")
    assert tailer.read() == b"new 1\n"


def test_from_start_reads_the_existing_content(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"old 1\nold 2\n")
    assert Tailer(str(log), from_start=True).read() == b"old 1\nold 2\n"


def test_partial_last_line_is_kept_until_completed(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    tailer = Tailer(str(log))
    assert tailer.read() == b""  # the first collection opens the file, at its end
    append(log, b"line 1\nline")
    assert tailer.read() == b"line 1\n"
    append(log, b" 2 still")
    assert tailer.read() == b""
    append(log, b" going\n")
    assert tailer.read() == b"line 2 still going\n"


def test_file_created_later_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    tailer = Tailer(str(log))
    assert tailer.read() == b""
    assert tailer.error == "file not found"
    log.write_bytes(b"first\n")
    assert tailer.read() == b"first\n"
    assert tailer.error is None


def test_rotation_mid_read_finishes_the_old_file_then_reads_the_new(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    tailer = Tailer(str(log))
    assert tailer.read() == b""  # the first collection opens the file, at its end
    append(log, b"a1\na2\n")
    assert tailer.read() == b"a1\na2\n"
    # Written after our last read, then rotated away (logrotate's create mode) with a partial
    # last line the server never finished; the new file already has lines.
    append(log, b"a3\na4 partial")
    os.rename(log, tmp_path / "access.log.1")
    log.write_bytes(b"b1\nb2\n")
    assert tailer.read() == b"a3\na4 partial\nb1\nb2\n"
    assert tailer.stats.rotations == 1
    append(log, b"b3\n")
    assert tailer.read() == b"b3\n"


def test_rotated_away_without_a_new_file_keeps_reading_the_old(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    tailer = Tailer(str(log))
    assert tailer.read() == b""  # the first collection opens the file, at its end
    old = tmp_path / "access.log.1"
    os.rename(log, old)
    append(old, b"late write\n")  # the server still writes to its open file
    assert tailer.read() == b"late write\n"
    log.write_bytes(b"new\n")
    assert tailer.read() == b"new\n"
    assert tailer.stats.rotations == 1


def test_copytruncate_restarts_at_zero(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    tailer = Tailer(str(log))
    assert tailer.read() == b""  # the first collection opens the file, at its end
    append(log, b"one\ntwo\nthree\n")
    assert tailer.read() == b"one\ntwo\nthree\n"
    with log.open("r+b") as f:  # copytruncate: same inode, size 0
        f.truncate(0)
    append(log, b"four\n")
    assert tailer.read() == b"four\n"
    assert tailer.stats.truncations == 1
    assert tailer.stats.rotations == 0


def test_reads_are_bounded_and_resume(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    tailer = Tailer(str(log), max_bytes=10)
    assert tailer.read() == b""  # the first collection opens the file, at its end
    append(log, b"0123456789abcdef\nxyz\n")
    assert tailer.read() == b""          # 10 bytes, no newline yet
    assert tailer.pending_bytes() == 11
    assert tailer.read() == b"0123456789abcdef\n"
    assert tailer.read() == b"xyz\n"
    assert tailer.pending_bytes() == 0
    assert tailer.stats.read_bytes == 21


def test_unreadable_file_reports_the_error(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.mkdir()  # a directory at the path: open() fails
    tailer = Tailer(str(log))
    assert tailer.read() == b""
    assert tailer.error is not None and "cannot open" in tailer.error


Op = tuple[str, bytes]
OPS = st.lists(st.one_of(
    st.tuples(st.just("write"), st.binary(min_size=1, max_size=40).map(
        lambda b: bytes(b"ab\n"[x % 3] for x in b))),
    st.tuples(st.just("read"), st.just(b"")),
    st.tuples(st.just("rotate"), st.just(b""))), max_size=40)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, max_bytes=st.integers(min_value=1, max_value=64))
def test_every_line_is_read_once_in_order(tmp_path: Path, ops: list[Op], max_bytes: int) -> None:
    """Writes in arbitrary pieces, bounded reads and rotations: no line lost, doubled or split."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    log = folder / "access.log"
    log.write_bytes(b"")
    tailer = Tailer(str(log), from_start=True, max_bytes=max_bytes)
    files = [b""]
    out = [tailer.read()]
    caught_up = True
    for op, data in ops:
        if op == "write":
            append(log, data)
            files[-1] += data
        elif op == "read":
            out.append(tailer.read())
            caught_up = tailer.pending_bytes() == 0
        elif caught_up:  # a second rotation before the first is followed is not supported
            os.rename(log, folder / f"access.log.{len(files)}")
            log.write_bytes(b"")
            files.append(b"")
            caught_up = False
    for _ in range(10_000):
        chunk = tailer.read()
        out.append(chunk)
        if not chunk and tailer.pending_bytes() == 0:
            break
    tailer.close()
    expected = b"".join(f + b"\n" if f and not f.endswith(b"\n") else f for f in files[:-1])
    expected += files[-1][:files[-1].rfind(b"\n") + 1]
    assert b"".join(out) == expected


def test_permission_denied_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests run as root, whom file modes do not stop: the denial is simulated."""
    from agent import tail

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    log = tmp_path / "access.log"
    log.write_bytes(b"x\n")
    monkeypatch.setattr(tail, "open", denied, raising=False)
    tailer = Tailer(str(log))
    assert tailer.read() == b""
    assert tailer.error is not None
    assert tailer.error.startswith("cannot open: permission denied; give the agent's user read")


# Read as text, as the security module's auth check does.

def test_starts_at_end_unless_from_start(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"old 1\nold 2\n")
    assert Tailer(str(path)).read_lines() == []
    assert Tailer(str(path), from_start=True).read_lines() == ["old 1", "old 2"]


def test_appended_lines_once_each(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"old\n")
    tail = Tailer(str(path))
    tail.read_lines()
    append(path, b"a\nb\n")
    assert tail.read_lines() == ["a", "b"]
    assert tail.read_lines() == []
    append(path, b"c\n")
    assert tail.read_lines() == ["c"]


def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"")
    tail = Tailer(str(path))
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
    tail = Tailer(str(path))
    tail.read_lines()
    append(path, b"Invalid user \xff\xfeadmin from 10.0.0.1 port 22\nnext\n")
    lines = tail.read_lines()
    assert lines == ["Invalid user \ufffd\ufffdadmin from 10.0.0.1 port 22", "next"]


def test_rotation_drains_old_file_then_reads_new_from_start(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"")
    tail = Tailer(str(path))
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
    tail = Tailer(str(path))
    tail.read_lines()
    append(path, b"x\n")
    os.rename(path, tmp_path / "auth.log.1")
    assert tail.read_lines() == ["x"]
    path.write_bytes(b"y\n")
    assert tail.read_lines() == ["y"]


def test_truncation_reads_from_start(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"line one is long\nline two is long\n")
    tail = Tailer(str(path), from_start=True)
    assert len(tail.read_lines()) == 2
    with open(path, "wb") as handle:  # copytruncate
        handle.write(b"fresh\n")
    assert tail.read_lines() == ["fresh"]


def test_saved_position_resumes_same_file_and_restarts_rotated_one(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"seen\nnot yet\n")
    st = os.stat(path)
    same = Tailer(str(path), resume=Position(st.st_dev, st.st_ino, len(b"seen\n")))
    assert same.read_lines() == ["not yet"]
    other = Tailer(str(path), resume=Position(st.st_dev, st.st_ino + 1, 3))
    assert other.read_lines() == ["seen", "not yet"]  # a new file since: read it whole


def test_read_limit_spreads_a_big_backlog_over_calls(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"".join(b"line %06d\n" % i for i in range(10_000)))
    tail = Tailer(str(path), from_start=True)
    first = tail.read_lines(max_bytes=50_000)
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
    tail = Tailer(str(path))
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
