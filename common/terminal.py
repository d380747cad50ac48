"""Text made harmless for a terminal: every control character shown escaped.

Used for what commune-diag prints of a host (its output, errors quoting it) and for config
error messages (a key or value quoted from a file). A host's output may hold escape
sequences: a screen clear ``ESC[2J``, a window title ``ESC]0;...BEL``, a bare CR or backspaces
that overwrite what came before, bidi overrides that reorder a line. Written verbatim, they
act on the terminal; here they are shown as Python-style escapes instead, so what the host
sent can still be read::

    >>> visible("ok\\x1b[2J\\rFAIL")
    'ok\\\\x1b[2J\\\\rFAIL'

Control (Cc), format (Cf: bidi marks, zero-width characters) and line/paragraph separator
characters are escaped; letters with diacritics, tabs and, in ``multiline`` text, newlines are
kept. ``--json`` output is not passed through here: JSON escapes control characters itself.
"""

from __future__ import annotations

import re
import unicodedata

_CANDIDATE = re.compile(r"[^\x20-\x7e]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def _replace(match: re.Match[str]) -> str:
    char = match.group()
    if char in "\t\n" or unicodedata.category(char) in _ESCAPED_CATEGORIES:
        return _escape(char)
    return char


def _replace_multiline(match: re.Match[str]) -> str:
    char = match.group()
    if char in "\t\n":
        return char
    return _replace(match)


def json_safe(text: str) -> str:
    """JSON text with every control or format character written as a ``\\uXXXX`` escape.

    ``json.dumps(..., ensure_ascii=False)`` escapes only U+0000-U+001F; C1 controls (U+009B is
    a CSI), DEL and bidi overrides would reach the terminal raw. They can only be inside JSON
    strings, where the escape decodes to the same text.
    """
    return _CANDIDATE.sub(_json_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in "\t\n" or unicodedata.category(char) not in _ESCAPED_CATEGORIES:
        return char  # a newline or tab here is json.dumps' own indentation
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xd800 + (code >> 10):04x}\\u{0xdc00 + (code & 0x3ff):04x}"


def visible(text: str, multiline: bool = False) -> str:
    """``text`` with control and format characters escaped; tabs and newlines too unless
    ``multiline`` (which keeps them)."""
    return _CANDIDATE.sub(_replace_multiline if multiline else _replace, text)
