"""``/api/status.json``: the board's data, as the pages show it."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from collector.board.causes import Cause
from collector.board.conferences import Conference
from collector.board.sources import Alert
from collector.board.status import Board, CommuneStatus


def _cause(c: Cause) -> dict[str, str]:
    return {"key": c.key, "state": c.state.slug, "vi": c.vi, "en": c.en}


def _alert(a: Alert) -> dict[str, Any]:
    return {"name": a.name, "severity": a.severity, "labels": dict(a.labels),
            "annotations": dict(a.annotations), "starts_at": a.starts_at}


def commune_dict(c: CommuneStatus) -> dict[str, Any]:
    """One commune as JSON."""
    return {
        "code": c.code, "name": c.name, "region": c.region, "terrain": c.terrain,
        "state": c.state.slug, "causes": [_cause(x) for x in c.causes],
        "nodes": [dataclasses.asdict(n) for n in c.nodes],
        "probes": [dataclasses.asdict(p) for p in c.probes],
        "links": [dataclasses.asdict(x) for x in c.links],
        "vc": [dataclasses.asdict(v) for v in c.vcs],
        "devices": [{"device": d, "up": up} for d, up in c.devices],
        "alerts": [_alert(a) for a in c.alerts],
        "diag": c.diag_command(),
        "why_slow": dataclasses.asdict(c.why_slow) if c.why_slow is not None else None,
    }


def board_dict(board: Board) -> dict[str, Any]:
    """The whole board as JSON: counts, province alerts and targets, communes by region."""
    return {
        "province": board.province, "generated_at": board.generated_at,
        "counts": {s.slug: n for s, n in board.counts().items()},
        "alerts_from": board.alerts_from, "notes": list(board.notes),
        "alerts": [_alert(a) for a in board.alerts],
        "targets": [dataclasses.asdict(t) for t in board.targets],
        "regions": [{"name": name, "communes": [commune_dict(c) for c in members]}
                    for name, members in board.regions],
        "conferences": [conference_dict(c) for c in board.conferences],
    }


def conference_dict(c: Conference) -> dict[str, Any]:
    """One upcoming conference as JSON (readiness only while its window is open)."""
    return {"name": c.name, "title": c.title, "starts": c.starts, "start": c.start,
            "window_open": c.is_open, "mos_threshold": c.mos_threshold,
            "ready": c.ready if c.is_open else None,
            "not_ready": [{"code": n.code, "name": n.name, "region": n.region,
                           "reasons": list(n.reasons)} for n in c.not_ready]}


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities (which Prometheus may answer) as null: strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def status_json(board: Board) -> bytes:
    """The body of ``/api/status.json``."""
    return json.dumps(_finite(board_dict(board)), ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode()


def error_json(message: str) -> bytes:
    """The body of the 503 answered while Prometheus cannot be read."""
    return json.dumps({"error": message}, ensure_ascii=False).encode()
