"""Reports of a fleet run: a plain-text table, JSON for scripts, a progress bar, the exit code.

Everything the table and the progress line show passes through ``terminal.visible``: a host's
output, the errors quoted from it and the names from the inventory and the runbook are written
with their control characters escaped. The JSON report keeps the raw text (JSON escapes it).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any, TextIO

from collector.diag.runner import FleetResult, HostResult
from common.cli import Exit
from common.terminal import json_safe, visible

JSON_SCHEMA_VERSION = 1
_DETAIL_CHARS = 400
_MARKS = {"pass": "ok", "fail": "FAIL", "timeout": "TIMEOUT", "error": "ERROR", "skipped": "-"}


def exit_code(fleet: FleetResult) -> Exit:
    """Interrupted > unreachable/not run > a failed check > all passed."""
    if fleet.interrupted:
        return Exit.INTERRUPTED
    statuses = {h.status for h in fleet.hosts}
    if statuses & {"unreachable", "skipped"}:
        return Exit.UNREACHABLE
    if "failed" in statuses:
        return Exit.FAILURE  # some check failed (or timed out) on a reachable host
    return Exit.OK


def summary(fleet: FleetResult) -> dict[str, int]:
    """How many hosts ended in each status."""
    counts = Counter(h.status for h in fleet.hosts)
    return {"hosts": len(fleet.hosts), **{s: counts.get(s, 0)
                                          for s in ("ok", "failed", "unreachable", "skipped")}}


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "…"


def to_json(fleet: FleetResult) -> dict[str, Any]:
    """The run as a JSON-ready dict (schema version 1, documented in README)."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "runbook": fleet.runbook.name,
        "params": dict(fleet.params),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(fleet.started)),
        "duration_seconds": round(fleet.duration, 3),
        "interrupted": fleet.interrupted,
        "exit_code": int(exit_code(fleet)),
        "summary": summary(fleet),
        "hosts": [_host_json(h) for h in fleet.hosts],
    }


def _host_json(host: HostResult) -> dict[str, Any]:
    t = host.target
    return {
        "host": t.host, "commune": t.commune, "commune_name": t.commune_name, "node": t.node,
        "endpoint": host.endpoint, "status": host.status,
        "error": {"kind": host.error_kind, "message": host.error} if host.error else None,
        "duration_seconds": round(host.duration, 3),
        "checks": [{
            "name": c.name, "status": c.status, "exit_code": c.exit_code,
            "duration_seconds": round(c.duration, 3), "reasons": list(c.reasons),
            "values": list(c.values), "stdout": c.stdout, "stderr": c.stderr,
            "truncated": c.truncated,
        } for c in host.checks],
    }


def write_json(fleet: FleetResult, out: TextIO) -> None:
    """Print the JSON report."""
    out.write(json_safe(json.dumps(to_json(fleet), ensure_ascii=False, indent=2)))
    out.write("\n")


def _table(rows: list[list[str]], out: TextIO) -> None:
    rows = [[visible(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        out.write("\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def write_table(fleet: FleetResult, out: TextIO) -> None:
    """Print the human report: one row per host, one column per check, then the problems."""
    book = fleet.runbook
    header = ["HOST", "STATUS", *[s.name for s in book.steps], "TIME"]
    rows = [header]
    for host in fleet.hosts:
        marks = {c.name: _MARKS[c.status] for c in host.checks}
        rows.append([host.target.label, host.status.upper() if host.status != "ok" else "ok",
                     *[marks.get(s.name, "-") for s in book.steps], f"{host.duration:.1f}s"])
    _table(rows, out)
    problems = [h for h in fleet.hosts if h.status != "ok"]
    if problems:
        out.write("\nProblems:\n")
    for host in problems:
        where = visible(f"{host.target.label} ({host.endpoint or host.target.host})")
        if host.error:
            out.write(f"  {where}: {visible(host.error_kind)}: {visible(host.error)}\n")
        for check in host.checks:
            if check.status in ("pass", "skipped"):
                continue
            out.write(f"  {where} {visible(check.name)}: {check.status}: "
                      f"{visible('; '.join(check.reasons))}\n")
            detail = visible(_excerpt(check.stderr or check.stdout), multiline=True)
            if detail:
                # Split on newlines only: a bare CR (or another line break of splitlines)
                # stays on its line, shown as an escape.
                out.write("".join(f"      | {line}\n" for line in detail.split("\n")))
    s = summary(fleet)
    out.write(f"\n{visible(book.name)}: {s['hosts']} hosts, {s['ok']} ok, {s['failed']} failed, "
              f"{s['unreachable']} unreachable, {s['skipped']} not run "
              f"in {fleet.duration:.1f}s\n")
    if fleet.interrupted:
        out.write("Interrupted (Ctrl-C): hosts not finished are marked not run.\n")


class Progress:
    """A one-line progress bar over the fleet, redrawn on ``out`` (a TTY).

    It shows counts only, never a host's name or output, so nothing a host sends reaches the
    line that is redrawn in place.
    """

    def __init__(self, total: int, out: TextIO, width: int = 30) -> None:
        self.total, self.out, self.width = total, out, width
        self.counts: Counter[str] = Counter()

    def update(self, host: HostResult) -> None:
        """Count one finished host and redraw."""
        self.counts[host.status] += 1
        done = sum(self.counts.values())
        filled = self.width * done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        self.out.write(f"\r[{bar}] {done}/{self.total} ok {self.counts['ok']} "
                       f"failed {self.counts['failed']} "
                       f"unreachable {self.counts['unreachable']}")
        self.out.flush()

    def close(self) -> None:
        """End the progress line."""
        if self.counts:
            self.out.write("\n")
            self.out.flush()
