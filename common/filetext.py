"""Text files anyone may have written (configs, inventories, runbooks, state): read them safely.

A file is read only up to its size cap: a larger one is refused from ``fstat`` (or after cap + 1
bytes, for a pipe or a device) before anything is parsed. The bytes must be UTF-8 (a UTF-8 BOM
is dropped); UTF-16/32 text, other encodings, NUL bytes and control characters are refused with
the line and column and what to do::

    >>> read_text(Path("agent.yml"), CONFIG_MAX_BYTES, "a config file")
    FileProblem: agent.yml:3:7: byte 0xe9 is not UTF-8 (save the file as UTF-8, ...)
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path

MIB = 1 << 20
#: The largest agent config, web config, SNMP definition or runbook read (a real one is a few
#: KiB; 1 MiB of probe targets takes seconds to load).
CONFIG_MAX_BYTES = 1 * MIB
#: The largest gateway config read: one token a node, so the whole country's 16,000 nodes take
#: about 2 MiB.
GATEWAY_MAX_BYTES = 4 * MIB
#: The largest province inventory read: Thanh Hóa's 166 communes take 36 KiB, so the whole
#: country's 10,600 would take 2.3 MiB (and about two seconds to load).
INVENTORY_MAX_BYTES = 8 * MIB
#: The largest agent state file read (positions, first-seen neighbours, integrity baselines).
STATE_MAX_BYTES = 16 * MIB

# What YAML 1.1 allows in a stream (PyYAML's Reader.NON_PRINTABLE); JSON allows less.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd"
                            "\U00010000-\U0010ffff]")
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
              (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


class FileProblem(Exception):
    """A file refused before parsing: ``file[:line:column]: problem (what to do)``."""

    def __init__(self, file: str, problem: str, hint: str, line: int = 0,
                 column: int = 0) -> None:
        self.file, self.problem, self.hint = file, problem, hint
        self.line, self.column = line, column
        super().__init__(str(self))

    @property
    def message(self) -> str:
        """The problem and what to do, without the place."""
        return f"{self.problem} ({self.hint})"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.message}"


def size_text(size: int) -> str:
    """``4194304`` -> ``4 MiB``; ``52428800`` -> ``50 MiB``; ``1536`` -> ``1.5 KiB``."""
    for unit, scale in (("MiB", MIB), ("KiB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def read_bytes(path: Path, max_bytes: int, what: str) -> bytes:
    """At most ``max_bytes`` of ``path``; FileProblem if it is larger, OSError if unreadable."""
    file = str(path)
    with open(path, "rb") as stream:
        info = os.fstat(stream.fileno())
        if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
            raise _too_large(file, info.st_size, max_bytes, what)
        data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(file, None, max_bytes, what)
    return data


def _too_large(file: str, size: int | None, max_bytes: int, what: str) -> FileProblem:
    amount = f"is {size_text(size)}, over" if size is not None else "is over"
    return FileProblem(file, f"file {amount} the {size_text(max_bytes)} limit for {what}",
                       "check that it is the right file")


def decode_text(data: bytes, file: str) -> str:
    """``data`` as UTF-8 text without NUL or control characters; FileProblem otherwise."""
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            raise _wide(file, name)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if b"\x00" in data and _looks_utf16(data):
        raise _wide(file, "UTF-16")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _place(data[:exc.start].decode("utf-8", "replace"))
        raise FileProblem(file, f"byte 0x{data[exc.start]:02x} is not UTF-8",
                          "save the file as UTF-8, e.g. iconv -f LATIN1 -t UTF-8",
                          line, column) from None
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line, column = _place(text[:bad.start()])
        char = bad.group()
        if char == "\x00":
            raise FileProblem(file, "NUL byte in a text file",
                              "the file is binary or damaged; check that it is the right file",
                              line, column)
        raise FileProblem(file, f"control character U+{ord(char):04X} is not allowed",
                          "remove it; in a YAML double-quoted string write it as an escape "
                          f"like \\x{ord(char):02x}" if ord(char) < 0x100 else "remove it",
                          line, column)
    return text


def read_text(path: Path, max_bytes: int, what: str) -> str:
    """Read ``path`` (at most ``max_bytes``, UTF-8, printable); FileProblem or OSError."""
    return decode_text(read_bytes(path, max_bytes, what), str(path))


def _wide(file: str, name: str) -> FileProblem:
    return FileProblem(file, f"file is {name} text, not UTF-8",
                       f"save it as UTF-8, e.g. iconv -f {name} -t UTF-8")


def _looks_utf16(data: bytes) -> bool:
    """Most even (or most odd) bytes of the start are NUL, as in ASCII text saved as UTF-16."""
    head = data[:4096]
    halves = len(head) // 2
    if halves < 2:
        return False
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return max(even, odd) >= 0.4 * halves and min(even, odd) <= 0.05 * halves


def _place(before: str) -> tuple[int, int]:
    """The 1-based line and column just after ``before``."""
    line = before.count("\n") + 1
    return line, len(before) - (before.rfind("\n") + 1) + 1
