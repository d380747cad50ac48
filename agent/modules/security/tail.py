"""Incremental reading of a growing log file: position, rotation, truncation, partial lines.

A ``LogTail`` keeps its file open between reads, so after a rotation (the path now names a new
inode) it first drains what was left in the old file, then reads the new one from its start. A
file that shrank below the position was truncated (``copytruncate``) and is read from its start.
A last line without its newline is kept back until the newline arrives. Bytes that are not UTF-8
become U+FFFD, so one bad byte never hides the rest of the line.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import BinaryIO

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Position:
    """Where reading stopped in a file, identified by device and inode."""

    dev: int
    ino: int
    offset: int


class LogTail:
    """Reads the lines appended to ``path`` since the last call."""

    def __init__(self, path: str, from_start: bool = False, saved: Position | None = None) -> None:
        self.path = path
        self.from_start = from_start
        self.saved = saved
        self._file: BinaryIO | None = None
        self._id: tuple[int, int] | None = None
        self._partial = b""
        self._started = False

    @property
    def readable(self) -> bool:
        """True while the file is open (it existed and could be read)."""
        return self._file is not None

    def position(self) -> Position | None:
        """The position after the last complete line, to be saved across restarts."""
        if self._file is None or self._id is None:
            return None
        return Position(self._id[0], self._id[1], self._file.tell() - len(self._partial))

    def read_lines(self, limit: int = 64 * 2**20) -> list[str]:
        """The complete lines appended since the last call (at most about ``limit`` bytes)."""
        lines: list[str] = []
        if self._file is None and not self._open():
            return lines
        limit -= self._drain(lines, limit)
        if limit <= 0:
            return lines
        if self._rotated():
            if self._partial:  # the old file will not grow any more: its last line is complete
                lines.append(self._partial.decode("utf-8", "replace"))
                self._partial = b""
            self.close()
            if self._open(rotated=True):
                self._drain(lines, limit)
        return lines

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
        self._file, self._id = None, None

    def _open(self, rotated: bool = False) -> bool:
        first, self._started = not self._started, True
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - kept open between reads
        except OSError:
            return False
        st = os.fstat(handle.fileno())
        self._file, self._id, self._partial = handle, (st.st_dev, st.st_ino), b""
        saved = self.saved
        if first and saved is not None and (saved.dev, saved.ino) == self._id:
            handle.seek(saved.offset if saved.offset <= st.st_size else 0)
        elif first and not rotated and not self.from_start and saved is None:
            handle.seek(0, os.SEEK_END)  # history before the agent started is not news
        return True

    def _rotated(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # moved away and not yet recreated: keep the old file
        return (st.st_dev, st.st_ino) != self._id

    def _drain(self, lines: list[str], limit: int) -> int:
        """Read to the end of the open file; return the bytes read."""
        handle = self._file
        assert handle is not None
        with contextlib.suppress(OSError):
            if os.fstat(handle.fileno()).st_size < handle.tell():
                handle.seek(0)  # truncated in place
                self._partial = b""
        total = 0
        while total < limit:
            data = handle.read(min(_CHUNK, limit - total))
            if not data:
                break
            total += len(data)
            data = self._partial + data
            cut = data.rfind(b"\n")
            if cut < 0:
                self._partial = data
                continue
            self._partial = data[cut + 1:]
            lines.extend(data[:cut].decode("utf-8", "replace").split("\n"))
        return total
