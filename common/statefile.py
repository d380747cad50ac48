"""Files written so a crash never leaves half a file: restart state, rendered config, secrets.

Every file goes through a temporary file in the same folder that is written, flushed and
fsynced, given its mode, renamed over the target (``os.replace``), and then the folder is
fsynced so the rename itself survives a power cut. Readers (Prometheus watching file_sd,
node_exporter's textfile collector, the agent after a restart) see the old file or the new one,
never a partial one; the temporary file is removed if anything fails.

    write_atomically(path, text, 0o600, make_parents=True)

    with Staging() as stage:                 # several files, each checked before it counts
        check(stage.add(inventory, text))    # the staged copy: load it with its real loader
        check(stage.add(gateway, other))
    # both replaced here, in that order; neither if the block raised

    positions = read_state_json(path)        # None if absent; StateFileError if damaged

Reading one back is bounded too (``common.filetext``): a state file over its cap, not UTF-8,
with NUL or control characters, nested too deeply or not JSON raises ``StateFileError``, a
``ConfigError`` naming the file, so the agent stops at start with exit 2 and one line that says
to delete it (the agent writes a new one).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from types import TracebackType
from typing import Any

from common.filetext import STATE_MAX_BYTES, FileProblem, read_text
from common.schema import ConfigError, ConfigIssue

# Prefix and suffix of temporary files: ``.NAME.<random>.tmp``, hidden and easy to spot.
TEMP_SUFFIX = ".tmp"
_TRIES = 100


class StateFileError(ConfigError):
    """A state file the agent cannot trust: ``FILE: problem (delete it; ...)``."""

    def __init__(self, path: Path, problem: str, line: int = 0, column: int = 0,
                 afresh: str = "the agent writes a new one") -> None:
        message = f"{problem} (delete the file; {afresh})"
        super().__init__(str(path), [ConfigIssue(str(path), line, column, "", message)])
        self.problem = problem


def read_state_text(path: Path, max_bytes: int = STATE_MAX_BYTES,
                    afresh: str = "the agent writes a new one") -> str | None:
    """The text of state file ``path``, None if it does not exist; raise StateFileError.

    ``afresh`` says what deleting the file costs, for the message. An OSError other than
    FileNotFoundError (no permission, a file where the folder should be) is raised as it is.
    """
    try:
        return read_text(path, max_bytes, "a state file")
    except FileNotFoundError:
        return None
    except FileProblem as exc:
        raise StateFileError(path, exc.problem, exc.line, exc.column, afresh) from None


def read_state_json(path: Path, max_bytes: int = STATE_MAX_BYTES,
                    afresh: str = "the agent writes a new one") -> Any:
    """The JSON value in state file ``path``, None if it does not exist; StateFileError, OSError."""
    text = read_state_text(path, max_bytes, afresh)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateFileError(path, f"not JSON: {exc.msg}", exc.lineno, exc.colno, afresh
                             ) from None
    except RecursionError:  # the C decoder's own depth guard, not a crash
        raise StateFileError(path, "JSON nested too deeply", afresh=afresh) from None


def write_atomically(path: Path, data: bytes | str, mode: int | None = None, *,
                     make_parents: bool = False) -> None:
    """Replace ``path`` with ``data`` (str is UTF-8) in one step; raise OSError.

    ``mode`` sets the permission bits exactly (0o600 for secrets); None gives what a plain
    ``open()`` gives, 0o666 less the umask. ``make_parents`` creates missing folders first.
    """
    with Staging() as stage:
        stage.add(path, data, mode, make_parents=make_parents)


class Staging:
    """Temporary files beside their targets, renamed over them when the ``with`` block ends.

    ``add`` writes each file (fsynced, with its mode) and returns the temporary path, so the
    caller can load it with its real loader; relative paths inside still resolve, as it lives in
    the target's folder. If the block raises, no target changes and every temporary file is
    removed. Targets are replaced in the order they were added.
    """

    def __init__(self) -> None:
        self._files: list[tuple[Path, Path]] = []

    def __enter__(self) -> Staging:
        return self

    def add(self, path: Path, data: bytes | str, mode: int | None = None, *,
            make_parents: bool = False) -> Path:
        """Write ``data`` to a new temporary file beside ``path``; its path."""
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_temporary(path, data.encode("utf-8") if isinstance(data, str) else data,
                               mode)
        self._files.append((tmp, path))
        return tmp

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                for tmp, path in self._files:
                    os.replace(tmp, path)
                    _fsync_folder(path.parent)
        finally:
            for tmp, _ in self._files:
                tmp.unlink(missing_ok=True)
            self._files.clear()


def _write_temporary(path: Path, data: bytes, mode: int | None) -> Path:
    """A new file ``.NAME.<random>.tmp`` beside ``path`` holding ``data``, fsynced, with ``mode``.

    Like ``tempfile.mkstemp`` (a fresh name opened with O_EXCL), but created with 0o666 less the
    umask when no mode is asked for: mkstemp always creates 0o600. An explicit mode is set after
    the file is created 0o600, so a secret is never readable by others, even briefly.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_TRIES):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            fd = os.open(tmp, flags, 0o666 if mode is None else 0o600)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(f"{path.parent}: no free temporary name for {path.name}")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    if os.name == "nt":  # Windows cannot open a folder to fsync it
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
