"""Incremental reading of a growing file, across rotation and truncation, whole lines only.

Shared by the ``logs`` module (access logs, as bytes) and the security module's ``auth`` check
(auth logs, as text). Each ``read()`` returns the complete lines written since the last call (at
most ``max_bytes`` of them; the rest waits for the next call); ``read_lines()`` returns them as
text, invalid UTF-8 replaced by U+FFFD so one bad byte never hides the rest of a line:

- on the very first open the reader starts at the end of the file (unless ``from_start``), so an
  agent started on a server does not replay years of history; a file that appears later
  (created, or the new file after a rotation) is read from its start; given the ``Position``
  saved by a previous run, it resumes there (or at 0 if the file was replaced meanwhile);
- rotation (``mv access.log access.log.1`` and a new ``access.log``: the path's inode changes):
  the old file is read to its end, then the new one from offset 0;
- ``copytruncate`` (the file shrinks below the offset): reading restarts at 0;
- a partial last line is held back until its newline arrives (or the file is rotated away).

Truncation that refills the file past the old offset between two reads cannot be told from
growth; every tailer (tail -F, mtail) shares that limit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

# A "line" longer than this without a newline is passed on as it is, so memory stays bounded.
MAX_LINE_BYTES = 1 << 20
# Reads go in pieces of at most this, so a large ``max_bytes`` is not one large buffer.
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Position:
    """Where reading stopped: the file's identity and the offset after its last whole line."""

    device: int
    inode: int
    offset: int


@dataclass
class TailStats:
    """What happened to the file so far (counters)."""

    read_bytes: int = 0
    rotations: int = 0
    truncations: int = 0


class Tailer:
    """Follows one file by path; ``read()`` returns new complete lines as bytes."""

    def __init__(self, path: str, from_start: bool = False, max_bytes: int = 32 << 20,
                 resume: Position | None = None) -> None:
        self.path = path
        self._resume = resume
        self.max_bytes = max_bytes
        self.stats = TailStats()
        self._first_open = not from_start
        self._file: BinaryIO | None = None
        self._identity: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._skip_to_newline = False
        self.error: str | None = None

    @property
    def offset(self) -> int:
        """Bytes of the open file consumed so far (including a held-back partial line)."""
        return self._offset

    def position(self) -> Position | None:
        """Where to resume after a restart (None while no file is open)."""
        if self._identity is None or self._skip_to_newline:
            return None
        return Position(*self._identity, self._offset - len(self._partial))

    @property
    def readable(self) -> bool:
        """True while a file is open (it existed and could be read)."""
        return self._file is not None

    def pending_bytes(self) -> int:
        """Bytes written to the followed file(s) and not read yet."""
        if self._file is None:
            return 0
        try:
            pending = os.fstat(self._file.fileno()).st_size - self._offset
        except OSError:
            return 0
        try:
            st = os.stat(self.path)
        except OSError:
            return max(pending, 0)
        if (st.st_dev, st.st_ino) != self._identity:
            pending += st.st_size
        return max(pending, 0)

    def read_lines(self, max_bytes: int | None = None) -> list[str]:
        """New complete lines as text, without their newlines; invalid UTF-8 becomes U+FFFD."""
        data = self.read(max_bytes)
        return data[:-1].decode("utf-8", "replace").split("\n") if data else []

    def read(self, max_bytes: int | None = None) -> bytes:
        """New complete lines (ending with a newline), at most about ``max_bytes`` of them.

        ``max_bytes`` defaults to the one given to the constructor.
        """
        out: list[bytes] = []
        budget = self.max_bytes if max_bytes is None else max_bytes
        if self._file is None and not self._open():
            return b""
        while True:
            assert self._file is not None
            self._check_truncated()
            while budget > 0:
                data = self._file.read(min(budget, _CHUNK))
                if not data:
                    break
                budget -= len(data)
                self._offset += len(data)
                self.stats.read_bytes += len(data)
                out.append(self._lines(data))
            if budget <= 0 and os.fstat(self._file.fileno()).st_size > self._offset:
                break  # more in this file: next time
            # At the end of the open file: has the path moved on to a new file?
            if not self._rotated():
                break
            if self._partial:  # the old file's last line never got its newline
                out.append(self._partial + b"\n")
                self._partial = b""
            self._close()
            self.stats.rotations += 1
            if not self._open():
                break
        return b"".join(out)

    def _lines(self, data: bytes) -> bytes:
        if not data:
            return b""
        if self._skip_to_newline:
            cut = data.find(b"\n")
            if cut < 0:
                return b""
            data = data[cut + 1:]
            self._skip_to_newline = False
        end = data.rfind(b"\n")
        if end < 0:
            self._partial += data
            if len(self._partial) > MAX_LINE_BYTES:
                whole, self._partial = self._partial + b"\n", b""
                return whole
            return b""
        whole = self._partial + data[:end + 1] if self._partial else data[:end + 1]
        self._partial = data[end + 1:]
        return whole

    def _open(self) -> bool:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - kept open across calls
        except FileNotFoundError:
            self.error = "file not found"
            self._first_open = False  # a file created later is read from its start
            return False
        except PermissionError:
            self.error = ("cannot open: permission denied; give the agent's user read access "
                          "(on Debian, the 'adm' group owns /var/log/nginx and /var/log/apache2)")
            return False
        except OSError as exc:
            self.error = f"cannot open: {exc.strerror or exc}"
            return False
        st = os.fstat(f.fileno())
        self._file, self._identity, self.error = f, (st.st_dev, st.st_ino), None
        self._offset, self._partial = 0, b""
        resume, self._resume = self._resume, None
        if resume is not None:
            self._first_open = False
            # The same file, not truncated since: go on where the last run stopped. Otherwise
            # it was rotated while the agent was down: the new file is read from its start.
            if (resume.device, resume.inode) == self._identity and st.st_size >= resume.offset:
                self._offset = resume.offset
                f.seek(resume.offset)
        elif self._first_open:
            self._first_open = False
            self._offset = st.st_size
            f.seek(st.st_size)
            if st.st_size:  # start after the last complete line
                f.seek(st.st_size - 1)
                self._skip_to_newline = f.read(1) != b"\n"
        return True

    def _check_truncated(self) -> None:
        assert self._file is not None
        size = os.fstat(self._file.fileno()).st_size
        if size < self._offset:
            self.stats.truncations += 1
            self._file.seek(0)
            self._offset, self._partial, self._skip_to_newline = 0, b"", False

    def _rotated(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # moved away, the new file not there yet: keep the old one
        return (st.st_dev, st.st_ino) != self._identity

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._identity = None, None

    def close(self) -> None:
        """Close the followed file."""
        self._close()
