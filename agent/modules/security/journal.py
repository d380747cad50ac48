"""Failed logins from the systemd journal (hosts without an auth log file, e.g. Debian 12
without rsyslog), read incrementally through ``journalctl --after-cursor``.

Entries are printed in ``short`` format (``Nov 25 10:00:00 host sshd[12]: ...``), the same as a
syslog file, so the same patterns count them. The first read starts at the end of the journal
(``-n 0 --show-cursor``) unless ``from_start``; the cursor is kept in memory and, with a
``state_dir``, in ``journal-cursor.txt`` across restarts.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from agent.modules.security.config import JournalConfig
from common.statefile import read_state_text, write_atomically

log = logging.getLogger(__name__)
# A journald cursor is about 150 characters.
CURSOR_MAX_BYTES = 4096

_CURSOR_PREFIX = "-- cursor: "


class JournalReader:
    """Returns the journal lines of the configured identifiers written since the last call."""

    def __init__(self, config: JournalConfig, state_dir: str | None) -> None:
        self.config = config
        self.state_file = Path(state_dir) / "journal-cursor.txt" if state_dir else None
        self.cursor: str | None = self._load()
        self._started = self.cursor is not None or config.from_start

    def _load(self) -> str | None:
        if self.state_file is None:
            return None
        try:
            text = read_state_text(self.state_file, CURSOR_MAX_BYTES,
                                   afresh="the journal is then followed from its end")
        except OSError as exc:
            log.warning("security: cannot read %s: %s", self.state_file, exc)
            return None
        return (text.strip() or None) if text is not None else None

    def _save(self) -> None:
        if self.state_file is None or self.cursor is None:
            return
        try:
            write_atomically(self.state_file, self.cursor + "\n", make_parents=True)
        except OSError as exc:
            log.warning("security: cannot save the journal cursor to %s: %s", self.state_file, exc)

    def command(self) -> list[str]:
        """The journalctl command line for the next read."""
        journalctl = shutil.which(self.config.journalctl)
        if journalctl is None:
            raise RuntimeError(f"{self.config.journalctl!r} not found; install systemd's "
                               f"journalctl or remove auth.journal from the config")
        argv = [journalctl, "--no-pager", "--show-cursor", "-o", "short", "--utc"]
        if self.config.namespace:
            argv.append(f"--namespace={self.config.namespace}")
        for identifier in self.config.identifiers:
            argv += ["-t", identifier]
        if not self._started:
            argv += ["-n", "0"]  # only learn where the journal ends
        elif self.cursor is not None:
            argv.append(f"--after-cursor={self.cursor}")
        return argv

    def read_lines(self) -> list[str]:
        """New journal lines (the cursor moves past them)."""
        done = subprocess.run(self.command(), capture_output=True, timeout=float(
            self.config.timeout), check=False, env={**os.environ, "LC_ALL": "C"})
        if done.returncode != 0:
            raise RuntimeError(f"journalctl failed ({done.returncode}): "
                               f"{done.stderr.decode(errors='replace').strip()[:200]}")
        lines = []
        for line in done.stdout.decode("utf-8", "replace").splitlines():
            if line.startswith(_CURSOR_PREFIX):
                self.cursor = line[len(_CURSOR_PREFIX):].strip()
            elif not line.startswith("-- "):
                lines.append(line)
        fresh_start = not self._started
        self._started = True
        self._save()
        return [] if fresh_start else lines
