"""Pending updates as apt sees them (Debian, Ubuntu): never installs nor refreshes anything.

``/usr/lib/update-notifier/apt-check`` (Ubuntu) prints ``ALL;SECURITY`` when present; otherwise
``apt-get -s dist-upgrade`` simulates an upgrade, and its ``Inst`` lines whose origin is a
``*-security`` suite are security updates. The count runs in a background thread at most once
per ``every``; collections report the last one. The package lists are as fresh as the host's own
``apt update`` (its timer). Other systems (Windows, RPM): not built; no series.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.security.config import UpdatesConfig

PENDING = MetricSpec("commune_pending_updates", "gauge",
                     "Packages with a pending update (kind=all) and those from a security suite.",
                     ("kind",))
CHECKED = MetricSpec("commune_pending_updates_checked_timestamp_seconds", "gauge",
                     "When pending updates were last counted.")
METRICS = (PENDING, CHECKED)

_INST = re.compile(r"^Inst \S+ (?:\[[^\]]*\] )?\((?P<origin>[^)]*)\)", re.MULTILINE)
_APT_CHECK = re.compile(r"^\s*(\d+);(\d+)\s*$", re.MULTILINE)


def parse_apt_get(text: str) -> tuple[int, int]:
    """(all, security) from ``apt-get -s dist-upgrade`` output."""
    origins = [m["origin"] for m in _INST.finditer(text)]
    return len(origins), sum(1 for o in origins if "security" in o.lower())


def parse_apt_check(text: str) -> tuple[int, int]:
    """(all, security) from apt-check's ``ALL;SECURITY`` line."""
    match = _APT_CHECK.search(text)
    if match is None:
        raise ValueError(f"unexpected apt-check output: {text.strip()[:200]!r}")
    return int(match[1]), int(match[2])


class UpdatesCheck:
    """Counts pending updates at most once per ``every``; reports the last count in between."""

    name = "updates"

    def __init__(self, config: UpdatesConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.last: tuple[int, int] | None = None
        self.checked = 0.0
        self.error: str | None = None
        self._started = 0.0
        self._running: Future[tuple[int, int] | None] | None = None
        # apt may take seconds on a small PC: it runs beside the collections, never in them.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="security-apt")

    def count(self) -> tuple[int, int] | None:
        """(all, security), or None where neither apt-check nor apt-get exists."""
        timeout = float(self.config.timeout)
        if os.access(self.config.apt_check, os.X_OK):
            done = subprocess.run([self.config.apt_check], capture_output=True, text=True,
                                  timeout=timeout, check=False)
            return parse_apt_check(done.stderr + "\n" + done.stdout)
        apt_get = shutil.which(self.config.apt_get)
        if apt_get is None:
            return None
        done = subprocess.run(
            [apt_get, "-s", "-q", "-o", "Debug::NoLocking=true", "dist-upgrade"],
            capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, "LC_ALL": "C"})
        if done.returncode != 0:
            raise RuntimeError(f"apt-get -s dist-upgrade failed: {done.stderr.strip()[:200]}")
        return parse_apt_get(done.stdout)

    def collect(self) -> list[Metric]:
        """The last count; a new one starts in the background when the last is ``every`` old."""
        now = self.clock()
        if self._running is not None and self._running.done():
            running, self._running = self._running, None
            try:
                self.last, self.checked, self.error = running.result(), now, None
            except Exception as exc:  # reported below until a count succeeds
                self.error = f"{type(exc).__name__}: {exc}"
        due = not self._started or now - self._started >= self.config.every
        if self._running is None and due:
            self._started = now  # a failing apt is retried after ``every``, not each interval
            self._running = self._executor.submit(self.count)
        if self.error is not None:
            raise RuntimeError(f"counting pending updates failed: {self.error}")
        pending, checked = PENDING.family(), CHECKED.family()
        if self.last is not None:
            pending.add_metric(["all"], float(self.last[0]))
            pending.add_metric(["security"], float(self.last[1]))
            checked.add_metric([], self.checked)
        return [pending, checked]

    def close(self) -> None:
        """Stop waiting for apt (a running count finishes on its own)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
